# logad: the two commands are `make demo` and `make test`; both set up .venv from scratch.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   ?= demo

.PHONY: demo test install lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel first: an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m logad demo --out $(DEMO)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/hadolint Dockerfile

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/bench_accuracy.py
	$(PY) bench/bench_parse.py

clean:
	rm -rf $(DEMO) .pytest_cache
