"""Results kept on local disk from the moment they are written until their commit, so a killed
process loses none of them.

``Sink.write`` appends each result as one line (one ``os.write``, the cost of a JSON lines output)
to the current of two files; the writer switches files when it takes what is queued, and empties
the old one once those results are committed. What a process killed before its commit left in its
files is replayed by the next sink that opens the same tables on this machine, then removed. Each
sink holds a lock on its own files, so a sink never replays the files of one that still runs.
"""

from __future__ import annotations

import glob
import itertools
import os
from pathlib import Path
from typing import IO, Any

import msgspec

from .._locks import open_locked
from ..errors import StorageError
from ._tables import Stored


class SpoolLine(msgspec.Struct, array_like=True, gc=False):
    """One result as the spool keeps it, with the run's totals when it was written."""

    seq: int
    """The line's place in its process's spool: replay follows it, so a later result of a key wins."""
    run_id: int
    totals: tuple[int, ...]
    """The run's totals (``TOTAL_FIELDS``) once this result was written: what a killed run had spent."""
    key: str
    kind: str
    ok: bool
    row: tuple[Any, ...] | None

    def stored(self) -> Stored:
        return Stored(self.key, self.kind, self.ok, self.row)


_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder(SpoolLine).decode
_SINKS = itertools.count()
SENT = "sent"
"""The kind of a line that stands for a request about to go (``Sink.on_event``), not a result: its
totals are the requests the run had started."""


class Spool:
    """A sink's two spool files, ``DIRECTORY/NAME.PID-N.0`` and ``.1``, locked while it is open
    (``N`` tells apart the sinks of one process)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory, self.name = directory, name
        self.owner = f"{os.getpid()}-{next(_SINKS)}"
        self._lock: IO[bytes] | None = None
        self._fds: list[int] = []
        self._current = 0
        self._seq = 0

    def paths(self, owner: str | None = None) -> tuple[Path, Path]:
        """The two files of ``owner`` (default: this spool's)."""
        stem = self.directory / f"{self.name}.{owner or self.owner}"
        return stem.with_name(f"{stem.name}.0"), stem.with_name(f"{stem.name}.1")

    def open(self) -> None:
        """Create this sink's files, empty, and lock them."""
        first, second = self.paths()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = open_locked(first, _private, wait=False)
            if self._lock is None:
                raise StorageError(f"{first}: another process holds this spool file")
            self._fds = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
                         for path in (first, second)]
        except OSError as exc:
            self.close(remove=False)
            raise StorageError(f"cannot keep results in {self.directory} until they are committed: "
                               f"{exc.strerror or exc} (give a directory of this machine that can be written: "
                               "XDG_STATE_HOME for PostgreSQL)") from None

    def append(self, line: SpoolLine) -> None:
        """Write ``line`` to the current file (raises ``StorageError`` when the disk refuses it)."""
        line.seq = self._seq
        self._seq += 1
        data = memoryview(_ENCODE(line) + b"\n")
        try:
            while data:
                data = data[os.write(self._fds[self._current], data):]
        except OSError as exc:
            raise StorageError(f"cannot keep results in {self.directory} until they are committed: "
                               f"{exc.strerror or exc}") from None

    def switch(self) -> int:
        """Start writing the other file; the one written so far (its index) is emptied by ``clear``
        once what it holds is committed."""
        old, self._current = self._current, 1 - self._current
        return old

    def clear(self, index: int) -> None:
        os.ftruncate(self._fds[index], 0)

    def empty(self) -> bool:
        return all(os.fstat(fd).st_size == 0 for fd in self._fds)

    def close(self, *, remove: bool) -> None:
        """Close the files, and remove them if ``remove`` (else a later sink replays them)."""
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        if self._lock is not None:
            if remove:
                for path in self.paths():
                    path.unlink(missing_ok=True)
            self._lock.close()
            self._lock = None


class Leftovers:
    """What processes that died left in their spool files, held locked until replayed or let go."""

    def __init__(self, directory: Path, name: str) -> None:
        self.lines: list[SpoolLine] = []
        """Every line left, in the order each process wrote them."""
        self._held: list[tuple[IO[bytes], tuple[Path, Path]]] = []
        spool = Spool(directory, name)
        try:
            found = sorted(directory.glob(f"{glob.escape(name)}.*.0"))
        except OSError:
            found = []
        for first in found:
            lock = open_locked(first, lambda path: open(path, "ab"), wait=False)  # noqa: SIM115
            if lock is None:
                continue  # its sink is still open
            paths = spool.paths(first.name[len(name) + 1:-2])
            self._held.append((lock, paths))
            lines: list[SpoolLine] = []
            for path in paths:
                lines += _read(path)
            self.lines += sorted(lines, key=lambda line: line.seq)

    def remove(self) -> None:
        """The lines are committed: remove their files."""
        for lock, paths in self._held:
            for path in paths:
                path.unlink(missing_ok=True)
            lock.close()
        self._held = []

    def release(self) -> None:
        """Leave the files for a later sink."""
        for lock, _ in self._held:
            lock.close()
        self._held = []


def _private(path: Path) -> IO[bytes]:
    """``path`` opened to append, created readable by its owner only (it holds results)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def _read(path: Path) -> list[SpoolLine]:
    """The lines of a spool file; a line cut short (a power cut while it was written) is skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StorageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    lines = []
    for text in data.splitlines():
        try:
            lines.append(_DECODE(text))
        except msgspec.DecodeError:
            continue
    return lines
