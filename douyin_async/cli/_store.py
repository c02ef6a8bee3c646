"""The batch command's journal when OUT is a database (SQLite, or PostgreSQL): the sink's tables
are its memory between runs.

It answers the batch as the file journal does (which ids are done, which failed for good) from
the tables, and writes each result through the sink: a video, or the key's failure. A SQLite OUT
is locked while a run writes it, as a file OUT is; PostgreSQL tables are meant to be shared by
runs on many machines, each on its own part of a list.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from .. import BatchResult, DouyinClient
from ..events import Listener
from ..sinks import PostgresSink, Sink, SQLiteSink
from ._checks import shown
from ._journal import PERMANENT_ERRORS, Journal, failure_key
from ._keys import KeySet
from ._output import Output, quoted_input

_SETTINGS = ("input", "rate", "concurrency", "retries", "timeout", "max_billed", "price", "retry_failed", "download",
             "kinds", "watermark", "emulator", "lang", "table")
_URLS = ("output", "base_url", "redis")


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """What the runs table records of a command: its options, URLs masked, never a key or secret."""
    settings = {name: getattr(args, name) for name in _SETTINGS if getattr(args, name, None) is not None}
    for name in _URLS:
        value = getattr(args, name, None)
        if value:
            settings[name] = shown(str(value))
    return {name: list(value) if isinstance(value, tuple) else value for name, value in settings.items()}


def sink_for(args: argparse.Namespace) -> Sink:
    settings = settings_of(args)
    if args.format == "postgres":
        return PostgresSink(args.output_url, table=args.table, settings=settings)
    return SQLiteSink(args.output_path, table=args.table, settings=settings)


class StoreJournal:
    """What the tables say is done or failed for good; stores this run's results through ``sink``."""

    earlier_errors: ClassVar[list[Path]] = []
    """Errors files of earlier runs: a database keeps its failures in its table."""

    def __init__(self, sink: Sink, lock_path: Path | None) -> None:
        self.sink, self._lock_path = sink, lock_path
        self.done, self.failures, self.permanent = KeySet(), KeySet(), KeySet()
        self._seen: tuple[int, int] | None = None

    async def load(self) -> None:
        """Read what the tables hold (without changing them): what is done, and what failed for good."""
        self.done.clear()
        self.failures.clear()
        self.permanent.clear()
        self._seen = self._stamp()
        async for item_id in self.sink.done_ids():
            self.done.add(item_id)
        async for failure in self.sink.failures():
            if failure.key not in self.done:
                self.failures.add(failure.key)
                if failure.permanent:
                    self.permanent.add(failure.key)

    def _stamp(self) -> tuple[int, int] | None:
        """The SQLite file's size and time: changed when another run wrote it since ``load``."""
        if self._lock_path is None:
            return None
        try:
            wal = Path(f"{self._lock_path}-wal")
            stats = [os.stat(path) for path in (self._lock_path, wal) if path.exists()]
        except OSError:
            return None
        return sum(stat.st_size for stat in stats), max((stat.st_mtime_ns for stat in stats), default=0)

    async def open(self) -> bool:
        """Make the tables and this run's row (a SQLite sink locks its file); True when OUT changed
        since ``load`` (another run wrote it in between, or a killed run's spool was stored)."""
        changed = self._stamp() != self._seen
        await self.sink.open()
        changed = changed or self.sink.replayed > 0
        if changed:
            await self.load()
        return changed

    def watch(self, client: DouyinClient) -> None:
        self.sink.watch(client)

    @property
    def listener(self) -> Listener:
        """Heard by the client: each request is written down before it goes (``Sink.on_event``)."""
        return self.sink.on_event

    @property
    def unfinished(self) -> list[tuple[int, int]]:
        return self.sink.unfinished

    async def write(self, result: BatchResult, input_text: Any) -> None:
        key = failure_key(result.item_id, input_text)
        error = result.error
        await self.sink.write(result, quoted_input(input_text), permanent=isinstance(error, PERMANENT_ERRORS))
        if error is None:
            if result.item_id:
                self.done.add(result.item_id)
            self.failures.discard(key)
            return
        self.failures.add(key)
        (self.permanent.add if isinstance(error, PERMANENT_ERRORS) else self.permanent.discard)(key)

    async def write_download(self, item_id: str, error: Exception | None) -> None:
        key = f"download:{item_id}"
        await self.sink.write_download(item_id, error)
        (self.failures.discard if error is None else self.failures.add)(key)

    async def failed_downloads(self) -> AsyncIterator[str]:
        """Ids whose media download failed on an earlier run, as the tables hold them when asked."""
        await self.sink.flush()
        keys = [failure.key async for failure in self.sink.failures() if failure.key.startswith("download:")]
        for key in keys:
            if key in self.failures:
                yield key.removeprefix("download:")

    async def commit(self, status: str) -> None:
        """Commit what is queued, end the run's row with ``status``, and let OUT go."""
        await self.sink.close(status, quiet=status != "done")

    async def close(self, status: str = "done") -> None:
        await self.commit(status)


AnyJournal = Journal | StoreJournal
"""What OUT is to a batch: files (JSON lines, CSV) or a database's tables."""


def journal_for(args: argparse.Namespace) -> AnyJournal:
    """OUT's journal: a database's tables, or the line files (OUT and the errors file)."""
    if args.format in ("sqlite", "postgres"):
        return StoreJournal(sink_for(args), args.output_path if args.format == "sqlite" else None)
    return Journal(args.output_path, args.errors_path, Output(args.format))
