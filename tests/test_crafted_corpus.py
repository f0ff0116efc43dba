"""Crafted corpora (issue 25, item 6): a corpus from a stranger must never crash livecat,
exhaust memory, hang or touch anything outside itself.

One small corpus is built per session (the live tests' ``notes_corpus``: 6 s of generated
notes, 150 entries, some of them on upper HNSW levels). Every case copies it, damages one
thing (an index header field or link, an array row, a manifest field, a special or sparse
file), and runs ``livecat info``, ``livecat render`` and ``livecat live --input-file
--headless`` on the copy, each in a child process with no sound server to find, under an
address-space limit 1 GiB above what a healthy run of that command needs (so any allocation
of 1 GB or more fails) and a timeout. Every command must end with exit status 2 and one
``livecat: FILE: ...`` line naming the damaged file: no signal (SIGSEGV, SIGABRT), no
traceback, no hang, and the original corpus untouched.

``info`` is held to this as well: it checks what ``render`` and ``live`` rely on (a corpus
that ``info`` calls fine and that then crashes ``live`` under ``Restart=always`` is the
failure this prevents).

Select the suite with ``-k crafted``. The three commands of a case run side by side; each
(case, command) pair is its own test, so a report names what is left to fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mediagen
import numpy as np
import pytest
from livehelpers import NO_SERVER_ENV

from livecat.corpus.hnsw_file import HEADER as HNSW_HEADER

SR = 48000
TIMEOUT_S = 60.0
GIB = 1 << 30
COMMANDS = ("info", "render", "live")

# -- the hnswlib 0.8 index file: its layout is described in livecat/corpus/hnsw_file.py -----
assert HNSW_HEADER.itemsize == 96  # hnswlib's own: the damage below is placed by it


class HnswFile:
    """An index file's bytes, read and written in place (the file keeps its length)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray(path.read_bytes())
        self.header = np.frombuffer(self.data, HNSW_HEADER, count=1)[0].copy()
        self.count = int(self.header["count"])
        self.size = int(self.header["size_per_element"])
        self.max_m = int(self.header["max_m"])
        self.entry_point = int(self.header["entry_point"])
        # Where each element's upper-level block starts (its uint32 linkListSize), and its size.
        self.upper: list[tuple[int, int]] = []
        at = HNSW_HEADER.itemsize + self.count * self.size
        for _ in range(self.count):
            size = int.from_bytes(self.data[at : at + 4], "little")
            self.upper.append((at, size))
            at += 4 + size
        assert at == len(self.data), "not an hnswlib 0.8 index"

    def set_field(self, name: str, value: int | float) -> None:
        offset = HNSW_HEADER.fields[name][1]
        raw = np.array(value, HNSW_HEADER.fields[name][0]).tobytes()
        self.data[offset : offset + len(raw)] = raw

    def element(self, i: int) -> int:
        """Byte offset of element ``i``'s level-0 record."""
        return HNSW_HEADER.itemsize + i * self.size

    def put(self, offset: int, dtype: str, value: int | float) -> None:
        raw = np.array(value, dtype).tobytes()
        self.data[offset : offset + len(raw)] = raw

    def get(self, offset: int, dtype: str) -> int | float:
        return np.frombuffer(self.data, dtype, count=1, offset=offset)[0].item()

    def links0(self, i: int) -> int:
        return int(self.get(self.element(i), "<u4")) & 0xFFFF

    def save(self) -> None:
        self.path.write_bytes(bytes(self.data))


# -- a case ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    damage: Callable[[Path], None]  # damages the corpus copy at this path
    names: tuple[str, ...]  # the error line must name one of these files


def _manifest(corpus: Path) -> dict:
    return json.loads((corpus / "manifest.json").read_text())


def _write_manifest(corpus: Path, manifest: dict) -> None:
    (corpus / "manifest.json").write_text(json.dumps(manifest, indent=1))


def _resize_in_manifest(corpus: Path, name: str) -> None:
    """Tell the manifest the file's new size, so the damage gets past the size check."""
    manifest = _manifest(corpus)
    manifest["files"][name] = (corpus / name).stat().st_size
    _write_manifest(corpus, manifest)


def _edit_manifest(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(corpus: Path) -> None:
        manifest = _manifest(corpus)
        edit(manifest)
        _write_manifest(corpus, manifest)

    return damage


def _edit_index(edit: Callable[[HnswFile], object]) -> Callable[[Path], None]:
    def damage(corpus: Path) -> None:
        index = HnswFile(corpus / "index.hnsw")
        size = len(index.data)
        edit(index)
        assert len(index.data) == size
        index.save()

    return damage


def _edit_entries(field: str, row: int, value: int) -> Callable[[Path], None]:
    def damage(corpus: Path) -> None:
        entries = np.load(corpus / "entries.npy", mmap_mode="r+", allow_pickle=False)
        assert row < entries.shape[0] - 1  # never the last row: only that one is checked today
        entries[field][row] = value
        entries.flush()
        del entries

    return damage


def _image_offset_past_end(corpus: Path) -> None:
    size = (corpus / "images.bin").stat().st_size
    _edit_entries("image_offset", 90, size + 10)(corpus)


# index.hnsw ------------------------------------------------------------------------------------
def _level0_neighbour_out_of_range(index: HnswFile) -> None:
    # The entry point's: every search that reaches level 0 starts from its links.
    at = index.element(index.entry_point)
    assert index.links0(index.entry_point) > 0
    index.put(at + 4, "<u4", 0xFFFF_FF00)


def _link_count_above_max_m0(index: HnswFile) -> None:
    at = index.element(index.entry_point)
    index.put(at, "<u4", 1000)  # maxM0 is 32: the ids read on run into the vector and label


def _label(index: HnswFile, i: int) -> int:
    return index.element(i) + int(index.header["label_offset"])


def _label_out_of_range(index: HnswFile) -> None:
    index.put(_label(index, 70), "<u8", 1_000_000)


def _duplicate_labels(index: HnswFile) -> None:
    index.put(_label(index, 70), "<u8", index.get(_label(index, 71), "<u8"))


def _upper_elements(index: HnswFile) -> list[tuple[int, int]]:
    found = [(i, at) for i, (at, size) in enumerate(index.upper) if size]
    assert found, "the corpus has no element above level 0"
    return found


def _upper_list_size_huge(index: HnswFile) -> None:
    _, at = _upper_elements(index)[0]
    index.put(at, "<u4", 0xFFFF_FFF0)


def _upper_levels_shifted(index: HnswFile) -> None:
    """Two neighbouring elements with upper levels: the first claims both blocks, the
    second's last link becomes its (empty) size word. The stream still adds up to the file's
    length, so hnswlib's own check passes; the first's new top level holds a link count of
    68 (the old size word) out of at most maxM 16."""
    ups = {i for i, _ in _upper_elements(index)}
    i = next(i for i in sorted(ups) if i + 1 in ups)
    (at, size), (at2, size2) = index.upper[i], index.upper[i + 1]
    index.put(at, "<u4", size + size2)
    index.put(at2 + size2, "<u4", 0)


def _upper_link_count_above_max_m(index: HnswFile) -> None:
    at, size = index.upper[index.entry_point]
    assert size
    index.put(at + 4, "<u4", 1000)  # its level-1 list: maxM is 16


def _upper_neighbour_out_of_range(index: HnswFile) -> None:
    # The entry point's level-1 list, which every search descends through.
    at, size = index.upper[index.entry_point]
    assert size and index.get(at + 4, "<u4") & 0xFFFF > 0
    for k in range(index.max_m):
        index.put(at + 8 + 4 * k, "<u4", 0xFFFF_FF00 + k)


def _all_marked_deleted(index: HnswFile) -> None:
    for i in range(index.count):
        at = index.element(i)
        index.data[at + 2] |= 1


def _nan_vectors(index: HnswFile) -> None:
    offset = int(index.header["offset_data"])
    dim = (int(index.header["label_offset"]) - offset) // 4
    for i in (index.entry_point, 30, 31, 32):
        for d in range(dim):
            index.put(index.element(i) + offset + 4 * d, "<f4", np.nan)


def _truncate_index(keep: float) -> Callable[[Path], None]:
    def damage(corpus: Path) -> None:
        path = corpus / "index.hnsw"
        os.truncate(path, int(path.stat().st_size * keep) if keep else 10)
        _resize_in_manifest(corpus, "index.hnsw")

    return damage


# entries.npy, manifest.json, grains.npy, images.bin ------------------------------------------
def _nested_manifest(corpus: Path) -> None:
    (corpus / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)


def _manifest_dev_zero(corpus: Path) -> None:
    (corpus / "manifest.json").unlink()
    (corpus / "manifest.json").symlink_to("/dev/zero")


def _manifest_fifo(corpus: Path) -> None:
    (corpus / "manifest.json").unlink()
    os.mkfifo(corpus / "manifest.json")


def _files_outside(corpus: Path) -> None:
    """ "files" names ../grains.npy, and a good grains.npy waits there: a livecat that
    followed the name would open the corpus and read outside it."""
    shutil.move(corpus / "grains.npy", corpus.parent / "grains.npy")
    manifest = _manifest(corpus)
    manifest["files"]["../grains.npy"] = manifest["files"].pop("grains.npy")
    _write_manifest(corpus, manifest)


def _sparse_grains(samples: int) -> Callable[[Path], None]:
    """grains.npy declaring ``samples`` int16 samples, sparse on disk (no data written)."""

    def damage(corpus: Path) -> None:
        path = corpus / "grains.npy"
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<i2", "fortran_order": False, "shape": (samples,)}
            )
            header = f.tell()
        os.truncate(path, header + 2 * samples)
        _resize_in_manifest(corpus, "grains.npy")

    return damage


def _special(name: str, kind: str) -> Callable[[Path], None]:
    def damage(corpus: Path) -> None:
        (corpus / name).unlink()
        if kind == "dev-zero":
            (corpus / name).symlink_to("/dev/zero")
        else:
            os.mkfifo(corpus / name)

    return damage


def _images_not_jpeg(corpus: Path) -> None:
    path = corpus / "images.bin"
    noise = np.random.default_rng(25).integers(0, 256, path.stat().st_size, np.uint8)
    noise[noise == 0xFF] = 0xFE  # no JPEG marker anywhere
    path.write_bytes(noise.tobytes())


def _source(**fields) -> Callable[[dict], None]:
    return lambda m: m["sources"][0].update(fields)


def _stats_nan(manifest: dict) -> None:
    manifest["stats"]["scale"][3] = float("nan")  # json writes NaN, and reads it back


M, E, IX, G, B = "manifest.json", "entries.npy", "index.hnsw", "grains.npy", "images.bin"

CASES = [
    # index.hnsw: header fields (same length: the manifest's size check passes)
    Case("hnsw-label-offset", _edit_index(lambda x: x.set_field("label_offset", 1 << 40)), (IX,)),
    Case("hnsw-offset-data", _edit_index(lambda x: x.set_field("offset_data", 1 << 40)), (IX,)),
    Case("hnsw-offset-level0", _edit_index(lambda x: x.set_field("offset_level0", 1 << 40)), (IX,)),
    Case("hnsw-entry-point", _edit_index(lambda x: x.set_field("entry_point", 0x7FFF_FFFF)), (IX,)),
    Case("hnsw-max-level-huge", _edit_index(lambda x: x.set_field("max_level", 2**31 - 1)), (IX,)),
    Case("hnsw-max-level-negative", _edit_index(lambda x: x.set_field("max_level", -5)), (IX,)),
    # count x size wraps to the true level-0 size (150 x 2**63 == 0 mod 2**64): hnswlib's own
    # length check passes and every element but the first lies 2**63 bytes apart.
    Case(
        "hnsw-size-per-element-wraps",
        _edit_index(lambda x: x.set_field("size_per_element", x.size + (1 << 63))),
        (IX,),
    ),
    Case(
        "hnsw-size-per-element-huge",
        _edit_index(lambda x: x.set_field("size_per_element", 1 << 40)),
        (IX,),
    ),
    Case("hnsw-count-changed", _edit_index(lambda x: x.set_field("count", x.count - 1)), (IX,)),
    Case("hnsw-max-elements-zero", _edit_index(lambda x: x.set_field("max_elements", 0)), (IX,)),
    Case("hnsw-m-changed", _edit_index(lambda x: x.set_field("m", 1000)), (IX,)),
    Case("hnsw-max-m-changed", _edit_index(lambda x: x.set_field("max_m", 1000)), (IX,)),
    Case("hnsw-max-m0-changed", _edit_index(lambda x: x.set_field("max_m0", 1000)), (IX,)),
    # index.hnsw: links and labels
    Case("hnsw-level0-neighbour", _edit_index(_level0_neighbour_out_of_range), (IX,)),
    Case("hnsw-link-count-above-max-m0", _edit_index(_link_count_above_max_m0), (IX,)),
    Case("hnsw-label-out-of-range", _edit_index(_label_out_of_range), (IX,)),
    Case("hnsw-duplicate-labels", _edit_index(_duplicate_labels), (IX,)),
    Case("hnsw-upper-list-size-huge", _edit_index(_upper_list_size_huge), (IX,)),
    Case("hnsw-upper-levels-shifted", _edit_index(_upper_levels_shifted), (IX,)),
    Case("hnsw-upper-link-count-above-max-m", _edit_index(_upper_link_count_above_max_m), (IX,)),
    Case("hnsw-upper-neighbour", _edit_index(_upper_neighbour_out_of_range), (IX,)),
    Case("hnsw-all-marked-deleted", _edit_index(_all_marked_deleted), (IX,)),
    Case("hnsw-nan-vectors", _edit_index(_nan_vectors), (IX,)),
    # index.hnsw: cut short, the manifest's size updated to match
    Case("hnsw-truncated", _truncate_index(0.5), (IX,)),
    Case("hnsw-shorter-than-header", _truncate_index(0), (IX,)),
    # entries.npy (same length)
    Case("entries-source-mid", _edit_entries("source", 75, 1), (E, M)),
    Case("entries-source-negative", _edit_entries("source", 75, -1), (E, M)),
    Case("entries-grain-start-huge", _edit_entries("grain_start", 80, 10**12), (E, G)),
    Case("entries-grain-start-negative", _edit_entries("grain_start", 80, -(10**6)), (E, G)),
    Case("entries-image-offset-past-end", _image_offset_past_end, (E, B)),
    Case("entries-image-offset-negative", _edit_entries("image_offset", 90, -1000), (E, B)),
    Case("entries-image-size-negative", _edit_entries("image_size", 90, -5), (E, B)),
    Case("entries-image-size-huge", _edit_entries("image_size", 90, 2**31 - 1), (E, B)),
    # manifest.json: absurd settings and inconsistent sources
    Case(
        "manifest-n-mels-huge",
        _edit_manifest(lambda m: m["descriptor"].update(n_mels=2 * 10**8)),
        (M,),
    ),
    Case(
        "manifest-n-fft-huge", _edit_manifest(lambda m: m["descriptor"].update(n_fft=2**33)), (M,)
    ),
    Case("manifest-sr-zero", _edit_manifest(lambda m: m["descriptor"].update(sr_hz=0)), (M,)),
    Case("manifest-grain-sr-zero", _edit_manifest(lambda m: m.update(grain_sr_hz=0)), (M,)),
    Case("manifest-fps-zero", _edit_manifest(_source(fps=0.0)), (M,)),
    Case(
        "manifest-image-size-huge",
        _edit_manifest(_source(image_width=200_000, image_height=150_000)),
        (M,),
    ),
    Case("manifest-stats-nan", _edit_manifest(_stats_nan), (M,)),
    Case("manifest-grain-samples-beyond", _edit_manifest(_source(grain_samples=10**9)), (M, G)),
    Case("manifest-grain-offset-beyond", _edit_manifest(_source(grain_offset=10**9)), (M, G)),
    Case("manifest-first-entry-beyond", _edit_manifest(_source(first_entry=100)), (M, E)),
    Case("manifest-source-entries-short", _edit_manifest(_source(entries=100)), (M, E)),
    Case("manifest-source-entries-huge", _edit_manifest(_source(entries=10**9)), (M, E)),
    # manifest.json: a stranger's file
    Case("manifest-nested-deep", _nested_manifest, (M,)),
    Case("manifest-dev-zero", _manifest_dev_zero, (M,)),
    Case("manifest-fifo", _manifest_fifo, (M,)),
    Case("manifest-files-outside", _files_outside, (M,)),
    Case("manifest-files-empty", _edit_manifest(lambda m: m.update(files={})), (M,)),
    # grains.npy: sparse files declaring more than the sources hold (manifest sizes updated).
    # 2 GB cannot even be mapped under the limit; 600 MB can, but not copied into RAM as well.
    Case("grains-sparse-2gb", _sparse_grains(10**9), (G,)),
    Case("grains-sparse-600mb", _sparse_grains(3 * 10**8), (G,)),
    Case("grains-dev-zero", _special("grains.npy", "dev-zero"), (G,)),
    # images.bin
    Case("images-not-jpeg", _images_not_jpeg, (B,)),
    Case("images-dev-zero", _special("images.bin", "dev-zero"), (B,)),
    Case("levels-fifo", _special("levels.npy", "fifo"), ("levels.npy",)),
]
assert len({c.id for c in CASES}) == len(CASES) >= 25


# -- running a command -------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
    command: str
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        if self.returncode is None:
            how = f"timeout after {self.seconds:.0f} s"
        elif self.returncode < 0:
            how = f"signal {signal.Signals(-self.returncode).name}"
        else:
            how = f"exit {self.returncode}"
        lines = self.stderr.strip().splitlines() or [""]
        tail = "\n".join(lines[-6:])
        first = f"{self.command}: {how} in {self.seconds:.1f} s: {lines[-1][:160]}"
        return f"{first}\nstderr ends:\n{tail}"


def _argv(command: str, corpus: Path, target: Path, out: Path) -> list[str]:
    if command == "info":
        return ["info", str(corpus)]
    if command == "render":
        return ["render", str(corpus), str(target), "-o", str(out / "mosaic.mp4")]
    return ["live", str(corpus), "--input-file", str(target), "--headless"]


# The limits are set by the child itself before it becomes the command (exec keeps them):
# a preexec_fn runs Python between fork and exec, which deadlocks when another of the test's
# threads held a lock at the fork (the three commands of a case start side by side).
_LIMITS_THEN_EXEC = """
import os, resource, sys
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash dumps no core
address_space = int(sys.argv[1])
if address_space:
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def _run(
    argv: list[str], *, cwd: Path, address_space: int | None, extra_env: dict | None = None
) -> tuple[int | None, str, str, float]:
    """``argv`` (a Python command line) in a child process under ``address_space`` bytes
    (None: no limit), in its own session: a timeout kills it and its children."""
    env = {**NO_SERVER_ENV, "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
    if "PYTHONPATH" in os.environ:  # a livecat tree other than the installed one, under test
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    assert argv[0] == sys.executable
    argv = [sys.executable, "-c", _LIMITS_THEN_EXEC, str(address_space or 0), *argv[1:]]
    start = time.monotonic()
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=TIMEOUT_S)
        code: int | None = child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        code = None
    return code, out, err, time.monotonic() - start


# A healthy run under a wrapper that reports the process's peak virtual size as it exits
# (measured once per session: thread stacks and malloc arenas make it differ between machines).
_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _report():
    with open('/proc/self/status') as f:
        peak = next(line.split()[1] for line in f if line.startswith('VmPeak:'))
    with open(os.environ['CRAFTED_VMPEAK_FILE'], 'w') as f:
        f.write(peak)
atexit.register(_report)
_exit = os._exit  # live ends with os._exit, which skips atexit
os._exit = lambda code: (_report(), _exit(code))
sys.argv = ['livecat', *sys.argv[1:]]
runpy.run_module('livecat', run_name='__main__', alter_sys=True)
"""


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file's mode, size and SHA-256."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path.relative_to(folder))] = (info.st_mode, info.st_size, digest)
    return out


@dataclasses.dataclass
class Healthy:
    corpus: Path
    target: Path
    snapshot: dict
    peak_vm: dict[str, int]  # bytes, per command
    limit: dict[str, int]  # RLIMIT_AS per command: the peak plus 1 GiB
    runs: dict[str, Run]


@pytest.fixture(scope="session")
def crafted_healthy(notes_corpus, tmp_path_factory) -> Healthy:
    """The session's corpus, a 1 s target, and each command's peak virtual size on it."""
    folder = tmp_path_factory.mktemp("crafted")
    corpus = Path(notes_corpus.path)
    target = folder / "target.wav"
    mediagen.write_audio(target, mediagen.varied_notes(1.0, seed=3), sr_hz=SR)
    snapshot = _snapshot(corpus)
    peaks, runs = {}, {}
    for command in COMMANDS:
        report = folder / f"vmpeak-{command}"
        argv = [sys.executable, "-c", _PEAK_WRAPPER, *_argv(command, corpus, target, folder)]
        code, out, err, seconds = _run(
            argv, cwd=folder, address_space=None, extra_env={"CRAFTED_VMPEAK_FILE": str(report)}
        )
        runs[command] = Run(command, code, out, err, seconds)
        assert code == 0, runs[command].describe()
        peaks[command] = int(report.read_text()) * 1024  # /proc reports kB
    limits = {command: peak + GIB for command, peak in peaks.items()}
    print(
        "crafted corpora: peak VM of a healthy run "
        + ", ".join(f"{c} {peaks[c] / 2**20:.0f} MiB ({runs[c].seconds:.1f} s)" for c in COMMANDS)
    )
    return Healthy(corpus, target, snapshot, peaks, limits, runs)


def _run_commands(healthy: Healthy, corpus: Path, out: Path) -> dict[str, Run]:
    """The three commands on ``corpus``, side by side, each under its limit."""

    def one(command: str) -> Run:
        argv = [sys.executable, "-m", "livecat", *_argv(command, corpus, healthy.target, out)]
        code, stdout, stderr, seconds = _run(argv, cwd=out, address_space=healthy.limit[command])
        return Run(command, code, stdout, stderr, seconds)

    with ThreadPoolExecutor(len(COMMANDS)) as pool:
        return dict(zip(COMMANDS, pool.map(one, COMMANDS), strict=True))


def test_crafted_harness_runs_a_healthy_copy_cleanly(crafted_healthy, tmp_path):
    """The control: an undamaged copy, under the same limits, plays to the end."""
    corpus = tmp_path / "corpus"
    shutil.copytree(crafted_healthy.corpus, corpus)
    runs = _run_commands(crafted_healthy, corpus, tmp_path)
    for run in runs.values():
        assert run.returncode == 0, run.describe()
        assert "Traceback" not in run.stderr, run.describe()
    assert "150 entries" in runs["info"].stdout
    assert (tmp_path / "mosaic.mp4").stat().st_size > 0
    assert "entry" in runs["live"].stdout  # headless prints every picture change
    assert "stopped after" in runs["live"].stderr


_results: dict[str, tuple[Path, dict[str, Run]]] = {}
_results_lock = threading.Lock()


def _case_runs(case: Case, healthy: Healthy, tmp_path_factory) -> tuple[Path, dict[str, Run]]:
    """The three commands run once per case, shared by its three tests."""
    with _results_lock:
        if case.id not in _results:
            folder = tmp_path_factory.mktemp(f"crafted-{case.id}")
            corpus = folder / "corpus"
            shutil.copytree(healthy.corpus, corpus)
            case.damage(corpus)
            out = folder / "out"
            out.mkdir()
            _results[case.id] = (corpus, _run_commands(healthy, corpus, out))
        return _results[case.id]


@pytest.mark.parametrize(
    ("case", "command"),
    [
        pytest.param(case, command, id=f"{case.id}-{command}")
        for case in CASES
        for command in COMMANDS
    ],
)
def test_crafted_corpus_is_one_line_and_exit_2(case, command, crafted_healthy, tmp_path_factory):
    _, runs = _case_runs(case, crafted_healthy, tmp_path_factory)
    run = runs[command]
    assert _snapshot(crafted_healthy.corpus) == crafted_healthy.snapshot, "original corpus changed"
    what = run.describe()
    assert run.returncode is not None, f"hang: {what}"
    assert run.returncode >= 0, f"signal: {what}"
    assert "MemoryError" not in run.stderr, f"memory: {what}"
    assert "Traceback" not in run.stderr, f"traceback: {what}"
    assert run.returncode == 2, f"exit status: {what}"
    # Every message is one line of its own ("livecat: ..."), and the last is the error, naming
    # the damaged file. (live may say first that it found no audio output device.)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines, f"no message: {what}"
    assert all(line.startswith("livecat: ") for line in lines), f"not one line each: {what}"
    assert any(name in lines[-1] for name in case.names), f"names none of {case.names}: {what}"
