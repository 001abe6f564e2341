# The two quick-start commands: `make bench` (the default benchmark) and `make test` (the test suite).
# Each creates .venv and installs the project on first use; later calls skip the install.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.aebench-installed
ARGS ?=

.PHONY: bench test test-slow install clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(VENV)/bin/aebench run $(ARGS)

test: $(STAMP)
	$(PYTHON) -m pytest $(ARGS)

test-slow: $(STAMP)
	$(PYTHON) -m pytest -m slow $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
