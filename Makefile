# The README's commands. Each one works on a fresh machine: it makes its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint test quick bench soak clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make lint: ruff over the repository, mypy over the package (files = pyproject [tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## make test: lint, then the whole suite (SQLite always; PostgreSQL at 127.0.0.1:5432 and real
## OpenSSH sshd processes on 127.0.1.x, installed here when missing and we are root).
test: lint
	./scripts/ensure-sshd.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make quick: the development loop: lint, then the suite without `slow` tests and without the
## PostgreSQL half of the tests that run on both databases (the SSH tests included: sshd as for
## make test); stops at the first failure. About 10 minutes on a 2-core machine at rest.
quick: lint
	./scripts/ensure-sshd.sh
	$(BIN)/python -m pytest -x -q -m "not slow" -k "not postgresql" $(PYTEST_ARGS)

## make bench: every benchmark in benchmarks/, printing figures and same-run baselines.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## make soak: the demo stack for SOAK_MINUTES (60) minutes with the one-minute live schedule,
## RSS of every process sampled every 30 s; ticks, runs and growth in bench-data/soak/report.txt.
SOAK_MINUTES ?= 60
soak: $(STAMP)
	SOAK_MINUTES=$(SOAK_MINUTES) $(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .asterisk .pytest_cache .ruff_cache .mypy_cache bench-data

## make run: the Dagster demo — five simulated PBXes (local transport, 14 days of history, live
## calls appended continuously) and `dagster dev` on http://127.0.0.1:3000. Ctrl-C stops it all.
.PHONY: run
run: $(STAMP)
	$(BIN)/python -m asterisk_pipeline.devtools.demo
