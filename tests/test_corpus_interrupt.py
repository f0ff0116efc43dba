"""A build killed at any moment leaves the previous corpus (or none), never one that opens
half-written; Ctrl-C and SIGTERM clean up."""

from __future__ import annotations

import shutil
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


def _dead_pid() -> int:
    """The pid of a process that has ended (a build killed mid-replace)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE
    )
    return int(done.stdout)


def test_a_replace_killed_between_its_two_renames_is_repaired_by_the_next_open(inputs, tmp_path):
    """A build replacing a corpus moves the old one aside, moves the new one in, then removes
    the old. Killed between the moves, it left ``.c.old-PID`` and no corpus, which opened as
    'no corpus here' until renamed back by hand: the next command moves it back."""
    target = tmp_path / "c"
    build_corpus(inputs[:1], target)
    entries = len(Corpus.open(target))
    aside = tmp_path / f".c.old-{_dead_pid()}"
    target.rename(aside)  # the state a SIGKILL between the renames leaves
    assert len(Corpus.open(target)) == entries
    assert not aside.exists()


def test_a_replace_killed_before_removing_the_old_copy_is_cleaned_by_the_next_build(
    inputs, tmp_path
):
    target = tmp_path / "c"
    build_corpus(inputs[:1], target)
    aside = tmp_path / f".c.old-{_dead_pid()}"
    shutil.copytree(target, aside)  # the new corpus in place, the old one still beside it
    build_corpus(inputs[:2], target)
    assert not aside.exists()
    # What a build still running set aside is its own (pid 1 runs for as long as we do).
    running = tmp_path / ".c.old-1"
    shutil.copytree(target, running)
    build_corpus(inputs[:1], target)
    assert running.exists()


def test_a_folder_that_is_not_a_livecat_corpus_is_never_replaced(inputs, tmp_path):
    """``-o webapp`` where webapp/ is someone's project holding a manifest.json of its own: the
    build refuses in one line and touches nothing."""
    webapp = tmp_path / "webapp"
    (webapp / "src").mkdir(parents=True)
    (webapp / "manifest.json").write_text('{"name": "my app", "start_url": "/"}')
    (webapp / "src" / "index.js").write_text("console.log('mine')")
    before = sorted(
        (p.relative_to(webapp), p.read_bytes()) for p in webapp.rglob("*") if p.is_file()
    )
    result = subprocess.run(
        [sys.executable, "-m", "livecat", "build", str(inputs[0]), "-o", str(webapp)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"livecat: {webapp}: exists and is not a livecat corpus: refusing to replace it "
        "(choose another name, or empty the folder)\n"
    )
    after = sorted(
        (p.relative_to(webapp), p.read_bytes()) for p in webapp.rglob("*") if p.is_file()
    )
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["webapp"]
