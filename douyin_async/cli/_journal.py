"""The batch command's two files, which are its memory between runs: OUT and the errors file.

OUT holds one line per video fetched; the errors file the latest failure of each id (or bad
input). Both are known by id, not by input text, so a rerun skips a video in whatever form it is
given again. Lines are appended whole and flushed one at a time: a killed run loses at most the
requests in flight, and a torn last line (the process died inside a write) is cut off when the
files are opened again. OUT is locked while a run writes it, so two runs never fetch, and pay
for, the same ids side by side.

The errors file may be shared by runs on other OUTs (shards of one list): each run holds a shared
lock on it and appends whole lines; it is rewritten (one line per key) only under an exclusive
lock, from what it holds then, so no run's record is lost. Beside OUT, ``.OUT.journal`` lists
every errors file its runs used: a rerun with another ``--errors`` still skips what failed for
good in the earlier ones.

Neither file is held in memory: what a run keeps of them is sets of keys (``KeySet``, a few bytes
a key), and the errors file is rewritten by reading it again, twice, from the disk.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

import msgspec

from .. import BatchResult, DouyinError
from .._locks import lock, open_locked
from ..sinks import PERMANENT_ERRORS as FINAL_FAILURES
from ._files import replacing
from ._inputs import BadInputError
from ._keys import KeySet, code_of
from ._output import Output, quoted_input

_ENCODE = msgspec.json.Encoder().encode
MAX_RECORD = 16 << 20
"""A last line longer than this is not read to see whether it is whole: it is taken as torn."""

PERMANENT_ERRORS: tuple[type[DouyinError], ...] = (*FINAL_FAILURES, BadInputError)
"""Failures that another request would only repeat, and pay for again: not retried on a rerun."""
_PERMANENT_NAMES = {"NotFoundError", "InvalidParamError", "UnexpectedItemError", "MalformedItemError", "BadInputError"}


class RunLockedError(Exception):
    """Another run is writing the same OUT."""


class _Failure(msgspec.Struct):
    input: Any = None
    item_id: str | None = None
    code: str | None = None
    error: str | None = None
    permanent: bool | None = None
    download: bool = False


_FAILURE = msgspec.json.Decoder(_Failure)


def failure_key(item_id: str | None, input_text: Any) -> str:
    """What a failure is recorded under: its id, or the input itself when it holds none."""
    return item_id if item_id else f"input:{quoted_input(input_text)}"


class _Used(msgspec.Struct):
    errors: list[str] = msgspec.field(default_factory=list)


_USED = msgspec.json.Decoder(_Used)


class Journal:
    """What OUT and the errors file say is done or failed for good; appends this run's results."""

    def __init__(self, out: Path, errors: Path, output: Output) -> None:
        self.out_path, self.errors_path, self.output = out, errors, output
        self.record_path = out.with_name(f".{out.name}.journal")
        """Which errors files the runs of OUT used."""
        self.earlier_errors: list[Path] = []
        """Errors files of earlier runs of OUT other than this run's: their permanent failures count."""
        self.done = KeySet()
        """The ids in OUT, a few bytes each (OUT may hold millions)."""
        self.failures = KeySet()
        """The keys whose latest outcome in the errors file is a failure (their lines stay on disk);
        a key whose failure is permanent is in ``permanent`` too."""
        self.permanent = KeySet()
        self._loaded_size = -1
        self._out: IO[bytes] | None = None
        self._errors: IO[bytes] | None = None
        self._errors_dirty = False
        self._cleared = KeySet()
        """Keys whose failure this run resolved (a download that succeeded at last)."""

    # -- reading ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read both files (without changing them): what is done, and what failed for good."""
        self.done.clear()
        self._loaded_size = _complete_size(self.out_path, self.output.is_whole)
        if self._loaded_size > 0:
            self.done.update(self.output.done_ids(_complete_lines(self.out_path, self._loaded_size)))
        self.failures.clear()
        self.permanent.clear()
        size = _complete_size(self.errors_path, is_failure)
        if size >= 0:
            self._errors_dirty = size != self.errors_path.stat().st_size or not _ends_a_line(self.errors_path)
            for line in _complete_lines(self.errors_path, size):
                failure = _failure_of(line)
                if failure is None or failure[0] in self.done or failure[0] in self.failures:
                    self._errors_dirty = True  # a line that goes when the file is rewritten
                if failure is not None and failure[0] not in self.done:
                    self._remember(code_of(failure[0]), failure[1])
        self.earlier_errors = [path for path in self._used_errors() if not _same(path, self.errors_path)]
        self._add_earlier_permanent()

    def _remember(self, code: int, permanent: bool) -> None:
        self.failures.add_code(code)
        if permanent:
            self.permanent.add_code(code)
        else:
            self.permanent.discard_code(code)

    def _add_earlier_permanent(self) -> None:
        for path in self.earlier_errors:
            for code in _permanent_keys(path).codes():
                if not self.done.has_code(code):
                    self.permanent.add_code(code)

    def _used_errors(self) -> list[Path]:
        try:
            names = _USED.decode(self.record_path.read_bytes()).errors
        except (OSError, msgspec.DecodeError):
            return []
        return [self.out_path.parent / name for name in names]

    def _note_errors_file(self) -> None:
        """Add this run's errors file to OUT's record (OUT is locked: no other run writes it)."""
        used = self._used_errors()
        if any(_same(path, self.errors_path) for path in used):
            return
        names = [os.path.relpath(path, self.out_path.parent) for path in [*used, self.errors_path]]
        with replacing(self.record_path) as stream:
            stream.write(_ENCODE(_Used(names)) + b"\n")

    # -- writing ------------------------------------------------------------------------------

    def watch(self, client: object) -> None:
        """Files keep no record of a run's costs: the summary is the record (see ``--audit``)."""

    unfinished: ClassVar[list[tuple[int, int]]] = []
    """Runs that did not finish: files keep no record of them."""
    listener: ClassVar[None] = None
    """Files need not hear the client's events."""

    async def open(self) -> bool:
        """Lock OUT and repair both files; True when another run changed OUT since ``load``."""
        self.out_path.touch(exist_ok=True)  # checked writable before; this is the first file created
        self._out = open(self.out_path, "rb+")  # noqa: SIM115, ASYNC230 - closed in close()
        self._out.seek(0, os.SEEK_END)
        if not lock(self._out, wait=False):
            self._out.close()
            self._out = None
            raise RunLockedError(str(self.out_path))
        complete = _complete_size(self.out_path, self.output.is_whole)
        changed = complete != max(self._loaded_size, 0)
        if changed:
            await self.load()
        _repair(self._out, complete)
        if self._out.tell() == 0:
            _append(self._out, self.output.header())
        self._note_errors_file()
        if self._errors_dirty:
            self._rewrite_errors()
        return changed

    def _open_errors(self) -> None:
        """Open the errors file to append, under a shared lock that another run's rewrite waits for."""
        self._errors = open_locked(self.errors_path, _append_to, shared=True)

    def _rewrite_errors(self) -> None:
        """The errors file with one line per key (its latest), none for ids this OUT has done.

        Only when no other run has it open (an exclusive lock at once, or not now); from what
        the file holds then, other runs' records included. The file is read twice: first for each
        line's key (8 bytes a line), then to copy each line that is its key's last.
        """
        if self._errors is None:
            self._open_errors()
            assert self._errors is not None
        if not lock(self._errors, wait=False):
            lock(self._errors, shared=True)
            return  # shared with a run on another OUT: duplicates stay until a run has it alone
        self.failures.clear()
        self.permanent.clear()
        size = max(_complete_size(self.errors_path, is_failure), 0)
        codes = array("Q")
        for line in _complete_lines(self.errors_path, size):
            failure = _failure_of(line)
            if failure is None or failure[0] in self.done or failure[0] in self._cleared:
                codes.append(0)  # dropped
                continue
            codes.append(code_of(failure[0]))
            self._remember(codes[-1], failure[1])
        last = bytearray(len(codes))
        later = KeySet()
        for number in range(len(codes) - 1, -1, -1):
            if codes[number] and not later.has_code(codes[number]):
                later.add_code(codes[number])
                last[number] = 1
        del codes, later
        self._add_earlier_permanent()
        with replacing(self.errors_path) as stream:
            stream.writelines(line if line.endswith(b"\n") else line + b"\n"
                              for number, line in enumerate(_complete_lines(self.errors_path, size)) if last[number])
        self._errors_dirty = False
        self._errors.close()
        self._errors = None
        self._open_errors()

    async def write(self, result: BatchResult, input_text: Any) -> None:
        """Append one result: a success to OUT, a failure to the errors file (created when needed)."""
        key = failure_key(result.item_id, input_text)
        if result.response is not None:
            assert self._out is not None
            _append(self._out, self.output.line(input_text, result.response))
            if result.item_id:
                self.done.add(result.item_id)
            if key in self.failures:
                self.failures.discard(key)
                self._errors_dirty = True  # its old failure goes when the file is rewritten
            return
        error = result.error
        assert error is not None
        permanent = isinstance(error, PERMANENT_ERRORS)
        line = _ENCODE({
            "input": quoted_input(input_text), "item_id": result.item_id, "code": error.code,
            "error": type(error).__name__, "message": str(error), "permanent": permanent,
            "attempts": result.attempts, "billed": result.billed, "possibly_billed": result.possibly_billed,
        }) + b"\n"
        self._append_failure(key, line, permanent)

    def _append_failure(self, key: str, line: bytes, permanent: bool) -> None:
        if self._errors is None:
            self._open_errors()
            assert self._errors is not None
        _append(self._errors, line)
        code = code_of(key)
        self._cleared.discard_code(code)
        if self.failures.has_code(code):
            self._errors_dirty = True  # an older line for this key goes when the file is rewritten
        self._remember(code, permanent)

    async def write_download(self, item_id: str, error: Exception | None) -> None:
        """A fetched video's media: a failure is recorded (a rerun with --download tries again), a success clears it."""
        key = f"download:{item_id}"
        if error is None:
            if key in self.failures:
                self.failures.discard(key)
                self._errors_dirty = True
                self._cleared.add(key)
            return
        line = _ENCODE({
            "input": item_id, "item_id": item_id, "download": True, "error": type(error).__name__,
            "message": str(error), "permanent": False,
        }) + b"\n"
        self._append_failure(key, line, False)

    async def failed_downloads(self) -> AsyncIterator[str]:
        """Ids in OUT whose media download failed on an earlier run, each once, read from the errors
        file as it is when asked (what is appended meanwhile is not read)."""
        size = _complete_size(self.errors_path, is_failure)
        if size <= 0:
            return
        told = KeySet()
        for line in _complete_lines(self.errors_path, size):
            failure = _failure_of(line)
            if failure is not None and failure[0].startswith("download:") and failure[0] in self.failures \
                    and failure[0] not in told:
                told.add(failure[0])
                yield failure[0].removeprefix("download:")

    async def commit(self, status: str) -> None:
        """Every line is written as it comes: nothing waits to be committed."""

    async def close(self, status: str = "done") -> None:
        """Leave the errors file with one line per key (while OUT is still locked), then close both."""
        if self._errors_dirty and self._out is not None:
            self._rewrite_errors()
        for stream in (self._errors, self._out):
            if stream is not None:
                stream.close()
        self._out = self._errors = None


def _append(stream: IO[bytes], line: bytes) -> None:
    """One whole line, in one write: runs appending to one file never interleave their lines."""
    stream.flush()
    os.write(stream.fileno(), line)


def _same(first: Path, second: Path) -> bool:
    try:
        return first.samefile(second)
    except OSError:
        return first.absolute() == second.absolute()


def _append_to(path: Path) -> IO[bytes]:
    return open(path, "ab")


def _failure_of(line: bytes) -> tuple[str, bool] | None:
    """The key a line of the errors file is recorded under and whether it failed for good (None
    for a line that is no record)."""
    try:
        record = _FAILURE.decode(line)
    except msgspec.DecodeError:
        return None
    key = record.item_id or f"input:{record.input}"  # the input is stored as its excerpt already
    if record.download:
        key = f"download:{record.item_id}"
    permanent = record.permanent if record.permanent is not None else record.error in _PERMANENT_NAMES
    return key, permanent


def _permanent_keys(path: Path) -> KeySet:
    """The keys whose latest failure in errors file ``path`` is permanent."""
    keys = KeySet()
    size = _complete_size(path, is_failure)
    if size <= 0:
        return keys  # recorded, but that run had no failure (or the file was removed)
    for line in _complete_lines(path, size):
        failure = _failure_of(line)
        if failure is not None:
            (keys.add if failure[1] else keys.discard)(failure[0])
    return keys


def is_errors_file(path: Path) -> bool:
    """Whether ``path`` is missing, empty, or starts with a failure record: safe to rewrite."""
    try:
        with open(path, "rb") as stream:
            first = stream.readline(MAX_RECORD)
    except FileNotFoundError:
        return True
    return not first.strip() or is_failure(first)


def is_failure(line: bytes) -> bool:
    """Whether ``line`` is a whole record of the errors file."""
    try:
        return _FAILURE.decode(line).error is not None
    except msgspec.DecodeError:
        return False


def _ends_a_line(path: Path) -> bool:
    """Whether ``path`` is empty or ends with a newline (else an append would glue onto its last line)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return True
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


def _repair(stream: IO[bytes], complete: int) -> None:
    """Cut a torn last line off; end a whole last line that lacks its newline with one."""
    stream.truncate(complete)
    stream.seek(0, os.SEEK_END)
    if complete > 0:
        stream.seek(complete - 1)
        if stream.read(1) != b"\n":
            _append(stream, b"\n")
        stream.seek(0, os.SEEK_END)


def _complete_lines(path: Path, size: int) -> Iterator[bytes]:
    """The lines of ``path`` within its first ``size`` bytes: a torn last line is never read as done."""
    with open(path, "rb") as stream:
        for line in stream:
            size -= len(line)
            if size < 0:
                return
            yield line


def _complete_size(path: Path, is_whole: Callable[[bytes], bool]) -> int:
    """The length of ``path``'s whole lines (-1 if it does not exist).

    A last line without its newline counts when ``is_whole`` says it is a whole record (the run
    died between the record and its newline, or someone edited the file); else it is torn.
    """
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return size
            start = _last_newline_before(handle, size)
            if size - start <= MAX_RECORD:
                handle.seek(start)
                if is_whole(handle.read(size - start)):
                    return size
            return start
    except FileNotFoundError:
        return -1


def _last_newline_before(handle: IO[bytes], end: int) -> int:
    """The offset just past the last newline before ``end`` (0 if there is none)."""
    step = 65536
    while end > 0:
        start = max(end - step, 0)
        handle.seek(start)
        cut = handle.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
