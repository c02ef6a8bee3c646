"""Standard output and error whose reader may go away (``| head``): the command goes on quietly.

A reader that stops reading is no failure of the command: what is still to be written there is
dropped, with no "Broken pipe" message and no traceback at exit, and the exit code stays the one
the work earned. ``get`` stops asking for videos nobody will read (``reader_gone``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO, cast


class _Stream:
    """A stream (text, or its binary ``buffer``) that drops writes once its reader has gone."""

    def __init__(self, stream: Any, gone: list[bool]) -> None:
        self._stream, self._gone = stream, gone

    def write(self, data: Any) -> int:
        if not self._gone[0]:
            try:
                return int(self._stream.write(data))
            except BrokenPipeError:
                self._drop()
        return len(data)

    def flush(self) -> None:
        if not self._gone[0]:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    @property
    def buffer(self) -> _Stream:
        return _Stream(self._stream.buffer, self._gone)

    def _drop(self) -> None:
        """Point the descriptor at /dev/null: what is still buffered is flushed there at exit."""
        self._gone[0] = True
        with contextlib.suppress(AttributeError, OSError, ValueError):  # no descriptor (a test's capture)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def tolerant_streams() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` wrapped for the command's run, then put back."""
    saved = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, _Stream(sys.stdout, [False]))
    sys.stderr = cast(TextIO, _Stream(sys.stderr, [False]))
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout, sys.stderr = saved


def reader_gone(stream: TextIO | None = None) -> bool:
    """True once the reader of ``stream`` (standard output by default) has gone away."""
    stream = sys.stdout if stream is None else stream
    return isinstance(stream, _Stream) and stream._gone[0]
