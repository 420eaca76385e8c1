# Handover — the two commands: `make run` and `make test`. Everything is installed into .venv from
# requirements.txt (pinned) and constraints.txt (the pinned closure), so a fresh machine with Python 3.11+
# and make needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint bench clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m handover_airflow.local run

test: $(STAMP)
	$(BIN)/ruff check include plugins dags tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check include plugins dags tests bench

clean:
	rm -rf .handover

# The transfer at scale beside a bare parse + COPY floor, free-text masking beside a naive Presidio
# BatchAnalyzerEngine, then backup / verify / restore beside a bare COPY-out floor; all append to
# bench/RESULTS.md (not tests).
BENCH_ARGS ?=
PII_BENCH_ARGS ?=
BACKUP_BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/pii.py --results bench/RESULTS.md $(PII_BENCH_ARGS)
	$(BIN)/python bench/backup.py --results bench/RESULTS.md $(BACKUP_BENCH_ARGS)
