# adl — Activities of Daily Living recognition (S. Das, Inria 2020)
# `make demo` and `make test` are the two commands a newcomer runs.

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
ADL         := $(VENV)/bin/adl
# torch/torchvision are declared as ranges in setup.cfg; this is the pair
# known to install from the local wheel cache on our machines (override it).
TORCH_SPEC  ?= torch==2.14.1 torchvision==0.29.1
DATASET     ?= cad120
ADL_DATA    ?= datasets
ADL_CACHE   ?= cache
ROOT        ?= $(ADL_DATA)/$(DATASET)
CACHE       ?= $(ADL_CACHE)
SEED        ?= 0
JOBS        ?= 2
WEIGHTS     ?= imagenet
PYTEST_ARGS ?=

.PHONY: install test demo demo-deep features fuse bench clean help

help:
	@echo "make install   create $(VENV) and install adl with its dev extras"
	@echo "make test      install if needed, then run the test suite (benchmarks excluded)"
	@echo "make demo      synthetic CAD-120 data -> features -> adl fuse --alpha-search"
	@echo "make demo-deep synthetic NTU-60 cues -> adl deep extract -> I3D, Separable STA, VPN, Temporal, Global"
	@echo "make features  DATASET=cad120 [ROOT=...] [CACHE=...] [WEIGHTS=imagenet|random|PATH]"
	@echo "make bench     run the benchmarks in tests/benchmarks (prints BENCH lines)"

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: install
	$(ADL) demo --out demo-output --seed $(SEED)

demo-deep: install
	$(ADL) demo-deep --out demo-deep-output --seed $(SEED)

features: install
	$(ADL) features --dataset $(DATASET) --root $(ROOT) --cache $(CACHE) --weights $(WEIGHTS) --jobs $(JOBS) --seed $(SEED)

fuse: install
	$(ADL) fuse --dataset $(DATASET) --cache $(CACHE) --out $(CACHE)/$(DATASET)/report --alpha-search --seed $(SEED)

bench: install
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf demo-output demo-deep-output .pytest_cache
