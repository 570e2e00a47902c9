"""arrears-guard: credit control inside the workbooks a travel agency already keeps."""

__version__ = "0.1.0"
