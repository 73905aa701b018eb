# `make demo` and `make test` work on a fresh machine with nothing but Python:
# they create .venv, install medvit (torch pinned by constraints.txt), and run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pip's own lines (one per package collected / installed) show the install moving; its download
# bars are left out (they flood a log that is not a terminal); --no-compile: Python compiles the
# modules it imports when first imported instead of all 18,000 files of the environment up front
PIP    := $(BIN)/python -m pip install --progress-bar off --no-compile --disable-pip-version-check -c constraints.txt
STAGE  := @echo "medvit install:"

.PHONY: install browser demo test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(STAGE) "[1/4] Python environment $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(STAGE) "[2/4] torch (the CPU build constraints.txt pins)"
	$(PIP) torch==2.13.0
	$(STAGE) "[3/4] medvit and its dependencies (MONAI, SimpleITK, pydicom, Streamlit, ...)"
	$(PIP) -e ".[test]"
	# reference implementations the agreement tests and benchmarks compare against;
	# --no-deps: their analysis modules need nothing beyond medvit's own dependencies
	$(STAGE) "[4/4] reference implementations for the agreement tests (pvbm, fastmri)"
	$(PIP) --no-deps pvbm==3.0.1.8 fastmri==0.3.0
	touch $(STAMP)
	$(STAGE) "done ($(VENV))"

# every step prints what it does, its training's epoch / loss lines, what it wrote and its time;
# one step: $(BIN)/medvit demo --step NAME
demo: $(STAMP)
	$(BIN)/medvit demo --out demo_out

# the viewer's browser test drives Debian's Chromium (no Playwright browser download): installed here
# when missing (these machines run as root); where it cannot be, that one test skips and says why
browser:
	test -x /usr/bin/chromium || apt-get install -y --no-install-recommends chromium \
		|| (apt-get update -qq && apt-get install -y --no-install-recommends chromium) \
		|| echo "chromium could not be installed: the viewer's browser test will skip"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

test-slow: $(STAMP) browser
	$(BIN)/python -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) demo_out .pytest_cache
