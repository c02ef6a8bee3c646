"""Results kept on local disk from the moment they are written until their commit, so a killed
process loses none of them.

A sink's spool is two files mapped into memory (``mmap``): ``Sink.write`` copies each result into
the current one as a line, and counts each request it starts in the first one's header, with no
system call. A system call would let the interpreter's lock go to the sink's writer thread and
make the event loop wait to get it back, for every result and every request. The kernel keeps
what a process wrote in a shared map when the process is killed. The writer switches files when
it takes what is queued, and empties the old one once those results are committed. What a process
killed before its commit left in its files is replayed by the next sink that opens the same tables
on this machine, then removed. Each sink holds a lock on its own files, so a sink never replays
the files of one that still runs.
"""

from __future__ import annotations

import errno
import glob
import itertools
import mmap
import os
import struct
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
MAGIC = b"DYSPOOL2"
HEADER = struct.Struct("<8sQQQ")
"""What a spool file starts with: ``MAGIC``, the bytes of lines that follow (what lies past them is
stale), then, in the first file, the run and the requests it had started (``Sink.on_event``)."""
_LENGTH = struct.Struct("<Q")
_STARTED = struct.Struct("<QQ")
_AT_LENGTH, _AT_STARTED = len(MAGIC), len(MAGIC) + _LENGTH.size
FIRST_SIZE = 1 << 16
"""Bytes of each file when the spool opens (some twenty results); a file doubles when it must."""


class Spool:
    """A sink's two spool files, ``DIRECTORY/NAME.PID-N.0`` and ``.1``, locked while it is open
    (``N`` tells apart the sinks of one process)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory, self.name = directory, name
        self.owner = f"{os.getpid()}-{next(_SINKS)}"
        self._lock: IO[bytes] | None = None
        self._fds: list[int] = []
        self._maps: list[mmap.mmap] = []
        self._used = [0, 0]
        """Bytes of lines in each file."""
        self._started = 0
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
            for path in (first, second):
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
                self._fds.append(fd)
                _reserve(fd, FIRST_SIZE)
                self._maps.append(mmap.mmap(fd, FIRST_SIZE))
                self._maps[-1][:len(MAGIC)] = MAGIC
        except OSError as exc:
            self.close(remove=False)
            raise self._refused(exc, " (give a directory of this machine that can be written: XDG_STATE_HOME for "
                                     "PostgreSQL)") from None

    def _refused(self, exc: Exception, hint: str = "") -> StorageError:
        """The disk's refusal, naming the spool's directory (never the database's place)."""
        return StorageError(f"cannot keep results in {self.directory} until they are committed: "
                            f"{getattr(exc, 'strerror', None) or exc}{hint}")

    def append(self, line: SpoolLine) -> None:
        """Write ``line`` to the current file (raises ``StorageError`` when the disk refuses room for it)."""
        line.seq = self._seq
        self._seq += 1
        data = _ENCODE(line) + b"\n"
        index = self._current
        start = HEADER.size + self._used[index]
        end = start + len(data)
        if end > len(self._maps[index]):
            self._grow(index, end)
        self._maps[index][start:end] = data
        self._used[index] += len(data)
        _LENGTH.pack_into(self._maps[index], _AT_LENGTH, self._used[index])  # after the line: a torn one is never read

    def _grow(self, index: int, needed: int) -> None:
        """Map the file anew at a size that holds ``needed`` bytes (``mmap.resize`` is missing on macOS)."""
        size = len(self._maps[index])
        while size < needed:
            size *= 2
        try:
            _reserve(self._fds[index], size)  # the disk's room first: a map written past it would kill the process
            grown = mmap.mmap(self._fds[index], size)
        except (OSError, ValueError) as exc:
            raise self._refused(exc) from None
        self._maps[index].close()
        self._maps[index] = grown

    def started(self, run_id: int, requests: int) -> None:
        """Note that run ``run_id`` has started ``requests`` requests (each may be billed)."""
        self._started = requests
        _STARTED.pack_into(self._maps[0], _AT_STARTED, run_id, requests)

    def switch(self) -> int:
        """Start writing the other file; the one written so far (its index) is emptied by ``clear``
        once what it holds is committed."""
        old, self._current = self._current, 1 - self._current
        return old

    def clear(self, index: int) -> None:
        self._used[index] = 0
        _LENGTH.pack_into(self._maps[index], _AT_LENGTH, 0)

    def empty(self) -> bool:
        """Whether the files hold nothing a later sink would replay: no result, no request."""
        return not any(self._used) and not self._started

    def close(self, *, remove: bool) -> None:
        """Close the files, and remove them if ``remove`` (else a later sink replays them)."""
        for map_ in self._maps:
            map_.close()
        for fd in self._fds:
            os.close(fd)
        self._maps, self._fds = [], []
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
        self.started: dict[int, int] = {}
        """The requests each run had started (when its client told the sink of each, ``Sink.on_event``)."""
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
                found_lines, run_id, started = _read(path)
                lines += found_lines
                if started:
                    self.started[run_id] = max(started, self.started.get(run_id, 0))
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


def _read(path: Path) -> tuple[list[SpoolLine], int, int]:
    """The lines of a spool file, and the run and requests started its header tells; a line cut
    short (a power cut while it was written) is skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0, 0
    except OSError as exc:
        raise StorageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not data.startswith(MAGIC):
        return _read_lines(data)
    if len(data) < HEADER.size:  # killed while it was made
        return [], 0, 0
    _, used, run_id, started = HEADER.unpack_from(data)
    lines, _, _ = _read_lines(data[HEADER.size:HEADER.size + used])
    return lines, run_id, started


def _read_lines(data: bytes) -> tuple[list[SpoolLine], int, int]:
    """Lines of JSON, as the spool's files held them before they were mapped (then a request
    started was a line of its own, of kind ``sent``): what a killed run of that version left."""
    lines, run_id, started = [], 0, 0
    for text in data.splitlines():
        try:
            line = _DECODE(text)
        except msgspec.DecodeError:
            continue
        if line.kind == "sent":
            run_id, started = line.run_id, line.totals[0]
        else:
            lines.append(line)
    return lines, run_id, started


def _reserve(fd: int, size: int) -> None:
    """Make the file ``size`` bytes, its blocks taken on the disk now: a full disk is an ``OSError``
    here, where writing into a map past the disk's room would kill the process (``SIGBUS``). A
    file system that copies on write (btrfs, ZFS) may still need room for each rewrite."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # else a file system without it: zeros below
                raise
    if hasattr(os, "pwrite"):  # macOS has no posix_fallocate: zeros written now take the blocks
        start = os.fstat(fd).st_size
        if size > start:
            os.pwrite(fd, bytes(size - start), start)
    else:  # pragma: no cover - Windows: NTFS allocates a file's new size
        os.ftruncate(fd, size)
