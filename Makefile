# Two entry points a newcomer needs (see README): `make demo` and `make test`.
# Both create and fill ./.venv first (idempotent; re-run when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q
# torch 2.13.0: a CPU build here (local wheel), the CUDA build from PyPI on GPU machines.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test lint bench slow clean-venv

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) "$(TORCH_SPEC)"
	# --no-deps: spikingjelly's own requirements would replace torch (see pyproject.toml).
	$(PIP) --no-deps "spikingjelly==2.0.0"
	$(PIP) -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

# The demo: the app on the bundled model and the procedural gesture stream. With no display
# it runs headless and prints JSON predictions; DEMO_ARGS adds flags (e.g. --max-seconds 10).
demo: venv
	$(VENV)/bin/neuromoco-app --demo $(DEMO_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# What CI runs: lint + the fast test suite (slow tests: `make slow`).
test: lint
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -m "not slow" -q

slow: venv
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -m slow -q

bench: venv
	$(PIP) -e ".[bench]"
	$(PY) -m bench

clean-venv:
	rm -rf $(VENV)
