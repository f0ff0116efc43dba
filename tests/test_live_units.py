"""The live player's parts without a sound server: the callback with fake blocks and a fake
sounddevice, the matcher hand-off, device matching, keys and HUD, and the CLI's one-line
errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import livehelpers
import mediagen
import numpy as np
import pytest

from livecat.corpus import Corpus, build_corpus
from livecat.errors import DeviceError, ParameterError
from livecat.live import LivePlayer, LiveSettings
from livecat.live import devices as devices_module
from livecat.live import player as player_module
from livecat.live.player import (
    CALLBACK_ERRORS,
    DROPPED_BLOCKS,
    ENTRY,
    INPUT_OVERFLOWS,
    LATE_GRAINS,
    OUTPUT_UNDERFLOWS,
)
from livecat.output.display import Display, DisplaySettings
from livecat.synthesis import Engine, EngineSettings

SR = 48000
NO_SERVER_ENV = livehelpers.NO_SERVER_ENV


@pytest.fixture(scope="module")
def corpus(notes_corpus: Corpus) -> Corpus:
    return notes_corpus


def _status(overflow: bool = False, underflow: bool = False) -> SimpleNamespace:
    return SimpleNamespace(input_overflow=overflow, output_underflow=underflow)


def _run(player: LivePlayer, target: np.ndarray, block: int, *, match_every: int = 1):
    """Feed ``target`` through the duplex callback in blocks, running the matcher after every
    ``match_every`` blocks; returns the first output channel."""
    recorded = []
    for i, start in enumerate(range(0, target.size - block + 1, block)):
        indata = np.zeros((block, 2), np.float32)
        indata[:, 0] = target[start : start + block]
        outdata = np.zeros((block, 2), np.float32)
        player._duplex_callback(indata, outdata, block, None, _status())
        assert np.array_equal(outdata[:, 0], outdata[:, 1])  # every channel gets the grains
        recorded.append(outdata[:, 0].copy())
        if player.worker and (i + 1) % match_every == 0:
            player.match_pending()
    return np.concatenate(recorded)


def _offline(corpus: Corpus, signal: np.ndarray) -> tuple[np.ndarray, Engine]:
    engine = Engine(corpus)
    engine.reset()
    return engine.process(signal), engine


@pytest.mark.parametrize("block", [256, 100])
def test_worker_output_is_the_offline_engine_one_block_later(corpus, block):
    player = LivePlayer(
        corpus, engine_settings=EngineSettings(), settings=LiveSettings(blocksize=block)
    )
    target = mediagen.varied_notes(2.0, seed=8)
    live = _run(player, target, block)
    expected, offline = _offline(corpus, target[: live.size])
    assert np.abs(live).max() > 0.01
    np.testing.assert_array_equal(live[:block], 0.0)
    np.testing.assert_allclose(live[block:], expected[: live.size - block], atol=1e-6)
    assert player.shared[ENTRY] == offline.state.entry
    assert player.counters[LATE_GRAINS] == 0


def test_callback_matcher_output_equals_the_engine_run_offline(corpus):
    player = LivePlayer(
        corpus, engine_settings=EngineSettings(), settings=LiveSettings(matcher="callback")
    )
    target = mediagen.varied_notes(2.0, seed=8)
    live = _run(player, target, 256)
    expected, offline = _offline(corpus, target[: live.size])
    np.testing.assert_allclose(live, expected, atol=1e-6)
    assert player.shared[ENTRY] == offline.state.entry


def test_a_late_matcher_starts_grains_at_the_next_block_and_counts_them(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    target = mediagen.varied_notes(2.0, seed=8)
    live = _run(player, target, 256, match_every=3)
    assert player.counters[LATE_GRAINS] > 0
    assert np.abs(live).max() > 0.01  # still plays


def test_a_stalled_matcher_drops_blocks_and_stays_in_step(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    target = mediagen.varied_notes(3.0, seed=8)
    stall = player.BLOCK_SLOTS + 10
    _run(player, target[: stall * 256], 256, match_every=10**9)
    player.match_pending()
    assert player.counters[DROPPED_BLOCKS] == 11
    # The grains decided while catching up are all overdue: only the newest one starts (not
    # a burst of them at once).
    rest = target[stall * 256 :]
    first = _run(player, rest[:256], 256)
    assert player.decks[0].player.active() <= 2 and np.abs(first).max() > 0.0  # newest late + due
    # After the gap, the engine's sample count is re-aligned with the audio thread's: grains
    # scheduled from now on are due one block after their decision, not in the past.
    late = int(player.counters[LATE_GRAINS])
    assert late > 10
    live = _run(player, rest[256:], 256)
    assert int(player.counters[LATE_GRAINS]) == late
    assert np.abs(live).max() > 0.01


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


def test_an_exception_in_the_callback_silences_the_block_and_is_counted(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    indata = np.full((256, 1), 0.1, np.float32)
    outdata = np.ones((256, 1), np.float32)
    player._render = None  # type: ignore[assignment]  # any bug in the block's processing
    player._duplex_callback(indata, outdata, 256, None, _status())  # must not raise
    assert player.counters[CALLBACK_ERRORS] == 1
    assert isinstance(player.callback_error, TypeError)
    assert np.abs(outdata).max() == 0.0


def test_samplerate_other_than_the_corpus_is_refused_clearly(corpus):
    with pytest.raises(ParameterError, match=r"grains are at 48000 Hz.*jackd -r 48000"):
        LivePlayer(
            corpus, engine_settings=EngineSettings(), settings=LiveSettings(samplerate_hz=44100)
        )


class FakeSoundDevice:
    """Just enough of python-sounddevice: records the streams opened."""

    class PortAudioError(Exception):
        pass

    def __init__(self, *, refuse_rate: bool = False) -> None:
        self.opened: list[tuple[str, dict]] = []
        self.refuse_rate = refuse_rate
        self.fail_with = ""  # a PortAudio error every stream raises, if set
        self.devices = [
            {"name": "Mic", "max_input_channels": 2, "max_output_channels": 0, "hostapi": 0},
            {"name": "Speakers", "max_input_channels": 0, "max_output_channels": 2, "hostapi": 0},
            {
                "name": "Scarlett 18i20",
                "max_input_channels": 18,
                "max_output_channels": 20,
                "hostapi": 0,
            },
        ]
        for kind in ("Stream", "InputStream", "OutputStream"):
            setattr(self, kind, self._stream(kind))

    def _stream(self, kind: str):
        fake = self

        class Stream:
            active = True
            latency = (0.005, 0.005)

            def __init__(self, **kwargs):
                if fake.refuse_rate:
                    raise fake.PortAudioError("Error opening Stream: Invalid sample rate [-9997]")
                if fake.fail_with:
                    raise fake.PortAudioError(fake.fail_with)
                fake.opened.append((kind, kwargs))

            def start(self):
                pass

            def stop(self, ignore_errors=True):
                pass

            def close(self, ignore_errors=True):
                pass

        return Stream

    default = SimpleNamespace(device=(0, 1))

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return self.devices
        if device is None:
            device = self.default.device[0 if kind == "input" else 1]
        return self.devices[device]

    def query_hostapis(self, index):
        return {"name": "ALSA"}

    def check_input_settings(self, *, device=None, samplerate=None):
        if samplerate != 44100:
            raise self.PortAudioError("Invalid sample rate")

    check_output_settings = check_input_settings


@pytest.fixture
def fake_sd(monkeypatch):
    fake = FakeSoundDevice()
    monkeypatch.setattr(player_module, "sounddevice", lambda: fake)
    monkeypatch.setattr(devices_module, "sounddevice", lambda: fake)
    return fake


def test_stream_kinds_follow_the_options(corpus, fake_sd, tmp_path):
    def opened(**settings):
        fake_sd.opened.clear()
        player = LivePlayer(
            corpus, engine_settings=EngineSettings(), settings=LiveSettings(**settings)
        )
        player.start()
        player.stop()
        player.close()
        (kind, kwargs), *_ = fake_sd.opened
        return kind, kwargs

    kind, kw = opened(input_device="scarlett", input_channels=(3, 4), output_device="speak")
    assert kind == "Stream" and kw["device"] == (2, 1) and kw["channels"] == (4, None)
    assert kw["samplerate"] == 48000 and kw["blocksize"] == 256 and kw["dtype"] == "float32"
    kind, kw = opened(grains=False)
    assert kind == "InputStream" and kw["channels"] == 1
    mediagen.write_audio(tmp_path / "in.wav", np.zeros(4800, np.float32), sr_hz=SR)
    kind, kw = opened(input_file=tmp_path / "in.wav")
    assert kind == "OutputStream"


def _refusal(corpus) -> str:
    """The one line a live set that cannot open its stream ends with."""
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    with pytest.raises(DeviceError) as error:
        player.start()
    player.stop()
    return str(error.value)


def test_a_refused_rate_says_what_the_device_accepts(corpus, fake_sd):
    fake_sd.refuse_rate = True
    message = _refusal(corpus)
    assert "refused 48000 Hz" in message and "input accepts 44100" in message
    assert "jackd -r 48000" in message and "\n" not in message


def test_no_sound_device_says_so_and_names_what_to_do(corpus, fake_sd):
    """On a machine without a sound device PortAudio says "Error querying device -1": the
    line must say what that means and point to `livecat devices` and --input-file."""
    fake_sd.fail_with = "Error querying device -1"
    message = _refusal(corpus)
    assert "no sound device" in message and "`livecat devices`" in message
    assert "--input-file" in message and "\n" not in message


def test_input_channels_the_device_lacks_are_refused_naming_its_count(corpus, fake_sd):
    def start(**settings):
        fake_sd.opened.clear()
        player = LivePlayer(
            corpus, engine_settings=EngineSettings(), settings=LiveSettings(**settings)
        )
        try:
            player.start()
        finally:
            player.stop()
            player.close()

    with pytest.raises(DeviceError) as error:
        start(input_channels=(3, 4))  # the default input, 'Mic', has two
    assert str(error.value) == (
        "--input-channels 3,4: input device 0 'Mic' has 2 channels (see `livecat devices`)"
    )
    assert not fake_sd.opened
    with pytest.raises(DeviceError, match=r"^--input-channels 19: input device 2 'Scarlett"):
        start(input_device="scarlett", input_channels=(19,))
    start(input_device="scarlett", input_channels=(17, 18))
    assert fake_sd.opened[0][1]["channels"] == (18, None)


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
    assert devices_module.resolve_device("scarlett 2i2 usb", kind="output") == 2
    with pytest.raises(DeviceError, match=r"ambiguous: candidates: 1 'Scarlett 18i20 USB', 2"):
        devices_module.resolve_device("scarlett", kind="input")
    with pytest.raises(DeviceError, match="no output device matches 'Microphone'"):
        devices_module.resolve_device("Microphone", kind="output")
    with pytest.raises(DeviceError, match="no input device with index 7; available: 0 "):
        devices_module.resolve_device(7, kind="input")


def test_devices_listing_marks_the_defaults(monkeypatch):
    fake = SimpleNamespace(
        query_devices=lambda: [
            {
                "name": "Mic",
                "hostapi": 0,
                "max_input_channels": 2,
                "max_output_channels": 0,
                "default_samplerate": 48000.0,
            },
            {
                "name": "Speakers",
                "hostapi": 0,
                "max_input_channels": 0,
                "max_output_channels": 2,
                "default_samplerate": 44100.0,
            },
        ],
        query_hostapis=lambda: [{"name": "JACK Audio Connection Kit"}],
        default=SimpleNamespace(device=(0, 1)),
    )
    monkeypatch.setattr(devices_module, "sounddevice", lambda: fake)
    lines = devices_module.describe_devices().splitlines()
    assert lines[0].startswith("<    0  Mic  (JACK Audio Connection Kit; 2 in, 0 out, 48000 Hz)")
    assert lines[1].startswith(" >   1  Speakers")
    assert "default input" in lines[-1]


def test_hud_shows_source_distance_level_latency_xruns_query_and_fps(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    display = Display(corpus, player, settings=DisplaySettings(headless=True))
    player.shared[ENTRY] = 12
    player.shared[player_module.SOURCE_T] = 0.48
    player.shared[player_module.DISTANCE] = 1.25
    player.shared[player_module.LEVEL_DB] = -23.0
    player.shared[player_module.QUERY_S] = 0.00021
    player.counters[player_module.XRUN_BLOCKS] = 3
    text = "\n".join(display.hud_lines())
    assert "a.mp4 @ 0.48s  entry 12" in text
    assert "distance 1.25" in text and "level -23 dBFS" in text
    assert "latency: picture 0 ms, audio 5 ms" in text  # the one-block hand-off, no stream
    assert "xruns 3" in text and "query 0.21 ms" in text and "fps" in text
    assert "callback p50" in text


def test_keys(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    display = Display(corpus, player, settings=DisplaySettings(headless=True))
    display.handle_key(ord("d"))
    assert display.hud
    display.handle_key(ord("g"))
    assert player.muted
    display.handle_key(ord("-"))
    assert player.wet == pytest.approx(0.9) and player.dry == pytest.approx(0.1)
    display.handle_key(ord("="))
    assert player.wet == 1.0 and player.dry == 0.0
    display.handle_key(ord(" "))
    assert display.frozen
    display.handle_key(ord("b"))
    assert display.badges() == ["FROZEN", "BLACKOUT"]
    display.handle_key(ord("q"))
    assert not display.stop_requested  # one q is not enough on stage
    display.handle_key(ord("q"))
    assert display.stop_requested


def test_the_display_decodes_an_image_once_however_often_it_is_shown(corpus):
    player = LivePlayer(corpus, engine_settings=EngineSettings(), settings=LiveSettings())
    display = Display(corpus, player, settings=DisplaySettings(headless=True))
    first, redrawn = display._picture(0, 5, 1.0)
    assert redrawn and first.any()
    for _ in range(10):
        _, redrawn = display._picture(0, 5, 1.0)
        assert not redrawn
    display._picture(0, 5, 0.5)  # fading: redrawn from the kept image
    assert display.images_decoded == 1
    display._picture(0, 6, 1.0)
    assert display.images_decoded == 2


def _headless_file_run(corpus, input_file: Path, *args: str) -> subprocess.CompletedProcess:
    """`livecat live CORPUS --headless --input-file INPUT ARGS...` without a sound server."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "livecat", "live", str(corpus.path), "--headless"),
            *("--input-file", str(input_file), *args),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=NO_SERVER_ENV,
    )


def test_headless_file_run_prints_pictures_and_stops_at_the_end(corpus, tmp_path):
    sound = mediagen.varied_notes(1.5, seed=3)
    mediagen.write_audio(tmp_path / "in.wav", sound, sr_hz=SR)
    result = _headless_file_run(corpus, tmp_path / "in.wav", "--matches", str(tmp_path / "m.csv"))
    assert result.returncode == 0, result.stderr
    assert "entry" in result.stdout and "a.mp4" in result.stdout
    assert "no audio output device: running without sound" in result.stderr
    assert "stopped after 1." in result.stderr
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert rows[0] == "t_s,source,source_t_s,entry,distance"
    assert len(rows) > 3


def test_a_matches_log_that_is_a_directory_is_refused_before_the_set(corpus, tmp_path):
    """It was found only when the finished log was moved into place: a traceback after the
    whole set, and the log lost."""
    mediagen.write_audio(tmp_path / "in.wav", mediagen.varied_notes(0.5, seed=3), sr_hz=SR)
    result = _headless_file_run(corpus, tmp_path / "in.wav", "--matches", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"livecat: {tmp_path}: is a directory: name the CSV to write, e.g. picks.csv"
    )
    assert "entry" not in result.stdout  # no set was played


def test_a_matches_log_never_writes_over_the_input_file(corpus, tmp_path):
    mediagen.write_audio(tmp_path / "in.wav", mediagen.varied_notes(0.5, seed=3), sr_hz=SR)
    before = (tmp_path / "in.wav").read_bytes()
    result = _headless_file_run(corpus, tmp_path / "in.wav", "--matches", str(tmp_path / "in.wav"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"livecat: {tmp_path / 'in.wav'}: is the input: the match log would replace it; "
        "choose another name"
    )
    assert (tmp_path / "in.wav").read_bytes() == before


def test_input_channels_pick_an_input_files_channels(corpus, tmp_path):
    """A rehearsal from a multitrack recording listens to the channels the show will use."""
    from livecat.errors import MediaError
    from livecat.media import decode_audio

    notes = mediagen.varied_notes(1.5, seed=3)
    stereo = np.stack([notes, np.zeros_like(notes)], axis=1)  # the notes left, silence right
    mediagen.write_audio(tmp_path / "two.wav", stereo, sr_hz=SR)
    left = decode_audio(tmp_path / "two.wav", sr_hz=SR, channels=(1,))
    both = decode_audio(tmp_path / "two.wav", sr_hz=SR, channels=(1, 2))
    assert np.abs(left - notes).max() < 1e-3 and np.array_equal(left, both)
    assert not decode_audio(tmp_path / "two.wav", sr_hz=SR, channels=(2,)).any()
    with pytest.raises(MediaError, match="channels 3 asked for, but audio stream #0 has 2"):
        decode_audio(tmp_path / "two.wav", sr_hz=SR, channels=(3,))

    def live_on(channel: str, *more: str):
        return livehelpers.run_livecat(
            "live",
            str(corpus.path),
            "--input-file",
            str(tmp_path / "two.wav"),
            "--input-channels",
            channel,
            "--headless",
            *more,
        )

    def chosen_entries(channel: str) -> list[int]:
        matches = tmp_path / f"m{channel}.csv"
        result = live_on(channel, "--matches", str(matches))
        assert result.returncode == 0, result.stderr
        return [int(row.split(",")[3]) for row in matches.read_text().splitlines()[1:]]

    assert any(e >= 0 for e in chosen_entries("1"))  # the notes open the gate
    assert not any(e >= 0 for e in chosen_entries("2"))  # silence never does
    result = live_on("3")
    livehelpers.assert_one_line_error(
        result, f"livecat: {tmp_path / 'two.wav'}: channels 3 asked for, but audio stream #0 has 2"
    )


def test_audio_stream_picks_which_of_an_input_files_streams_is_heard(tmp_path):
    """A rehearsal from a film with a dub listens to the language asked for, and is told
    when there was a choice it did not make."""
    ladder = mediagen.tone_sequence([262, 330, 392, 523], note_s=0.5, sr_hz=SR)
    mediagen.write_video(
        tmp_path / "ladder.mp4", fps=25, size=(160, 120), duration_s=2.0, audio=ladder, sr_hz=SR
    )
    build_corpus([tmp_path / "ladder.mp4"], tmp_path / "corpus")
    film = tmp_path / "film.mkv"
    mediagen.two_language_film(film, sr_hz=SR)  # 330 Hz on #0, 523 Hz on #1

    def heard(*stream: str) -> tuple[str, list[float]]:
        """stderr, and where in the ladder (seconds) the pictures came from."""
        matches = tmp_path / "m.csv"
        result = livehelpers.run_livecat(
            "live", str(tmp_path / "corpus"), "--input-file", str(film), "--headless",
            "--matches", str(matches), *stream,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rows = [row.split(",") for row in matches.read_text().splitlines()[1:]]
        return result.stderr, [float(r[2]) for r in rows if int(r[3]) >= 0]

    notice, first = heard()
    assert (
        f"livecat: {film} has 2 audio streams (#0 eng, 1 ch, flac; #1 deu, 1 ch, flac): "
        "feeding #0; --audio-stream N picks another"
    ) in notice.splitlines()
    assert first and np.median(first) == pytest.approx(0.75, abs=0.25)  # the 330 Hz rung
    notice, second = heard("--audio-stream", "1")
    assert "audio streams" not in notice
    assert second and np.median(second) == pytest.approx(1.75, abs=0.25)  # the 523 Hz rung
    result = livehelpers.run_livecat(
        "live", str(tmp_path / "corpus"), "--input-file", str(film), "--headless",
        "--audio-stream", "2",
    )  # fmt: skip
    livehelpers.assert_one_line_error(
        result, f"livecat: {film}: no audio stream #2: the file has 2 (#0-#1)"
    )
    result = livehelpers.run_livecat(
        "live", str(tmp_path / "corpus"), "--headless", "--audio-stream", "1"
    )
    livehelpers.assert_one_line_error(
        result, "livecat: --audio-stream picks one of --input-file's audio streams"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "no-such-device"], "livecat: no input device matches 'no-such-device'; "),
        (["--samplerate", "44100"], "livecat: --samplerate 44100: the corpus's grains are at"),
        (["--dry-wet", "2"], "livecat: argument --dry-wet: a number in 0..1, got '2'"),
    ],
)
def test_cli_errors_are_one_line(corpus, args, message):
    result = livehelpers.run_livecat("live", str(corpus.path), "--headless", *args)
    livehelpers.assert_one_line_error(result, message)


def test_make_demo_script_without_display_or_devices_says_so_and_stops_by_itself(corpus, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    mediagen.write_audio(media / "demo-input.wav", mediagen.varied_notes(1.5, seed=5), sr_hz=SR)
    script = Path(__file__).resolve().parent.parent / "corpora" / "run_demo.sh"
    result = subprocess.run(
        ["bash", str(script), str(corpus.path), str(media)],
        capture_output=True,
        text=True,
        timeout=90,
        env=NO_SERVER_ENV,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "no display ($DISPLAY is unset): running headless" in out
    assert "no audio input device: playing" in out and "stops by itself" in out
    assert "a.mp4 @ " in out  # what it shows
    assert "stopped after 1." in result.stderr
    assert (media / "demo-mosaic.mp4").exists()
