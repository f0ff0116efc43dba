"""OSC in and out over real UDP on 127.0.0.1: every address form, every way a message can be
wrong (counted, nothing applied, the server still answers), and the feedback's exact
addresses, values and types."""

from __future__ import annotations

import io
import logging
import math
import os
import re
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from livecat.cli.logrepeats import RepeatFilter
from livecat.control.config import load_config
from livecat.control.osc import (
    LOGGED_IGNORED,
    MAX_DATAGRAM,
    MAX_MESSAGES,
    OscControl,
    OscFeedback,
    address_table,
    feedback_table,
    parse_endpoint,
)
from livecat.control.params import ACTIONS, PARAMS, PARAMS_BY_NAME
from livecat.control.state import Controls, Request, Status
from livecat.errors import DeviceError, ParameterError
from livecat.live.session import LiveSession


def _wait(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _message(address: str, *args: object, types: str | None = None) -> bytes:
    builder = OscMessageBuilder(address)
    for i, arg in enumerate(args):
        builder.add_arg(arg, types[i] if types else None)
    return builder.build().dgram


class Rig:
    """An OscControl on a free port, a raw socket and a python-osc client pointed at it."""

    def __init__(self, **kwargs: object) -> None:
        self.controls = Controls()
        self.osc = OscControl(self.controls, host="127.0.0.1", port=0, **kwargs).start()
        self.host, self.port = self.osc.address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client = SimpleUDPClient(self.host, self.port)

    def raw(self, data: bytes) -> None:
        """Send one datagram and wait until the server has handled it."""
        before = self.osc.received
        self.sock.sendto(data, (self.host, self.port))
        _wait(lambda: self.osc.received > before)

    def send(self, address: str, *args: object, types: str | None = None) -> None:
        self.raw(_message(address, *args, types=types))

    def close(self) -> None:
        self.sock.close()
        self.client.close()
        self.osc.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


# -- endpoints ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9000", ("127.0.0.1", 9000)),
        (":9000", ("127.0.0.1", 9000)),
        ("0.0.0.0:9000", ("0.0.0.0", 9000)),
        ("[::1]:9000", ("::1", 9000)),
        ("studio-pc.local:57120", ("studio-pc.local", 57120)),
        (" 192.168.1.20:7000 ", ("192.168.1.20", 7000)),
    ],
)
def test_endpoints_are_port_or_host_and_port(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "host:", "host:x", "1.2.3.4:70000", "::1:9000", "[::1]", "0", "a b:1"]
)
def test_a_bad_endpoint_is_a_one_line_parameter_error(text):
    with pytest.raises(ParameterError) as info:
        parse_endpoint(text)
    message = str(info.value)
    assert "\n" not in message and "OSC address" in message, message


def test_port_zero_only_when_asked_for():
    assert parse_endpoint("0", allow_port_zero=True) == ("127.0.0.1", 0)


# -- every address form ------------------------------------------------------------------------
def test_every_registered_parameter_and_action_has_an_address(rig):
    routed = set(rig.osc.dispatcher._map)
    for p in PARAMS:
        assert p.osc_address in routed and p.osc_address + "/norm" in routed
    for a in ACTIONS:
        assert a.osc_address in routed
    assert "/livecat/corpus/load" in routed


def test_a_parameter_value_becomes_a_request_as_the_decimal_that_was_meant(rig):
    rig.client.send_message("/livecat/param/continuity", 0.9)  # sent as float32
    rig.client.send_message("/livecat/param/k", 12)
    rig.client.send_message("/livecat/param/volume", -6.5)
    rig.client.send_message("/livecat/param/level", "match")
    rig.client.send_message("/livecat/param/gate_mode", 1)  # a choice by position
    _wait(lambda: rig.osc.received == 5)
    assert rig.controls.drain() == [
        Request("param", "continuity", 0.9, "osc"),
        Request("param", "k", 12, "osc"),
        Request("param", "volume", -6.5, "osc"),
        Request("param", "level", "match", "osc"),
        Request("param", "gate_mode", PARAMS_BY_NAME["gate_mode"].choices[1], "osc"),
    ]
    assert (rig.osc.applied, rig.osc.ignored, rig.controls.refused) == (5, 0, 0)


def test_an_int_parameter_takes_a_whole_float_as_touch_controllers_send(rig):
    rig.send("/livecat/param/k", 20.0)
    assert rig.controls.drain() == [Request("param", "k", 20, "osc")]


def test_a_double_keeps_its_precision(rig):
    rig.send("/livecat/param/continuity", 0.123456789012, types="d")
    assert rig.controls.drain()[0].value == 0.123456789012


def test_a_normalised_value_spreads_over_the_range_and_its_curve(rig):
    rig.send("/livecat/param/volume/norm", 0.5)
    rig.send("/livecat/param/gate_fade/norm", 0.5)  # log curve: the geometric middle
    rig.send("/livecat/param/level/norm", 0.99)
    values = {r.name: r.value for r in rig.controls.drain()}
    assert values["volume"] == pytest.approx(-24.0)
    assert values["gate_fade"] == pytest.approx(math.sqrt(0.05 * 30.0))
    assert values["level"] == PARAMS_BY_NAME["level"].choices[-1]


def test_toggles_take_one_zero_true_false_or_nothing(rig):
    rig.send("/livecat/action/freeze", 1)
    rig.send("/livecat/action/freeze", 0.0)
    rig.send("/livecat/action/blackout")
    rig.send("/livecat/action/mute_grains", True)
    rig.send("/livecat/action/mute_grains", False)
    assert rig.controls.drain() == [
        Request("action", "freeze", True, "osc"),
        Request("action", "freeze", False, "osc"),
        Request("action", "blackout", None, "osc"),
        Request("action", "mute_grains", True, "osc"),
        Request("action", "mute_grains", False, "osc"),
    ]
    assert rig.osc.ignored == 0


def test_a_trigger_fires_on_a_press_and_not_again_on_the_release(rig):
    rig.send("/livecat/action/next_corpus")
    rig.send("/livecat/action/next_corpus", 1.0)  # a push button: press ...
    rig.send("/livecat/action/next_corpus", 0.0)  # ... and release
    rig.send("/livecat/action/prev_corpus", "anything")
    rig.send("/livecat/action/reload_config", 1)
    assert rig.controls.drain() == [
        Request("action", "next_corpus", None, "osc"),
        Request("action", "next_corpus", None, "osc"),
        Request("action", "prev_corpus", None, "osc"),
        Request("action", "reload_config", None, "osc"),
    ]
    assert (rig.osc.applied, rig.osc.ignored) == (4, 0)


def test_a_corpus_is_loaded_by_name_or_position(rig):
    rig.send("/livecat/corpus/load", "forest")
    rig.send("/livecat/corpus/load", 2)
    rig.send("/livecat/corpus/load", 1.0)
    assert rig.controls.drain() == [
        Request("corpus", "forest", None, "osc"),
        Request("corpus", "2", None, "osc"),
        Request("corpus", "1", None, "osc"),
    ]


def test_a_bundle_applies_its_messages_at_once_whatever_its_time_tag(rig):
    for timetag in (IMMEDIATELY, time.time() + 3600):  # a future time tag is not waited for
        bundle = OscBundleBuilder(timetag)
        for address, value in (("/livecat/param/dry_wet", 0.5), ("/livecat/action/freeze", 1)):
            builder = OscMessageBuilder(address)
            builder.add_arg(value)
            bundle.add_content(builder.build())
        started = time.monotonic()
        rig.raw(bundle.build().dgram)
        assert time.monotonic() - started < 1.0
        assert rig.controls.drain() == [
            Request("param", "dry_wet", 0.5, "osc"),
            Request("action", "freeze", True, "osc"),
        ]


# -- a flood of valid requests ---------------------------------------------------------------------
def _bundle(messages: list[bytes]) -> bytes:
    out = b"#bundle\x00" + bytes(8)
    for m in messages:
        out += struct.pack(">i", len(m)) + m
    return out


class _Player:
    """What a LiveSession touches of the player while it applies requests, and no more."""

    def __init__(self) -> None:
        self.decks = [SimpleNamespace(name="forest", corpus=SimpleNamespace(path="/c/forest"))]
        self.switch_request = 0
        self.settings_given = 0

    def set_engine_settings(self, settings: object) -> None:
        self.settings_given += 1

    def switch_to(self, deck: int) -> None:
        self.switch_request = deck


def _session(controls: Controls, config_path: Path | None = None) -> LiveSession:
    from livecat.synthesis import EngineSettings

    return LiveSession(
        _Player(),  # type: ignore[arg-type]
        controls=controls,
        base_settings=EngineSettings(),
        corpora=["/c/forest"],
        setup={},
        config_path=config_path,
    )


def test_a_bundle_of_reload_config_actions_reloads_the_set_once(rig, tmp_path, monkeypatch):
    import livecat.live.session as session_module

    path = tmp_path / "set.toml"
    path.write_text("[params]\ncontinuity = 0.7\nk = 12\n")
    loads = []
    monkeypatch.setattr(session_module, "load_config", lambda p: loads.append(p) or load_config(p))
    session = _session(rig.controls, path)
    rig.raw(_bundle([_message("/livecat/action/reload_config")] * 50))
    assert (rig.osc.applied, rig.osc.ignored) == (50, 0)
    session.tick()
    assert loads == [path]  # fifty asked, one read
    assert rig.controls.coalesced == 49
    session.tick()  # the set's parameters, requested by the reload, applied together
    assert rig.controls.values["continuity"] == 0.7 and rig.controls.values["k"] == 12
    assert session.player.settings_given == 1


def test_a_datagram_brings_at_most_max_messages_requests_the_rest_counted_ignored(rig, caplog):
    n = MAX_MESSAGES + 36
    bundle = _bundle([_message("/livecat/param/continuity", i / n) for i in range(n)])
    assert len(bundle) <= MAX_DATAGRAM
    with caplog.at_level(logging.WARNING, logger="livecat.control.osc"):
        rig.raw(bundle)
    assert (rig.osc.applied, rig.osc.ignored) == (MAX_MESSAGES, 36)
    assert rig.controls.refused == 36 and rig.controls.requested == MAX_MESSAGES
    assert [r.getMessage() for r in caplog.records] == [
        f"livecat: OSC: ignored bundle of {n} messages: the 36 after the first "
        f"{MAX_MESSAGES} are refused"
    ]
    # The fader's latest value within what was taken.
    assert rig.controls.drain() == [Request("param", "continuity", (MAX_MESSAGES - 1) / n, "osc")]


def test_a_flood_of_identical_warnings_writes_a_bounded_number_of_lines_saying_repeated():
    """Ten seconds of display ticks, each with a bundle of requests for a corpus that does
    not exist: one warning a tick at most, and the repeats collapsed into a few lines that
    count them."""
    rig = Rig(max_load=None)
    clock = [0.0]
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    repeats = RepeatFilter(handler, clock=lambda: clock[0])
    handler.addFilter(repeats)
    logger = logging.getLogger("livecat.live.session")
    logger.addHandler(handler)
    try:
        session = _session(rig.controls)
        flood = _bundle([_message("/livecat/corpus/load", "nowhere")] * MAX_MESSAGES)
        ticks = 600
        for tick in range(ticks):
            rig.raw(flood)
            session.tick()
            clock[0] = (tick + 1) / 60
            if tick % 60 == 59:
                repeats.flush_repeats()  # the session's once-a-second task does this
        repeats.flush_repeats(final=True)
    finally:
        logger.removeHandler(handler)
        rig.close()
    assert rig.controls.refused == ticks * MAX_MESSAGES  # every one counted, none applied
    lines = out.getvalue().splitlines()
    said = [line for line in lines if "repeated" not in line]
    counts = [int(m[1]) for line in lines if (m := re.search(r"… repeated (\d+) times in", line))]
    assert said[0] == (
        f"livecat: no corpus named 'nowhere'; loaded: forest (osc; {MAX_MESSAGES - 1} more refused)"
    )
    assert len(lines) <= 10 and counts, lines
    assert len(said) + sum(counts) == ticks, lines  # every tick's warning written or counted


# -- everything that is refused ------------------------------------------------------------------
def _pad(raw: bytes) -> bytes:
    return raw + b"\x00" * (-len(raw) % 4)


_VALID = _message("/livecat/param/continuity", 0.5)
_NESTED = _message("/livecat/action/freeze", 1)
for _ in range(6):
    _NESTED = b"#bundle\x00" + bytes(8) + struct.pack(">i", len(_NESTED)) + _NESTED

BAD = {
    "a string for a number": _message("/livecat/param/continuity", "0.5"),
    "out of range": _message("/livecat/param/continuity", 1.5),
    "not a whole number for an int": _message("/livecat/param/k", 2.5),
    "an unknown choice": _message("/livecat/param/level", "loud"),
    "no argument": _message("/livecat/param/continuity"),
    "two arguments": _message("/livecat/param/continuity", 0.5, 0.6),
    "a blob": _message("/livecat/param/continuity", b"\x01\x02"),
    "nil": _message("/livecat/param/continuity", None, types="N"),
    "true for a number": _message("/livecat/param/volume", True),
    "NaN": _message("/livecat/param/continuity", float("nan")),
    "norm out of range": _message("/livecat/param/continuity/norm", 1.5),
    "norm negative": _message("/livecat/param/continuity/norm", -0.1),
    "norm as a string": _message("/livecat/param/continuity/norm", "half"),
    "2 for a toggle": _message("/livecat/action/freeze", 2),
    "a string for a toggle": _message("/livecat/action/freeze", "on"),
    "two arguments for a toggle": _message("/livecat/action/freeze", 1, 1),
    "nil for a toggle": _message("/livecat/action/freeze", None, types="N"),
    "a blob for a toggle": _message("/livecat/action/blackout", b"\x01"),
    "an unknown parameter": _message("/livecat/param/brightness", 0.5),
    "an unknown action": _message("/livecat/action/explode"),
    "an unknown address": _message("/resolume/layer1/clip1/connect", 1),
    "an address pattern": _message("/livecat/param/*", 0.5),
    # python-osc's own matcher turns this into a regular expression that backtracks for
    # minutes (14 stars: 17 s on the development VM); livecat matches addresses exactly.
    "a pattern that backtracks": _message("/livecat/param/" + "*" * 30 + "X", 0.5),
    "a status address sent back": _message("/livecat/status/entry", 3),
    "an empty corpus name": _message("/livecat/corpus/load", ""),
    "a negative corpus position": _message("/livecat/corpus/load", -1),
    "a fractional corpus position": _message("/livecat/corpus/load", 0.5),
    "a huge corpus position": _message("/livecat/corpus/load", 1e30),
    "an infinite corpus position": _message("/livecat/corpus/load", float("inf")),
    "random bytes": bytes(range(256)) * 3,
    "empty": b"",
    "an unterminated address": b"/livecat/param/continuity",
    # (a float cut short is read zero-padded: python-osc's allowance for Reaktor)
    "a truncated argument": _message("/livecat/param/k", 5)[:-2],
    "a missing argument": _pad(b"/livecat/param/k\x00") + _pad(b",i\x00"),
    "no comma before the type tags": _VALID.replace(b",f", b"xf"),
    "an unknown type tag": _VALID.replace(b",f", b",Z"),
    "an unclosed array": _pad(b"/livecat/param/k\x00") + _pad(b",[i\x00") + bytes(4),
    "a bad UTF-8 address": _pad(b"/livecat/\xff\xfe\x00") + _pad(b",i\x00") + bytes(4),
    "a bad UTF-8 string": _pad(b"/livecat/corpus/load\x00") + _pad(b",s\x00") + b"\xff\x00\x00\x00",
    "a huge blob size": _pad(b"/livecat/param/k\x00") + _pad(b",b\x00") + b"\x7f\xff\xff\xff",
    "a negative blob size": _pad(b"/livecat/param/k\x00") + _pad(b",b\x00") + b"\xff\xff\xff\xf0",
    "a long address": _message("/livecat/" + "x" * 4000, 1),
    "many arguments": _message("/livecat/param/k", *range(100)),
    "oversized": _message("/livecat/corpus/load", "x" * (MAX_DATAGRAM + 100)),
    "a bundle without a time tag": b"#bundle\x00\x00\x00",
    "a bundle element too long": b"#bundle\x00" + bytes(8) + struct.pack(">i", 400) + _VALID,
    "a bundle element of size 0": b"#bundle\x00" + bytes(8) + bytes(4),
    "a bundle element of odd size": b"#bundle\x00" + bytes(8) + struct.pack(">i", 3) + b"/ab",
    "a bundle of junk": b"#bundle\x00" + bytes(8) + struct.pack(">i", 8) + b"\x01" * 8,
    "bundles nested too deep": _NESTED,
}


@pytest.mark.parametrize("what", list(BAD))
def test_a_bad_datagram_is_counted_applies_nothing_and_the_server_goes_on(rig, what, caplog):
    with caplog.at_level(logging.DEBUG):
        rig.raw(BAD[what])
    assert rig.controls.drain() == []
    assert rig.osc.ignored == 1 and rig.osc.applied == 0
    assert rig.controls.refused == 1  # counted once, whoever refused it
    assert rig.osc.last_ignored
    # python-osc itself logs nothing (its per-character warnings are never reached).
    assert all(r.name == "livecat.control.osc" for r in caplog.records), caplog.records
    # Still serving.
    rig.send("/livecat/param/continuity", 0.25)
    assert rig.controls.drain() == [Request("param", "continuity", 0.25, "osc")]
    assert rig.osc._thread is not None and rig.osc._thread.is_alive()


def test_ignored_messages_are_logged_a_few_times_then_only_counted(rig, caplog):
    with caplog.at_level(logging.WARNING, logger="livecat.control.osc"):
        for _ in range(3 * LOGGED_IGNORED):
            rig.send("/livecat/nothing", 1)
    assert rig.osc.ignored == 3 * LOGGED_IGNORED
    assert len(caplog.records) == LOGGED_IGNORED + 1
    assert "only counted" in caplog.records[-1].getMessage()


def test_a_flood_of_junk_costs_a_bounded_share_of_the_cpu_and_valid_messages_still_work():
    rig = Rig(max_load=0.05)
    try:
        junk = [os.urandom(n) for n in (16, 200, 1400)] + list(BAD.values())[:20]
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < 1.0:
            for data in junk:
                try:
                    rig.sock.sendto(data, (rig.host, rig.port))
                    sent += 1
                except OSError:
                    pass
        last = -1
        while rig.osc.received != last:  # let it work through what the kernel kept
            last = rig.osc.received
            time.sleep(0.3)
        assert rig.osc._thread is not None and rig.osc._thread.is_alive()
        assert rig.osc.paused > 0, "the flood never reached the CPU budget"
        assert rig.osc.received < sent  # the kernel dropped what arrived during pauses
        assert rig.osc.applied == 0
        rig.client.send_message("/livecat/action/freeze", 1)
        _wait(lambda: rig.controls.pending() == 1)
        assert rig.controls.drain() == [Request("action", "freeze", True, "osc")]
    finally:
        rig.close()


# -- the server's life -----------------------------------------------------------------------------
def test_close_is_prompt_and_frees_the_port():
    rig = Rig()
    port = rig.port
    started = time.monotonic()
    rig.close()
    assert time.monotonic() - started < 0.5
    again = OscControl(Controls(), host="127.0.0.1", port=port).start()
    again.close()


def test_a_port_in_use_is_a_one_line_device_error_naming_it():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(DeviceError) as info:
            OscControl(Controls(), host="127.0.0.1", port=port)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "\n" not in message, message
    assert isinstance(info.value, OSError)


def test_an_unknown_host_is_a_device_error():
    with pytest.raises(DeviceError, match=re.escape("no-such-host.invalid")):
        OscControl(Controls(), host="no-such-host.invalid", port=9000)


def test_ipv6_loopback_works_when_the_machine_has_it():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    controls = Controls()
    try:
        osc = OscControl(controls, host="::1", port=0).start()
    except DeviceError:
        pytest.skip("no IPv6 loopback here")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.sendto(_message("/livecat/action/freeze", 1), ("::1", osc.address[1]))
            _wait(lambda: osc.received == 1)
        assert controls.drain() == [Request("action", "freeze", True, "osc")]
    finally:
        osc.close()


# -- feedback ----------------------------------------------------------------------------------
class Listener:
    """A UDP socket standing in for Resolume or TouchOSC: collects what arrives, parsed by
    python-osc, with its type tags."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]

    def collect(self) -> list[tuple[str, str, list[object]]]:
        """(address, type tags, arguments) of every datagram waiting, in order."""
        out = []
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return out
            message = OscMessage(data)
            tags = data[(data.index(b"\x00") // 4 + 1) * 4 :].split(b"\x00")[0].decode()
            out.append((message.address, tags, message.params))

    def close(self) -> None:
        self.sock.close()


def _status(**changes: object) -> Status:
    base = {
        "entry": 1234,
        "source": "takes/forest é.mp4",
        "source_t_s": 12.5,
        "level": 0.25,
        "xruns": 3,
        "corpus": "forest",
        "params": {p.name: p.default for p in PARAMS},
        "toggles": {a.name: False for a in ACTIONS if a.kind == "toggle"},
    }
    base.update(changes)
    return Status(**base)  # type: ignore[arg-type]


STATUS_MESSAGES = [
    ("/livecat/status/entry", ",i", [1234]),
    ("/livecat/status/source", ",s", ["takes/forest é.mp4"]),
    ("/livecat/status/source_t", ",f", [12.5]),
    ("/livecat/status/level", ",f", [0.25]),
    ("/livecat/status/xruns", ",i", [3]),
]


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def test_feedback_sends_the_status_and_every_parameter_and_toggle_first(listener):
    feedback = OscFeedback(host="127.0.0.1", port=listener.port, refresh_s=3600)
    try:
        feedback.send(_status())
        got = listener.collect()
    finally:
        feedback.close()
    assert got[:5] == STATUS_MESSAGES
    rest = {address: (tags, args) for address, tags, args in got[5:]}
    for p in PARAMS:
        tags, args = rest[f"/livecat/status/param/{p.name}"]
        expected_tag = {"float": ",f", "int": ",i", "bool": ",i", "choice": ",s"}[p.kind]
        assert tags == expected_tag, p.name
        if p.kind == "float":
            assert args[0] == pytest.approx(p.default, rel=1e-6), p.name
        else:
            assert args == [p.default], p.name
        tags, args = rest[f"/livecat/status/param/{p.name}/norm"]
        assert tags == ",f" and 0.0 <= args[0] <= 1.0
        assert args[0] == pytest.approx(p.to_norm(p.default), abs=1e-6), p.name
    for a in ACTIONS:
        if a.kind == "toggle":
            assert rest[f"/livecat/status/action/{a.name}"] == (",i", [0])
    assert len(got) == 5 + 2 * len(PARAMS) + sum(a.kind == "toggle" for a in ACTIONS)
    assert feedback.sent == len(got) and feedback.failed == 0


def test_feedback_sends_parameters_and_toggles_only_when_they_change(listener):
    feedback = OscFeedback(host="127.0.0.1", port=listener.port, refresh_s=3600)
    try:
        feedback.send(_status())
        listener.collect()
        feedback.send(_status(entry=-1, source="", source_t_s=0.0, level=0.0))
        unchanged = listener.collect()
        params = dict(_status().params, continuity=0.9)
        toggles = dict(_status().toggles, freeze=True)
        feedback.send(_status(params=params, toggles=toggles))
        changed = listener.collect()
    finally:
        feedback.close()
    assert unchanged == [
        ("/livecat/status/entry", ",i", [-1]),
        ("/livecat/status/source", ",s", [""]),
        ("/livecat/status/source_t", ",f", [0.0]),
        ("/livecat/status/level", ",f", [0.0]),
        ("/livecat/status/xruns", ",i", [3]),
    ]
    assert changed[:5] == STATUS_MESSAGES
    assert [(a, t) for a, t, _ in changed[5:]] == [
        ("/livecat/status/param/continuity", ",f"),
        ("/livecat/status/param/continuity/norm", ",f"),
        ("/livecat/status/action/freeze", ",i"),
    ]
    assert changed[5][2][0] == pytest.approx(0.9) and changed[7][2] == [1]


def test_feedback_resends_everything_now_and_then_for_controllers_started_later(listener):
    feedback = OscFeedback(host="127.0.0.1", port=listener.port, refresh_s=0.6)
    try:
        feedback.send(_status())
        first = len(listener.collect())
        feedback.send(_status())
        quiet = len(listener.collect())
        time.sleep(0.65)
        feedback.send(_status())
        refreshed = len(listener.collect())
    finally:
        feedback.close()
    assert quiet == 5 and refreshed == first > 5


def test_feedback_to_nobody_is_counted_and_never_raised():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed below: nobody listens there
    feedback = OscFeedback(host="127.0.0.1", port=port)
    try:
        for _ in range(20):
            feedback.send(_status())
            time.sleep(0.005)
    finally:
        feedback.close()
    assert feedback.failed > 0 and feedback.last_error


def test_feedback_is_cheap_enough_for_every_display_tick(listener):
    feedback = OscFeedback(host="127.0.0.1", port=listener.port, refresh_s=3600)
    status = _status()
    try:
        feedback.send(status)
        started = time.perf_counter()
        for i in range(600):
            feedback.send(_status(entry=i, level=i / 600))
        per_tick_ms = (time.perf_counter() - started) / 600 * 1000
    finally:
        feedback.close()
    assert per_tick_ms < 1.0, per_tick_ms  # of a 16.7 ms tick


def test_an_unknown_feedback_host_is_a_device_error():
    with pytest.raises(DeviceError, match=re.escape("cannot send to no-such-host.invalid:9000")):
        OscFeedback(host="no-such-host.invalid", port=9000)


# -- the manual ----------------------------------------------------------------------------------
DOC = Path(__file__).parent.parent / "docs" / "control.md"


@pytest.mark.parametrize("table", [address_table, feedback_table])
def test_the_manual_s_address_tables_are_the_registry_s(table):
    text = DOC.read_text(encoding="utf-8")
    marker = f"<!-- generated: livecat.control.osc.{table.__name__}() -->\n"
    assert marker in text, f"{DOC}: no {marker.strip()}"
    written = text.split(marker, 1)[1].split("\n<!-- end -->", 1)[0]
    assert written == table(), f"{DOC} is out of date: regenerate its tables (see its end)"


def test_every_address_in_the_manual_s_tables_is_served(rig):
    served = set(rig.osc.dispatcher._map)
    for row in address_table().splitlines()[2:]:
        address = row.split("`")[1]
        assert address in served or "<name>" in address, address
