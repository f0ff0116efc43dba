"""A disk that fills up mid-job: one line, nothing half-written left, and a live set goes on.

The disk is filled with a file-size limit (``RLIMIT_FSIZE``): a write past it fails with
EFBIG, as a full disk fails with ENOSPC, and livecat treats the two alike. It needs no root
and no mount, so it runs anywhere the tests do.
"""

from __future__ import annotations

import hashlib
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import mediagen
import pytest
from livehelpers import run_livecat

SR = 48000


def _livecat(*args: str, max_file_bytes: int) -> subprocess.CompletedProcess:
    """Run livecat with no file it writes allowed past ``max_file_bytes``."""
    return run_livecat(*args, max_file_bytes=max_file_bytes, timeout_s=120)


def _last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("full-disk")
    paths = []
    for i, notes in enumerate(([220, 330, 440, 550], [262, 330, 392, 523])):
        path = d / f"take{i}.mp4"
        audio = mediagen.tone_sequence(notes * 3, note_s=0.25, sr_hz=SR)
        mediagen.write_video(path, size=(320, 180), duration_s=3.0, audio=audio)
        paths.append(path)
    return paths


def _digests(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in folder.iterdir()}


def test_a_build_stops_at_a_full_disk_instead_of_skipping_every_file(footage, tmp_path):
    """It used to blame each input in turn ("skipped take0.mp4: File too large"), as though
    the videos were broken, and end with "every input was skipped"."""
    result = _livecat(
        "build", *map(str, footage), "-o", str(tmp_path / "c"), max_file_bytes=200_000
    )
    assert result.returncode == 2
    assert _last_line(result) == (
        f"livecat: {tmp_path / 'c'}: cannot write the corpus (File too large); "
        "nothing was left behind"
    )
    assert "skipped" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no corpus, no temporary


def test_an_add_that_fills_the_disk_leaves_the_corpus_as_it_was(footage, tmp_path):
    corpus = tmp_path / "c"
    built = _livecat("build", str(footage[0]), "-o", str(corpus), max_file_bytes=1 << 40)
    assert built.returncode == 0, built.stderr
    before = _digests(corpus)
    result = _livecat("add", str(corpus), str(footage[1]), max_file_bytes=200_000)
    assert result.returncode == 2
    assert _last_line(result) == (
        f"livecat: {corpus}: cannot write the corpus (File too large); the corpus is as it was"
    )
    assert _digests(corpus) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


@pytest.fixture(scope="module")
def corpus_path(footage, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("full-disk-corpus") / "c"
    result = _livecat("build", *map(str, footage), "-o", str(path), max_file_bytes=1 << 40)
    assert result.returncode == 0, result.stderr
    return path


def test_a_render_onto_a_full_disk_is_one_line_and_leaves_nothing(corpus_path, footage, tmp_path):
    """It was a traceback (``av.error.OSError`` from closing the container)."""
    out = tmp_path / "mosaic.mp4"
    result = _livecat(
        "render", str(corpus_path), str(footage[1]), "-o", str(out), max_file_bytes=20_000
    )
    assert result.returncode == 2
    assert _last_line(result) == f"livecat: {out}: cannot write (File too large)"
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_render_whose_log_cannot_be_written_lands_neither(footage, tmp_path):
    """A log that fails mid-render was a traceback; one that failed as it closed, after the
    mosaic had landed, left the mosaic and a failed command. A per-file limit stops only the
    log when the log is the larger file: long source names (in every row) at 240 rows a
    second against a 16x16 mosaic."""
    folder = tmp_path / ("footage-" + "x" * 200)
    folder.mkdir()
    take = folder / "take.mp4"
    take.write_bytes(footage[1].read_bytes())
    corpus = tmp_path / "c"
    assert _livecat("build", str(take), "-o", str(corpus), max_file_bytes=1 << 40).returncode == 0
    out, log = tmp_path / "mosaic.mp4", tmp_path / "picks.csv"
    args = ("render", str(corpus), str(take), "-o", str(out), "--matches", str(log))
    args += ("--fps", "240", "--size", "16x16")
    fits = _livecat(*args, max_file_bytes=1 << 40)
    assert fits.returncode == 0, fits.stderr
    mosaic_bytes, log_bytes = out.stat().st_size, log.stat().st_size
    assert log_bytes > 1.5 * mosaic_bytes  # the premise: room for the mosaic, not the log
    out.unlink()
    log.unlink()
    result = _livecat(*args, max_file_bytes=(mosaic_bytes + log_bytes) // 2)
    assert result.returncode == 2
    assert _last_line(result) == f"livecat: {log}: cannot write (File too large)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", folder.name]


def _live_set(corpus: Path, folder: Path, *args: str, max_file_bytes: int):
    """A 4 s headless set played from a file in ``folder``, with ``args``."""
    sound = mediagen.tone_sequence([220, 330, 440, 550] * 4, note_s=0.25, sr_hz=SR)
    mediagen.write_audio(folder / "in.wav", sound, sr_hz=SR)
    return _livecat(
        *("live", str(corpus), "--headless", "--input-file", str(folder / "in.wav"), *args),
        max_file_bytes=max_file_bytes,
    )


def test_a_live_log_that_cannot_be_written_ends_the_log_not_the_set(corpus_path, tmp_path):
    """It crashed the set with a traceback (from the display loop, or at the end)."""
    log = tmp_path / "picks.csv"
    result = _live_set(corpus_path, tmp_path, "--matches", str(log), max_file_bytes=1024)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if str(log) in line]
    assert lines == [
        f"livecat: {log}: cannot write (File too large): the picks are no longer logged; "
        "the set goes on"
    ]
    assert "stopped after 4." in result.stderr  # the whole input was played
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_a_decoder_dropped_mid_file_never_hangs(footage):
    """A build stopped mid-file (a full disk, an error) drops the picture decoder with
    frames in flight. With PyAV's log callback installed, FFmpeg's threads took the GIL to
    log while the decoder's teardown waited for them holding it: livecat hung for good, 20
    times out of 20 here."""
    script = textwrap.dedent(
        f"""
        from livecat.media import iter_images
        for _ in range(20):
            pictures = iter_images({str(footage[0])!r}, max_side=640)
            next(pictures)
            del pictures
        print("done")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "done", result.stderr


def test_a_log_file_that_cannot_be_written_is_said_once_not_per_line(corpus_path, tmp_path):
    """An installation's log file on a full disk: logging's own report is a traceback for
    every line (1178 lines of stderr for a 3 s set), into the journal, for days."""
    log = tmp_path / "live.log"
    result = _live_set(corpus_path, tmp_path, "--log-file", str(log), max_file_bytes=64)
    assert result.returncode == 0, result.stderr
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if "log file" in line]
    assert said == [
        f"livecat: cannot write the log file {log} (File too large): lines are not kept there "
        "until it can be written again; the show goes on"
    ]
    assert "stopped after 4." in result.stderr


def test_a_log_file_resumes_by_itself_once_it_can_be_written(tmp_path, capsys):
    import logging

    from livecat.cli.logfile import LogFileHandler

    path = tmp_path / "live.log"
    handler = LogFileHandler(path, maxBytes=1 << 20, backupCount=1, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))

    def line(text: str) -> None:
        handler.handle(logging.LogRecord("livecat", logging.INFO, "", 0, text, None, None))

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    line("before")
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, hard))  # "the disk fills"
    try:
        for k in range(20):
            line(f"while full {k}")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    line("after")
    handler.close()
    said = capsys.readouterr().err.splitlines()
    assert said == [
        f"livecat: cannot write the log file {path} (File too large): lines are not kept there "
        "until it can be written again; the show goes on",
        f"livecat: the log file {path} is written again",
    ]
    assert path.read_text().splitlines()[0] == "before"
    assert path.read_text().splitlines()[-1] == "after"
