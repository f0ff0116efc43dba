"""The live player's parts without a sound server: the callback with fake blocks, device
matching, keys and HUD, and the CLI's one-line errors."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import mediagen
import numpy as np
import pytest

from livecat.corpus import Corpus, build_corpus
from livecat.errors import DeviceError, ParameterError
from livecat.live import LivePlayer, LiveSettings
from livecat.live import devices as devices_module
from livecat.live.player import ENTRY, INPUT_OVERFLOWS, OUTPUT_UNDERFLOWS
from livecat.output import Display, DisplaySettings
from livecat.synthesis import Engine, EngineSettings

SR = 48000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    d = tmp_path_factory.mktemp("units")
    sound = mediagen.varied_notes(6.0, seed=4)
    mediagen.write_video(
        d / "a.mp4", fps=25, size=(160, 120), duration_s=6.0, audio=sound, sr_hz=SR
    )
    build_corpus([d / "a.mp4"], d / "corpus")
    return Corpus.open(d / "corpus")


def _status(overflow: bool = False, underflow: bool = False) -> SimpleNamespace:
    return SimpleNamespace(input_overflow=overflow, output_underflow=underflow)


def test_callback_output_equals_the_engine_run_offline(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    target = mediagen.varied_notes(2.0, seed=8)
    recorded = []
    for start in range(0, target.size - 256 + 1, 256):
        indata = np.zeros((256, 2), np.float32)
        indata[:, 0] = target[start : start + 256]
        outdata = np.zeros((256, 2), np.float32)
        player._duplex_callback(indata, outdata, 256, None, _status())
        assert np.array_equal(outdata[:, 0], outdata[:, 1])  # every channel gets the grains
        recorded.append(outdata[:, 0].copy())
    offline = Engine(corpus)
    offline.reset()
    expected = offline.process(target[: len(recorded) * 256])
    np.testing.assert_allclose(np.concatenate(recorded), expected, atol=1e-6)
    assert player.shared[ENTRY] == offline.state.entry


def test_callback_counts_xruns_and_mixes_the_chosen_channels(corpus):
    settings = LiveSettings(input_channels=(3, 4))
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=settings)
    indata = np.zeros((128, 4), np.float32)
    indata[:, 2] = 0.25
    indata[:, 3] = 0.5
    outdata = np.zeros((128, 1), np.float32)
    player._duplex_callback(indata, outdata, 128, None, _status(overflow=True))
    player._duplex_callback(indata, outdata, 128, None, _status(underflow=True))
    assert np.allclose(player._mono[:128], 0.75)
    assert player.counters[INPUT_OVERFLOWS] == 1 and player.counters[OUTPUT_UNDERFLOWS] == 1
    assert player.xruns() == 2


def test_dry_wet_and_mute_shape_the_output(corpus):
    player = LivePlayer(
        corpus, engine_settings=EngineSettings(), settings=LiveSettings(dry=1.0, wet=0.0)
    )
    indata = np.full((256, 1), 0.1, np.float32)
    outdata = np.zeros((256, 1), np.float32)
    player._duplex_callback(indata, outdata, 256, None, _status())
    assert np.allclose(outdata, 0.1)  # dry only: the input passes through
    player.dry, player.muted = 0.0, True
    player._duplex_callback(indata, outdata, 256, None, _status())
    assert np.abs(outdata).max() == 0.0


def test_samplerate_other_than_the_corpus_is_refused_clearly(corpus):
    with pytest.raises(ParameterError, match="grains are at 48000 Hz"):
        LivePlayer(
            corpus, engine_settings=EngineSettings(), settings=LiveSettings(samplerate_hz=44100)
        )


def test_devices_match_by_index_or_name_substring(monkeypatch):
    fake = [
        {"name": "Built-in Microphone", "max_input_channels": 2, "max_output_channels": 0},
        {"name": "Scarlett 18i20 USB", "max_input_channels": 18, "max_output_channels": 20},
        {"name": "Scarlett 2i2 USB", "max_input_channels": 2, "max_output_channels": 2},
    ]
    monkeypatch.setattr(
        devices_module, "_devices", lambda: [dict(d, index=i) for i, d in enumerate(fake)]
    )
    assert devices_module.resolve_device("18i20", kind="input") == 1
    assert devices_module.resolve_device("2", kind="input") == 2  # digits are an index
    assert devices_module.resolve_device(None, kind="output") is None
    with pytest.raises(DeviceError, match=r"ambiguous: candidates: 1 'Scarlett 18i20 USB', 2"):
        devices_module.resolve_device("scarlett", kind="input")
    with pytest.raises(DeviceError, match="no output device matches 'Microphone'"):
        devices_module.resolve_device("Microphone", kind="output")


def test_keys_and_hud(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    display = Display(corpus, player, settings=DisplaySettings(headless=True))
    player.shared[ENTRY] = 12
    lines = display.hud_lines()
    assert "a.mp4" in lines[0] and "entry 12" in lines[0]
    assert "xruns 0" in lines[2] and "callback p50" in lines[3]
    display.handle_key(ord("g"))
    assert player.muted
    display.handle_key(ord("-"))
    assert player.wet == pytest.approx(0.9) and player.dry == pytest.approx(0.1)
    display.handle_key(ord(" "))
    assert display.frozen
    display.handle_key(ord("q"))
    assert not display.stop_requested  # one q is not enough on stage
    display.handle_key(ord("q"))
    assert display.stop_requested


def test_headless_file_run_prints_pictures_and_stops_at_the_end(corpus, tmp_path):
    sound = mediagen.varied_notes(1.5, seed=3)
    mediagen.write_audio(tmp_path / "in.wav", sound, sr_hz=SR)
    env_cmd = [
        sys.executable,
        "-m",
        "livecat",
        "live",
        str(corpus.path),
        "--input-file",
        str(tmp_path / "in.wav"),
        "--headless",
        "--matches",
        str(tmp_path / "m.csv"),
    ]
    result = subprocess.run(
        env_cmd,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "JACK_NO_START_SERVER": "1",
            "JACK_DEFAULT_SERVER": "no-such-server",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "entry" in result.stdout and "a.mp4" in result.stdout
    assert "stopped after" in result.stderr
    assert (tmp_path / "m.csv").read_text().startswith("t_s,source,source_t_s,entry,distance")


def test_unknown_device_is_one_line_naming_what_exists(corpus):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "livecat",
            "live",
            str(corpus.path),
            "-i",
            "no-such-device",
            "--headless",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "JACK_NO_START_SERVER": "1",
            "JACK_DEFAULT_SERVER": "no-such-server",
        },
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "no input device matches 'no-such-device'" in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
