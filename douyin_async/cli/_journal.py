"""The batch command's output files: one JSON line per result, appended, flushed, resumable.

A line is written whole and flushed before the next result is taken, so a killed run loses at
most the requests in flight. A torn last line (the process died inside a write) is cut off when
the file is opened again, so it never breaks the next run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import msgspec

from .. import BatchResult
from ..errors import BatchAbortedError

_ENCODE = msgspec.json.Encoder().encode


class _Done(msgspec.Struct):
    input: Any = None
    item_id: str | None = None


_DONE = msgspec.json.Decoder(_Done)


class Journal:
    """Successes to ``out``, failures to ``errors``; ``done`` holds what a rerun skips.

    Inputs a stopped batch never attempted go to neither file: they are still to do.
    """

    def __init__(self, out: str, errors: str | None) -> None:
        self.out_path = Path(out)
        self.errors_path = Path(errors) if errors else None
        self.done: set[str] = set()
        self._load()
        self._out: IO[bytes] = open(self.out_path, "ab")  # noqa: SIM115 - closed in close()
        self._errors: IO[bytes] | None = open(self.errors_path, "ab") if self.errors_path else None  # noqa: SIM115

    def _load(self) -> None:
        if not self.out_path.exists():
            return
        _cut_torn_tail(self.out_path)
        with open(self.out_path, "rb") as lines:
            for line in lines:
                try:
                    record = _DONE.decode(line)
                except msgspec.DecodeError:
                    continue
                if record.item_id:
                    self.done.add(record.item_id)
                if isinstance(record.input, str | int):
                    self.done.add(str(record.input).strip())

    def skip(self, value: str) -> bool:
        """Whether this input (or the id it spells) is already in the output."""
        return value.strip() in self.done

    def write(self, result: BatchResult) -> None:
        if result.response is not None:
            line = b'{"input":%s,"item_id":%s,"item":%s}\n' % (
                _ENCODE(result.input), _ENCODE(result.item_id), result.response.raw_item
            )
            _append(self._out, line)
            if result.item_id:
                self.done.add(result.item_id)
        elif self._errors is not None and result.error is not None and not isinstance(result.error, BatchAbortedError):
            error = result.error
            record = {
                "input": result.input, "item_id": result.item_id, "code": error.code,
                "error": type(error).__name__, "message": str(error), "attempts": result.attempts,
            }
            _append(self._errors, _ENCODE(record) + b"\n")

    def close(self) -> None:
        self._out.close()
        if self._errors is not None:
            self._errors.close()


def _append(stream: IO[bytes], line: bytes) -> None:
    stream.write(line)
    stream.flush()


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line that has no newline (a write cut short)."""
    size = path.stat().st_size
    with open(path, "rb+") as handle:
        handle.seek(max(size - 1, 0))
        if size == 0 or handle.read(1) == b"\n":
            return
        handle.truncate(_last_newline_before(handle, size))
        handle.flush()
        os.fsync(handle.fileno())


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
