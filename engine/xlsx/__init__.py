"""Reading and writing staff workbooks (.xlsx, .xlsm) without disturbing their content."""
