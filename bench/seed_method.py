"""The method livecat grew from, re-implemented as a baseline to measure against.

For each 1/fps slice: the raw power spectrum at 16 kHz (512-point FFT, Hann window); the
Euclidean nearest slice of the (single-video-at-a-time) corpus by brute force; then the chosen
one-picture clips are cut from the source videos (seek + decode) and concatenated.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from livecat.media import decode_audio
from livecat.media.encode import MosaicWriter

SR = 16000
N_FFT = 512


def slice_spectra(audio: np.ndarray, *, fps: float, count: int) -> np.ndarray:
    """Power spectrum of the first N_FFT samples of each 1/fps slice."""
    window = np.hanning(N_FFT)
    step = SR / fps
    out = np.zeros((count, N_FFT // 2 + 1), np.float32)
    for i in range(count):
        start = int(round(i * step))
        seg = audio[start : start + N_FFT]
        if seg.size < N_FFT:
            seg = np.pad(seg, (0, N_FFT - seg.size))
        out[i] = np.abs(np.fft.rfft(seg * window)) ** 2
    return out


def nearest_slices(corpus_spectra: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the Euclidean nearest corpus slice for each query slice (brute force, one
    query at a time, as the original did)."""
    return np.array(
        [int(np.argmin(((corpus_spectra - q) ** 2).sum(axis=1))) for q in queries], np.int64
    )


def pick_slices(corpus_audio: np.ndarray, target_audio: np.ndarray, *, fps: float) -> np.ndarray:
    """The original method's choice for each 1/fps slice of ``target_audio``: the index of
    the corpus slice (= picture) whose clip it concatenates. Both signals mono at 16 kHz."""
    corpus = slice_spectra(corpus_audio, fps=fps, count=int(corpus_audio.size / SR * fps))
    count = math.ceil(target_audio.size / SR * fps - 1e-9)
    return nearest_slices(corpus, slice_spectra(target_audio, fps=fps, count=count))


def _picture(path: Path, t_s: float, size: tuple[int, int]) -> np.ndarray:
    """Cut one picture out of a video the way a clip editor does: seek, decode forward."""
    with av.open(str(path)) as f:
        stream = f.streams.video[0]
        f.seek(int(t_s / stream.time_base), stream=stream, backward=True)
        for frame in f.decode(stream):
            if frame.time is not None and frame.time >= t_s - 1e-3:
                return frame.to_ndarray(width=size[0], height=size[1], format="bgr24")
    return np.zeros((size[1], size[0], 3), np.uint8)


def render_original(
    videos: list[Path],
    target: Path,
    output: Path,
    *,
    seconds: float,
    fps: float = 25.0,
    size: tuple[int, int] = (640, 360),
) -> float:
    """Render the first ``seconds`` of ``target`` the original way; returns wall seconds."""
    started = time.perf_counter()
    spectra, owners = [], []
    sources = []
    for v, path in enumerate(videos):
        audio = decode_audio(path, sr_hz=SR)
        grains = decode_audio(path, sr_hz=48000)
        count = int(audio.size / SR * fps)
        spectra.append(slice_spectra(audio, fps=fps, count=count))
        owners += [(v, i) for i in range(count)]
        sources.append(grains)
    table = np.concatenate(spectra)
    target_audio = decode_audio(target, sr_hz=SR)[: int(seconds * SR)]
    count = int(target_audio.size / SR * fps)
    queries = slice_spectra(target_audio, fps=fps, count=count)
    clip = int(48000 / fps)
    with MosaicWriter(output, size=size, fps=Fraction(int(fps)), sr_hz=48000) as writer:
        for best in nearest_slices(table, queries):
            v, i = owners[int(best)]
            writer.write_image(_picture(videos[v], i / fps, size))
            writer.write_audio(sources[v][i * clip : (i + 1) * clip])
    return time.perf_counter() - started
