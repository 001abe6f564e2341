# The two quick-start commands: `make bench` (the default benchmark) and `make test` (the test suite).
# Each creates .venv and installs the project on first use; later calls skip the install.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.aebench-installed
ARGS ?=

.PHONY: bench reference test test-slow install clean

$(STAMP): pyproject.toml constraints.txt
	@echo "[install 1/3] creating $(VENV) (first use only)"
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	@echo "[install 2/3] installing aebench and its pinned dependencies (about 2 minutes on a fresh venv)"
	$(PYTHON) -m pip install --disable-pip-version-check --progress-bar off -c constraints.txt -e ".[dev,ray]"
	@echo "[install 3/3] done"
	@touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(VENV)/bin/aebench run $(ARGS)

# rewrite a committed reference report (reports/<name>): `make reference ARGS="--config beta_sweep"`
reference: $(STAMP)
	$(VENV)/bin/aebench run --write-reference $(ARGS)

# one pytest worker per core (pytest-xdist; loadgroup keeps the tests marked xdist_group("ray") on one worker, once
# xdist handles pytest 9.2's node ids again: pytest-xdist#1386); `make test ARGS="-n 0 -k name"` runs serially
test: $(STAMP)
	$(PYTHON) -m pytest -n auto --dist loadgroup $(ARGS)

test-slow: $(STAMP)
	$(PYTHON) -m pytest -n auto --dist loadgroup -m slow $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
