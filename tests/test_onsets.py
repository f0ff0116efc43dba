"""Onsets and attacks: one detector for the footage and the input, and what an attack is."""

from __future__ import annotations

import numpy as np
import pytest

from livecat.features.onsets import (
    AttackDescriber,
    OnsetDetector,
    store_onsets,
)

SR = 48000


def _hit(kind: str, *, seed: int, level: float = 0.3, length: int = SR // 4) -> np.ndarray:
    """A synthetic drum: a "thump" (a falling low sine with a click) or a "hiss" (bright
    noise), each decaying."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    if kind == "thump":
        pitch = 60.0 + 40.0 * np.exp(-t / 0.03)
        sound = np.sin(2 * np.pi * np.cumsum(pitch) / SR) * np.exp(-t / 0.12)
        sound[:48] += rng.standard_normal(48) * np.linspace(1, 0, 48)
    else:
        noise = rng.standard_normal(length)
        sound = np.diff(noise, prepend=0.0) * np.exp(-t / 0.05) / 2.0
    sound[-480:] *= np.linspace(1.0, 0.0, 480)  # no click at the cut
    return (level * sound).astype(np.float32)


def _hits_at(positions: list[int], kinds: list[str], *, length: int, seed: int) -> np.ndarray:
    out = np.zeros(length, np.float32)
    for i, (at, kind) in enumerate(zip(positions, kinds, strict=True)):
        hit = _hit(kind, seed=seed + i)
        out[at : at + hit.size] += hit[: length - at]
    return out


def _detect(signal: np.ndarray, *, block: int | None = None) -> list[int]:
    detector = OnsetDetector(floor_db=-60.0)
    if block is None:
        return detector.push(signal)
    found = []
    for start in range(0, signal.size, block):
        found += detector.push(signal[start : start + block])
    return found


POSITIONS = [4_801, 20_000, 31_337, 52_050, 70_000]
KINDS = ["thump", "hiss", "thump", "hiss", "hiss"]


def test_every_split_of_the_input_gives_the_same_onsets():
    """The footage is read whole and the input block by block: both must agree to the
    sample, or a render would not be the twin of a live set."""
    signal = _hits_at(POSITIONS, KINDS, length=90_000, seed=1)
    whole = _detect(signal)
    assert len(whole) == len(POSITIONS)
    for block in (1, 17, 64, 256, 1000, 4097):
        assert _detect(signal, block=block) == whole, block


def test_an_onset_is_placed_within_a_few_samples_of_where_the_sound_starts():
    """Found by blocks of 64 samples, then placed within its block: the footage's onsets and
    the input's agree to a sample or two, whatever the phase of their blocks."""
    signal = _hits_at(POSITIONS, KINDS, length=90_000, seed=2)
    for shift in (0, 17, 40):
        found = _detect(np.concatenate([np.zeros(shift, np.float32), signal]))
        for true, got in zip(POSITIONS, found, strict=True):
            assert 0 <= got - shift - true <= 4, (shift, true, got)


def test_the_codec_s_pre_echo_before_a_hit_is_not_its_onset(tmp_path):
    """AAC smears noise 20-30 dB under a hit over the few milliseconds before it; that noise
    rises from silence too, but the footage's onset must be where the hit is: within 1.3 ms
    (64 samples) of the clean sound's (the last millisecond of the echo is as loud as the
    hit's first)."""
    import mediagen

    signal = _hits_at(POSITIONS, KINDS, length=90_000, seed=3)
    path = tmp_path / "hits.mp4"
    mediagen.write_video(path, fps=25, size=(64, 48), duration_s=2.0, audio=signal, sr_hz=SR)
    coded = mediagen.read_audio(path, sr_hz=SR)
    coded_found = _detect(coded)
    found = _detect(signal)
    assert len(coded_found) == len(found)
    for clean, lossy in zip(found, coded_found, strict=True):
        assert abs(lossy - clean) <= 64, (clean, lossy)


def test_a_hat_over_a_kick_s_ring_is_an_onset_though_the_level_hardly_rises():
    """A soft bright hit 60 ms into a loud low ring adds under 2 dB to the level; its first
    difference (the sound above a few kHz) rises by far more."""
    ring = _hit("thump", seed=3, level=0.5)
    signal = np.zeros(SR, np.float32)
    signal[1000 : 1000 + ring.size] += ring
    hat_at = 1000 + int(0.06 * SR)
    hat = _hit("hiss", seed=4, level=0.03, length=SR // 20)
    signal[hat_at : hat_at + hat.size] += hat
    before = signal[hat_at - 480 : hat_at]
    during = signal[hat_at : hat_at + 480]
    rise_db = 10 * np.log10(np.mean(during**2) / np.mean(before**2))
    assert rise_db < 2.0  # the level alone would not show it
    found = _detect(signal)
    assert len(found) == 2 and abs(found[1] - hat_at) <= 4, found


def test_steady_noise_a_held_note_and_a_decay_have_no_onset_after_their_start():
    rng = np.random.default_rng(5)
    t = np.arange(2 * SR) / SR
    for signal in (
        0.1 * rng.standard_normal(2 * SR),
        0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t)),  # tremolo
        0.3 * rng.standard_normal(2 * SR) * np.exp(-t / 0.3),
    ):
        signal = signal.astype(np.float32)
        signal[:480] *= np.linspace(0, 1, 480)
        assert len(_detect(signal)) <= 1


def test_quieter_than_the_floor_is_no_onset():
    signal = _hits_at(POSITIONS, KINDS, length=90_000, seed=6) * 10 ** (-70 / 20)
    assert _detect(signal) == []


def test_the_footage_s_onsets_are_the_stream_detector_s_per_source():
    """store_onsets reads an int16 grain store source by source: the onsets of each are what
    the stream detector finds in it (no onset from the end of the source before)."""
    a = _hits_at(POSITIONS, KINDS, length=90_000, seed=7)
    b = _hits_at([10_000, 40_000], ["hiss", "thump"], length=60_000, seed=8)
    store = (np.concatenate([a, b]) * 32768).astype(np.int16)
    bounds = np.array([[0, a.size], [a.size, a.size + b.size]])
    found = store_onsets(store, bounds, floor_db=-60.0, attack=512)
    expected = _detect(store[: a.size] / 32768.0) + [
        a.size + p for p in _detect(store[a.size :] / 32768.0)
    ]
    assert list(found) == expected and len(found) == len(POSITIONS) + 2


@pytest.mark.parametrize("gain_db", [-20.0, 12.0])
def test_an_attack_s_descriptor_does_not_depend_on_its_level(gain_db):
    describer = AttackDescriber(attack=512, sr_hz=SR)
    hit = _hit("hiss", seed=9)[:512].astype(np.float64)
    a = describer.describe(hit)
    b = describer.describe(hit * 10 ** (gain_db / 20))
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_an_attack_s_descriptor_tells_a_thump_from_a_hiss_of_another_kit():
    """Each hit's nearest among the other "kit"'s (other seeds, levels, a slower decay) is of
    its own kind."""
    describer = AttackDescriber(attack=512, sr_hz=SR)
    kit = [(kind, _hit(kind, seed=s, level=0.3)) for s in range(4) for kind in ("thump", "hiss")]
    other = [
        (kind, _hit(kind, seed=100 + s, level=0.05)) for s in range(4) for kind in ("hiss", "thump")
    ]
    known = describer.describe(np.stack([h[:512] for _, h in kit]))
    for kind, hit in other:
        query = describer.describe(hit[:512])
        nearest = int(np.argmin(np.sum((known - query) ** 2, axis=1)))
        assert kit[nearest][0] == kind
