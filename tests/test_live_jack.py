"""`livecat live` end to end: a real JACK server (dummy backend), a real X display (Xvfb), a
JACK client that plays a cut of a corpus file into livecat and records what comes out."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import livehelpers
import mediagen
import numpy as np
import pytest

from livecat.corpus import Corpus, build_corpus
from livecat.media import decode_audio

SR = 48000
pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("live-corpus")
    paths = []
    for i in range(2):
        sound = mediagen.varied_notes(10.0, seed=20 + i)
        path = d / f"take{i}.mp4"
        mediagen.write_video(path, fps=25, size=(320, 240), duration_s=10.0, audio=sound, sr_hz=SR)
        paths.append(path)
    build_corpus(paths, d / "corpus")
    return d / "corpus"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_live_follows_the_input_plays_its_grains_and_shows_the_image(corpus_dir, tmp_path):
    missing = livehelpers.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (installed by `make test` on Debian)")
    corpus = Corpus.open(corpus_dir)
    offset_s, length_s = 3.0, 5.0
    decoded = decode_audio(corpus.sources[1].path, sr_hz=SR)
    cut = decoded[int(offset_s * SR) : int((offset_s + length_s) * SR)]
    server = f"livecat-test-{os.getpid()}"
    display_number = 40 + os.getpid() % 50
    matches = tmp_path / "matches.csv"
    with livehelpers.jack_server(server) as env, livehelpers.xvfb(display_number) as display:
        env = dict(env, DISPLAY=display)
        live = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "livecat",
                "live",
                str(corpus_dir),
                "--matches",
                str(matches),
                "--window-geometry",
                "0,0,320,240",
                "--duration",
                "14",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        client = livehelpers.PlayRecord(server, cut, record_s=16.0)
        try:
            client.connect_to("PortAudio")
            time.sleep(1.0)
            client.play()
            play_t = time.monotonic()
            time.sleep(length_s * 0.6)
            before = time.monotonic() - play_t
            shot = livehelpers.screenshot(display, tmp_path / "shot.png")
            after = time.monotonic() - play_t
            time.sleep(length_s * 0.4 + 1.0)
            live.send_signal(2)  # Ctrl-C: must end cleanly and promptly
            t_stop = time.monotonic()
            _, err = live.communicate(timeout=10)
            stop_s = time.monotonic() - t_stop
        finally:
            client.close()
            if live.poll() is None:
                live.kill()
    assert live.returncode == 0, err
    assert "Traceback" not in err
    assert stop_s < 2.0, stop_s

    # 1. The pictures follow the input: from the cut's file, at the cut's times.
    rows = [r for r in _rows(matches) if int(r["entry"]) >= 0]
    during = [r for r in rows if float(r["distance"]) < 1e9]
    from_cut = [r for r in during if r["source"] == str(corpus.sources[1].path)]
    assert len(from_cut) >= 0.8 * len(during), (len(from_cut), len(during))
    lags = np.array([float(r["source_t_s"]) - float(r["t_s"]) for r in from_cut])
    typical = np.median(lags)
    assert np.mean(np.abs(lags - typical) < 0.15) >= 0.8, lags.round(2)

    # 2. The sound coming out is the footage's own sound of those moments.
    played = client.recorded[: client.rec_pos]
    start = (client.play_started_frame - client.first_frame) if client.play_started_frame > 0 else 0
    segment = played[start : start + len(cut)]
    assert np.abs(segment).max() > 0.01, "nothing came out"
    best = max(
        (mediagen.spectrogram_similarity(segment[lag:], cut[: len(cut) - lag], n=2048), lag)
        for lag in range(0, 4800, 128)
    )
    assert best[0] > 0.8, best

    # 3. The window shows the chosen image: the picture's own index code, read back off the
    # screen, is the footage's picture for the moment the screenshot was taken.
    index = mediagen.decode_index_image(shot[:240, :320])
    expected_lo = (offset_s + before - 0.25) * 25
    expected_hi = (offset_s + after + 0.25) * 25
    assert expected_lo <= index <= expected_hi, (index, expected_lo, expected_hi)


def test_a_vanished_sound_server_is_survived_and_resumed(corpus_dir):
    missing = livehelpers.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (installed by `make test` on Debian)")
    server = f"livecat-loss-{os.getpid()}"
    with livehelpers.jack_server(server) as env:
        live = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "livecat",
                "live",
                str(corpus_dir),
                "--headless",
                "--duration",
                "8",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(4.0)
    # The server is gone: livecat must keep running, then resume once it is back.
    time.sleep(2.0)
    assert live.poll() is None, live.communicate()[1]
    with livehelpers.jack_server(server):
        _, err = live.communicate(timeout=40)
    assert live.returncode == 0, err
    assert "Traceback" not in err
    assert "the audio device is back: restarting" in err
    assert err.count("livecat: stopped after") == 2
