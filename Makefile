# livecat — the two commands that set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
DEMO_MEDIA := corpora/.demo-media
DEMO_CORPUS := corpora/demo

.PHONY: all setup demo test lint bench clean

all: test

# Before anything is installed: a too-old Python is one line, not a failed build later.
CHECK_PYTHON = $(PYTHON) -c 'import sys; sys.exit(None if sys.version_info >= (3, 11) else \
	f"livecat needs Python >= 3.11; $(PYTHON) is {sys.version.split()[0]} (try make PYTHON=python3.11)")'

# A set-up: `demo` (livecat[demo], FluidSynth, espeak-ng) or `test` (livecat[test] and every
# system package the tests use), each in the same .venv.
define install
	$(CHECK_PYTHON)
	bash scripts/install-system-deps.sh $(1)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(1)]'
endef

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	$(call install,test)
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml scripts/install-system-deps.sh
	$(call install,demo)
	touch $(DEMO_STAMP)

setup: $(STAMP)

$(DEMO_MEDIA)/demo.mp4: corpora/make_demo.py tests/mediagen.py | $(DEMO_STAMP)
	$(PY) corpora/make_demo.py $(DEMO_MEDIA)

$(DEMO_CORPUS)/manifest.json: $(DEMO_MEDIA)/demo.mp4
	$(VENV)/bin/livecat build $(DEMO_MEDIA)/demo.mp4 -o $(DEMO_CORPUS)

demo: $(DEMO_CORPUS)/manifest.json
	bash corpora/run_demo.sh $(DEMO_CORPUS) $(DEMO_MEDIA)

lint: $(STAMP)
	$(VENV)/bin/ruff check livecat tests bench corpora
	$(VENV)/bin/ruff format --check livecat tests bench corpora

test: $(STAMP) lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(DEMO_MEDIA) $(DEMO_CORPUS) .pytest_cache
