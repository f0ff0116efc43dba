"""The ``audio="rtmixer"`` path through a real JACK server (dummy backend): the grains that
come out are the offline engine's output delayed by a constant, xruns reach the counters, and
the command line's errors stay one line."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import livehelpers
import mediagen
import numpy as np
import pytest

from livecat.corpus import Corpus
from livecat.live import LivePlayer, LiveSettings
from livecat.live.player import CALLBACKS, DECISIONS, ENTRY, LATE_GRAINS, OUTPUT_UNDERFLOWS
from livecat.synthesis import Engine, EngineSettings

SR = 48000
RT_PERIOD = 1024  # frames per JACK cycle for the timing test (see ``slow_cycle_server``)
pytestmark = pytest.mark.live
rtmixer = pytest.importorskip("rtmixer")


@pytest.fixture(scope="module")
def corpus(notes_corpus: Corpus) -> Corpus:
    return notes_corpus


@contextmanager
def _portaudio_on_jack(name: str, *, period: int):
    """A JACK server (dummy backend) of ``period`` frames that PortAudio sees."""
    missing = livehelpers.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (installed by `make test` on Debian)")
    from livecat.live.devices import sounddevice

    sd = sounddevice()
    saved = dict(os.environ)
    try:
        with livehelpers.jack_server(name, period=period) as env:
            os.environ.update(env)
            sd._terminate()  # PortAudio lists JACK's devices when it initialises
            sd._initialize()
            try:
                yield name
            finally:
                sd._terminate()  # before jackd goes, or PortAudio asserts at exit
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sd._initialize()


@pytest.fixture(scope="module")
def server():
    with _portaudio_on_jack(f"livecat-rt-{os.getpid()}", period=livehelpers.PERIOD) as name:
        yield name


@pytest.fixture
def slow_cycle_server():
    """A server of 21 ms periods, not the usual 5.3 ms: with the dummy backend's timer thread
    not real-time, a VM that stalls for over a period makes the server count an xrun, and in
    a full test run on a shared 2-core VM every 3 s take had some at 256 frames (seen in CI,
    and here after test_live_jack). The timing maths hold for any period. (The other tests
    keep 256: one run of the module's stop test at 1024 ended in a segfault in PortAudio's
    close, never seen at 256.)"""
    with _portaudio_on_jack(f"livecat-rt-slow-{os.getpid()}", period=RT_PERIOD) as name:
        yield name


def _player(corpus: Corpus, **settings) -> LivePlayer:
    return LivePlayer(
        corpus,
        engine_settings=EngineSettings(),
        settings=LiveSettings(audio="rtmixer", **settings),
    )


def _capture_input(player: LivePlayer) -> list[np.ndarray]:
    """Record every block the feeder hands to the engines (what livecat heard)."""
    heard: list[np.ndarray] = []
    match = player._match_block

    def spy(block: np.ndarray, start: int, arrived: float) -> None:
        assert start == sum(b.size for b in heard)  # no gaps
        heard.append(block.copy())
        match(block, start, arrived)

    player._match_block = spy  # type: ignore[method-assign]
    return heard


def _play_through_livecat(corpus: Corpus, server: str, target: np.ndarray):
    """Play ``target`` into livecat (rtmixer) through JACK and record what comes out:
    (player, what livecat heard, recording, xruns the server or livecat saw meanwhile)."""
    # A generous hand-off: this checks the timing maths, not the machine's load (late grains
    # under load are the benchmark's business).
    player = _player(corpus, rt_handoff_blocks=4)
    heard = _capture_input(player)
    client = livehelpers.PlayRecord(server, target, record_s=6.0)
    try:
        player.start()
        client.connect_to("PortAudio")
        time.sleep(0.5)
        client.play()
        time.sleep(target.size / SR + 1.0)
    finally:
        xruns = client.xruns + player.xruns()
        player.stop()
        client.close()
    return player, heard, client.recorded[: client.rec_pos], xruns


def test_rtmixer_output_is_the_offline_engine_delayed_by_a_constant(corpus, slow_cycle_server):
    server = slow_cycle_server
    target = mediagen.varied_notes(3.0, seed=8)
    # An xrun drops a period from the recording or from livecat's stream and shifts one
    # against the other for the rest of the take: that says nothing of the timing maths, so
    # such a take is played again (seen once, in a full test run on a loaded VM).
    for _attempt in range(3):
        player, heard, recorded, xruns = _play_through_livecat(corpus, server, target)
        if not xruns:
            break
    assert not xruns, f"every take had xruns ({xruns} in the last): the machine is too loaded"
    assert player.matcher_error is None, player.matcher_error
    assert player.counters[LATE_GRAINS] == 0  # the output ring never ran dry
    assert player.counters[DECISIONS] > 100
    heard_all = np.concatenate(heard)
    expected = Engine(corpus)
    expected.reset()
    offline = expected.process(heard_all)
    assert player.shared[ENTRY] == expected.state.entry  # the same decisions
    # The constant delay: where the offline output's first grain appears in the recording.
    first = int(np.flatnonzero(np.abs(offline) > 1e-3)[0])
    loud = int(np.flatnonzero(np.abs(recorded) > 1e-3)[0])
    lag = loud - first
    n = min(offline.size, recorded.size - lag) - 2048
    assert n > 2 * SR
    np.testing.assert_allclose(recorded[lag : lag + n], offline[:n], atol=1e-5)


def test_xruns_reach_the_counters(corpus, server):
    """A JACK client that stalls the graph once makes the server report an xrun; the C
    callback's counts reach :attr:`LivePlayer.counters` through ``supervise``."""
    import jack

    player = _player(corpus)
    stalls = {"left": 0}
    slow = jack.Client("livecat-stall", servername=server, no_start_server=True)

    @slow.set_process_callback
    def process(frames: int) -> None:
        if stalls["left"] > 0:
            stalls["left"] -= 1
            time.sleep(0.05)

    slow.activate()
    try:
        player.start()
        time.sleep(0.5)
        assert player.supervise()
        before = player.xruns()
        stalls["left"] = 3
        deadline = time.monotonic() + 5
        while player.xruns() == before and time.monotonic() < deadline:
            time.sleep(0.1)
            player.supervise()
        assert player.xruns() > before
        assert player.counters[OUTPUT_UNDERFLOWS] > 0
    finally:
        player.stop()
        slow.deactivate()
        slow.close()


def test_actions_are_drained_and_stay_few(corpus, server):
    """rtmixer keeps every action until Python drains its result: the feeder's two long-lived
    actions are all there is, however long it runs."""
    target = mediagen.varied_notes(4.0, seed=9)
    player = _player(corpus, dry=0.5)
    client = livehelpers.PlayRecord(server, target, record_s=1.0)
    alive = []
    try:
        player.start()
        client.connect_to("PortAudio")
        client.play()
        for _ in range(30):
            time.sleep(0.1)
            alive.append(len(player.rt.stream._actions))
    finally:
        player.stop()
        client.close()
    assert player.counters[CALLBACKS] > 400  # the feeder ran
    assert max(alive) <= 2, alive


def test_stop_takes_under_a_second(corpus, server):
    player = _player(corpus)
    player.start()
    time.sleep(0.3)
    started = time.monotonic()
    player.stop()
    assert time.monotonic() - started < 1.0
    assert not any(t.name == "livecat-feeder" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--audio", "rtmixer", "--matcher", "callback"], "livecat: --audio rtmixer runs"),
        (["--audio", "rtmixer"], "livecat: cannot open the audio stream"),
        (["--audio", "nope"], "livecat: argument --audio: invalid choice"),
    ],
)
def test_rtmixer_cli_errors_are_one_line(corpus, args, message):
    result = livehelpers.run_livecat("live", str(corpus.path), "--headless", *args)
    livehelpers.assert_one_line_error(result, message)
