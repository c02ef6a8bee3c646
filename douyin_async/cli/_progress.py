"""Batch progress for people: a rich bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .. import BatchProgress


def describe(progress: BatchProgress) -> str:
    """One line: counts, failures by code, speed, the throttle's current limits, ETA."""
    done = f"{progress.done}/{progress.total}" if progress.total else f"{progress.done}"
    failed = " ".join(f"{code}:{n}" for code, n in sorted(progress.failed.items())) or "0"
    throttle = f"{progress.rate:.1f}/s" if progress.rate else "off"
    if progress.concurrency:
        throttle += f" x{progress.concurrency}"
    parts = [f"done {done}", f"ok {progress.ok}", f"failed {failed}"]
    if progress.aborted:
        parts.append(f"not attempted {progress.aborted}")
    parts += [f"{progress.per_second:.1f}/s", f"throttle {throttle}"]
    if progress.total and progress.per_second > 0:
        parts.append(f"eta {_duration((progress.total - progress.done) / progress.per_second)}")
    return "  ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressReporter:
    """Called after every result; draws at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO = sys.stderr, *, interval: float = 2.0, bar: bool | None = None) -> None:
        self._stream = stream
        self._interval = interval
        self._last = 0.0
        self.last: BatchProgress | None = None
        self.bytes = 0
        self._bytes_started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        self._bytes_task: Any = None
        self._bytes_last = 0.0
        if bar if bar is not None else stream.isatty():
            self._bar = _rich_bar(stream)
            if self._bar is not None:
                self._bar.start()

    def _videos_task(self) -> Any:
        if self._task is None:
            self._task = self._bar.add_task("videos", total=None, status="")
        return self._task

    def add_bytes(self, count: int) -> None:
        """Media bytes written by downloads; shown as a second line (or in the plain lines)."""
        self.bytes += count
        now = time.monotonic()
        if self._bar is not None and now - self._bytes_last >= 0.1:
            self._bytes_last = now
            if self._bytes_task is None:
                self._bytes_task = self._bar.add_task("media", total=None, status="")
            self._bar.update(self._bytes_task, completed=self.bytes, status=self.describe_bytes())
        elif self._bar is None and self.last is None and now - self._bytes_last >= self._interval:
            self._bytes_last = now
            print(self.describe_bytes(), file=self._stream, flush=True)

    def describe_bytes(self) -> str:
        elapsed = max(time.monotonic() - self._bytes_started, 1e-9)
        return f"downloaded {self.bytes / 2**20:.1f} MiB  {self.bytes / 2**20 / elapsed:.1f} MiB/s"

    def __call__(self, progress: BatchProgress) -> None:
        self.last = progress
        now = time.monotonic()
        if self._bar is not None:
            if now - self._last >= 0.1:
                self._last = now
                self._bar.update(self._videos_task(), completed=progress.done, total=progress.total,
                                 status=describe(progress))
            return
        if now - self._last >= self._interval:
            self._last = now
            print(self._plain(progress), file=self._stream, flush=True)

    def _plain(self, progress: BatchProgress) -> str:
        line = describe(progress)
        return f"{line}  {self.describe_bytes()}" if self.bytes else line

    def close(self, progress: BatchProgress | None) -> None:
        if self._bar is not None:
            if progress is not None:
                self._bar.update(self._videos_task(), completed=progress.done, total=progress.total,
                                 status=describe(progress))
            if self._bytes_task is not None:
                self._bar.update(self._bytes_task, completed=self.bytes, status=self.describe_bytes())
            self._bar.stop()
        elif progress is not None:
            print(self._plain(progress), file=self._stream, flush=True)
        elif self.bytes:
            print(self.describe_bytes(), file=self._stream, flush=True)


def _rich_bar(stream: TextIO) -> Any:
    """A rich progress bar, or None when rich is not installed (plain lines then)."""
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    except ImportError:
        return None
    return Progress(
        BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
        console=Console(file=stream), transient=False,
    )
