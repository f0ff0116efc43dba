"""Descriptors: identical offline and streamed, level-independent, and meaningful."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from livecat.errors import ParameterError
from livecat.features import (
    ENVELOPE_BLOCKS,
    Decimator,
    DescriptorBatch,
    DescriptorParams,
    DescriptorStream,
    describe_at,
    pitch_share,
)

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


@pytest.mark.parametrize("kind", ["mfcc-pitch", "timbre-pitch", "mfcc-chroma", "seed"])
@pytest.mark.parametrize("block", [1, 7, 256, 1000, 4096, 5003])
def test_streamed_blocks_give_the_same_numbers_as_the_whole_file(signal, kind, block):
    params = DescriptorParams.seed() if kind == "seed" else DescriptorParams(kind=kind)
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


@pytest.mark.parametrize("kind", ["mfcc-pitch", "timbre-pitch", "mfcc-chroma", "seed"])
def test_a_batch_of_windows_gives_the_streams_numbers(signal, kind):
    """The engine describes the playhead's next windows in one batch: each row must be what
    the stream says of that window alone (silence included), or continuing would be judged
    differently depending on where a batch began."""
    params = DescriptorParams.seed() if kind == "seed" else DescriptorParams(kind=kind)
    batch = DescriptorBatch(params, rows=8)
    analysis = Decimator(SR // params.sr_hz).process(signal)
    span = analysis.size - params.n_fft
    ends = [params.n_fft + k * span // 7 for k in range(8)]
    for row, end in enumerate(ends):
        batch.windows[row] = analysis[end - params.n_fft : end]
    batch.windows[3] = 0.0  # a silent window
    descriptors, levels = batch.describe()
    stream = DescriptorStream(params, input_sr_hz=params.sr_hz)
    for row, window in enumerate(batch.windows):
        stream.push(window.copy())
        expected, level = stream.describe()
        np.testing.assert_allclose(descriptors[row], expected, rtol=1e-9, atol=1e-12)
        assert levels[row] == pytest.approx(level, abs=1e-9)


@pytest.mark.parametrize("kind", ["mfcc-pitch", "timbre-pitch", "mfcc-chroma", "seed"])
def test_a_files_numbers_do_not_depend_on_how_many_windows_are_described_at_once(signal, kind):
    """describe_at reuses one batch's buffers and describes a short last batch in part of them:
    neither may leak one window's numbers into another's. (BLAS may round a matrix product
    of another height differently in the last bit: 1e-14 here.)"""
    params = DescriptorParams.seed() if kind == "seed" else DescriptorParams(kind=kind)
    analysis = Decimator(SR // params.sr_hz).process(signal)
    ends = np.arange(50, analysis.size + params.n_fft, 97)  # into the silence past the end
    whole, whole_levels = describe_at(analysis, ends, params)
    for batch in (1, 7, 64):
        part, part_levels = describe_at(analysis, ends, params, batch=batch)
        np.testing.assert_allclose(part, whole, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(part_levels, whole_levels)


@pytest.mark.parametrize("kind", ["mfcc-pitch", "timbre-pitch", "mfcc-chroma", "seed"])
def test_degenerate_windows_give_finite_numbers_and_no_warning(kind):
    """The first samples after digital silence, a DC offset, a full-scale square: a numpy
    warning here would be printed from the audio callback, and a NaN would reach the index."""
    params = DescriptorParams.seed() if kind == "seed" else DescriptorParams(kind=kind)
    n = params.n_fft
    windows = np.zeros((6, n))
    windows[0, -1] = 0.1  # one sample after silence: an impulse's flat spectrum
    windows[1, -2:] = 0.1
    windows[2, n // 2] = 1.0
    windows[3] = 0.5  # DC
    windows[4, ::2], windows[4, 1::2] = 1.0, -1.0  # Nyquist
    batch = DescriptorBatch(params, rows=windows.shape[0])
    batch.windows[:] = windows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        descriptors, levels = batch.describe()
    assert np.isfinite(descriptors).all() and np.isfinite(levels).all()


def test_decimator_in_blocks_equals_decimator_whole(signal):
    whole = Decimator(3).process(signal)
    pieces = Decimator(3)
    parts = [pieces.process(signal[i : i + 97]) for i in range(0, signal.size, 97)]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-12)
    assert whole.size == signal.size // 3 + (signal.size % 3 > 0)


@pytest.mark.parametrize("kind", ["mfcc-pitch", "timbre-pitch", "mfcc-chroma"])
def test_shape_ignores_level_and_level_is_reported_in_db(kind):
    params = DescriptorParams(kind=kind)
    x = _tone(440, 0.2) + 0.3 * _tone(1320, 0.2)
    loud, loud_db = describe_at(x, [x.size], params)
    soft, soft_db = describe_at(0.01 * x, [x.size], params)
    np.testing.assert_allclose(soft, loud, atol=1e-3)
    assert loud_db[0] - soft_db[0] == pytest.approx(40.0, abs=0.01)


def _harmonic_note(midi: float, seconds: float) -> np.ndarray:
    """A note with six decaying harmonics, as an instrument would play it."""
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(_tone(f0 * h, seconds, level=0.3 / h) for h in range(1, 7))


@pytest.mark.parametrize("midi", [40, 45, 57, 60, 67, 71, 81])
def test_pitch_profile_peaks_at_the_played_note_even_below_the_fft_resolution(midi):
    """The default window's bins are 23 Hz apart: 3.5 semitones at E2. Interpolated peaks
    still put a note's fundamental on its own semitone."""
    params = DescriptorParams()
    low, _ = params.pitch_midi_range
    x = _harmonic_note(midi, 0.2)
    d, _ = describe_at(x, [x.size], params)
    profile = d[0, params.n_mfcc :]
    assert profile.size == params.pitch_dim == 61
    assert int(np.argmax(profile[: midi - low + 1])) == midi - low  # fundamental, not below
    assert profile[midi - low + 12] > 0.5 * profile.max()  # the octave harmonic is there too
    assert profile[midi - low + 1] < 0.2 * profile[midi - low]  # a semitone up is not


def test_pitch_profile_tells_a_chord_voicing_from_another_with_the_same_pitch_classes():
    params = DescriptorParams()
    close = sum(_harmonic_note(m, 0.2) for m in (60, 64, 67))  # C4 E4 G4
    open_ = sum(_harmonic_note(m, 0.2) for m in (48, 52, 55))  # C3 E3 G3
    a, _ = describe_at(close, [close.size], params)
    b, _ = describe_at(open_, [open_.size], params)
    n = params.n_mfcc
    chroma = DescriptorParams(kind="mfcc-chroma")
    ca, _ = describe_at(close, [close.size], chroma)
    cb, _ = describe_at(open_, [open_.size], chroma)
    assert np.dot(a[0, n:], b[0, n:]) < 0.8  # the profiles differ...
    assert np.dot(ca[0, n:], cb[0, n:]) > 0.9  # ...where the chroma vectors barely do


def test_the_low_delay_window_names_a_new_note_sooner_than_hann():
    """A4 then C5: 18 ms after the change, the low-delay profile already leans to C5, while a
    Hann window of the same length (``window_fall = n_fft / 2``) still hears mostly A4."""
    params = DescriptorParams()
    hann_like = DescriptorParams(window_fall=params.n_fft // 2)
    x = np.concatenate([_harmonic_note(69, 0.2), _harmonic_note(72, 0.2)])
    end = int((0.2 + 0.018) * SR)
    low, _ = params.pitch_midi_range
    n = params.n_mfcc
    for p, leans_new in ((params, True), (hann_like, False)):
        d, _ = describe_at(x, [end], p)
        new, old = d[0, n + 72 - low], d[0, n + 69 - low]
        assert bool(new > old) is leans_new, (p.window_fall, new, old)


def test_chroma_names_the_pitch_class_of_a_tone():
    params = DescriptorParams(kind="mfcc-chroma")
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


@pytest.mark.parametrize("kind", ["mfcc-pitch", "timbre-pitch", "mfcc-chroma"])
def test_silence_before_the_start_counts_as_zeros(kind):
    params = DescriptorParams(kind=kind)
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
    with pytest.raises(ParameterError, match=r"window_fall must be 16\.\.n_fft/2"):
        DescriptorParams(window_fall=2000)
    with pytest.raises(ParameterError, match=r"pitch range 10\.0-2000\.0 Hz"):
        DescriptorParams(pitch_fmin_hz=10.0)


def test_timbre_pitch_keeps_the_pitch_of_notes_and_chords_and_drops_that_of_noise(rng):
    """The semitone profile counts as much as the sound has a pitch: a note, and a chord
    (whose autocorrelation peaks lower than a note's), keep it whole; noise keeps none, so
    its random spectral peaks do not count as notes."""
    params = DescriptorParams(kind="timbre-pitch")
    t = np.arange(SR) / SR
    harmonics = [
        sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 8)) for f in (196, 247, 294, 392)
    ]
    sounds = {
        "note": 0.2 * harmonics[0],
        "chord": 0.05 * sum(harmonics),
        "noise": 0.1 * rng.standard_normal(SR),
    }
    ends = np.arange(4096, SR, 4096)
    pitch = slice(params.timbre_dim, params.dim)
    norms = {}
    for name, sound in sounds.items():
        d, _ = describe_at(sound, ends, params)
        norms[name] = float(np.median(np.linalg.norm(d[:, pitch], axis=1)))
        harmonicity, flatness_db = d[:, params.timbre_dim - 2], d[:, params.timbre_dim - 1]
        assert np.all(pitch_share(harmonicity, flatness_db) == (0.0 if name == "noise" else 1.0))
    assert norms["note"] == pytest.approx(1.0, abs=1e-3)
    assert norms["chord"] == pytest.approx(1.0, abs=1e-3)
    assert norms["noise"] < 1e-6


def test_timbre_pitch_contour_tells_an_attack_from_a_decay():
    """The loudness contour rises at an attack and falls in a decay, whatever the level:
    a drum's hit and its tail have the same spectrum but not the same moment."""
    params = DescriptorParams(kind="timbre-pitch")
    rng = np.random.default_rng(3)
    hit = rng.standard_normal(SR // 2) * np.exp(-np.arange(SR // 2) / (0.05 * SR))
    sound = np.concatenate([np.zeros(SR // 2), hit])
    onset = SR // 2
    d, _ = describe_at(0.3 * sound, np.array([onset + 256, onset + 4096]), params)
    contour = d[:, params.n_mfcc : params.n_mfcc + ENVELOPE_BLOCKS]
    assert contour[0, -1] - contour[0, 0] > 20.0  # the attack: silence, then the hit
    assert contour[1, -1] - contour[1, 0] < -3.0  # 85 ms on: a decay
    louder, _ = describe_at(3.0 * sound, np.array([onset + 256, onset + 4096]), params)
    np.testing.assert_allclose(louder[:, params.n_mfcc :], d[:, params.n_mfcc :], atol=1e-3)
