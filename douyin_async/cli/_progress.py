"""Batch progress for people: a rich bar on a terminal, plain periodic lines otherwise.

Speed and ETA come from a moving window of the last ``WINDOW`` seconds, and are shown only once
``SETTLE`` seconds of results exist: the first results of a run (duplicates, fast failures) say
nothing about the pace that follows.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from .. import BatchProgress, Quota, Usage

WINDOW = 30.0
SETTLE = 3.0


@dataclass
class Money:
    """What the progress line and the summary say about cost, read from the client's ledger."""

    price: float | None = None
    quota: Callable[[], Quota | None] = lambda: None
    usage: Callable[[], Usage] = Usage
    """The client's usage: the batch's requests and its downloads' (details, fresh URLs) alike."""

    def totals(self) -> tuple[int, int]:
        """Billed and possibly billed requests so far."""
        usage = self.usage()
        return usage.billed, usage.possibly_billed

    def describe(self, billed: int, possibly_billed: int) -> str:
        text = f"billed {billed}"
        if possibly_billed:
            text += f" (+{possibly_billed} possibly)"
        if self.price is not None:
            text += f"  cost {billed * self.price:.2f}"
            if possibly_billed:
                text += f"-{(billed + possibly_billed) * self.price:.2f}"
        quota = self.quota()
        if quota is not None and quota.remaining is not None and quota.limit > 0:
            text += f"  quota left {quota.remaining}"
        return text


class Speedometer:
    """Results per second over the last ``window`` seconds; None until ``settle`` seconds are seen."""

    def __init__(
        self, *, window: float = WINDOW, settle: float = SETTLE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window, self._settle, self._clock = window, settle, clock
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, done: int) -> None:
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()

    def per_second(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        span = max(end, self._clock()) - start
        return (last - first) / span if span >= self._settle else None


def plural(count: int, word: str) -> str:
    """``1 input``, ``2 inputs``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def finished(progress: BatchProgress) -> int:
    """Results with an outcome (ok or failed): inputs a stopping run gave back untried are not done."""
    return progress.done - progress.aborted


def untried(progress: BatchProgress, total: int | None) -> int:
    """Inputs a stopping run has not tried: all those left of ``total`` when it is known (unread
    ones too), else those it had read and gave back."""
    return max(total - finished(progress), 0) if total is not None else progress.aborted


def describe(progress: BatchProgress, *, total: int | None = None, speed: float | None = None,
             money: Money | None = None, early: bool = False) -> str:
    """One line: counts, failures by code, speed, cost, the throttle's current limits, ETA.

    ``early``: the run is ending before its input did (a stop, a signal), so the line says what was
    not tried, as it does whenever inputs were given back untried."""
    total = total if total is not None else progress.total
    done = f"{finished(progress)}/{total}" if total else f"{finished(progress)}"
    failed = " ".join(f"{code}:{n}" for code, n in sorted(progress.failed.items())) or "0"
    throttle = f"{progress.rate:.1f}/s" if progress.rate else "off"
    if progress.concurrency:
        throttle += f" x{progress.concurrency}"
    parts = [f"done {done}", f"ok {progress.ok}", f"failed {failed}"]
    if progress.aborted or early:
        parts.append(f"not yet tried {untried(progress, total)}")
    parts.append(f"{speed:.1f}/s" if speed is not None else "-/s")
    money = money or Money()
    parts.append(money.describe(*money.totals()))
    parts.append(f"throttle {throttle}")
    if total and speed:
        parts.append(f"eta {_duration(max(total - finished(progress), 0) / speed)}")
    return "  ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressReporter:
    """Called after every result; draws at most every ``interval`` seconds."""

    def __init__(
        self, stream: TextIO | None = None, *, interval: float = 2.0, bar: bool | None = None,
        total: int | None = None, money: Money | None = None,
    ) -> None:
        stream = sys.stderr if stream is None else stream  # the one the command runs with, not the one at import
        self._stream = stream
        self._interval = interval
        self.total = total
        """Results expected; the command lowers it when a short link turns out to be done already."""
        self.money = money or Money()
        self._speed = Speedometer()
        self._last = 0.0
        self.last: BatchProgress | None = None
        self.bytes = 0
        self._bytes_started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        self._bytes_task: Any = None
        self._bytes_last = time.monotonic()
        self._shown: tuple[int, int, bool] | None = None
        """What the last plain line showed (results, bytes, whether it said what was not tried): the
        closing line is not printed twice."""
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

    def describe(self, progress: BatchProgress, *, early: bool = False) -> str:
        return describe(progress, total=self.total, speed=self._speed.per_second(), money=self.money, early=early)

    def __call__(self, progress: BatchProgress) -> None:
        self.last = progress
        self._speed.add(finished(progress))
        now = time.monotonic()
        if self._bar is not None:
            if now - self._last >= 0.1:
                self._last = now
                self._bar.update(self._videos_task(), completed=progress.done, total=self.total,
                                 status=self.describe(progress))
            return
        if now - self._last >= self._interval:
            self._last = now
            print(self._plain(progress), file=self._stream, flush=True)

    def _plain(self, progress: BatchProgress, *, early: bool = False) -> str:
        self._shown = (progress.done, self.bytes, early)
        line = self.describe(progress, early=early)
        return f"{line}  {self.describe_bytes()}" if self.bytes else line

    def close(self, progress: BatchProgress | None, *, early: bool = False) -> None:
        """The closing line; ``early``: the run ends before its input did (see ``describe``)."""
        if self._bar is not None:
            if progress is not None:
                self._bar.update(self._videos_task(), completed=progress.done, total=self.total,
                                 status=self.describe(progress, early=early))
            if self._bytes_task is not None:
                self._bar.update(self._bytes_task, completed=self.bytes, status=self.describe_bytes())
            self._bar.stop()
        elif progress is not None:
            if self._shown != (progress.done, self.bytes, early):
                print(self._plain(progress, early=early), file=self._stream, flush=True)
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
