# make run  : one pass on the demo workbooks, then keep watching them
# make test : the whole test suite
# Both create .venv on first use and install the project into it.

PYTHON ?= python3
# The demo data ends in 2013; this date shows every state (see workbooks/DEMO.md).
DEMO_AS_OF ?= 2013-06-03
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run once test check demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python run.py --as-of $(DEMO_AS_OF) watch

once: $(STAMP)
	$(BIN)/python run.py --as-of $(DEMO_AS_OF) once

check: $(STAMP)
	$(BIN)/python run.py check

# Undo the demo's passes: restore the committed workbooks (or rebuild them from the
# bundled receivables data outside a git checkout) and remove mail, report and state.
demo: $(STAMP)
	git checkout -- workbooks/orders.xlsx workbooks/payments.xlsx workbooks/customers.xlsx \
		2>/dev/null || $(BIN)/python workbooks/build_demo.py
	rm -rf outbox report state

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) outbox state report
