"""The index file's check (livecat.corpus.hnsw_file): every field and link hnswlib would
follow unchecked is refused when out of range, and a real index passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import hnswlib
import numpy as np
import pytest

from livecat.corpus.hnsw_file import HEADER, check_index_file
from livecat.errors import CorpusError

DIM, M = 8, 6


def _write_index(path: Path, count: int, *, m: int = M) -> Path:
    vectors = np.random.default_rng(count).standard_normal((count, DIM)).astype(np.float32)
    index = hnswlib.Index(space="l2", dim=DIM)
    index.init_index(max_elements=max(count, 1), M=m, ef_construction=50, random_seed=100)
    if count:
        index.add_items(vectors, np.arange(count), num_threads=1)
    index.save_index(str(path))
    return path


@pytest.fixture(scope="module")
def index_path(tmp_path_factory) -> Path:
    return _write_index(tmp_path_factory.mktemp("index") / "index.hnsw", 400)


def _layout(data: bytes) -> dict[str, int]:
    header = np.frombuffer(data[: HEADER.itemsize], HEADER)[0]
    size = int(header["size_per_element"])
    return {"size": size, "level0_end": HEADER.itemsize + 400 * size}


def _upper_record(data: bytes) -> int:
    """Byte offset of the first element's upper-level record that is not empty."""
    at = _layout(data)["level0_end"]
    while int.from_bytes(data[at : at + 4], "little") == 0:
        at += 4
    return at


@pytest.mark.parametrize("count", [0, 1, 2, 400])
def test_a_real_index_passes(tmp_path, count):
    check_index_file(_write_index(tmp_path / "index.hnsw", count), dim=DIM, count=count, m=M)


def _set(data: bytearray, offset: int, value: int, size: int = 8) -> None:
    data[offset : offset + size] = int(value).to_bytes(size, "little", signed=value < 0)


def _field(name: str) -> int:
    return HEADER.fields[name][1]


DAMAGE = {
    "label_offset": (lambda d: _set(d, _field("label_offset"), 10**9), "label_offset"),
    "offset_data": (lambda d: _set(d, _field("offset_data"), 2**40), "offset_data"),
    "size_per_element": (lambda d: _set(d, _field("size_per_element"), 2**64 - 8), "size_per"),
    "count": (lambda d: _set(d, _field("count"), 401), "count is 401"),
    "m": (lambda d: _set(d, _field("m"), 7), "field m is 7"),
    "max_elements": (lambda d: _set(d, _field("max_elements"), 2**50), "max_elements"),
    "entry_point": (lambda d: _set(d, _field("entry_point"), 400, 4), "entry point 400"),
    "max_level": (lambda d: _set(d, _field("max_level"), 2**30, 4), "maxlevel"),
    "max_level_lower": (lambda d: _set(d, _field("max_level"), 0, 4), "element .* record"),
    "a level-0 neighbour": (
        lambda d: _set(d, HEADER.itemsize + 4, 400, 4),
        "level 0 links to element 400",
    ),
    "a level-0 link count": (
        lambda d: _set(d, HEADER.itemsize, 2 * M + 1, 2),
        f"level 0 has a list of {2 * M + 1} links",
    ),
    "a deletion mark": (lambda d: _set(d, HEADER.itemsize + 2, 1, 1), "marked deleted"),
    "a label": (
        lambda d: _set(d, HEADER.itemsize + 4 + 8 * M + 4 * DIM, 400),
        "labels are not the numbers",
    ),
    "a duplicate label": (
        lambda d: _set(d, HEADER.itemsize + 4 + 8 * M + 4 * DIM, 1),
        "labels are not the numbers",
    ),
    "an upper record's size": (
        lambda d: _set(d, _upper_record(d), 2**31, 4),
        "upper-level record of 2147483648 bytes",
    ),
    "an upper-level neighbour": (
        lambda d: _set(d, _upper_record(d) + 8, 10**6, 4),
        "an upper level links to element 1000000",
    ),
    "an upper-level link count": (
        lambda d: _set(d, _upper_record(d) + 4, M + 1, 2),
        f"an upper level has a list of {M + 1} links",
    ),
    "a stored vector": (
        lambda d: _set(d, HEADER.itemsize + 4 + 8 * M, 0x7FC00000, 4),  # a NaN
        "a stored vector is not a number",
    ),
    "bytes after the end": (lambda d: d.extend(b"\0" * 8), "bytes after the last element"),
    "truncated": (lambda d: d.__delitem__(slice(-4, None)), "upper levels"),
    "header only": (lambda d: d.__delitem__(slice(HEADER.itemsize + 10, None)), "too short"),
    "shorter than a header": (lambda d: d.__delitem__(slice(40, None)), "shorter than its"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damage_is_refused_naming_the_file(index_path, tmp_path, damage):
    change, message = DAMAGE[damage]
    data = bytearray(index_path.read_bytes())
    change(data)
    bad = tmp_path / "index.hnsw"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match=rf"index\.hnsw: index damaged: .*{message}"):
        check_index_file(bad, dim=DIM, count=400, m=M)


def test_a_link_to_an_element_not_on_that_level_is_refused(index_path, tmp_path):
    """A search at level l reads the level-l list of every neighbour it reaches there: a
    neighbour living only on level 0 would be read past its record."""
    data = bytearray(index_path.read_bytes())
    at = _upper_record(data)
    levels = np.zeros(400, int)
    # Find an element that lives on level 0 only: the first with an empty record.
    pos, element = _layout(data)["level0_end"], 0
    while element < 400:
        words = int.from_bytes(data[pos : pos + 4], "little")
        levels[element] = words // (4 * (M + 1))
        pos += 4 + words
        element += 1
    only_level0 = int(np.flatnonzero(levels == 0)[0])
    _set(data, at + 4, 1, 2)  # one link, to it
    _set(data, at + 8, only_level0, 4)
    bad = tmp_path / "index.hnsw"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match="links to an element that is not on it"):
        check_index_file(bad, dim=DIM, count=400, m=M)


def test_random_damage_never_reaches_hnswlib_unchecked(index_path, tmp_path):
    """Bytes flipped anywhere in the file: each damaged index is refused, or loads and
    answers searches with labels in range. One process runs them all, so a crash is a
    signal here, not a passing test."""
    script = textwrap.dedent(
        f"""
        import sys
        import hnswlib, numpy as np
        from pathlib import Path
        from livecat.corpus.hnsw_file import check_index_file
        from livecat.errors import CorpusError
        good = Path(sys.argv[1]).read_bytes()
        bad = Path(sys.argv[2])
        rng = np.random.default_rng(7)
        queries = rng.standard_normal((50, {DIM})).astype(np.float32)
        refused = loaded = 0
        for trial in range(400):
            data = bytearray(good)
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
            bad.write_bytes(bytes(data))
            try:
                check_index_file(bad, dim={DIM}, count=400, m={M})
            except CorpusError:
                refused += 1
                continue
            index = hnswlib.Index(space="l2", dim={DIM})
            index.load_index(str(bad), max_elements=400)
            index.set_ef(20)
            labels, _ = index.knn_query(queries, k=5)
            assert labels.max() < 400
            index.mark_deleted(int(labels[0, 0]))
            index.knn_query(queries, k=5)
            loaded += 1
        print(refused, loaded)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(index_path), str(tmp_path / "index.hnsw")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    refused, loaded = map(int, run.stdout.split())
    assert refused > 100 and loaded > 50  # both paths taken
