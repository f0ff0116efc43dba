"""A check of an hnswlib index file before hnswlib reads it.

hnswlib trusts its file: an offset, a level, an entry point or a neighbour id out of range
makes a search read outside its buffers (a crash, not an exception). A corpus may come from a
stranger, so every field and every stored link is checked against what the manifest says the
index holds, with numpy over the whole file (well under a second at a million entries).

The layout (hnswlib 0.8 ``saveIndex``), all little-endian::

    header        size_t offsetLevel0, max_elements, cur_element_count, size_data_per_element,
                  label_offset, offsetData; int maxlevel; uint32 enterpoint_node;
                  size_t maxM, maxM0, M; double mult; size_t ef_construction
    level 0       cur_element_count records of size_data_per_element bytes: a uint32 whose low
                  16 bits count the links and whose third byte marks a deletion, maxM0 uint32
                  neighbour ids, dim float32, a uint64 label
    upper levels  per element: a uint32 byte count (0, or level x (maxM + 1) x 4), then for
                  each of its levels above 0 a uint32 link count and maxM uint32 ids
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from livecat.errors import CorpusError

HEADER = np.dtype(
    [
        ("offset_level0", "<u8"),
        ("max_elements", "<u8"),
        ("count", "<u8"),
        ("size_per_element", "<u8"),
        ("label_offset", "<u8"),
        ("offset_data", "<u8"),
        ("max_level", "<i4"),
        ("entry_point", "<u4"),
        ("max_m", "<u8"),
        ("max_m0", "<u8"),
        ("m", "<u8"),
        ("mult", "<f8"),
        ("ef_construction", "<u8"),
    ]
)

#: Level-0 records checked at once: about 2 MiB at a million entries' usual sizes.
_ROWS_AT_ONCE = 4096
#: More levels than any real index has: level l holds about count / M**l elements.
MAX_LEVELS = 64


def check_index_file(path: Path, *, dim: int, count: int, m: int) -> None:
    """Raise :class:`CorpusError` naming ``path`` unless it is an hnswlib index of ``count``
    vectors of ``dim`` float32 with ``m`` links per element whose every offset, level, label
    and link hnswlib may follow lies in range."""

    def bad(message: str) -> CorpusError:
        return CorpusError(f"index damaged: {message}; rebuild the corpus", path=path)

    try:
        data = np.memmap(path, dtype=np.uint8, mode="r")
    except FileNotFoundError:
        raise CorpusError("missing file", path=path) from None
    except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
        raise CorpusError(f"unreadable index ({exc})", path=path) from None
    if data.size < HEADER.itemsize:
        raise bad(f"{data.size} bytes, shorter than its header")
    header = data[: HEADER.itemsize].view(HEADER)[0]
    max_m0 = 2 * m
    links0 = 4 + 4 * max_m0
    expected = {
        "offset_level0": 0,
        "count": count,
        "size_per_element": links0 + 4 * dim + 8,
        "offset_data": links0,
        "label_offset": links0 + 4 * dim,
        "max_m": m,
        "max_m0": max_m0,
        "m": m,
    }
    for name, value in expected.items():
        if int(header[name]) != value:
            raise bad(f"header field {name} is {int(header[name])}, expected {value}")
    if not count <= int(header["max_elements"]) <= max(count, 1):
        raise bad(f"header field max_elements is {int(header['max_elements'])}, expected {count}")
    if not math.isfinite(float(header["mult"])):
        raise bad("header field mult is not a number")
    max_level = int(header["max_level"])
    if count == 0:
        if data.size != HEADER.itemsize:
            raise bad("an empty index with data after its header")
        return
    if not 0 <= max_level < MAX_LEVELS:
        raise bad(f"header field maxlevel is {max_level}")
    entry_point = int(header["entry_point"])
    if entry_point >= count:
        raise bad(f"entry point {entry_point} of {count} elements")

    size = expected["size_per_element"]
    level0_end = HEADER.itemsize + count * size
    if data.size < level0_end + 4 * count:
        raise bad(f"{data.size} bytes, too short for {count} elements")
    if (data.size - level0_end) % 4:
        raise bad(f"{data.size} bytes, not a whole number of records")
    records = np.asarray(data[HEADER.itemsize : level0_end]).reshape(count, size)
    labels = np.empty(count, np.int64)
    # Level 0 a few thousand records at a time, so each block is read from memory once and
    # checked from the cache (one pass over the whole file per check was twice as slow).
    for lo in range(0, count, _ROWS_AT_ONCE):
        block = records[lo : lo + _ROWS_AT_ONCE]
        words = block[:, :links0].view("<u4")  # link count and flags, then maxM0 ids
        _check_links(words, count=count, max_links=max_m0, bad=bad, where="level 0")
        if not np.isfinite(block[:, links0 : expected["label_offset"]].view("<f4")).all():
            raise bad("a stored vector is not a number")
        labels[lo : lo + block.shape[0]] = block[:, expected["label_offset"] :].view("<u8")[:, 0]
    if not (labels.min() >= 0 and labels.max() < count) or np.bincount(labels).max() > 1:
        raise bad(f"labels are not the numbers 0..{count - 1}, each once")

    levels, blocks, block_levels = _upper_levels(
        data[level0_end:].view("<u4"), count=count, max_m=m, max_level=max_level, bad=bad
    )
    if int(levels.max()) != max_level or levels[entry_point] != max_level:
        raise bad(f"the entry point is not on the top level ({max_level})")
    if blocks.size:
        _check_links(blocks, count=count, max_links=m, bad=bad, where="an upper level")
        used = _link_counts(blocks)
        ids = blocks[:, 1:][np.arange(m) < used[:, None]].astype(np.int64)
        owner_level = np.repeat(block_levels, used)
        if np.any(levels[ids] < owner_level):
            raise bad("an upper level links to an element that is not on it")


def _link_counts(words: np.ndarray) -> np.ndarray:
    return (words[:, 0] & 0xFFFF).astype(np.int64)


def _check_links(words: np.ndarray, *, count: int, max_links: int, bad, where: str) -> None:
    """Check link lists (rows of a uint32 header and ``max_links`` ids). A set flag (a
    deletion) is refused too: livecat marks entries deleted itself, and hnswlib refuses to
    mark one twice.

    hnswlib zeroes an element's lists when it adds it and only ever writes ids of elements
    it holds, so in a file it wrote even the unused slots are in range: one pass over every
    slot checks them without gathering the used ones."""
    if np.any(words[:, 0] >> 16):
        raise bad(f"{where} has a link list marked deleted or with a damaged count")
    used = _link_counts(words)
    if used.max(initial=0) > max_links:
        raise bad(f"{where} has a list of {int(used.max())} links, at most {max_links}")
    top = int(words[:, 1:].max(initial=0))
    if top >= count:
        raise bad(f"{where} links to element {top} of {count}")


def _upper_levels(
    tail: np.ndarray, *, count: int, max_m: int, max_level: int, bad
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the per-element records after level 0: each element's level, and every upper
    level's link list (rows of 1 + max_m words) with the level it is on.

    The records are consecutive and of varying length, so where each starts depends on all
    before it: a walk, 60 ms in Python at a million elements. Most records are one
    zero word (an element on level 0 only), so a record with upper levels starts at a
    non-zero word whose value is a whole number of levels, and the next such record at the
    first non-zero word after its end. Every word that could start one is linked to the one
    that would follow it, and the chain from the first is followed by doubling its steps
    (log2 of its length rounds of numpy): the records found are exactly the walk's."""
    block_words = max_m + 1
    tail = np.asarray(tail)
    size = int(tail.size)
    nonzero = np.flatnonzero(tail)
    level, rest = np.divmod(tail[nonzero].astype(np.int64), 4 * block_words)
    could = (rest == 0) & (level >= 1) & (level <= max_level)
    starts, levels_at = nonzero[could], level[could]  # words that could start a record
    ends = starts + 1 + levels_at * block_words
    # What follows each: the first non-zero word at or after its end, which must start one.
    after = np.searchsorted(nonzero, ends)
    follower = np.where(after < nonzero.size, nonzero[np.minimum(after, nonzero.size - 1)], size)
    step = np.searchsorted(starts, follower)
    chained = (step < starts.size) & (starts[np.minimum(step, starts.size - 1)] == follower)
    last, broken = starts.size, starts.size + 1  # past the last record; a broken chain
    step = np.where(chained, step, np.where((follower == size) & (ends <= size), last, broken))
    jump = np.concatenate([step, [last, broken]])
    if nonzero.size and not (starts.size and starts[0] == nonzero[0]):
        raise bad(
            f"element {int(nonzero[0])} has an upper-level record of {int(tail[nonzero[0]])} bytes"
        )
    # The chain: record 0, then every record 2**k steps on from those found so far.
    on_chain = np.zeros(1 if nonzero.size else 0, np.int64)
    while on_chain.size:
        reached = jump[on_chain]
        new = reached[reached < last]
        if not new.size:
            break
        on_chain = np.concatenate([on_chain, new])
        jump = jump[jump]
    on_chain.sort()
    first, per_owner = starts[on_chain], levels_at[on_chain]
    # An element per zero word and per record: a record's element is its word's position
    # less the link words before it.
    link_words = per_owner * block_words
    owner = first - (np.cumsum(link_words) - link_words)
    if on_chain.size and step[on_chain[-1]] == broken:
        final = int(on_chain[-1])
        if int(ends[final]) > size:
            raise bad(f"element {int(owner[-1])}'s upper levels run past the end of the file")
        at = int(follower[final])
        raise bad(
            f"element {at - int(link_words.sum())} has an upper-level record of "
            f"{int(tail[at])} bytes"
        )
    elements = size - int(link_words.sum())
    if elements < count:
        raise bad(f"the upper levels end after {elements} of {count} elements")
    if elements > count:
        raise bad(f"{4 * (elements - count)} bytes after the last element")
    levels = np.zeros(count, np.int64)
    levels[owner] = per_owner
    # Block k of an element with L levels is on level k + 1 (k = 0..L-1).
    owner_first_block = np.repeat(np.cumsum(per_owner) - per_owner, per_owner)
    block_levels = np.arange(int(per_owner.sum())) - owner_first_block + 1
    block_starts = np.repeat(first + 1, per_owner) + (block_levels - 1) * block_words
    rows = block_starts[:, None] + np.arange(block_words)
    return levels, tail[rows].reshape(-1, block_words), block_levels
