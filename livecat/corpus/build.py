"""Turning video files into a corpus (``livecat build`` and ``livecat add``).

Each video picture becomes an *entry*: its image (JPEG, scaled to the corpus size), the
position of its sound in the grain store, and the descriptor of the analysis window that ends
at its presentation time. Everything is written into a hidden temporary sibling directory that
is renamed into place only once complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from livecat import __version__
from livecat.corpus.store import (
    DATA_FILES,
    ENTRY_DTYPE,
    MANIFEST,
    Corpus,
    IndexSettings,
    SourceRecord,
    Weighting,
    dimension_weights,
    holds_livecat_manifest,
    manifest_base,
    pid_alive,
    restore_interrupted_replace,
)
from livecat.errors import (
    CorpusError,
    LivecatError,
    MediaError,
    ParameterError,
    free_bytes,
    write_failure,
)
from livecat.features import (
    ENVELOPE_BLOCKS,
    Decimator,
    DescriptorParams,
    describe_at,
    one_blas_thread,
    pitch_share,
)
from livecat.media import (
    VIDEO_EXTENSIONS,
    DecodedImage,
    MediaInfo,
    decode_audio,
    iter_images,
    probe,
)
from livecat.media.decode import check_audio_stream

log = logging.getLogger(__name__)

DEFAULT_GRAIN_SR_HZ = 48000
DEFAULT_IMAGE_MAX_SIDE = 640
DEFAULT_JPEG_QUALITY = 90


@dataclass(frozen=True)
class BuildSettings:
    """How a new corpus is made. ``livecat add`` reuses the corpus's own settings."""

    params: DescriptorParams = field(default_factory=DescriptorParams)
    grain_sr_hz: int = DEFAULT_GRAIN_SR_HZ
    image_max_side: int = DEFAULT_IMAGE_MAX_SIDE
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    index: IndexSettings = field(default_factory=IndexSettings)
    weighting: Weighting = field(default_factory=Weighting)

    def __post_init__(self) -> None:
        if self.grain_sr_hz % self.params.sr_hz:
            raise ParameterError(
                f"analysis rate {self.params.sr_hz} Hz must divide the grain rate "
                f"{self.grain_sr_hz} Hz"
            )
        if not 16 <= self.image_max_side <= 4096:
            raise ParameterError(f"image size must be 16..4096 px, got {self.image_max_side}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ParameterError(f"JPEG quality must be 1..100, got {self.jpeg_quality}")


@dataclass
class BuildReport:
    """What a build or add did, for the CLI's summary."""

    corpus: Path
    added: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    replaced: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    entry_count: int = 0
    seconds_analysed: float = 0.0
    wall_s: float = 0.0
    changed: bool = True  # False: ``add`` found nothing to change and left the corpus as it was


#: Called as progress(entries_done, entries_total, current_file).
ProgressFn = Callable[[int, int, Path], None]
#: Called once a file is done: file_done(path, status, detail) with status in
#: {"added", "unchanged", "skipped"}.
FileDoneFn = Callable[[Path, str, str], None]


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files named directly, plus video files found under named directories (sorted).

    Hidden files and folders are passed over: a USB stick's trash (``.Trashes``,
    ``.Trash-1000``) holds clips the user deleted, and macOS leaves a ``._clip.mov`` of
    metadata beside every clip it copies to such a stick.

    Returns (files, problems): a missing path is a problem, not an exception.
    """
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in VIDEO_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                problems.append((path, "directory holds no video files"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append((path, "no such file or directory"))
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values()), problems


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _GrowingNpy:
    """An int16 .npy file appended to in pieces; its header is rewritten when closed."""

    HEADER_BYTES = 128

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "wb")
        self.file.write(self._header(10**15))
        self.count = 0

    @staticmethod
    def _header(n: int) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "<i2", "fortran_order": False, "shape": (n,)}
        )
        header = buf.getvalue()
        assert len(header) == _GrowingNpy.HEADER_BYTES
        return header

    def append(self, samples: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self.count += samples.size

    def truncate(self, count: int) -> None:
        self.file.seek(self.HEADER_BYTES + 2 * count)
        self.file.truncate()
        self.count = count

    def close(self) -> None:
        self.file.seek(0)
        self.file.write(self._header(self.count))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


def _to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


# Errors that only writing can raise: the corpus's disk (or quota, or file size limit) is
# full. Every further input would fail alike, so the build stops instead of skipping them.
_DESTINATION_FULL = frozenset([errno.ENOSPC, errno.EDQUOT, errno.EFBIG])


class _Writer:
    """Accumulates entries into a temporary corpus directory."""

    def __init__(self, tmp: Path, settings: BuildSettings) -> None:
        self.tmp = tmp
        self.settings = settings
        self.images = open(tmp / "images.bin", "wb")
        self.grains = _GrowingNpy(tmp / "grains.npy")
        self.entries: list[np.ndarray] = []
        self.descriptors: list[np.ndarray] = []
        self.levels: list[np.ndarray] = []
        self.sources: list[SourceRecord] = []
        self.entry_count = 0

    def add_source(
        self,
        record: SourceRecord,
        *,
        entries: np.ndarray,
        descriptors: np.ndarray | Future,
        levels: np.ndarray | None,
    ) -> None:
        entries = entries.copy()
        entries["source"] = len(self.sources)
        record.first_entry = self.entry_count
        self.sources.append(record)
        self.entries.append(entries)
        self.descriptors.append(descriptors)  # an array, or a Future of (descriptors, levels)
        self.levels.append(levels)
        self.entry_count += len(entries)

    def copy_source(self, old: Corpus, index: int) -> None:
        """Carry a source over from an existing corpus without re-analysing it."""
        src = old.sources[index]
        lo, hi = src.first_entry, src.first_entry + src.entries
        rows = np.array(old.entries[lo:hi])
        image_start = int(rows["image_offset"][0])
        image_stop = int(rows["image_offset"][-1] + rows["image_size"][-1])
        new_image_start = self.images.tell()
        self.images.write(old._images[image_start:image_stop].tobytes())
        rows["image_offset"] += new_image_start - image_start
        grain_offset = self.grains.count
        self.grains.append(old.grains[src.grain_offset : src.grain_offset + src.grain_samples])
        rows["grain_start"] += grain_offset - src.grain_offset
        record = SourceRecord(**asdict(src))
        record.grain_offset = grain_offset
        self.add_source(
            record,
            entries=rows,
            descriptors=np.array(old.descriptors[lo:hi]),
            levels=np.array(old.levels_db[lo:hi]),
        )

    def finish(self, manifest: dict) -> None:
        self.images.flush()
        os.fsync(self.images.fileno())
        self.images.close()
        self.grains.close()
        dim = self.settings.params.dim
        entries = np.concatenate(self.entries) if self.entries else np.zeros(0, ENTRY_DTYPE)
        for i, item in enumerate(self.descriptors):
            if isinstance(item, Future):
                self.descriptors[i], self.levels[i] = item.result()
        descriptors = (
            np.concatenate(self.descriptors).astype(np.float32, copy=False)
            if self.descriptors
            else np.zeros((0, dim), np.float32)
        )
        levels = (
            np.concatenate(self.levels).astype(np.float32, copy=False)
            if self.levels
            else np.zeros(0, np.float32)
        )
        mean, scale = standardisation(descriptors, self.settings)
        np.save(self.tmp / "entries.npy", entries, allow_pickle=False)
        np.save(self.tmp / "descriptors.npy", descriptors, allow_pickle=False)
        np.save(self.tmp / "levels.npy", levels, allow_pickle=False)
        build_index(self.tmp / "index.hnsw", (descriptors - mean) * scale, self.settings.index)
        manifest.update(
            entry_count=int(entries.size),
            sources=[asdict(s) for s in self.sources],
            stats={"mean": mean.tolist(), "scale": scale.tolist()},
        )
        manifest["files"] = {name: (self.tmp / name).stat().st_size for name in DATA_FILES}
        for name in manifest["files"]:
            _fsync(self.tmp / name)
        # The manifest is written last: a directory without it never opens as a corpus.
        manifest_path = self.tmp / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=1))
        _fsync(manifest_path)
        _fsync(self.tmp)

    def abort(self) -> None:
        for f in (self.images, self.grains.file):
            if not f.closed:
                with contextlib.suppress(OSError):  # a full disk fails the flush: thrown away
                    f.close()


#: What counts as one standard deviation of the loudness contour (dB): an attack's parts
#: differ by 20-40 dB, steady sound's by 1-2.
_CONTOUR_SCALE_DB = 12.0
#: Likewise for the harmonicity (0..1: noise 0.1, a chord 0.5, a note 0.9) and the spectral
#: flatness (dB: noise -2.5, a chord -10 to -17, a note -20 to -35).
_HARMONICITY_SCALE = 0.25
_FLATNESS_SCALE_DB = 8.0


def standardisation(
    descriptors: np.ndarray, settings: BuildSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean, and scale = weight / standard deviation (float32).

    The semitone profile of ``mfcc-pitch`` and ``timbre-pitch`` is scaled as one group, by
    the root-mean-square of its bins' deviations, so its shape (which notes, how strong)
    stays as it is: scaling each bin alone would make a note the corpus rarely plays
    outweigh the ones it plays often. The group is brought to the spread of 12 standardised
    dimensions, so the pitch weight means the same as with a 12-bin chroma.
    """
    params = settings.params
    weights = dimension_weights(params, settings.weighting)
    if params.kind == "seed" or descriptors.shape[0] < 2:
        return np.zeros(params.dim, np.float32), weights
    data = descriptors.astype(np.float64)
    mean = data.mean(axis=0)
    std = data.std(axis=0)
    pitch = slice(params.timbre_dim, params.dim)
    if params.kind == "mfcc-pitch":
        std[pitch] = math.sqrt(float(np.sum(std[pitch] ** 2)) / 12.0)
    elif params.kind == "timbre-pitch":
        # The loudness contour in fixed units, not by its spread in this corpus: in steady
        # sound (noise, a held note) its parts wander by a dB or two at random, and scaled
        # by a steady corpus's small spread that randomness would pick the entries.
        contour = slice(params.n_mfcc, params.n_mfcc + ENVELOPE_BLOCKS)
        std[contour] = _CONTOUR_SCALE_DB
        std[params.timbre_dim - 2] = _HARMONICITY_SCALE  # likewise: noise's wanders by 0.02
        std[params.timbre_dim - 1] = _FLATNESS_SCALE_DB  # and noise's flatness by 0.5 dB
        # The profile is scaled by each window's harmonicity, so a corpus of drums or speech
        # has little spread in it; scaled by that spread, its random peaks would count as
        # much as a choir's notes. The spread of the unscaled profiles of the clearly pitched
        # entries sets the scale instead (that of a fully pitched corpus when too few are).
        share = pitch_share(data[:, params.timbre_dim - 2], data[:, params.timbre_dim - 1])
        pitched = share >= 1.0
        spread = 1.0
        if np.count_nonzero(pitched) >= 16:
            unscaled = data[pitched, pitch]
            spread = float(np.sum(unscaled.var(axis=0)))
        std[pitch] = math.sqrt(max(spread, 1e-3) / 12.0)
    floor = max(float(np.median(std)) * 1e-3, 1e-6)  # a constant dimension must not explode
    return mean.astype(np.float32), (weights / np.maximum(std, floor)).astype(np.float32)


def build_index(path: Path, vectors: np.ndarray, settings: IndexSettings) -> None:
    """The HNSW index of ``vectors``, the same bytes from the same vectors.

    Entries are linked in one thread: hnswlib's threads link them in whatever order they
    get to them, so four builds of one file gave four different graphs, and a query near a
    tie could be answered differently. One thread costs 8 s against 4 s for 100,000 entries
    (an hour of footage, whose decoding takes minutes).
    """
    import hnswlib

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = hnswlib.Index(space="l2", dim=vectors.shape[1])
    index.init_index(
        max_elements=max(vectors.shape[0], 1),
        M=settings.M,
        ef_construction=settings.ef_construction,
        random_seed=100,
    )
    if vectors.shape[0]:
        index.add_items(vectors, np.arange(vectors.shape[0]), num_threads=1)
    index.save_index(str(path))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_leftovers(target: Path) -> None:
    """Remove temporary directories that killed builds of ``target`` left behind, and repair
    a replace that was interrupted (:func:`restore_interrupted_replace`)."""
    for leftover in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            pid = int(leftover.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if not pid_alive(pid):
            shutil.rmtree(leftover, ignore_errors=True)
    restore_interrupted_replace(target)


def analyse_file(
    path: Path,
    *,
    settings: BuildSettings,
    writer: _Writer,
    display_path: str,
    progress: Callable[[int], None],
    pool: ThreadPoolExecutor,
    audio_stream: int = 0,
    info: MediaInfo | None = None,
) -> SourceRecord:
    """Decode one video file into the writer, its sound from audio stream ``audio_stream``;
    ``info`` is the file's :func:`probe`, if the caller has it. On failure nothing of it stays
    written."""
    info = info or probe(path)
    if not info.has_video:
        raise MediaError("no video stream (audio-only file?)", path=path)
    if not info.has_audio:
        raise MediaError("no audio track: nothing to match against", path=path)
    # Before the pictures are decoded, not after.
    check_audio_stream(path, audio_stream, count=len(info.audio_streams))
    stat = path.stat()
    sha = file_sha256(path)
    # The sound decodes on its own thread while the pictures decode here (PyAV releases the
    # GIL): the two streams are read from two handles of the same file.
    audio_job = pool.submit(decode_audio, path, sr_hz=settings.grain_sr_hz, stream=audio_stream)
    image_start = writer.images.tell()
    grain_offset = writer.grains.count
    encode = [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality]
    pts: list[float] = []
    sizes: list[int] = []
    offsets: list[int] = []
    shape = (0, 0)

    def jpeg(decoded: DecodedImage) -> tuple[bytes, tuple[int, ...]]:
        image = decoded.bgr()
        ok, blob = cv2.imencode(".jpg", image, encode)
        if not ok:
            raise MediaError("JPEG encoding failed", path=path)
        return blob.tobytes(), image.shape

    pending = []

    def drain(limit: int) -> None:
        while len(pending) > limit:
            nonlocal shape
            blob, shape = pending.pop(0).result()
            offsets.append(writer.images.tell())
            sizes.append(len(blob))
            writer.images.write(blob)
            progress(1)

    turned = False  # stored a quarter turn from upright (a phone's portrait clip)
    try:
        for decoded in iter_images(path, max_side=settings.image_max_side):
            turned = decoded.upright.swaps_sides
            pts.append(decoded.pts_s)
            pending.append(pool.submit(jpeg, decoded))
            drain(16)
        drain(0)
        if not pts:
            raise MediaError("video stream holds no pictures", path=path)
        audio = audio_job.result()
        sound_s = audio.size / settings.grain_sr_hz
        # Pictures past the end of the sound get silence; sound past the last picture stays.
        last_sample = int(round(pts[-1] * settings.grain_sr_hz)) + settings.params.n_fft
        if audio.size < last_sample:
            audio = np.concatenate([audio, np.zeros(last_sample - audio.size, np.float32)])
        grains = _to_int16(audio)
        writer.grains.append(grains)
        pts_arr = np.asarray(pts)
        # Described on a worker while the next file decodes; the writer collects it at the end.
        described = pool.submit(
            _describe_source, grains, pts_arr, settings.params, settings.grain_sr_hz
        )
    except BaseException:
        for f in pending:
            f.cancel()
        audio_job.cancel()
        writer.images.seek(image_start)
        writer.images.truncate()
        writer.grains.truncate(grain_offset)
        raise
    entries = np.zeros(len(pts), ENTRY_DTYPE)
    entries["pts_s"] = pts_arr
    entries["grain_start"] = grain_offset + np.round(pts_arr * settings.grain_sr_hz).astype(
        np.int64
    )
    entries["image_offset"] = offsets
    entries["image_size"] = sizes
    fps = (len(pts) - 1) / (pts_arr[-1] - pts_arr[0]) if len(pts) > 1 else (info.fps or 0.0)
    # What the corpus holds of the file, not what its header says: a truncated copy's header
    # still gives the whole length (a half-truncated MKV: 117 of 252 pictures, "10.2 s").
    duration_s = max(float(pts_arr[-1]) + (1.0 / fps if fps > 0 else 0.0), sound_s)
    record = SourceRecord(
        path=display_path,
        abs_path=str(path.resolve()),
        size=stat.st_size,
        mtime=stat.st_mtime,
        sha256=sha,
        duration_s=duration_s,
        fps=float(fps),
        entries=len(pts),
        first_entry=0,
        # The original size as players show it, like the stored images.
        width=(info.height if turned else info.width) or shape[1],
        height=(info.width if turned else info.height) or shape[0],
        image_width=int(shape[1]),
        image_height=int(shape[0]),
        audio_channels=info.audio_formats[audio_stream][0],
        audio_sr_hz=info.audio_formats[audio_stream][1],
        grain_offset=grain_offset,
        grain_samples=int(grains.size),
        audio_stream=audio_stream,
    )
    writer.add_source(record, entries=entries, descriptors=described, levels=None)
    return record


def _describe_source(
    grains: np.ndarray, pts_s: np.ndarray, params: DescriptorParams, grain_sr_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors and levels of the windows ending at each picture's time."""
    analysis = Decimator(grain_sr_hz // params.sr_hz).process(grains.astype(np.float64) / 32768.0)
    ends = np.round(pts_s * params.sr_hz).astype(np.int64)
    return describe_at(analysis, ends, params)


def build_corpus(
    inputs: Sequence[str | os.PathLike[str]],
    corpus_path: str | os.PathLike[str],
    *,
    settings: BuildSettings | None = None,
    add_to_existing: bool = False,
    progress: ProgressFn | None = None,
    file_done: FileDoneFn | None = None,
    audio_stream: int | None = None,
) -> BuildReport:
    """Build a corpus from ``inputs`` (files and directories), or add them to an existing one.

    ``audio_stream`` picks which of each file's audio streams its grains come from (0: the
    first); by default the first, or for a changed file the one it was analysed from before.
    A file already in the corpus from another stream is analysed again.

    With ``add_to_existing`` the corpus's own settings are used; files already in it with the
    same size and modification time (or content hash) are kept as they are, changed ones are
    analysed again. The result replaces ``corpus_path`` atomically.

    Raises
    ------
    CorpusError
        if nothing at all could be indexed (the previous corpus stays), or the existing corpus
        does not open.
    """
    started = time.perf_counter()
    target = Path(corpus_path)
    if target.name in ("", ".", ".."):
        raise CorpusError("give the corpus a directory name", path=target)
    if not add_to_existing and target.exists() and not target.is_dir():
        raise CorpusError("is a file, not a corpus directory: choose another name", path=target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(f"cannot create its directory ({exc.strerror})", path=target) from None
    _clean_leftovers(target)
    old: Corpus | None = None
    if add_to_existing:
        old = Corpus.open(target, load_index=False)
        settings = BuildSettings(
            params=old.params,
            grain_sr_hz=old.grain_sr_hz,
            image_max_side=int(old.manifest["image"]["max_side"]),
            jpeg_quality=int(old.manifest["image"]["quality"]),
            index=old.index_settings,
            weighting=old.weighting,
        )
    elif target.exists() and any(target.iterdir()) and not holds_livecat_manifest(target):
        raise CorpusError(
            "exists and is not a livecat corpus: refusing to replace it (choose another name, "
            "or empty the folder)",
            path=target,
        )
    settings = settings or BuildSettings()
    report = BuildReport(corpus=target)
    files, problems = expand_inputs(inputs)
    report.skipped.extend(problems)
    for path, reason in problems:
        if file_done:
            file_done(path, "skipped", reason)

    # Decide per file: keep (unchanged), analyse (new or changed).
    old_by_path = {s.abs_path: i for i, s in enumerate(old.sources)} if old else {}
    to_analyse: list[Path] = []
    replaced: dict[Path, int] = {}  # changed files: their source number in the old corpus
    streams: dict[Path, int] = {}  # the audio stream each file is analysed from
    for path in files:
        key = str(path.resolve())
        streams[path] = 0 if audio_stream is None else audio_stream
        if key in old_by_path:
            src = old.sources[old_by_path[key]]  # type: ignore[union-attr]
            st = path.stat()
            same = (st.st_size == src.size and st.st_mtime == src.mtime) or (
                st.st_size == src.size and file_sha256(path) == src.sha256
            )
            if audio_stream is None:
                streams[path] = src.audio_stream
            elif audio_stream != src.audio_stream:
                same = False  # the same pictures, but other sound
            if same:
                report.unchanged.append(path)
                if file_done:
                    file_done(path, "unchanged", "already in the corpus, unchanged")
                continue
            replaced[path] = old_by_path[key]
        to_analyse.append(path)

    if old is not None and not to_analyse:  # every input unchanged or unreadable
        return _left_as_it_was(report, old, started)

    estimates: dict[Path, int] = {}
    infos: dict[Path, MediaInfo] = {}  # each file probed once, here
    for path in to_analyse:
        try:
            infos[path] = probe(path)
            estimates[path] = max(infos[path].image_count_estimate, 1)
        except LivecatError:
            estimates[path] = 1  # analyse_file probes it again, and says what is wrong
    total = sum(estimates.values())
    done = 0

    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    free_at_start = free_bytes(tmp)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise CorpusError(f"cannot write here ({exc.strerror})", path=target) from None
    committed = False
    writer = _Writer(tmp, settings)
    try:
        if old is not None:
            for i in range(len(old.sources)):
                if i not in replaced.values():
                    writer.copy_source(old, i)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool, one_blas_thread():
            for path in to_analyse:
                file_start = done

                def tick(n: int, _path: Path = path) -> None:
                    nonlocal done
                    done += n
                    if progress:
                        progress(done, max(total, done), _path)  # noqa: B023 - read live

                try:
                    record = analyse_file(
                        path,
                        settings=settings,
                        writer=writer,
                        display_path=str(path),
                        progress=tick,
                        pool=pool,
                        audio_stream=streams[path],
                        info=infos.get(path),
                    )
                except (MediaError, OSError) as exc:
                    if isinstance(exc, OSError) and exc.errno in _DESTINATION_FULL:
                        raise  # the corpus's disk, not this file: below
                    reason = _one_line(exc, path)
                    if path in replaced:  # the corpus's own copy of it still plays
                        reason += "; its earlier entries are kept"
                    report.skipped.append((path, reason))
                    total -= estimates[path] - (done - file_start)
                    if file_done:
                        file_done(path, "skipped", reason)
                    continue
                total += record.entries - estimates[path]
                done = file_start + record.entries
                report.added.append(path)
                report.seconds_analysed += record.duration_s
                if file_done:
                    before = None
                    if old is not None and path in replaced:
                        before = old.sources[replaced[path]]
                    names = infos[path].audio_streams if path in infos else ()
                    detail = _added_detail(record, before, names, chosen=audio_stream)
                    file_done(path, "added", detail)
        if old is not None and not report.added:
            return _left_as_it_was(report, old, started)  # `finally` drops the temporary copy
        for path, i in replaced.items():
            if path in report.added:
                report.replaced.append(path)
            else:  # changed, and now unreadable: its earlier entries stay, after the rest
                writer.copy_source(old, i)  # type: ignore[union-attr]
        if writer.entry_count == 0:
            raise CorpusError(
                "nothing was indexed" + (" (every input was skipped)" if report.skipped else ""),
                path=target,
            )
        manifest = manifest_base(
            params=settings.params,
            grain_sr_hz=settings.grain_sr_hz,
            image_max_side=settings.image_max_side,
            jpeg_quality=settings.jpeg_quality,
            index=settings.index,
            weighting=settings.weighting,
        )
        manifest["livecat_version"] = __version__
        manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        writer.finish(manifest)
        report.entry_count = writer.entry_count
        _replace_dir(tmp, target)
        committed = True
    except OSError as exc:  # writing the corpus itself failed: every input would fail alike
        kept = "the corpus is as it was" if old is not None else "nothing was left behind"
        raise CorpusError(
            f"cannot write the corpus ({write_failure(exc, free_at_start=free_at_start)}); {kept}",
            path=target,
        ) from None
    finally:
        if not committed:
            writer.abort()
            shutil.rmtree(tmp, ignore_errors=True)
    report.wall_s = time.perf_counter() - started
    return report


def _added_detail(
    record: SourceRecord,
    before: SourceRecord | None,
    names: tuple[str, ...],
    *,
    chosen: int | None,
) -> str:
    """The "added" line's detail: entries and length; for a changed file what it replaces (a
    truncated copy that still decodes in part gives fewer entries than before); for a file
    with several audio streams which one was used, and the others when none was chosen."""
    detail = f"{record.entries} entries, {record.duration_s:.1f} s"
    if before is not None:
        detail += f", replacing {before.entries} entries, {before.duration_s:.1f} s"
    if len(names) > 1:
        detail += f", sound from {names[record.audio_stream]}"
        if chosen is None:
            detail += (
                f" of {len(names)} audio streams ({'; '.join(names)}); "
                "--audio-stream N picks another"
            )
    return detail


def _left_as_it_was(report: BuildReport, old: Corpus, started: float) -> BuildReport:
    """The report of an ``add`` that changes nothing; an error if no input was usable."""
    if report.skipped and not report.unchanged:
        raise CorpusError(
            "nothing was added (every input was skipped); the corpus is as it was",
            path=report.corpus,
        )
    report.changed = False
    report.entry_count = len(old)
    report.wall_s = time.perf_counter() - started
    return report


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing target is moved aside first, then removed."""
    if target.exists():
        aside = target.parent / f".{target.name}.old-{os.getpid()}"
        os.rename(target, aside)
        os.rename(new, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(new, target)
    _fsync(target.parent)


def _one_line(exc: BaseException, path: Path) -> str:
    text = str(exc)
    prefix = f"{path}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    if isinstance(exc, OSError) and not isinstance(exc, LivecatError):
        text = exc.strerror or text
    return text.splitlines()[0] if text else type(exc).__name__
