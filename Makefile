# livecat — the two commands that set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO_MEDIA := corpora/.demo-media
DEMO_CORPUS := corpora/demo

.PHONY: all setup demo test lint bench clean

all: test

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "livecat needs Python >= 3.11"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

$(DEMO_MEDIA)/demo.mp4: corpora/make_demo.py tests/mediagen.py | $(STAMP)
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
