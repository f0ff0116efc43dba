"""A build killed at any moment leaves the previous corpus (or none), never one that opens
half-written; Ctrl-C and SIGTERM clean up."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import mediagen
import pytest

from livecat.corpus import Corpus, build_corpus
from livecat.errors import CorpusError


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("interrupt-media")
    paths = []
    for i in range(4):
        audio = mediagen.tone_sequence(
            [200 + 50 * i + 20 * k for k in range(16)], note_s=0.5, sr_hz=48000
        )
        path = d / f"take{i}.mp4"
        mediagen.write_video(
            path, fps=25, size=(640, 360), duration_s=8.0, audio=audio, sr_hz=48000
        )
        paths.append(path)
    return paths


def _start_build(inputs: list[Path], target: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "livecat", "build", *map(str, inputs), "-o", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(target: Path) -> int | None:
    """Entry count of the corpus at target, or None if there is none."""
    try:
        return len(Corpus.open(target))
    except CorpusError as exc:
        assert "no corpus here" in str(exc), str(exc)  # anything else is a half-written corpus
        return None


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_old_or_new_corpus(inputs, tmp_path):
    target = tmp_path / "corpus"
    old = build_corpus([inputs[0]], target).entry_count
    started = time.monotonic()
    full = _start_build(inputs, tmp_path / "reference")
    full.communicate(timeout=300)
    full_s = time.monotonic() - started
    new = len(Corpus.open(tmp_path / "reference"))
    seen = set()
    for fraction in (0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.98, 1.0):
        proc = _start_build(inputs, target)
        time.sleep(full_s * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        count = _state(target)
        assert count in (old, new), (fraction, count)
        seen.add(count)
        if count == new:  # the build finished first: put the old corpus back for the next round
            build_corpus([inputs[0]], target)
    assert old in seen
    # Leftover temporary directories are cleaned up by the next build.
    build_corpus([inputs[0]], target)
    assert not list(tmp_path.glob(".corpus.tmp-*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_cleanly_and_keeps_the_previous_corpus(inputs, tmp_path, sig):
    target = tmp_path / "corpus"
    old = build_corpus([inputs[0]], target).entry_count
    proc = _start_build(inputs, target)
    first = proc.stderr.readline()  # the first file is done: the build is mid-way
    assert "added" in first, first
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert len(Corpus.open(target)) == old
    assert not list(tmp_path.glob(".corpus.tmp-*"))
