"""MIDI control: mido messages through the mapping layer, MIDI learn, port choice, and the
whole path through a real port (JACK MIDI on a dummy server; ALSA where /dev/snd/seq is)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

import pytest

from livecat.control.config import CCMapping, MidiConfig, NoteMapping, parse_config
from livecat.control.midi import (
    LearnMenu,
    LearnTarget,
    MidiInput,
    MidiMapper,
    cc_value,
    describe_inputs,
    learn_targets,
    resolve_port,
)
from livecat.control.params import ACTIONS, PARAMS, PARAMS_BY_NAME
from livecat.control.state import Controls, Request
from livecat.errors import ConfigError, DeviceError, ParameterError

mido = pytest.importorskip("mido")


def cc(control: int, value: int, channel: int = 0):
    return mido.Message("control_change", control=control, value=value, channel=channel)


def note_on(note: int, velocity: int = 100, channel: int = 0):
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def note_off(note: int, channel: int = 0):
    return mido.Message("note_off", note=note, channel=channel)


def mapper_for(*mappings: CCMapping | NoteMapping, program_change: bool = True):
    controls = Controls()
    config = MidiConfig(
        program_change=program_change,
        cc=tuple(m for m in mappings if isinstance(m, CCMapping)),
        note=tuple(m for m in mappings if isinstance(m, NoteMapping)),
    )
    return controls, MidiMapper(controls, config)


def params_requested(controls: Controls) -> list[tuple[str, object]]:
    return [(r.name, r.value) for r in controls.drain() if r.kind == "param"]


# -- CC → parameter --------------------------------------------------------------------------------
def test_every_registered_parameter_is_reachable_by_a_cc_mapping():
    mappings = [CCMapping(control=i, param=p.name) for i, p in enumerate(PARAMS)]
    controls, mapper = mapper_for(*mappings)
    for i, p in enumerate(PARAMS):
        for value, norm in ((0, 0.0), (127, 1.0)):
            mapper.handle(cc(i, value))
            [request] = controls.drain()
            assert request == Request("param", p.name, p.from_norm(norm), "midi")
    assert mapper.handled == 2 * len(PARAMS) and mapper.errors == 0


def test_every_registered_action_is_reachable_by_a_note_mapping():
    mappings = [
        NoteMapping(note=i, action=a.name, mode="toggle" if a.kind == "toggle" else "trigger")
        for i, a in enumerate(ACTIONS)
    ]
    controls, mapper = mapper_for(*mappings)
    for i, a in enumerate(ACTIONS):
        mapper.handle(note_on(i))
        assert controls.drain() == [Request("action", a.name, None, "midi")]


@pytest.mark.parametrize(
    ("mapping", "low", "middle", "high"),
    [
        # linear over the parameter's own range: 64 is half-way (to one step in 127)
        (CCMapping(control=7, param="volume"), -60.0, -60.0 + 72.0 * 64 / 127, 12.0),
        # narrowed, and turned round (min > max)
        (CCMapping(control=7, param="dry_wet", min=1.0, max=0.0), 1.0, 1.0 - 64 / 127, 0.0),
        # the parameter's own log curve: the middle is the geometric mean
        (CCMapping(control=7, param="gate_fade"), 0.05, 0.05 * 600 ** (64 / 127), 30.0),
        # log asked for over a narrowed positive range
        (CCMapping(control=7, param="no_repeat", min=0.1, max=10, curve="log"), 0.1, 1.0, 10.0),
        # exp: more travel at the low end, half-way is a quarter of the range
        (CCMapping(control=7, param="volume", curve="exp"), -60.0, -60 + 72 * 0.254, 12.0),
    ],
)
def test_cc_curves_run_from_min_to_max_through_their_middle(mapping, low, middle, high):
    controls, mapper = mapper_for(mapping)
    got = []
    for value in (0, 64, 127):
        mapper.handle(cc(7, value))
        [(name, v)] = params_requested(controls)
        assert name == mapping.param
        got.append(v)
    assert got[0] == low and got[2] == high  # exactly the ends
    span = abs(high - low)
    assert got[1] == pytest.approx(middle, abs=span * 0.01)
    assert cc_value(mapping, 64) == got[1]


def test_cc_curve_middles_are_what_the_docs_say():
    volume = PARAMS_BY_NAME["volume"]
    mid = (volume.lo + volume.hi) / 2
    assert cc_value(CCMapping(control=1, param="volume"), 64) == pytest.approx(mid, abs=0.6)
    quarter = volume.lo + 0.25 * (volume.hi - volume.lo)
    exp = cc_value(CCMapping(control=1, param="volume", curve="exp"), 64)
    assert exp == pytest.approx(quarter, abs=0.6)
    geometric = (0.05 * 30.0) ** 0.5
    assert cc_value(CCMapping(control=1, param="gate_fade"), 64) == pytest.approx(
        geometric, rel=0.03
    )


def test_cc_ints_are_rounded_choices_take_their_slice_and_bools_switch_at_64():
    controls, mapper = mapper_for(
        CCMapping(control=1, param="k"),
        CCMapping(control=2, param="level"),
        CCMapping(control=3, param="gate_mode", min=0.0, max=0.5),  # ignored for choices
    )
    for value in (0, 1, 63, 64, 100, 127):
        mapper.handle(cc(1, value))
        [(_, k)] = params_requested(controls)
        assert isinstance(k, int) and k == round(1 + 63 * value / 127)
    level = PARAMS_BY_NAME["level"]
    seen = []
    for value in range(128):
        mapper.handle(cc(2, value))
        [(_, choice)] = params_requested(controls)
        seen.append(choice)
    assert seen[0] == level.choices[0] and seen[-1] == level.choices[-1]
    assert sorted(set(seen), key=seen.index) == list(level.choices)


def test_cc_bool_parameters_switch_on_from_64():
    # no bool parameter is registered yet: the rule is checked on a stand-in
    from livecat.control import midi
    from livecat.control.params import Param

    switch = Param("switch", "bool", False, "a stand-in")
    rule = midi._CCRule(CCMapping(control=1, param="switch"), switch, 0.0, 1.0, "linear")
    assert [midi._scale(rule, v) for v in (0, 63, 64, 127)] == [False, False, True, True]
    assert [switch.from_norm(v / 127) for v in (63, 64)] == [False, True]  # as OSC /norm


def test_cc_channel_filter_is_one_based_in_the_config():
    controls, mapper = mapper_for(
        CCMapping(control=7, param="volume", channel=1),
        CCMapping(control=7, param="dry_wet", channel=16),
        CCMapping(control=8, param="continuity"),  # any channel
    )
    mapper.handle(cc(7, 127, channel=0))  # mido channel 0 is MIDI channel 1
    assert params_requested(controls) == [("volume", 12.0)]
    mapper.handle(cc(7, 0, channel=15))
    assert params_requested(controls) == [("dry_wet", 0.0)]
    mapper.handle(cc(7, 0, channel=3))
    assert params_requested(controls) == []
    assert mapper.ignored == 1
    for channel in (0, 9, 15):
        mapper.handle(cc(8, 127, channel=channel))
        assert params_requested(controls) == [("continuity", 1.0)]


def test_one_control_may_move_several_parameters():
    controls, mapper = mapper_for(
        CCMapping(control=1, param="volume"), CCMapping(control=1, param="dry_wet")
    )
    mapper.handle(cc(1, 0))
    assert params_requested(controls) == [("volume", -60.0), ("dry_wet", 0.0)]


# -- notes → actions, program change → corpus ------------------------------------------------------
def test_momentary_note_holds_the_action_while_the_key_is_down():
    controls, mapper = mapper_for(NoteMapping(note=36, action="freeze", mode="momentary"))
    mapper.handle(note_on(36))
    assert controls.drain() == [Request("action", "freeze", True, "midi")]
    mapper.handle(note_off(36))
    assert controls.drain() == [Request("action", "freeze", False, "midi")]
    mapper.handle(note_on(36))
    mapper.handle(note_on(36, velocity=0))  # running-status note-off
    assert [r.value for r in controls.drain()] == [True, False]


def test_toggle_note_flips_on_note_on_only():
    controls, mapper = mapper_for(NoteMapping(note=37, action="blackout", mode="toggle"))
    for message in (note_on(37), note_off(37), note_on(37), note_on(37, velocity=0)):
        mapper.handle(message)
    assert controls.drain() == [Request("action", "blackout", None, "midi")] * 2


def test_trigger_note_fires_on_note_on():
    controls, mapper = mapper_for(NoteMapping(note=38, action="next_corpus", mode="trigger"))
    mapper.handle(note_on(38))
    mapper.handle(note_off(38))
    assert controls.drain() == [Request("action", "next_corpus", None, "midi")]


def test_note_channel_filter():
    controls, mapper = mapper_for(NoteMapping(note=36, action="freeze", channel=10))
    mapper.handle(note_on(36, channel=0))
    assert controls.drain() == []
    mapper.handle(note_on(36, channel=9))
    assert controls.drain() == [Request("action", "freeze", None, "midi")]


def test_program_change_selects_a_corpus_when_enabled():
    controls, mapper = mapper_for()
    mapper.handle(mido.Message("program_change", program=2, channel=5))
    assert controls.drain() == [Request("corpus", "2", None, "midi")]
    controls, mapper = mapper_for(program_change=False)
    mapper.handle(mido.Message("program_change", program=2))
    assert controls.drain() == [] and mapper.ignored == 1


def test_unmapped_and_bad_messages_are_counted_never_raised():
    controls, mapper = mapper_for(CCMapping(control=1, param="volume"))
    for message in (
        cc(2, 10),
        note_on(60),
        mido.Message("pitchwheel", pitch=100),
        mido.Message("clock"),
        mido.Message("sysex", data=[1, 2, 3]),
        mido.Message("aftertouch", value=3),
    ):
        mapper.handle(message)
    assert mapper.ignored == 6 and mapper.errors == 0
    mapper.handle(object())  # not a message at all
    mapper.handle(None)
    assert mapper.errors == 2
    assert controls.drain() == []
    mapper.handle(cc(1, 127))
    assert params_requested(controls) == [("volume", 12.0)] and mapper.handled == 1


# -- checks ----------------------------------------------------------------------------------------
def test_bad_mappings_are_refused_with_one_line():
    with pytest.raises(ParameterError, match="no parameter 'nope'"):
        mapper_for(CCMapping(control=1, param="nope"))
    with pytest.raises(ParameterError, match="curve log needs min and max above 0"):
        mapper_for(CCMapping(control=1, param="volume", curve="log"))
    with pytest.raises(ParameterError, match="mode must be trigger"):
        mapper_for(NoteMapping(note=1, action="next_corpus", mode="toggle"))
    with pytest.raises(ParameterError, match="no action"):
        mapper_for(NoteMapping(note=1, action="explode"))


def test_config_refuses_a_log_curve_over_zero_with_its_line(tmp_path):
    text = '[midi]\ninput = "x"\n\n[[midi.cc]]\ncontrol = 1\nparam = "volume"\ncurve = "log"\n'
    with pytest.raises(ConfigError, match=r"set\.toml: line 7: curve log needs min and max"):
        parse_config(text, path=tmp_path / "set.toml")
    ok = text.replace('param = "volume"', 'param = "gate_fade"')
    assert parse_config(ok).midi.cc[0].curve == "log"


def test_toml_mappings_drive_the_mapper():
    config = parse_config(
        '[midi]\ninput = "nano"\nprogram_change = true\n'
        '[[midi.cc]]\ncontrol = 1\nparam = "continuity"\nchannel = 2\nmin = 0.2\nmax = 0.8\n'
        '[[midi.note]]\nnote = 36\naction = "freeze"\nmode = "momentary"\n'
    )
    controls = Controls()
    mapper = MidiMapper(controls, config.midi)
    mapper.handle(cc(1, 127, channel=1))
    mapper.handle(note_on(36))
    assert controls.drain() == [
        Request("param", "continuity", 0.8, "midi"),
        Request("action", "freeze", True, "midi"),
    ]
    assert mapper.mappings() == config.midi


# -- learn -----------------------------------------------------------------------------------------
def test_learn_then_a_cc_creates_the_mapping_and_the_next_ccs_move_the_param():
    controls, mapper = mapper_for(CCMapping(control=20, param="volume", channel=3))
    mapper.learn("continuity")
    assert mapper.learning == LearnTarget("param", "continuity")
    mapper.handle(cc(20, 10, channel=2))  # MIDI channel 3: takes over volume's control
    assert mapper.learning is None
    assert controls.drain() == []  # the learning move itself is consumed
    learnt = CCMapping(control=20, param="continuity", channel=3)
    assert mapper.last_learned == learnt and mapper.learned == 1
    assert mapper.mappings().cc == (learnt,)
    mapper.handle(cc(20, 127, channel=2))
    mapper.handle(cc(20, 127, channel=0))  # another channel: not learnt
    assert params_requested(controls) == [("continuity", 1.0)]


def test_learn_keeps_other_mappings_and_a_relearnt_params_range():
    controls, mapper = mapper_for(
        CCMapping(control=1, param="volume", min=-30.0, max=0.0, curve="exp"),
        CCMapping(control=2, param="dry_wet"),
    )
    mapper.learn("volume")
    mapper.handle(cc(1, 5, channel=4))
    # the any-channel mapping the move would have triggered is replaced by one on channel 5,
    # keeping the range and curve written for volume
    assert mapper.mappings().cc == (
        CCMapping(control=2, param="dry_wet"),
        CCMapping(control=1, param="volume", channel=5, min=-30.0, max=0.0, curve="exp"),
    )
    mapper.learn("k")
    mapper.handle(cc(2, 0))
    assert [(m.control, m.param) for m in mapper.mappings().cc] == [(1, "volume"), (2, "k")]
    mapper.handle(cc(1, 127, channel=4))
    mapper.handle(cc(2, 127, channel=0))
    assert params_requested(controls) == [("volume", 0.0), ("k", 64)]


def test_learn_action_from_the_next_note_on():
    controls, mapper = mapper_for(NoteMapping(note=40, action="blackout"))
    mapper.learn_action("freeze")
    mapper.handle(cc(1, 1))  # a CC does not complete an action's learn
    assert mapper.learning == LearnTarget("action", "freeze") and mapper.ignored == 1
    mapper.handle(note_off(40))  # nor a note-off
    mapper.handle(note_on(40, channel=1))
    assert mapper.mappings().note == (  # blackout's any-channel note 40 is replaced
        NoteMapping(note=40, action="freeze", channel=2, mode="toggle"),
    )
    mapper.learn_action("next_corpus")
    mapper.handle(note_on(41))
    assert mapper.mappings().note[-1] == NoteMapping(41, "next_corpus", 1, "trigger")
    controls.drain()
    mapper.handle(note_on(40, channel=1))
    mapper.handle(note_on(41))
    assert [r.name for r in controls.drain()] == ["freeze", "next_corpus"]


def test_learn_refuses_unknown_names_and_can_be_cancelled():
    _, mapper = mapper_for()
    with pytest.raises(ParameterError):
        mapper.learn("nope")
    with pytest.raises(ParameterError):
        mapper.learn_action("volume")
    mapper.learn("volume")
    mapper.cancel_learn()
    mapper.handle(cc(1, 1))
    assert mapper.mappings().cc == () and mapper.ignored == 1


def test_learnt_mappings_are_written_back_by_dump_config():
    from livecat.control.config import dump_config

    _, mapper = mapper_for()
    mapper.learn("gate")
    mapper.handle(cc(74, 0, channel=0))
    mapper.learn_action("mute_grains")
    mapper.handle(note_on(48, channel=9))
    text = dump_config(corpora=[], setup={}, params={}, midi=mapper.mappings())
    again = parse_config(text).midi
    assert again.cc == (CCMapping(control=74, param="gate", channel=1),)
    assert again.note == (NoteMapping(note=48, action="mute_grains", channel=10, mode="toggle"),)


def test_learn_armed_from_another_thread_while_messages_flow():
    _, mapper = mapper_for(CCMapping(control=1, param="volume"))
    stop = threading.Event()

    def sender():
        value = 0
        while not stop.is_set():
            mapper.handle(cc(1, value % 128))
            value += 1

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        for _ in range(200):
            mapper.learn("volume")
            mapper.cancel_learn()
        mapper.learn("continuity")
        deadline = time.monotonic() + 5
        while mapper.learning is not None and time.monotonic() < deadline:
            time.sleep(0.001)
    finally:
        stop.set()
        thread.join()
    assert mapper.errors == 0
    assert [m.param for m in mapper.mappings().cc] == ["continuity"]


def test_learn_targets_and_the_window_keys():
    targets = learn_targets()
    assert targets == [LearnTarget("param", p.name) for p in PARAMS] + [
        LearnTarget("action", a.name) for a in ACTIONS
    ]
    _, mapper = mapper_for(CCMapping(control=7, param="dry_wet"))
    menu = LearnMenu(mapper)
    assert menu.overlay() is None and not menu.key(",")  # , and . are free outside learn
    assert menu.key("m") and mapper.learning == targets[0]
    assert "MIDI learn: dry_wet — move a control (now: CC 7 any channel)" in menu.overlay()
    menu.key(".")
    assert mapper.learning == targets[1]
    mapper.handle(cc(9, 3, channel=1))
    assert "volume ← CC 9 ch 2" in menu.overlay()
    menu.key(",")
    menu.key(",")  # wraps round to the last action
    assert mapper.learning == targets[-1]
    assert "press a pad or key" in menu.overlay()
    assert menu.key("m") and mapper.learning is None and menu.overlay() is None
    assert not menu.key("q")


# -- choosing a port -------------------------------------------------------------------------------
def test_ports_are_chosen_by_case_insensitive_substring():
    names = ["nanoKONTROL2:nanoKONTROL2 _ CTRL 20:0", "Midi Through:Midi Through Port-0 14:0"]
    assert resolve_port("nanokontrol", names) == names[0]
    with pytest.raises(DeviceError, match=r"no MIDI input matches 'launch'; available: 'nano"):
        resolve_port("launch", names)
    with pytest.raises(DeviceError, match=r"ambiguous: candidates: 'nano.*', 'Midi Through"):
        resolve_port(":", names)
    assert resolve_port("A", ["A", "AB"]) == "A"  # an exact name wins
    with pytest.raises(DeviceError, match="no MIDI inputs available"):
        resolve_port("x", [])


def test_without_mido_the_module_imports_and_midi_input_says_the_fix():
    import subprocess

    code = (
        "import sys; sys.modules['mido'] = None\n"
        "import livecat.control.midi as m\n"
        "from livecat.control.state import Controls\n"
        "try:\n"
        "    m.MidiInput(m.MidiMapper(Controls()), 'x')\n"
        "except m.DeviceError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip().startswith("MIDI needs mido and python-rtmidi: pip install 'livecat[midi]'")


# -- a real port -----------------------------------------------------------------------------------
def _wait_for(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _rtmidi_api(name: str):
    rtmidi = pytest.importorskip("rtmidi")
    api = getattr(rtmidi, f"API_{name}")
    if api not in rtmidi.get_compiled_api():
        pytest.skip(f"python-rtmidi was built without the {name} MIDI API")
    return rtmidi, api


@pytest.fixture
def jack_midi(monkeypatch):
    """A JACK dummy server this process's JACK clients (rtmidi's) talk to."""
    rtmidi, api = _rtmidi_api("UNIX_JACK")
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed: no JACK MIDI to test through")
    pytest.importorskip("jack")
    from livehelpers import jack_server

    name = f"lcmidi{os.getpid()}"
    with jack_server(name) as env:
        monkeypatch.setenv("JACK_DEFAULT_SERVER", env["JACK_DEFAULT_SERVER"])
        monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
        import jack

        watcher = jack.Client("lc-test-watch", servername=name, no_start_server=True)
        try:
            yield rtmidi, api, watcher
        finally:
            watcher.close()


def _connected(watcher, port_name: str) -> None:
    """Wait until JACK has wired the controller's port to livecat's: messages sent before
    the next cycle after the connection are dropped by JACK, as on any rig."""
    assert _wait_for(lambda: watcher.get_all_connections(port_name)), "JACK did not connect"
    time.sleep(0.05)  # a few 5.3 ms cycles


def _pad_mapper() -> tuple[Controls, MidiMapper]:
    controls = Controls()
    config = MidiConfig(
        cc=(CCMapping(control=7, param="volume", channel=1),),
        note=(NoteMapping(note=36, action="freeze", channel=2, mode="momentary"),),
    )
    return controls, MidiMapper(controls, config)


EXPECTED = [
    Request("param", "volume", 12.0, "midi"),
    Request("action", "freeze", True, "midi"),
    Request("corpus", "1", None, "midi"),
]


def _send_through(out, mapper: MidiMapper, tries: int = 3) -> list[Request]:
    """Send CC 7, note 36 and program 1; the requests they became. A dummy JACK server without
    realtime priority on a loaded machine drops a cycle's MIDI on an xrun, as a real server
    would: a batch that arrives incomplete is sent again (at most ``tries`` times)."""
    controls = mapper.controls
    for _ in range(tries):
        controls.drain()
        out.send_message([0xB0, 7, 127])  # CC 7 = 127 on channel 1
        out.send_message([0x91, 36, 100])  # note 36 on channel 2
        out.send_message([0xC0, 1])  # program 1
        if _wait_for(lambda: controls.pending() >= 3, timeout_s=2.0):
            return controls.drain()
    counts = (controls.pending(), mapper.handled, mapper.ignored, mapper.errors)
    raise AssertionError(f"MIDI did not come through: pending, handled, ignored, errors {counts}")


def test_a_real_jack_midi_port_reaches_the_controls(jack_midi):
    rtmidi, api, watcher = jack_midi
    controller = rtmidi.MidiOut(rtapi=api, name="lc-test-pad")
    controller.open_virtual_port("faders")
    controls, mapper = _pad_mapper()
    # no api given: ALSA is tried first (absent or without this port), then JACK
    port = MidiInput(mapper, "LC-TEST-PAD:FADERS")
    try:
        assert port.api == "UNIX_JACK" and port.port_name == "lc-test-pad:faders"
        _connected(watcher, port.port_name)
        assert _send_through(controller, mapper) == EXPECTED
        assert port.check()

        # the controller goes away: nothing crashes, check() notices and closes the port
        controller.close_port()
        controller.delete()
        assert _wait_for(lambda: not port.check())
        assert port.lost == 1 and not port.is_open
        assert not port.check()
        # and comes back: the port is reopened, messages flow again
        controller = rtmidi.MidiOut(rtapi=api, name="lc-test-pad")
        controller.open_virtual_port("faders")
        assert _wait_for(port.check)
        _connected(watcher, port.port_name)
        assert _send_through(controller, mapper) == EXPECTED
        with pytest.raises(DeviceError, match=r"no MIDI input matches 'nope'.*lc-test-pad:faders"):
            MidiInput(mapper, "nope", api="jack")
        assert "JACK  lc-test-pad:faders" in describe_inputs("jack")
        port.close()
        assert not port.check() and not port.is_open  # closed stays closed
        controller.send_message([0xB0, 7, 0])
        time.sleep(0.1)
        assert controls.pending() == 0
    finally:
        port.close()
        port.close()
        controller.delete()


def test_a_real_alsa_midi_port_reaches_the_controls():
    rtmidi, api = _rtmidi_api("LINUX_ALSA")
    if not os.path.exists("/dev/snd/seq"):
        pytest.skip("no ALSA sequencer here (/dev/snd/seq is missing); JACK MIDI is tested")
    controller = rtmidi.MidiOut(rtapi=api, name="lc-test-pad")
    controller.open_virtual_port("faders")
    _, mapper = _pad_mapper()
    port = MidiInput(mapper, "lc-test-pad", api="alsa")
    try:
        assert port.api == "LINUX_ALSA"
        assert _send_through(controller, mapper) == EXPECTED
    finally:
        port.close()
        controller.delete()
