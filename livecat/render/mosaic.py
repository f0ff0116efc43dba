"""``livecat render``: run the engine over a target file and encode what it picks.

The target is fed to the same :class:`~livecat.synthesis.Engine` the live player runs, so a
render is what a live set with that input would have shown and played, moved earlier by one
constant, ``lead_s``: a live set's pictures and grains follow a change in its input by the
engine's reaction time (:attr:`Engine.reaction_s`, 25 ms at the defaults), which a render,
knowing the whole target, takes out. ``lead_s=0`` renders the live set exactly.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from livecat.corpus import Corpus
from livecat.errors import CorpusError, MediaError, ParameterError
from livecat.features import one_blas_thread
from livecat.media import decode_audio, probe
from livecat.media.decode import rate_fraction
from livecat.media.encode import BackgroundWriter, MosaicWriter, video_frame
from livecat.media.images import letterbox
from livecat.output.files import MatchLog, refuse_to_replace
from livecat.synthesis import Engine, EngineSettings, signal_then_silence

log = logging.getLogger(__name__)

#: Highest picture rate a render writes (240 Hz screens are the fastest sold).
MAX_FPS = 240.0
#: Largest picture a render writes: 8K, the frame size of H.264's highest level (6.2); a
#: player need not decode more, and FFmpeg refuses far larger sizes in its own words.
MAX_SIZE = (8192, 4320)


@dataclass
class RenderReport:
    output: Path
    duration_s: float
    images: int
    fps: float
    size: tuple[int, int]
    wall_s: float
    jumps: int
    decisions: int
    lead_s: float = 0.0
    audio_streams: tuple[str, ...] = ()  # the target's, named (MediaInfo.audio_streams)

    @property
    def speed(self) -> float:
        """Seconds of target rendered per wall-clock second."""
        return self.duration_s / self.wall_s if self.wall_s else math.inf

    @property
    def gate_never_opened(self) -> bool:
        """Every decision fell under the silence gate, so no footage was chosen: the engine
        counts the first pick after the gate opens as a jump."""
        return self.decisions > 0 and self.jumps == 0


def corpus_fps(corpus: Corpus) -> float:
    """The frame rate most of the corpus's entries come at."""
    weights: dict[float, int] = {}
    for s in corpus.sources:
        key = round(s.fps, 3)
        weights[key] = weights.get(key, 0) + s.entries
    return max(weights, key=weights.get) if weights else 25.0


def corpus_size(corpus: Corpus) -> tuple[int, int]:
    """The image size of the corpus's largest source (even numbers)."""
    s = max(corpus.sources, key=lambda s: s.entries)
    return s.image_width // 2 * 2, s.image_height // 2 * 2


class _PictureMaker:
    """Decodes and letterboxes entries' images and converts them for the encoder (on the
    picture encoder's thread, in order), keeping the last one: consecutive pictures often
    show the same entry."""

    def __init__(self, corpus: Corpus, *, width: int, height: int) -> None:
        self.corpus = corpus
        self.size = (width, height)
        self.black = video_frame(np.zeros((height, width, 3), np.uint8))
        self.key: tuple[int, float] = (-2, 1.0)
        self.image = self.black
        self.undecodable = 0  # pictures kept because an entry's image did not decode

    def make(self, entry: int, brightness: float) -> av.VideoFrame:
        if (entry, brightness) != self.key:
            self.key = (entry, brightness)
            if entry < 0:
                self.image = self.black
                return self.image
            try:
                image = self.corpus.image(entry)
            except CorpusError as exc:  # a JPEG broken inside: as live, the picture stays
                if not self.undecodable:
                    log.warning("livecat: %s (keeping the picture before it)", exc)
                self.undecodable += 1
                return self.image
            self.image = video_frame(
                letterbox(image, width=self.size[0], height=self.size[1], brightness=brightness)
            )
        return self.image


# With OpenBLAS's second thread spinning after each batch of the input's descriptors, a 20 s
# render took 2.1-2.2 CPU-s against 1.6-1.7 s and ran at 16-17x against 19-20x.
@one_blas_thread()
def render(
    corpus: Corpus,
    target: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    settings: EngineSettings | None = None,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    matches: str | os.PathLike[str] | None = None,
    mix_target: float = 0.0,
    lead_s: float | None = None,
    audio_stream: int = 0,
    crf: int = 20,
    preset: str = "superfast",
    progress: Callable[[float, float], None] | None = None,
) -> RenderReport:
    """Re-create ``target``'s sound out of ``corpus`` and write it as an H.264 + AAC video.

    Parameters
    ----------
    size : (width, height), optional
        Output picture size; defaults to the corpus image size. Images are letterboxed.
    fps : float, optional
        Output picture rate; defaults to the corpus's.
    matches : path, optional
        CSV with one row per output picture (``t_s,source,source_t_s,entry,distance``).
    mix_target : float, 0..1
        Crossfade of the output sound: the target at ``mix_target``, the grains at
        ``1 - mix_target``.
    lead_s : float, optional
        Show every picture and play every grain this much earlier than the engine decided
        it, so the mosaic keeps time with the target instead of trailing it; defaults to the
        engine's reaction time (:attr:`Engine.reaction_s`). 0: exactly what a live set with
        this input shows and plays.
    audio_stream : int
        Which of the target's audio streams to re-create (0: the first, as FFmpeg counts
        them with ``-map 0:a:N``).
    progress : callable(done_s, total_s), optional
    """
    started = time.perf_counter()
    # Every argument is checked, and the output files opened, before the target is decoded:
    # a mistake in them costs no wait on a long target.
    if not 0.0 <= mix_target <= 1.0:
        raise ParameterError(f"--mix-target must be 0..1, got {mix_target}")
    if lead_s is not None and not 0.0 <= lead_s <= 1.0:
        raise ParameterError(f"--lead must be 0..1 s, got {lead_s:g}")
    fps = corpus_fps(corpus) if fps is None else float(fps)
    if not 0.0 < fps <= MAX_FPS:
        raise ParameterError(f"--fps must be above 0 and at most {MAX_FPS:g}, got {fps:g}")
    width, height = size or corpus_size(corpus)
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ParameterError(f"--size must be even and at least 16x16, got {width}x{height}")
    if max(width, height) > MAX_SIZE[0] or width * height > MAX_SIZE[0] * MAX_SIZE[1]:
        raise ParameterError(
            f"--size must be at most {MAX_SIZE[0]} on a side and {MAX_SIZE[0]}x{MAX_SIZE[1]} "
            f"in pixels (H.264's largest pictures), got {width}x{height}"
        )
    target = Path(target)
    refuse_to_replace(output, "mosaic", target=target, corpora=[corpus])
    if matches is not None:
        refuse_to_replace(matches, "match log", target=target, corpora=[corpus])
        if Path(matches).resolve() == Path(output).resolve():
            raise MediaError("is the output too: give --matches another name", path=matches)
    sr = corpus.grain_sr_hz
    rate = rate_fraction(fps)
    mosaic = MosaicWriter(output, size=(width, height), fps=rate, sr_hz=sr, crf=crf, preset=preset)
    log: MatchLog | None = None
    # The stages below are the parallelism; OpenCV's own worker pool under each small colour
    # conversion or resize only adds thread switches (7 % of the render's CPU).
    opencv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        log = MatchLog(matches, corpus) if matches else None
        audio = decode_audio(target, sr_hz=sr, align_to_video=False, stream=audio_stream)
        streams = probe(target).audio_streams
        # The target is mixed in here, not by the engine, so it stays in place when the
        # grains are moved earlier by the lead.
        settings = (settings or EngineSettings()).with_(dry=0.0, wet=1.0 - mix_target)
        duration_s = audio.size / sr
        image_count = max(1, math.ceil(duration_s * fps - 1e-9))
        max_block = int(math.ceil(sr / fps)) + 1
        engine = Engine(corpus, settings=settings, max_block=max_block)
        lead_s = engine.reaction_s if lead_s is None else float(lead_s)
        lead = round(lead_s * sr)
        # A led output has no attack grains: they would sound before the target's attacks
        # (EngineSettings.lead_s).
        engine.apply(settings.with_(lead_s=lead / sr))
        engine.reset()
        pictures = _PictureMaker(corpus, width=width, height=height)
        total = round(image_count * sr / float(rate))
        # The engine hears the target and then ``lead`` samples of silence; what it plays at
        # sample j belongs in the output at j - lead.
        heard_samples = max(audio.size, total + lead)
        engine.precompute_input(audio, samples=heard_samples)

        fed = 0

        def feed(until: int, writer: BackgroundWriter) -> None:
            """Run the engine up to input sample ``until``; queue its sound at its place."""
            nonlocal fed
            while fed < until:
                stop = min(until, fed + max_block)
                # process() returns a fresh array: safe to queue as is.
                sound = engine.process(signal_then_silence(audio, fed, stop))
                first = max(fed, lead)
                if stop > first:
                    sound = sound[first - fed :]
                    if mix_target:
                        sound += mix_target * signal_then_silence(audio, first - lead, stop - lead)
                    writer.write_audio(sound)
                fed = stop

        # Stages on threads of their own (numpy, OpenCV and FFmpeg release the GIL): the
        # engine here; making and encoding pictures; encoding sound.
        with BackgroundWriter(mosaic) as writer:
            for k in range(image_count):
                # The picture for [t_k, t_k+1) shows what is decided by its middle (+ lead).
                start = round(k * sr / float(rate))
                middle = round((k + 0.5) * sr / float(rate))
                stop = round((k + 1) * sr / float(rate))
                feed(middle + lead, writer)
                st = engine.state
                entry, brightness = st.entry, st.brightness
                source_t, distance = st.source_t_s, st.distance
                feed(stop + lead, writer)
                # Made on the picture encoder's thread: through a pool of its own, each
                # picture's hand-offs cost the engine the GIL more often (slower in 23 of 28
                # alternating renders).
                writer.write_image(functools.partial(pictures.make, entry, brightness))
                if log:
                    log.row(start / sr, entry, source_t, distance)
                if progress:
                    progress(min(stop / sr, duration_s), duration_s)
            if log:
                log.flush()  # a log that cannot be written stops the mosaic landing too
        if log:
            log.close()
            log = None
    except BaseException:
        mosaic.abort()  # a no-op once the writer has finished
        raise
    finally:
        cv2.setNumThreads(opencv_threads)
        if log:
            log.abort()
    return RenderReport(
        output=Path(output),
        duration_s=duration_s,
        images=image_count,
        fps=fps,
        size=(width, height),
        wall_s=time.perf_counter() - started,
        jumps=engine.state.jumps,
        decisions=engine.state.decisions,
        lead_s=lead_s,
        audio_streams=streams,
    )
