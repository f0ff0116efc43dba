"""The control layer: one registry behind the flags, set files and on-screen help; set files
checked with file and line; the session applying requests; several corpora crossfaded."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import mediagen
import numpy as np
import pytest

from livecat.cli.main import build_parser
from livecat.control import PARAMS, Controls
from livecat.control.config import SET_FILE_MAX_BYTES, load_config, parse_config
from livecat.control.params import ACTIONS, format_value, help_lines
from livecat.corpus import Corpus, build_corpus
from livecat.errors import ConfigError, ParameterError
from livecat.live import LivePlayer, LiveSettings
from livecat.live.player import ENTRY, FADING, PROGRESS
from livecat.live.session import LiveSession
from livecat.output.display import Display, DisplaySettings
from livecat.synthesis import EngineSettings

SR = 48000
BLOCK = 256


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Corpus, Corpus, np.ndarray]:
    """Two corpora of different sounds; returns them and corpus B's sound."""
    d = tmp_path_factory.mktemp("control")
    a_sound = mediagen.varied_notes(5.0, seed=4)
    b_sound = mediagen.tone_sequence([220.0, 880.0, 330.0, 1320.0], note_s=1.0)
    for name, sound in (("a", a_sound), ("b", b_sound)):
        mediagen.write_video(
            d / f"{name}.mp4",
            fps=25,
            size=(96, 64),
            duration_s=sound.size / SR,
            audio=sound,
            sr_hz=SR,
        )
        build_corpus([d / f"{name}.mp4"], d / name)
    return Corpus.open(d / "a"), Corpus.open(d / "b"), b_sound


def _live_parser():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    return commands.choices["live"], commands.choices["render"]


def _flags(parser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def test_every_parameter_has_a_live_flag_a_set_file_key_and_a_help_line():
    live, render = _live_parser()
    help_text = "\n".join(help_lines())
    for p in PARAMS:
        assert p.flag in _flags(live), p.name
        if p.engine_field is not None:
            assert p.flag in _flags(render), p.name  # render shares the selection knobs
        parsed = parse_config(f"[params]\n{p.name} = {_toml(p.default)}\n")
        assert parsed.params == {p.name: p.default}
        assert p.name in help_text and p.osc_address == f"/livecat/param/{p.name}"
    for a in ACTIONS:
        assert a.name in help_text


def _toml(value) -> str:
    from livecat.control.config import toml_value

    return toml_value(value)


def test_flags_convert_like_the_registry_and_say_what_they_expect():
    live, _ = _live_parser()
    args = live.parse_args(["c", "--continuity", "0.7", "--k", "12", "--level", "match"])
    assert (args.continuity, args.k, args.level) == (0.7, 12, "match")
    assert args.no_repeat is None  # not given: a set file's value would stand


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[params]\ncontnuity = 0.5\n", "line 2: unknown parameter 'contnuity' in [params]"),
        ("\n\n[params]\nk = 0\n", "line 4: k: an integer in 1..64, got 0"),
        ("[params]\nlevel = 'loud'\n", "line 2: level: one of compensate, match, ignore"),
        ("[paramz]\nk = 3\n", "line 1: unknown table [paramz] (known: corpora = [...], [setup]"),
        ("\ncontinuity = 0.3\n", "line 2: 'continuity' is a live parameter: put it under [params]"),
        ("blocksize = 128\n", "line 1: unknown key 'blocksize' (known: corpora = [...], [setup]"),
        ("[params\nk = 3\n", "not valid TOML"),
        ("[[midi.cc]]\ncontrol = 200\nparam = 'k'\n", "line 2: control must be an integer 0..127"),
        ("[[midi.note]]\nnote = 3\naction = 'explode'\n", "line 3: [[midi.note]] action must"),
    ],
)
def test_bad_set_files_name_the_file_and_the_line(tmp_path, text, message):
    path = tmp_path / "set.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.symlink_to("/dev/zero"), "cannot read the config file: not a regular file"),
        (lambda p: os.mkfifo(p), "cannot read the config file: not a regular file"),
        (lambda p: p.write_text("a = " + "[" * 100_000 + "]" * 100_000), "nested too deep"),
        (lambda p: os.truncate(p.write_text("") or p, 5 << 20), "more than a set file's"),
    ],
)
def test_a_set_file_that_is_not_one_cannot_hang_or_exhaust_livecat(tmp_path, make, message):
    path = tmp_path / "set.toml"
    make(path)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def _livecat(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livecat", "live", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def _oversized(path: Path) -> None:
    path.write_text("# a set file\n" + "#" * (SET_FILE_MAX_BYTES + 1) + "\n")


_NOT_SET_FILES = {
    "a FIFO": (os.mkfifo, "cannot read the config file: not a regular file"),
    "/dev/zero through a symlink": (
        lambda p: p.symlink_to("/dev/zero"),
        "cannot read the config file: not a regular file",
    ),
    "a folder": (lambda p: p.mkdir(), "cannot read the config file: not a regular file"),
    "over the size cap": (
        _oversized,
        "cannot read the config file: 1048591 bytes, more than a set file's 1.0 MiB",
    ),
    "nested 200,000 deep": (
        lambda p: p.write_text("a=" + "[" * 200_000),
        "not a set file: nested too deep",
    ),
}


@pytest.mark.parametrize("what", list(_NOT_SET_FILES))
def test_a_set_file_that_is_not_one_is_one_line_and_exit_status_2(tmp_path, what):
    make, message = _NOT_SET_FILES[what]
    path = tmp_path / "set.toml"
    make(path)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    started = time.monotonic()
    result = _livecat("--config", str(path))
    assert time.monotonic() - started < 30  # a FIFO is never waited on
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"livecat: {path}: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_set_file_at_the_size_cap_is_still_read(tmp_path):
    path = tmp_path / "set.toml"
    text = "[params]\nk = 3\n"
    path.write_text(text + "#" * (SET_FILE_MAX_BYTES - len(text) - 1) + "\n")
    assert path.stat().st_size == SET_FILE_MAX_BYTES
    assert load_config(path).params == {"k": 3}


def test_reload_config_from_a_fifo_keeps_the_set_and_does_not_hang(corpora, tmp_path, caplog):
    session, _, _, controls = _session([corpora[0]])
    session.config_path = tmp_path / "set.toml"
    os.mkfifo(session.config_path)  # nobody ever writes to it
    controls.request_action("reload_config")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        session.tick()
    assert time.monotonic() - started < 1.0
    assert "not a regular file (the current set is kept)" in caplog.text


def test_unknown_setup_key_is_one_line_with_file_and_line(tmp_path, corpora):
    path = tmp_path / "set.toml"
    path.write_text(f'corpora = ["{corpora[0].path}"]\n[setup]\nfullscreen = true\nheadles = 1\n')
    result = _livecat("--config", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"livecat: {path}: line 4: unknown key 'headles' in [setup]")
    assert len(result.stderr.strip().splitlines()) == 1


def test_dump_config_then_config_gives_the_same_set(tmp_path, corpora):
    a, b, _ = corpora
    first = _livecat(
        str(a.path),
        str(b.path),
        "--continuity",
        "0.7",
        "--level",
        "match",
        "--volume",
        "-6",
        "--blocksize",
        "512",
        "--input-channels",
        "3,4",
        "--fullscreen",
        "--hop",
        "8",
        "--dump-config",
    )
    assert first.returncode == 0, first.stderr
    path = tmp_path / "set.toml"
    path.write_text(first.stdout)
    config = load_config(path)
    assert config.params["continuity"] == 0.7 and config.params["volume"] == -6.0
    assert config.setup["input_channels"] == [3, 4] and config.setup["fullscreen"] is True
    second = _livecat("--config", str(path), "--dump-config")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    # The command line wins over the set file.
    third = _livecat("--config", str(path), "--continuity", "0.45", "--dump-config")
    assert "continuity = 0.45 " in third.stdout and "blocksize = 512" in third.stdout


def test_a_set_file_names_corpora_and_setup_paths_relative_to_itself(tmp_path):
    """Written relative to the set file's folder and read back relative to it: the project
    folder (sets, corpora, soundtrack) works wherever it is copied."""
    from livecat.control.config import MidiConfig, dump_config, path_for_set_file

    project = tmp_path / "gig"
    corpus, soundtrack = project / "corpora" / "mine", project / "audio" / "loop.wav"
    text = dump_config(
        corpora=[str(corpus), "/elsewhere/corpus"],
        setup={"input_file": soundtrack, "blocksize": 512},
        params={},
        midi=MidiConfig(),
        set_folder=project / "sets",
    )
    assert 'corpora = ["../corpora/mine", "/elsewhere/corpus"]' in text
    assert 'input_file = "../audio/loop.wav"' in text
    (project / "sets").mkdir(parents=True)
    (project / "sets" / "set.toml").write_text(text)
    moved = tmp_path / "copied-gig"
    project.rename(moved)
    config = load_config(moved / "sets" / "set.toml")
    assert Path(config.corpora[0]).resolve() == moved / "corpora" / "mine"
    assert config.corpora[1] == "/elsewhere/corpus"
    # No set file's folder (a dump to stdout): absolute, as before.
    assert path_for_set_file("rel/c", None) == str(Path.cwd() / "rel" / "c")


def _session(corpora_list, **player_kw):
    controls = Controls()
    player = LivePlayer(
        corpora_list,
        engine_settings=EngineSettings(),
        settings=LiveSettings(**player_kw),
    )
    session = LiveSession(
        player,
        controls=controls,
        base_settings=EngineSettings(),
        corpora=[str(c.path) for c in corpora_list],
        setup={},
    )
    display = Display(corpora_list[0], player, settings=DisplaySettings(headless=True))
    session.attach(display)
    session.start()
    return session, player, display, controls


def _feed(player: LivePlayer, signal: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, signal.size - BLOCK + 1, BLOCK):
        indata = np.zeros((BLOCK, 1), np.float32)
        indata[:, 0] = signal[start : start + BLOCK]
        outdata = np.zeros((BLOCK, 1), np.float32)
        player.process(indata, outdata, BLOCK)
        player.match_pending()
        out.append(outdata[:, 0].copy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def test_requests_change_the_engine_mixer_and_picture_only_when_the_session_applies_them(
    corpora,
):
    a, b, _ = corpora
    session, player, display, controls = _session([a, b])
    controls.request_param("continuity", 0.9, origin="test")
    controls.request_param("volume", -20, origin="test")
    controls.request_action("freeze", 1)
    controls.request_action("mute_grains")  # a toggle without a value flips
    # Nothing is applied before the session's tick.
    assert player.engine.settings.continuity == pytest.approx(EngineSettings().continuity)
    session.tick()
    _feed(player, np.zeros(BLOCK, np.float32))
    assert player.engine.settings.continuity == pytest.approx(0.9)
    assert player.gain == pytest.approx(0.1)
    assert display.frozen and player.muted
    assert "continuity = 0.9  (a number in 0..1)" in display.help_lines  # the h overlay
    controls.request_action("freeze", 0)
    controls.request_corpus("b")
    session.tick()
    assert not display.frozen and player.switch_request == 1
    with pytest.raises(ParameterError):
        controls.request_param("continuity", 2.0)
    with pytest.raises(ParameterError):
        controls.request_action("freeze", 3)
    controls.request_corpus("no-such-corpus")
    session.tick()  # refused there, logged, nothing else changes
    assert controls.refused == 3 and player.switch_request == 1
    assert "continuity = 0.9 " in session.config_text()


def test_a_fader_flood_applies_only_the_latest_value(corpora):
    _, _, _, controls = _session([corpora[0]])
    for i in range(1000):
        controls.request_param("dry_wet", i / 1000)
    requests = controls.drain(limit=5000)
    assert [r.value for r in requests] == [0.999]


def test_switching_corpora_crossfades_to_the_new_one_which_follows_the_input(corpora):
    a, b, b_sound = corpora
    session, player, _display, controls = _session([a, b])
    controls.request_param("corpus_fade", 0.5)
    session.tick()
    target = b_sound[: 2 * SR]  # 220 Hz then 880 Hz, cut from corpus b's footage
    _feed(player, target[: SR // 2])
    assert player.active == 0 and player.shared[ENTRY] >= 0
    controls.request_action("next_corpus")
    session.tick()
    into_fade = _feed(player, target[SR // 2 : SR // 2 + SR // 4])  # a quarter second in
    assert player.active == 1 and player.mix[FADING] == 0
    assert 0.3 < player.mix[PROGRESS] < 0.7
    assert player.shared_of(0)[ENTRY] >= 0  # the old deck still decides while it fades
    out = _feed(player, target[SR // 2 + SR // 4 :])
    assert player.mix[FADING] == -1 and player.mix[PROGRESS] == 1.0
    # An entry of corpus b where its footage sounds like the input now (the 880 Hz tone).
    entry = int(player.shared[ENTRY])
    source_t = b.entries["pts_s"][entry]
    assert 1.0 <= source_t <= 2.05, source_t
    # The grains are b's own sound at that place: the 880 Hz tone.
    tail = out[-SR // 4 :]
    spectrum = np.abs(np.fft.rfft(tail * np.hanning(tail.size)))
    assert abs(np.argmax(spectrum) * SR / tail.size - 880.0) < 10.0
    # No click where the decks crossed. Deck a's notes reach 8.8 kHz, so sample jumps say
    # little; a click's energy above 12 kHz does (a step of 0.01 leaves ~0.0026 there).
    assert mediagen.click_residual(np.concatenate([into_fade, out])) < 0.002


def test_the_display_blends_the_two_decks_pictures_during_a_fade(corpora):
    a, b, _ = corpora
    _, _player, display, _ = _session([a, b])
    only_a, _ = display._picture(0, 3, 1.0)
    only_a = only_a.copy()
    only_b, _ = display._picture(1, 40, 1.0)
    only_b = only_b.copy()
    half, _ = display._picture(1, 40, 1.0, fade=(0, 3, 0.5))
    expected = (only_a.astype(np.float32) + only_b.astype(np.float32)) / 2
    assert np.abs(half.astype(np.float32) - expected).max() <= 1.0
    assert not np.array_equal(only_a, only_b)


def test_the_manual_s_parameter_table_lists_the_registry():
    page = (Path(__file__).resolve().parent.parent / "docs" / "control.md").read_text()
    table = page.split("| parameter | range | default | what it does |", 1)[1]
    rows = [line for line in table.split("\n\n", 1)[0].splitlines() if line.startswith("| `")]
    listed = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        listed[cells[0].strip("`")] = cells[2]
    assert list(listed) == [p.name for p in PARAMS]
    for p in PARAMS:
        assert listed[p.name] == format_value(p.default), p.name
    for a in ACTIONS:
        assert f"`{a.name}`" in page


def test_midi_learned_in_the_window_moves_the_parameter_and_is_written_to_the_set(corpora):
    import mido

    from livecat.control.midi import LearnMenu, MidiMapper

    session, player, display, controls = _session([corpora[0]])
    mapper = MidiMapper(controls)
    session.midi_mappings = mapper.mappings
    display.learn = LearnMenu(mapper)
    display.handle_key(ord("m"))  # learn mode: the first target is the first parameter
    first = display.learn.target.name
    assert first == PARAMS[0].name and "MIDI learn: " + first in display._learn_line()
    for _ in range(2):  # dry_wet → volume → continuity with "."
        display.handle_key(ord("."))
    assert display.learn.target.name == "continuity"
    mapper.handle(mido.Message("control_change", channel=1, control=21, value=0))  # learns
    mapper.handle(mido.Message("control_change", channel=1, control=21, value=127))
    session.tick()
    assert controls.values["continuity"] == 1.0
    _feed(player, np.zeros(BLOCK, np.float32))
    assert player.engine.settings.continuity == 1.0
    text = session.config_text()
    assert '[[midi.cc]]\ncontrol = 21\nparam = "continuity"\nchannel = 2' in text


def test_the_command_line_starts_without_loading_scipy():
    """scipy.signal and scipy.fft took 1 s of every command's start (`livecat --help` 1.1 s,
    0.27 s without); they load when a descriptor or grain window is first made."""
    code = (
        "import sys; from livecat.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_set_file_is_never_written_through_a_link_left_at_its_temporary_name(tmp_path):
    """The set is written to a temporary name, then renamed over the file. A link planted at
    that name (it is predictable: the pid) must not have the set written over what it points
    to; the link itself is replaced."""
    import os

    from livecat.control.config import write_config

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    target = tmp_path / "show.toml"
    planted = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    planted.symlink_to(victim)
    write_config(target, "[params]\nk = 10\n")
    assert victim.read_text() == "keep me\n"
    assert target.read_text() == "[params]\nk = 10\n" and not target.is_symlink()
    assert not planted.exists() and not planted.is_symlink()
