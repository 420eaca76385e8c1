# Handover — the two commands: `make run` and `make test`. Everything is installed into .venv from
# requirements.txt (pinned) and constraints.txt (the pinned closure), so a fresh machine with Python 3.11+
# and make needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast install lint bench clean system

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m handover_airflow.local run

# Debian packages the tests drive (no Python wheel has them): headless Chromium and its driver for the
# browser test (and a CJK font for its screenshot), docker-compose to check docker-compose.yaml.
# Installed with apt when missing and we are
# root; otherwise the tests that need them fail saying what to install.
SYSTEM_TOOLS := /usr/bin/chromium /usr/bin/chromedriver /usr/bin/docker-compose /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
system:
	@missing=""; for t in $(SYSTEM_TOOLS); do test -e $$t || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium chromium-driver docker-compose fonts-wqy-microhei (missing:$$missing)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver docker-compose fonts-wqy-microhei >/dev/null \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	           chromium chromium-driver docker-compose fonts-wqy-microhei >/dev/null; }; \
	  else echo "missing:$$missing — install Debian's chromium chromium-driver docker-compose fonts-wqy-microhei"; fi; fi

# The suite on both cores (pytest-xdist; the two tests that start Airflow clusters share one worker).
XDIST ?= -n 2 --dist loadgroup
test: $(STAMP) system
	$(BIN)/ruff check include plugins dags tests bench
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The inner loop: everything but the end-to-end runs through Airflow (a few minutes).
test-fast: $(STAMP)
	$(BIN)/ruff check include plugins dags tests bench
	$(BIN)/python -m pytest $(XDIST) tests/unit tests/dags tests/hostile tests/integration -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check include plugins dags tests bench

clean:
	rm -rf .handover

# The transfer at scale beside a bare parse + COPY floor, free-text masking beside a naive Presidio
# BatchAnalyzerEngine, the hand-written notes through the whole pipeline (what the analyst can read),
# backup / verify / restore beside a bare COPY-out floor, then the export corpus we did
# not write (tests/corpus/exports) beside our own sample; all append to bench/RESULTS.md (not tests).
BENCH_ARGS ?=
PII_BENCH_ARGS ?=
PII_TIER_BENCH_ARGS ?=
BACKUP_BENCH_ARGS ?=
CORPUS_BENCH_ARGS ?=
NOTICE_BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/pii.py --results bench/RESULTS.md $(PII_BENCH_ARGS)
	$(BIN)/python bench/pii_tier.py --results bench/RESULTS.md $(PII_TIER_BENCH_ARGS)
	$(BIN)/python bench/backup.py --results bench/RESULTS.md $(BACKUP_BENCH_ARGS)
	$(BIN)/python bench/corpus.py --results bench/RESULTS.md $(CORPUS_BENCH_ARGS)
	$(BIN)/python bench/notices.py --results bench/RESULTS.md $(NOTICE_BENCH_ARGS)
