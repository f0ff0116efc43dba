"""The corpus on disk, and :class:`Corpus` to open it.

A corpus is a directory::

    manifest.json     format name and version, descriptor parameters, sources, statistics,
                      index settings and the byte size of every other file
    entries.npy       one row per entry (ENTRY_DTYPE): source, pts_s, grain_start,
                      image_offset, image_size
    descriptors.npy   float32 (entries, dim): raw descriptors
    levels.npy        float32 (entries,): level of each entry's window in dBFS
    images.bin        the entries' images as JPEG, back to back (offsets in entries.npy)
    grains.npy        int16 (samples,): every source's audio, mono, at grain_sr_hz, back to back
    index.hnsw        hnswlib index over the weighted, standardised descriptors

No file is ever pickled. A corpus is written under a hidden temporary sibling and renamed into
place only when complete, so an interrupted build leaves the previous corpus or none.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import stat
import threading
import types
import typing
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livecat import __version__
from livecat.corpus.hnsw_file import check_index_file
from livecat.errors import CorpusError, ParameterError
from livecat.features import DescriptorParams

FORMAT_NAME = "livecat-corpus"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Images wider or taller than this are refused (8K video is 7680 wide): the player sizes
#: its canvas from them.
MAX_IMAGE_SIDE = 8192
#: A manifest names sources, not entries: a million-entry corpus's is a few hundred KiB.
MANIFEST_MAX_BYTES = 64 << 20

log = logging.getLogger(__name__)

ENTRY_DTYPE = np.dtype(
    [
        ("source", "<i4"),  # index into manifest["sources"]
        ("pts_s", "<f8"),  # presentation time of the image in its source, seconds
        ("grain_start", "<i8"),  # sample in grains.npy heard when the image appears
        ("image_offset", "<i8"),  # byte offset of the JPEG in images.bin
        ("image_size", "<i4"),  # its length in bytes
    ]
)

DATA_FILES = (
    "entries.npy",
    "descriptors.npy",
    "levels.npy",
    "images.bin",
    "grains.npy",
    "index.hnsw",
)


@dataclass
class SourceRecord:
    """One source file of a corpus, as recorded in the manifest."""

    path: str  # as the user gave it to build/add
    abs_path: str
    size: int
    mtime: float
    sha256: str
    duration_s: float
    fps: float
    entries: int
    first_entry: int
    width: int
    height: int
    image_width: int
    image_height: int
    audio_channels: int
    audio_sr_hz: int
    grain_offset: int  # first sample of this source in grains.npy
    grain_samples: int
    audio_stream: int = 0  # which of the file's audio streams the grains come from


@dataclass(frozen=True)
class IndexSettings:
    """hnswlib parameters (see docs/corpus-format.md, "Index settings").

    M : links per node; more gives better recall and a bigger index.
    ef_construction : search breadth while building; more is slower to build, better graph.
    ef : search breadth per query; more is slower, better recall. Must be >= k.
    """

    M: int = 16
    ef_construction: int = 200
    ef: int = 64

    def __post_init__(self) -> None:
        if not (2 <= self.M <= 1024 and 1 <= self.ef_construction <= 100000):
            raise ParameterError(
                f"need 2 <= M <= 1024 and 1 <= ef_construction <= 100000, got {self.M}, "
                f"{self.ef_construction}"
            )
        if not 1 <= self.ef <= 100000:
            raise ParameterError(f"need 1 <= ef <= 100000, got {self.ef}")


@dataclass(frozen=True)
class Weighting:
    """How descriptor dimensions count in the distance, applied before indexing.

    Each dimension is standardised (corpus mean and standard deviation), then the timbre
    (cepstral) and pitch (chroma) groups are scaled by their weights.
    """

    timbre: float = 0.25
    pitch: float = 3.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.timbre < math.inf and 0.0 <= self.pitch < math.inf) or not (
            self.timbre or self.pitch
        ):
            raise ParameterError(
                "timbre and pitch weights must be finite, >= 0 and not both 0, got "
                f"{self.timbre:g} and {self.pitch:g}"
            )


def _load_array(path: Path, *, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise CorpusError("missing file", path=path) from None
    except (ValueError, OSError) as exc:
        raise CorpusError(f"unreadable array ({exc})", path=path) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_ok(value: Any, kind: Any) -> bool:
    """Whether a JSON value fits a field's annotation (int, float, str, or X | None)."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return any(_type_ok(value, k) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is float:
        return _is_number(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class _ManifestReader:
    """Reads a manifest's parts into livecat's types, so a damaged, hand-edited or newer
    manifest is one line naming the file and the field, never a traceback."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.written_by = str(manifest.get("livecat_version", "an unknown version"))

    def error(self, message: str) -> CorpusError:
        return CorpusError(f"{message}; rebuild the corpus with `livecat build`", path=self.path)

    def unknown(self, where: str, names: list[str]) -> CorpusError:
        listed = ", ".join(repr(n) for n in sorted(names))
        if self.written_by != __version__:
            return CorpusError(
                f"{where} has {listed}, unknown to this livecat ({__version__}): the corpus "
                f"was written by livecat {self.written_by}; upgrade livecat or rebuild the "
                "corpus with `livecat build`",
                path=self.path,
            )
        return self.error(f"{where} has {listed}, which livecat does not write")

    def value(self, parent: dict[str, Any], key: str, kind: type, *, where: str = "") -> Any:
        """``parent[key]``, which must be of ``kind``."""
        where = where or key
        if key not in parent:
            raise self.error(f"{where} is missing")
        if not _type_ok(parent[key], kind):
            raise self.error(f"{where} must be {_kind_name(kind)}, got {parent[key]!r}")
        return parent[key]

    def record(self, cls: type, data: Any, *, where: str) -> Any:
        """A dataclass from a manifest object, every field present and of its type (fields
        with a default may be missing: older corpora lack them)."""
        if not isinstance(data, dict):
            raise self.error(f"{where} must be {_kind_name(dict)}, got {data!r}")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in fields(cls)}
        unknown = [name for name in data if name not in known]
        if unknown:
            raise self.unknown(where, unknown)
        for name, field in known.items():
            if name in data:
                self.value(data, name, hints[name], where=f"{where}.{name}")
            elif field.default is MISSING and field.default_factory is MISSING:
                raise self.error(f"{where}.{name} is missing")
        try:
            return cls(**data)
        except ParameterError as exc:  # the values' own checks
            raise self.error(f"{where}: {exc}") from None


_KIND_NAMES = {
    int: "a whole number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _kind_name(kind: Any) -> str:
    """A field's type in words: "a whole number", "a whole number or null", ..."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return " or ".join(_kind_name(k) for k in typing.get_args(kind))
    return _KIND_NAMES.get(kind, getattr(kind, "__name__", str(kind)))


class Corpus:
    """An opened corpus: arrays memory-mapped, the index and images read on demand.

    Use :meth:`open`. Reading images is thread-safe; the hnswlib index is created once on first
    use of :attr:`index`.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        read = _ManifestReader(path / MANIFEST, manifest)
        self.params = read.record(
            DescriptorParams, read.value(manifest, "descriptor", dict), where="descriptor"
        )
        self.grain_sr_hz: int = read.value(manifest, "grain_sr_hz", int)
        self.sources = [
            read.record(SourceRecord, s, where=f"sources[{i}]")
            for i, s in enumerate(read.value(manifest, "sources", list))
        ]
        self.index_settings = read.record(
            IndexSettings, read.value(manifest, "index", dict), where="index"
        )
        self.weighting = read.record(
            Weighting, read.value(manifest, "weighting", dict), where="weighting"
        )
        stats = read.value(manifest, "stats", dict)
        for name in ("mean", "scale"):
            values = read.value(stats, name, list, where=f"stats.{name}")
            if len(values) != self.params.dim or not all(map(_is_number, values)):
                raise read.error(f"stats.{name} must be {self.params.dim} numbers")
        read.value(manifest, "entry_count", int)
        image = read.value(manifest, "image", dict)
        for name in ("max_side", "quality"):  # what `livecat add` builds new entries with
            read.value(image, name, int, where=f"image.{name}")
        self.entries = _load_array(path / "entries.npy", mmap=True)
        self.descriptors = _load_array(path / "descriptors.npy", mmap=True)
        self.levels_db = _load_array(path / "levels.npy", mmap=True)
        self.grains = _load_array(path / "grains.npy", mmap=True)
        self.mean = np.asarray(manifest["stats"]["mean"], np.float32)
        self.scale = np.asarray(manifest["stats"]["scale"], np.float32)
        try:
            self._images = np.memmap(path / "images.bin", dtype=np.uint8, mode="r")
        except ValueError:  # zero-length file cannot be mapped
            self._images = np.zeros(0, np.uint8)
        self._index = None
        self._index_lock = threading.Lock()
        self._search_floor_db = -math.inf
        self._audible_db: np.ndarray | None = None  # audible_levels_db(), once worked out
        self._rise_db: np.ndarray | None = None  # rise_ahead_db(), likewise
        self._by_level: np.ndarray | None = None  # entries, quietest first by that level
        self._attacks: dict[int, Attacks] = {}  # attacks(), by length

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, load_index: bool = True) -> Corpus:
        """Open and check a corpus directory.

        Raises
        ------
        CorpusError
            naming the file and exactly what is wrong: missing, of another format or version,
            of the wrong size, or inconsistent with the manifest.
        """
        path = Path(path)
        if not path.exists() and not restore_interrupted_replace(path):
            raise CorpusError("no corpus here", path=path)
        if not path.is_dir():
            raise CorpusError("not a corpus directory (build one with `livecat build`)", path=path)
        manifest_path = path / MANIFEST
        manifest = _read_manifest(manifest_path, corpus=path)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise CorpusError("not a livecat corpus manifest", path=manifest_path)
        version = manifest.get("version")
        if version != FORMAT_VERSION:
            raise CorpusError(
                f"corpus format version {version}, this livecat reads version {FORMAT_VERSION}; "
                "rebuild it with `livecat build`",
                path=manifest_path,
            )
        files = _ManifestReader(manifest_path, manifest).value(manifest, "files", dict)
        if sorted(files) != sorted(DATA_FILES):
            # Exactly the corpus's own files: an empty list would switch the size check off,
            # and a name like "../../x" would reach outside the corpus.
            raise CorpusError(
                f"files must list exactly {', '.join(DATA_FILES)}; lists "
                f"{', '.join(map(repr, files)) or 'none'}",
                path=manifest_path,
            )
        for name, size in files.items():
            file = path / name
            try:
                info = file.stat()
            except FileNotFoundError:
                raise CorpusError("missing file", path=file) from None
            if not stat.S_ISREG(info.st_mode):
                raise CorpusError("not a regular file", path=file)
            actual = info.st_size
            if actual != size:
                raise CorpusError(
                    f"size {actual} bytes, manifest says {size}: file damaged or replaced",
                    path=file,
                )
        corpus = cls(path, manifest)
        corpus._check()
        if load_index:
            _ = corpus.index
        return corpus

    def _check(self) -> None:
        """Every array against the manifest, once at open and vectorised: the player indexes
        the grain store, the images and the sources with these numbers unchecked."""
        n = int(self.manifest["entry_count"])
        dim = self.params.dim
        checks = [
            ("entries.npy", self.entries.shape == (n,) and self.entries.dtype == ENTRY_DTYPE),
            ("descriptors.npy", self.descriptors.shape == (n, dim)),
            ("levels.npy", self.levels_db.shape == (n,)),
            ("grains.npy", self.grains.ndim == 1 and self.grains.dtype == np.int16),
        ]
        for name, ok in checks:
            if not ok:
                raise CorpusError(
                    f"shape or type disagrees with the manifest ({n} entries)",
                    path=self.path / name,
                )
        manifest = self.path / MANIFEST
        if not 8000 <= self.grain_sr_hz <= 384000 or self.grain_sr_hz % self.params.sr_hz:
            raise CorpusError(
                f"grain_sr_hz {self.grain_sr_hz} is not a sample rate of 8-384 kHz that the "
                f"descriptor's {self.params.sr_hz} Hz divides",
                path=manifest,
            )
        # Sources: their entries and grains back to back, in order, as a build writes them.
        counts = np.array([s.entries for s in self.sources], np.int64)
        firsts = np.array([s.first_entry for s in self.sources], np.int64)
        offsets = np.array([s.grain_offset for s in self.sources], np.int64)
        samples = np.array([s.grain_samples for s in self.sources], np.int64)
        if (
            np.any(counts < 0)
            or int(counts.sum()) != n
            or not np.array_equal(firsts, np.cumsum(counts) - counts)
        ):
            raise CorpusError(
                f"the sources' first_entry and entries do not divide the {n} entries",
                path=manifest,
            )
        if np.any(samples < 0) or not np.array_equal(offsets, np.cumsum(samples) - samples):
            raise CorpusError("the sources' grain_offset and grain_samples overlap", path=manifest)
        if int(samples.sum()) != self.grains.shape[0]:
            raise CorpusError(
                f"{self.grains.shape[0]} samples, the sources declare {int(samples.sum())}",
                path=self.path / "grains.npy",
            )
        for i, source in enumerate(self.sources):
            if not (0 < source.fps <= 1000 and 0 <= source.duration_s < math.inf):
                raise CorpusError(
                    f"sources[{i}] has fps {source.fps:g} and duration_s {source.duration_s:g}",
                    path=manifest,
                )
            if not (
                0 < source.image_width <= MAX_IMAGE_SIDE
                and 0 < source.image_height <= MAX_IMAGE_SIDE
            ):
                raise CorpusError(
                    f"sources[{i}] has images of {source.image_width}x{source.image_height}, "
                    f"more than {MAX_IMAGE_SIDE} pixels a side or none",
                    path=manifest,
                )
        max_side = int(self.manifest["image"]["max_side"])
        if not 0 < max_side <= MAX_IMAGE_SIDE:
            raise CorpusError(f"image.max_side is {max_side}", path=manifest)
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.scale))):
            raise CorpusError("stats.mean and stats.scale must be finite", path=manifest)
        if not n:
            return
        entries = self.path / "entries.npy"
        owner = np.asarray(self.entries["source"], np.int64)
        if not np.array_equal(owner, np.repeat(np.arange(len(self.sources)), counts)):
            raise CorpusError(
                "an entry names a source other than the one whose entries the manifest "
                "says it is among",
                path=entries,
            )
        starts = np.asarray(self.entries["grain_start"], np.int64)
        first = offsets[owner]
        if np.any(starts < first) or np.any(starts > first + samples[owner]):
            raise CorpusError(
                "an entry's grain_start lies outside its source's grains", path=entries
            )
        image_at = np.asarray(self.entries["image_offset"], np.int64)
        image_size = np.asarray(self.entries["image_size"], np.int64)
        if (
            np.any(image_at < 0)
            or np.any(image_size < 4)  # a JPEG's start and end markers at least
            or np.any(image_at + image_size > self._images.size)
        ):
            raise CorpusError(
                f"an entry's image lies outside images.bin ({self._images.size} bytes)",
                path=entries,
            )
        # Each image a JPEG from start to end marker: garbage in images.bin is found here,
        # not by the picture thread in the middle of a set.
        ends = image_at + image_size
        images = self._images
        if (
            np.any(images[image_at] != 0xFF)
            or np.any(images[image_at + 1] != 0xD8)
            or np.any(images[ends - 2] != 0xFF)
            or np.any(images[ends - 1] != 0xD9)
        ):
            raise CorpusError(
                "an entry's image is not a JPEG: file damaged or replaced",
                path=self.path / "images.bin",
            )
        if not np.all(np.isfinite(self.entries["pts_s"])):
            raise CorpusError("an entry's pts_s is not a number", path=entries)
        if not np.all(np.isfinite(self.levels_db)):
            raise CorpusError("a level is not a number", path=self.path / "levels.npy")

    def check_index(self) -> None:
        """Check the index file as loading it does, without loading it (``livecat info``
        reports what ``render`` and ``live`` would refuse)."""
        check_index_file(
            self.path / "index.hnsw", dim=self.params.dim, count=len(self), m=self.index_settings.M
        )

    # -- access ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.entries.shape[0])

    @property
    def index(self):  # -> hnswlib.Index
        """The HNSW index, loaded on first use."""
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    self._index = load_index(
                        self.path / "index.hnsw",
                        dim=self.params.dim,
                        count=len(self),
                        settings=self.index_settings,
                    )
        return self._index

    @property
    def search_floor_db(self) -> float:
        """Entries quieter than this (:meth:`audible_levels_db`) are left out of every index
        search; ``-inf`` when none are."""
        return self._search_floor_db

    def searchable(self) -> int:
        """How many entries the index can return at the current search floor."""
        if self._by_level is None:
            return len(self)
        levels = self._audible_db[self._by_level]
        return len(self) - int(np.searchsorted(levels, self._search_floor_db))

    def audible_levels_db(self) -> np.ndarray:
        """Each entry's level as the search floor sees it (dBFS): the quieter of its analysis
        window (the sound that led up to it) and the first window's length of its grain (the
        sound it plays). An entry where a sound ends describes as that sound but plays
        silence; one where a sound starts describes as silence: neither may answer a sound."""
        if self._audible_db is None:
            self._scan_grains()
        return self._audible_db

    def rise_ahead_db(self) -> np.ndarray:
        """How much louder each entry's grain gets than where it starts (dB, 0 when it only
        decays): the attack of the footage's next hit or note, which the entry's descriptor
        (of the sound before it) cannot know. Its highest part of eight against the louder of
        the first part and the one before the grain."""
        if self._rise_db is None:
            self._scan_grains()
        return self._rise_db

    def _scan_grains(self) -> None:
        """Work out :meth:`audible_levels_db` and :meth:`rise_ahead_db` from the levels of
        nine parts of each entry's grain (one before it). One sequential pass takes the
        energy of every 64 samples of the grain store; each entry then adds up its parts from
        those, starting at most 63 samples early (a level, not a waveform). Gathering every
        entry's samples instead took 6.4 s at 1,000,000 entries; this, under 1 s."""
        span = self.params.n_fft * (self.grain_sr_hz // self.params.sr_hz)
        part = span // _GRAIN_PARTS
        sub = math.gcd(part, 64)  # samples per energy block
        per_part = part // sub
        store = self.grains
        blocks = np.zeros(store.shape[0] // sub + 1, np.float64)
        chunk = sub * 65536
        for lo in range(0, store.shape[0] - store.shape[0] % sub, chunk):
            piece = np.asarray(store[lo : lo + chunk], np.float32).reshape(-1, sub)
            blocks[lo // sub : lo // sub + piece.shape[0]] = np.einsum("ij,ij->i", piece, piece)
        # Energy of the part starting at each block (a running sum of per_part blocks).
        running = np.concatenate(([0.0], np.cumsum(blocks)))
        part_energy = running[per_part:] - running[:-per_part]
        starts = np.asarray(self.entries["grain_start"], np.int64)
        bounds = np.array(
            [(s.grain_offset, s.grain_offset + s.grain_samples) for s in self.sources], np.int64
        ).reshape(-1, 2)
        owner = np.asarray(self.entries["source"], np.int64)
        first, ends = (bounds[owner, 0], bounds[owner, 1]) if len(self) else (starts, starts)
        at = (starts - part)[:, None] + part * np.arange(_GRAIN_PARTS + 1)  # each part's start
        inside = (at >= first[:, None]) & (at + part <= ends[:, None])  # else: silence
        index = np.clip(at // sub, 0, part_energy.size - 1)
        power = np.where(inside, part_energy[index], 0.0) / (part * 32768.0**2)
        parts_db = (10.0 * np.log10(power + 1e-12)).astype(np.float32)
        grain_db = 10.0 * np.log10(np.mean(power[:, 1:], axis=1) + 1e-12)
        levels_db = np.asarray(self.levels_db, np.float32)
        self._audible_db = np.minimum(levels_db, grain_db).astype(np.float32)
        rise = parts_db[:, 2:].max(axis=1) - parts_db[:, :2].max(axis=1)
        self._rise_db = np.maximum(rise, 0.0).astype(np.float32)

    def set_search_floor(self, level_db: float) -> None:
        """Leave entries quieter than ``level_db`` (:meth:`audible_levels_db`) out of the
        index's answers.

        Silence in footage (pauses, the seconds before a clip starts) describes as the same
        flat spectrum as broadband noise, so silent entries sit near every noisy query and,
        were they merely dropped after the search, could fill all ``k`` candidates. Marked
        deleted in hnswlib, they still carry the graph's links but are never returned, so
        every answer is ``k`` audible entries. Only the entries between the old and the new
        floor change, so moving the floor by a few dB is cheap; the first call sorts the
        levels once. One floor holds per opened corpus: engines sharing a corpus share it.
        """
        if level_db == self._search_floor_db:
            return
        if self._by_level is None:
            self._by_level = np.argsort(self.audible_levels_db(), kind="stable")
        levels = self._audible_db[self._by_level]
        old = int(np.searchsorted(levels, self._search_floor_db))
        new = int(np.searchsorted(levels, level_db))
        index = self.index
        for label in self._by_level[old:new].tolist():  # quieter than the new floor: out
            index.mark_deleted(label)
        for label in self._by_level[new:old].tolist():  # above it again: back in
            index.unmark_deleted(label)
        self._search_floor_db = float(level_db)

    def weights(self) -> np.ndarray:
        return dimension_weights(self.params, self.weighting)

    def normalise(self, descriptors: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Standardise and weight raw descriptors into the index's space (float32)."""
        if out is None:
            out = np.empty(np.shape(descriptors), np.float32)
        np.subtract(descriptors, self.mean, out=out)
        np.multiply(out, self.scale, out=out)
        return out

    def image_bytes(self, entry: int) -> bytes:
        row = self.entries[entry]
        start = int(row["image_offset"])
        return self._images[start : start + int(row["image_size"])].tobytes()

    def image(self, entry: int) -> np.ndarray:
        """Decode one entry's image (BGR uint8); a few milliseconds at 640 px."""
        row = self.entries[entry]
        start = int(row["image_offset"])
        blob = self._images[start : start + int(row["image_size"])]
        image = cv2.imdecode(np.asarray(blob), cv2.IMREAD_COLOR)
        if image is None:
            raise CorpusError(
                f"image of entry {entry} does not decode", path=self.path / "images.bin"
            )
        return image

    def grain_audio(self, entry: int, *, length: int) -> np.ndarray:
        """``length`` samples (float32) of the source audio from the moment ``entry`` appears."""
        start = int(self.entries["grain_start"][entry])
        src = self.sources[int(self.entries["source"][entry])]
        stop = min(start + length, src.grain_offset + src.grain_samples)
        out = np.zeros(length, np.float32)
        out[: max(0, stop - start)] = self.grains[start:stop] / 32768.0
        return out

    def source_of(self, entry: int) -> SourceRecord:
        return self.sources[int(self.entries["source"][entry])]

    def entry_at(self, source: int, t_s: float) -> int:
        """The entry of ``source`` on screen at time ``t_s`` (the last one with pts <= t)."""
        src = self.sources[source]
        pts = self.entries["pts_s"][src.first_entry : src.first_entry + src.entries]
        k = int(np.searchsorted(pts, t_s, side="right")) - 1
        return src.first_entry + min(max(k, 0), src.entries - 1)

    def attacks(self, *, length: int) -> Attacks:
        """The footage's onsets (hits, plosives, notes) and the first ``length`` samples of
        each described (:mod:`livecat.features.onsets`): what the engine answers an input's
        onset from. Found by the detector the input goes through, so both agree where an
        attack starts; worked out on first use (a pass over the grain store and one short
        spectrum per onset) and kept."""
        if length not in self._attacks:
            from livecat.features.onsets import AttackDescriber, store_onsets

            bounds = np.array(
                [(s.grain_offset, s.grain_offset + s.grain_samples) for s in self.sources],
                np.int64,
            ).reshape(-1, 2)
            positions = store_onsets(self.grains, bounds, floor_db=_ONSET_FLOOR_DB, attack=length)
            describer = AttackDescriber(attack=length, sr_hz=self.grain_sr_hz)
            descriptors = np.empty((positions.size, describer.dim), np.float32)
            levels_db = np.empty(positions.size, np.float32)
            for lo in range(0, positions.size, 4096):
                at = positions[lo : lo + 4096]
                windows = np.asarray(self.grains, np.int16)[at[:, None] + np.arange(length)]
                windows = windows.astype(np.float64) / 32768.0
                descriptors[lo : lo + at.size] = describer.describe(windows)
                levels_db[lo : lo + at.size] = 10.0 * np.log10(np.mean(windows**2, axis=1) + 1e-12)
            descriptors *= describer.scale
            starts = np.asarray(self.entries["grain_start"], np.int64)
            owner = np.searchsorted(bounds[:, 0], positions, side="right") - 1
            entry = np.searchsorted(starts, positions, side="right") - 1
            self._attacks[length] = Attacks(
                positions=positions,
                sources=owner.astype(np.int64),
                entries=np.maximum(entry, 0).astype(np.int64),
                descriptors=descriptors,
                levels_db=levels_db,
                scale=describer.scale,
            )
        return self._attacks[length]

    def resident_grains(self) -> np.ndarray:
        """All grain audio copied into RAM and touched, so playing it never page-faults."""
        grains = np.array(self.grains, dtype=np.int16, copy=True)
        grains[::2048].sum()  # fault every page in now, not in the audio callback
        return grains


#: Onsets quieter than this (dBFS over 1.3 ms) are not looked for in the footage; the engine
#: leaves out those under its gate.
_ONSET_FLOOR_DB = -80.0


@dataclass(frozen=True)
class Attacks:
    """The footage's onsets (:meth:`Corpus.attacks`), one row each."""

    positions: np.ndarray  # grain store sample where the attack starts
    sources: np.ndarray  # its source
    entries: np.ndarray  # the entry on screen there
    descriptors: np.ndarray  # AttackDescriber of its first samples, times scale
    levels_db: np.ndarray  # their level, dBFS
    scale: np.ndarray  # AttackDescriber.scale, in the descriptors: apply it to a query too


#: Parts of an entry's grain whose levels _scan_grains measures (5.3 ms each by default).
_GRAIN_PARTS = 8


def dimension_weights(params: DescriptorParams, weighting: Weighting) -> np.ndarray:
    if params.kind == "seed":
        return np.ones(params.dim, np.float32)
    w = np.empty(params.dim, np.float32)
    # However many timbre dimensions a kind has, together they count as 12 (the cepstrum of
    # every kind), so one timbre weight strikes the same balance with pitch in every kind.
    w[: params.timbre_dim] = weighting.timbre * math.sqrt(params.n_mfcc / params.timbre_dim)
    w[params.timbre_dim :] = weighting.pitch
    return w


def load_index(path: Path, *, dim: int, count: int, settings: IndexSettings):
    """The index at ``path``, checked first (:func:`check_index_file`): hnswlib follows its
    file's offsets and links unchecked."""
    import hnswlib

    check_index_file(path, dim=dim, count=count, m=settings.M)
    index = hnswlib.Index(space="l2", dim=dim)
    try:
        index.load_index(str(path), max_elements=count)
    except (RuntimeError, OSError) as exc:
        raise CorpusError(f"index does not load ({exc})", path=path) from None
    if index.get_current_count() != count:
        raise CorpusError(
            f"index holds {index.get_current_count()} entries, manifest says {count}", path=path
        )
    index.set_ef(max(settings.ef, 1))
    index.set_num_threads(1)
    return index


def _read_manifest(manifest_path: Path, *, corpus: Path) -> Any:
    """The parsed manifest, read only from a regular file of a manifest's size: a corpus from
    a stranger may make it a link to ``/dev/zero`` (read until memory runs out), a FIFO (a
    read that never ends) or JSON nested beyond Python's recursion limit."""
    try:
        info = manifest_path.stat()
    except FileNotFoundError:
        raise CorpusError(
            "missing manifest.json: not a corpus, or an unfinished one", path=corpus
        ) from None
    except OSError as exc:
        raise CorpusError(f"unreadable manifest ({exc.strerror})", path=manifest_path) from None
    if not stat.S_ISREG(info.st_mode):
        raise CorpusError("not a regular file: not a livecat manifest", path=manifest_path)
    if info.st_size > MANIFEST_MAX_BYTES:
        raise CorpusError(
            f"{info.st_size} bytes, more than a manifest's {MANIFEST_MAX_BYTES}: not a livecat "
            "manifest",
            path=manifest_path,
        )
    try:
        with open(manifest_path, "rb") as f:
            return json.loads(f.read(MANIFEST_MAX_BYTES + 1))
    except RecursionError:
        raise CorpusError("nested too deep: not a livecat manifest", path=manifest_path) from None
    except (OSError, ValueError) as exc:
        raise CorpusError(f"unreadable manifest ({exc})", path=manifest_path) from None


def holds_livecat_manifest(folder: Path) -> bool:
    """Whether ``folder`` holds a manifest livecat wrote (its format name says so), read only
    from a regular file of a manifest's size: a folder that merely has a ``manifest.json`` (a
    web project's) is not a corpus, and livecat never replaces or removes it."""
    try:
        data = _read_manifest(folder / MANIFEST, corpus=folder)
    except CorpusError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT_NAME


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a build whose temporary files must be left be)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _set_aside(path: Path) -> list[Path]:
    """Corpora a replace of ``path`` moved aside (``.NAME.old-PID``) whose build has ended,
    newest first."""
    found = []
    for aside in path.parent.glob(f".{path.name}.old-*"):
        try:
            pid = int(aside.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        ours = aside.is_dir() and not aside.is_symlink() and holds_livecat_manifest(aside)
        if ours and not pid_alive(pid):
            found.append(aside)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def restore_interrupted_replace(path: Path) -> bool:
    """A build replacing ``path`` moves the old corpus aside, moves the new one in, then
    removes the old. Killed between the two moves, it leaves no ``path``: the old corpus is
    moved back (True). Killed before the removal, the old copy beside the new corpus is
    removed. Only livecat corpora of builds that have ended are touched."""
    if not path.parent.is_dir():
        return False
    leftovers = _set_aside(path)
    if not leftovers:
        return False
    if path.exists():
        if holds_livecat_manifest(path):  # the new corpus is in place: the old is garbage
            for aside in leftovers:
                shutil.rmtree(aside, ignore_errors=True)
        return False
    os.rename(leftovers[0], path)
    log.warning(
        "livecat: %s: an interrupted build had left it at %s: moved back", path, leftovers[0]
    )
    return True


def manifest_base(
    *,
    params: DescriptorParams,
    grain_sr_hz: int,
    image_max_side: int,
    jpeg_quality: int,
    index: IndexSettings,
    weighting: Weighting,
) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "descriptor": params.to_dict(),
        "grain_sr_hz": grain_sr_hz,
        "image": {"max_side": image_max_side, "format": "jpeg", "quality": jpeg_quality},
        "index": asdict(index),
        "weighting": asdict(weighting),
    }
