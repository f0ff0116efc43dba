"""Shared fixtures. Test media is generated here (tests/mediagen.py), never downloaded."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Tests press Ctrl-C in livecat (SIGINT). A shell starts a background job with SIGINT ignored,
# and a child inherits that, so a run started with `make test &` failed them for no fault of
# livecat's: give this process, and so every child, Python's usual Ctrl-C back.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def notes_corpus(tmp_path_factory):
    """The live tests' corpus: one short video of varied notes, built once per run."""
    import mediagen

    from livecat.corpus import Corpus

    return Corpus.open(mediagen.notes_corpus(tmp_path_factory.mktemp("notes"), seed=4))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
