"""Files livecat writes for the user besides the mosaic: the match log of a render or a live
set, and the rule every output follows, that it never replaces the user's own media."""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from livecat.corpus import Corpus
from livecat.errors import MediaError, free_bytes, write_error
from livecat.media.encode import temporary_sibling

#: The ``--matches`` CSV's header.
MATCH_COLUMNS = ("t_s", "source", "source_t_s", "entry", "distance")


class MatchLog:
    """The ``--matches`` CSV: one row per output picture, written atomically.

    A write that fails (a full disk) raises a one-line :class:`MediaError`, as a render
    wants; a live set passes ``on_failure`` instead, which hears of it once, and the set goes
    on without the log. Either way nothing is left at ``path`` but a whole log.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        corpus: Corpus,
        *,
        on_failure: Callable[[MediaError], None] | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():  # else found only when the finished log is moved into place
            raise MediaError("is a directory: name the CSV to write, e.g. picks.csv", path=path)
        self.tmp = temporary_sibling(self.path)
        self._free_at_start = free_bytes(self.tmp)
        self.on_failure = on_failure
        self.failed = False
        try:
            self.file = open(self.tmp, "w", newline="")
        except OSError as exc:
            raise write_error(exc, path=self.path) from None
        self.writer = csv.writer(self.file)
        self.corpus = corpus
        self._write(MATCH_COLUMNS)

    def row(
        self,
        t_s: float,
        entry: int,
        source_t_s: float,
        distance: float,
        *,
        corpus: Corpus | None = None,
    ) -> None:
        """One picture; ``corpus`` names the corpus it came from when several play."""
        if self.failed:
            return
        corpus = corpus or self.corpus
        source = corpus.sources[int(corpus.entries["source"][entry])].path if entry >= 0 else ""
        self._write((f"{t_s:.4f}", source, f"{source_t_s:.4f}", entry, f"{distance:.4f}"))

    def _write(self, fields: Sequence[object]) -> None:
        try:
            self.writer.writerow(fields)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.failed = True
        self.abort()
        error = write_error(exc, path=self.path, free_at_start=self._free_at_start)
        if self.on_failure is None:
            raise error from None
        self.on_failure(error)

    def flush(self) -> None:
        """Write out what is buffered. A render flushes its log before its mosaic lands, so a
        log that cannot be written (a full disk) is found while the mosaic can still be
        thrown away."""
        if self.failed:
            return
        try:
            self.file.flush()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        if self.failed:
            return
        try:
            self.file.close()  # writes what is still buffered
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self._fail(exc)

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # a full disk fails the flush: thrown away anyway
            self.file.close()
        self.tmp.unlink(missing_ok=True)


def refuse_to_replace(
    path: str | os.PathLike[str],
    what: str,
    *,
    target: Path | None,
    corpora: Sequence[Corpus],
    target_is: str = "the target",
) -> None:
    """An output must not be the target (``target_is`` names it) or any corpus's footage:
    the rename that finishes it would replace the user's own file without a word."""
    if not os.path.exists(path):
        return
    others = [(target, target_is)] if target is not None else []
    others += [(Path(s.abs_path), "footage of the corpus") for c in corpora for s in c.sources]
    for other, name in others:
        if other.exists() and os.path.samefile(path, other):
            raise MediaError(
                f"is {name}: the {what} would replace it; choose another name", path=path
            )
