# Set-up and entry points. `make demo` and `make test` each do all set-up on a fresh machine.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: setup setup-browser kernelspec demo lab test lint bench

setup:
	$(PIP) install -q -e ".[test]"
	$(PYTHON) -m llmos_kernel install --sys-prefix

# Debian's chromium for the browser tests (Playwright must never download a browser here).
setup-browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

demo: setup
	$(PYTHON) -m llmos_kernel run notebooks/quickstart.ipynb

lab: setup
	$(PYTHON) -m jupyter lab notebooks/quickstart.ipynb

lint:
	$(PYTHON) -m ruff check llmos_kernel tests benchmarks

test: setup setup-browser
	$(PYTHON) -m ruff check llmos_kernel tests benchmarks
	$(PYTHON) -m pytest -q -ra

bench: setup
	$(PYTHON) benchmarks/run_all.py
