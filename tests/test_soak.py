"""The soak driver (bench/soak.py) for two simulated minutes on a small corpus: memory stays
flat from one minute to the next and the player keeps deciding. Behaviour, not timing; the
hour and its figures are `python bench/soak.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import mediagen
import numpy as np
import pytest

from livecat.corpus import Corpus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import soak

SR = 48000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    d = tmp_path_factory.mktemp("soak")
    return Corpus.open(mediagen.notes_corpus(d, seed=5))


def test_the_input_is_varied_and_made_block_by_block():
    audio = soak.VariedAudio(sr_hz=SR, seed=1)
    block = np.zeros(soak.BLOCK, np.float32)
    kinds, levels, peak = set(), [], 0.0
    for _ in range(30 * SR // soak.BLOCK):
        audio.fill(block)
        kinds.add(audio.kind)
        levels.append(float(np.sqrt(np.mean(block.astype(np.float64) ** 2))))
        peak = max(peak, float(np.abs(block).max()))
    assert kinds == set(soak.KINDS)
    db = 20 * np.log10(np.maximum(levels, 1e-9))
    assert db.min() < -80 and db.max() > -20  # silences under the gate, loud passages
    assert 0.0 < peak <= 1.0
    # Seeded: the same seed gives the same samples.
    a, b = np.zeros(soak.BLOCK, np.float32), np.zeros(soak.BLOCK, np.float32)
    soak.VariedAudio(sr_hz=SR, seed=1).fill(a)
    soak.VariedAudio(sr_hz=SR, seed=1).fill(b)
    np.testing.assert_array_equal(a, b)


def test_two_minutes_keep_memory_flat_and_the_picture_moving(corpus):
    r = soak.run_soak(corpus, minutes=2, warmup_s=10.0)
    assert len(r.rss_mib) == 3 and len(r.p99_ms) == 2
    assert r.rss_mib[2] - r.rss_mib[1] < 8.0, r.rss_mib
    assert r.objects[2] - r.objects[1] < 1000, (r.objects, r.grown_types)
    c = r.counters
    assert c["decisions"] > 0 and c["jumps"] > 0 and c["continuations"] > 0, c
    assert c["picture_changes"] > 0 and c["gate_closings"] > 0, c
    assert c["callback_errors"] == 0 and c["dropped_blocks"] == 0 and c["late_grains"] == 0, c
    assert c["bad_output"] == 0, c
