# The README's commands. Each one works on a fresh machine: it makes its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make test: the whole suite (SQLite always; PostgreSQL at 127.0.0.1:5432 and real OpenSSH
## sshd processes on 127.0.1.x, installed here when missing and we are root).
test: $(STAMP)
	./scripts/ensure-sshd.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: every benchmark in benchmarks/, printing figures and same-run baselines.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .asterisk .pytest_cache bench-data

## make run: the Dagster demo — five simulated PBXes (local transport, 14 days of history, live
## calls appended continuously) and `dagster dev` on http://127.0.0.1:3000. Ctrl-C stops it all.
.PHONY: run
run: $(STAMP)
	$(BIN)/python -m asterisk_pipeline.defs.demo
