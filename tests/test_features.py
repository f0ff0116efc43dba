"""Descriptors: identical offline and streamed, level-independent, and meaningful."""

from __future__ import annotations

import numpy as np
import pytest

from livecat.errors import ParameterError
from livecat.features import Decimator, DescriptorParams, DescriptorStream, describe_at

SR = 48000


def _tone(freq_hz: float, seconds: float, *, level: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return level * np.sin(2 * np.pi * freq_hz * t)


@pytest.fixture
def signal(rng: np.random.Generator) -> np.ndarray:
    """Two seconds of tones and noise, so every window differs."""
    x = np.concatenate(
        [
            _tone(220, 0.5),
            _tone(330, 0.5) + 0.05 * rng.standard_normal(SR // 2),
            np.zeros(SR // 4),
            _tone(523.25, 0.75),
        ]
    )
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", ["mfcc-chroma", "seed"])
@pytest.mark.parametrize("block", [1, 7, 256, 1000, 4096, 5003])
def test_streamed_blocks_give_the_same_numbers_as_the_whole_file(signal, kind, block):
    params = DescriptorParams() if kind == "mfcc-chroma" else DescriptorParams.seed()
    factor = SR // params.sr_hz
    analysis = Decimator(factor).process(signal)
    hop = 960  # samples at the input rate
    ends = np.arange(hop, signal.size + 1, hop)
    expected, expected_levels = describe_at(analysis, ends // factor, params)

    stream = DescriptorStream(params, input_sr_hz=SR)
    got, levels = [], []
    position = 0
    for end in ends:
        while position < end:  # feed in `block`-sized pieces, never past the decision point
            step = min(block, end - position)
            stream.push(signal[position : position + step])
            position += step
        d, level = stream.describe()
        got.append(d.copy())  # describe() reuses its buffer
        levels.append(level)
    # Equal to float32 precision: the decimating filter rounds differently per split.
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(np.array(levels, np.float32), expected_levels, atol=1e-4)


def test_decimator_in_blocks_equals_decimator_whole(signal):
    whole = Decimator(3).process(signal)
    pieces = Decimator(3)
    parts = [pieces.process(signal[i : i + 97]) for i in range(0, signal.size, 97)]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-12)
    assert whole.size == signal.size // 3 + (signal.size % 3 > 0)


def test_shape_ignores_level_and_level_is_reported_in_db():
    params = DescriptorParams()
    x = _tone(440, 0.2) + 0.3 * _tone(1320, 0.2)
    loud, loud_db = describe_at(x, [x.size], params)
    soft, soft_db = describe_at(0.01 * x, [x.size], params)
    np.testing.assert_allclose(soft, loud, atol=1e-3)
    assert loud_db[0] - soft_db[0] == pytest.approx(40.0, abs=0.01)


def test_chroma_names_the_pitch_class_of_a_tone():
    params = DescriptorParams()
    for freq, pitch_class in [(440.0, 9), (261.63, 0), (392.0, 7), (987.77, 11)]:
        d, _ = describe_at(_tone(freq, 0.2), [int(0.2 * SR)], params)
        chroma = d[0, params.n_mfcc :]
        assert int(np.argmax(chroma)) == pitch_class, (freq, chroma.round(2))


def test_seed_descriptor_is_the_raw_16khz_power_spectrum():
    params = DescriptorParams.seed()
    assert (params.sr_hz, params.n_fft, params.dim) == (16000, 512, 257)
    x = _tone(1000, 0.1, sr=16000)
    d, _ = describe_at(x, [x.size], params)
    assert int(np.argmax(d[0])) == round(1000 / 16000 * 512)
    d_soft, _ = describe_at(0.1 * x, [x.size], params)
    assert d_soft[0].max() == pytest.approx(d[0].max() * 0.01, rel=1e-3)  # follows the level


def test_silence_before_the_start_counts_as_zeros():
    params = DescriptorParams()
    x = _tone(440, 0.5)
    early, _ = describe_at(x, [100], params)
    padded, _ = describe_at(
        np.concatenate([np.zeros(params.n_fft), x]), [params.n_fft + 100], params
    )
    np.testing.assert_array_equal(early, padded)


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="unknown descriptor kind 'mfcc'"):
        DescriptorParams(kind="mfcc")
    with pytest.raises(ParameterError, match="n_mfcc"):
        DescriptorParams(n_mfcc=40, n_mels=40)
    with pytest.raises(ValueError, match="not a whole multiple"):
        DescriptorStream(DescriptorParams(sr_hz=16000, fmax_hz=8000), input_sr_hz=44100)
    with pytest.raises(ParameterError, match="unknown descriptor parameters: colour"):
        DescriptorParams.from_dict({"colour": 1})
