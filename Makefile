# Two entry points a newcomer needs (see README): `make demo` and `make test`.
# Both create and fill ./.venv first (idempotent; re-run when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q
# torch 2.13.0: a CPU build here (local wheel), the CUDA build from PyPI on GPU machines.
TORCH_SPEC ?= torch==2.13.0

# Debian packages for the real-window test under Xvfb (tests/test_app_cli.py); best effort: without
# them (not root, no apt) that one test skips and says why.
XVFB_PKGS := xvfb libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
	libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 libx11-xcb1

.PHONY: venv demo test lint bench slow clean-venv xvfb

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

xvfb:
	@if ! command -v Xvfb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get install -y -q $(XVFB_PKGS) >/dev/null 2>&1 || \
			 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(XVFB_PKGS) >/dev/null 2>&1)) || \
			echo "could not install Xvfb: the real-window test will skip"; \
		else echo "no Xvfb (and not root with apt-get): the real-window test will skip"; fi; \
	fi

# What CI runs: lint + the fast test suite (slow tests: `make slow`).
test: lint xvfb
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -m "not slow" -q

slow: venv
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -m slow -q

bench: venv
	$(PIP) -e ".[bench]"
	$(PY) -m bench

clean-venv:
	rm -rf $(VENV)
