"""What every sink does: take results as they come, commit them from a writer, and keep a run's record.

``write`` appends a result to the spool (a local file: a killed process loses none of it) and
queues it; one writer task takes everything queued, commits it in one transaction, and does it
again. ``write`` waits while a few results per request the watched client may have in flight wait
to be committed, so memory and the spool stay bounded. Each spooled result carries the run's
totals from the client's ledger (``watch``), and each commit writes them to the run's row: the
runs table tells what each run sent and what it cost, a killed run's to its last result.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import msgspec

from .._fanout import BatchResult
from .._ledger import Usage
from ..errors import BatchAbortedError, DouyinError, InvalidParamError, NotFoundError, StorageError, UnexpectedItemError
from ..events import AttemptStarted, Event, listens_to
from ._spool import Leftovers, Spool, SpoolLine
from ._tables import DEFAULT_TABLE, TOTAL_FIELDS, Stored, Tables, failure_row, now, video_row

PERMANENT_ERRORS: tuple[type[DouyinError], ...] = (NotFoundError, InvalidParamError, UnexpectedItemError)
"""Failures another request would only repeat, and pay for again: a rerun does not retry them."""

UNSTORED_PER_REQUEST = 4
"""Results written and not yet committed at most, per request the watched client may have in
flight (its concurrency ceiling, else ``ASSUMED_IN_FLIGHT``); ``write`` waits beyond that, so
memory and the spool stay bounded. One per request would make the batch wait for each commit when
answers come fast: measured, four keep a CPU-bound run as fast as with no bound."""
ASSUMED_IN_FLIGHT = 64
"""Requests taken to be in flight at most when no client is watched or its concurrency is off."""
STALLED = 1.0
"""Seconds a commit may take before ``write`` waits for it: a database that is locked or gone must
not let the batch go on paying for answers it cannot keep."""
TICK = 1.0
"""Seconds between updates of the run's row while no result comes (retries still cost money)."""


class StoredFailure(NamedTuple):
    """A failure the tables hold: its key (an id, ``input:…`` or ``download:ID``) and whether it is
    permanent (a rerun does not retry it unless asked)."""

    key: str
    permanent: bool


class _Flush:
    """A marker in the queue: everything before it is committed when the writer reaches it."""


class Sink:
    """Results stored in a database as they arrive: one row per video, per failure, per run.

    Use it as ``async with`` around a batch, and ``await sink.write(result)`` for each result of
    ``iter_videos``. ``watch(client)`` makes the run's row carry the client's ledger totals.
    """

    def __init__(self, *, table: str = DEFAULT_TABLE, settings: Mapping[str, Any] | None = None) -> None:
        self.tables = Tables.named(table)
        self.settings = dict(settings or {})
        """What the run's row records of how it was run (never credentials)."""
        self.run_id: int | None = None
        self.unfinished: list[tuple[int, int]] = []
        """Earlier runs found unfinished (killed) when this one opened: ``(run_id, calls)``, where
        ``calls`` may have been billed without their answers being stored (in flight when the run
        wrote its last result): their ids are asked again."""
        self.replayed = 0
        """Results that killed runs had written and not committed, stored from their spool by ``open``."""
        self._queue: asyncio.Queue[Stored | _Flush] | None = None
        self._spool: Spool | None = None
        self._unstored = 0
        """Results written and not yet committed: queued, or in the commit under way."""
        self._most_unstored = UNSTORED_PER_REQUEST * ASSUMED_IN_FLIGHT
        self._writer: asyncio.Task[None] | None = None
        self._failed: StorageError | None = None
        self._usage_at_start: Usage | None = None
        self._client: Any = None
        self._counts = {"fetched": 0, "failed": 0}
        """Results of fetches written (spooled) so far: a kill loses none of them."""
        self._started = 0
        """Requests started since ``watch``, as ``on_event`` heard them."""
        self._written_totals: tuple[int, ...] | None = None
        self._closing = False
        """Set when ``close`` stops the writer."""
        self._committing: float | None = None
        """When the commit under way began (``time.monotonic``)."""
        self._progress: asyncio.Event | None = None
        """Set whenever a commit ends, well or not (cleared by whoever waits for it)."""

    # -- the backend's part ---------------------------------------------------------------------

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _prepare(self) -> int:
        """Check the tables (``ForeignStoreError``), create what is missing, add this run's row; its id."""
        raise NotImplementedError

    async def _commit(self, records: list[Stored], totals: dict[str, int], end: str | None) -> None:
        """Commit ``records`` and the run's totals in one transaction; ``end`` is the final status."""
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError

    @property
    def _shown(self) -> str:
        """Where the tables are, as a message may show it (no password)."""
        raise NotImplementedError

    def _at_spool(self, exc: StorageError) -> StorageError:
        """The spool's failure, told as this sink's: it names the tables first, then the spool."""
        return StorageError(f"{self._shown}: {exc}")

    def _spool_place(self) -> tuple[Path, str]:
        """The directory of this sink's spool files and the name they start with (one per tables)."""
        raise NotImplementedError

    def _restore(self, record: Stored) -> Stored:
        """A record read back from the spool, its values as the database takes them."""
        return record

    def _leftovers(self) -> Leftovers:
        """What killed processes left in the spool of these tables, held until replayed (``_prepare``)."""
        return Leftovers(*self._spool_place())

    def _replayed(self, leftovers: Leftovers) -> tuple[list[Stored], dict[int, dict[str, int]], dict[int, int]]:
        """The records of ``leftovers`` in order, each run's totals at its last one, and each run's
        requests started at its last (when the run's client told the sink of each, ``on_event``)."""
        results = leftovers.lines
        totals = {line.run_id: dict(zip(TOTAL_FIELDS, line.totals, strict=True)) for line in results}
        self.replayed = len(results)
        return [self._restore(line.stored()) for line in results], totals, leftovers.started

    @staticmethod
    def _time(seconds: float) -> Any:
        """A time as the database takes it."""
        raise NotImplementedError

    def _wrap(self, exc: BaseException, doing: str) -> StorageError:
        """A backend's failure as a ``StorageError`` whose message holds no secret."""
        return StorageError(f"{doing}: {exc}")

    def _read(self, query: str) -> AsyncIterator[Any]:
        """The rows of ``query``, streamed (none when the tables are not made yet); works before ``open``."""
        raise NotImplementedError

    async def done_ids(self) -> AsyncIterator[str]:
        """The ids of every video the tables hold (streamed: there may be millions)."""
        async for row in self._read(f"SELECT item_id FROM {self.tables.videos}"):
            yield row[0]

    async def failures(self) -> AsyncIterator[StoredFailure]:
        """The failures the tables hold, one per key."""
        async for row in self._read(f"SELECT key, permanent FROM {self.tables.failures}"):
            yield StoredFailure(row[0], bool(row[1]))

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Sink:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        if exc is None:
            status = "done"
        elif isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            status = "interrupted"
        else:
            status = "failed"
        await self.close(status, quiet=exc is not None)

    async def open(self) -> None:
        """Connect, check and create the tables, and start this run's row and the writer."""
        if self._writer is not None:
            return
        self._counts = {"fetched": 0, "failed": 0}
        self._written_totals = None
        try:
            await self._connect()
            self.run_id = await self._prepare()
        except StorageError:
            await self._disconnect()
            raise
        except Exception as exc:
            await self._disconnect()
            raise self._wrap(exc, "cannot open it") from None
        spool = Spool(*self._spool_place())
        try:
            spool.open()
        except StorageError as exc:
            with contextlib.suppress(Exception):
                await self._commit([], self._totals(), "failed")
            await self._disconnect()
            raise self._at_spool(exc) from None
        self._spool = spool
        self._queue = asyncio.Queue()
        self._closing = False
        self._unstored = 0
        self._progress = asyncio.Event()
        self._writer = asyncio.create_task(self._drain())

    def watch(self, client: Any) -> None:
        """Record ``client``'s ledger in the run's row: what it sends from now on, and what it costs."""
        self._client = client
        self._usage_at_start = client.usage
        self._started = 0
        self._most_unstored = UNSTORED_PER_REQUEST * (client.limits.concurrency_ceiling or ASSUMED_IN_FLIGHT)

    async def write(self, result: BatchResult, input: Any = None, *, permanent: bool | None = None) -> None:
        """Store one result of a batch: its video, or its failure (replacing the key's older one).

        A repeat of an earlier id (``duplicate``) and an input the batch never sent are skipped:
        they have nothing of their own to store. ``input`` is what the row quotes (default: the
        result's input); ``permanent`` overrides whether a failure is final (see ``PERMANENT_ERRORS``).
        """
        if result.duplicate or (isinstance(result.error, BatchAbortedError) and not result.attempted):
            return
        text = str(result.input if input is None else input)
        key = result.item_id if result.item_id else f"input:{text}"
        error, run_id, at = result.error, self._run(), self._time(time.time())
        if error is None:
            row = video_row(text, result.response, result.attempts, result.billed, at, run_id)
        else:
            final = isinstance(error, PERMANENT_ERRORS) if permanent is None else permanent
            row = failure_row(key, text, result.item_id, "fetch", error, final, result.attempts, result.billed,
                              result.possibly_billed, at, run_id)
        await self._put(Stored(key, "fetch", error is None, row))

    async def write_download(self, item_id: str, error: BaseException | None) -> None:
        """A video's media: a failure is recorded (to be tried again), a success removes it."""
        key = f"download:{item_id}"
        row = None if error is None else failure_row(key, item_id, item_id, "download", error, False, 0, 0, 0,
                                                    self._time(time.time()), self._run())
        await self._put(Stored(key, "download", error is None, row))

    @listens_to(AttemptStarted)
    def on_event(self, event: Event) -> None:
        """A listener for the watched client (``DouyinClient(on_event=sink.on_event)``): each request
        it starts is written down before it goes, so the run's row after a kill counts every
        request that may have been billed, the last ones included."""
        if not isinstance(event, AttemptStarted) or self._spool is None or self._failed is not None:
            return
        self._started += 1
        self._spool.started(self._run(), self._started)

    def _run(self) -> int:
        if self.run_id is None:
            raise StorageError("the sink is not open: use it as `async with`, or await open() first")
        return self.run_id

    async def _put(self, record: Stored | _Flush) -> None:
        if self._queue is None or self._progress is None or self._spool is None:
            raise StorageError("the sink is not open: use it as `async with`, or await open() first")
        while self._failed is None and (self._unstored >= self._most_unstored or self._stalled()):
            self._progress.clear()
            await self._progress.wait()
        if self._failed is not None:
            raise self._failed
        if isinstance(record, Stored):
            count = "fetched" if record.ok else "failed"
            if record.kind == "fetch":
                self._counts[count] += 1
            try:
                self._spool.append(SpoolLine(0, self._run(), self._snapshot(), record.key, record.kind, record.ok,
                                             record.row))
            except StorageError as exc:
                if record.kind == "fetch":
                    self._counts[count] -= 1
                self._failed = self._at_spool(exc)
                raise self._failed from None
            self._unstored += 1
        self._queue.put_nowait(record)

    def _stalled(self) -> bool:
        """Whether the commit under way has taken so long that the database may be locked or gone."""
        return self._committing is not None and time.monotonic() - self._committing > STALLED

    async def flush(self) -> None:
        """Wait until everything written so far is committed (raises the writer's failure)."""
        if self._queue is not None:
            await self._put(_Flush())
            await self._queue.join()
        if self._failed is not None:
            raise self._failed

    async def close(self, status: str = "done", *, quiet: bool = False) -> None:
        """Commit what is queued, close the run's row with ``status``, and disconnect.

        A failed commit leaves the row ``failed`` when the database still takes the update (else
        ``running``, which the next run reports as killed). ``quiet``: a failure to do so is not
        raised (the caller is ending on another error).
        """
        writer, self._writer = self._writer, None
        failure: StorageError | None = None
        stored = False
        try:
            if writer is not None:
                try:
                    await self.flush()
                    stored = True
                except StorageError as exc:
                    failure, status = exc, "failed"
                    # A commit under way may end first (cancelled, it could leave the connection
                    # unusable for the run's last update), for as long as a commit may take.
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._commit_ended(), STALLED)
                finally:
                    self._closing = True
                    writer.cancel()
                    await asyncio.gather(writer, return_exceptions=True)
                try:
                    await self._commit([], self._totals(), status)
                except Exception as exc:
                    failure = failure or (exc if isinstance(exc, StorageError) else
                                          self._wrap(exc, "cannot close the run"))
        finally:
            self._queue = self._progress = None
            spool, self._spool = self._spool, None
            if spool is not None:  # kept unless every result was committed: the next sink replays it
                spool.close(remove=stored or spool.empty())
            await self._disconnect()
        if failure is not None and not quiet:
            raise failure

    async def _commit_ended(self) -> None:
        while self._committing is not None and self._progress is not None:
            self._progress.clear()
            await self._progress.wait()

    # -- the writer ----------------------------------------------------------------------------

    async def _drain(self) -> None:
        queue, spool = self._queue, self._spool
        assert queue is not None
        assert spool is not None
        while not self._closing:  # besides the cancel: Python 3.10's wait_for may swallow one
            try:
                first = await asyncio.wait_for(queue.get(), TICK)
            except asyncio.TimeoutError:
                batch: list[Stored | _Flush] = []
            else:
                batch = [first]
                while not queue.empty():
                    batch.append(queue.get_nowait())
            records = [record for record in batch if isinstance(record, Stored)]
            try:
                totals = self._totals()
                if self._failed is None and (records or self._changed(totals)):
                    spooled = spool.switch() if records else None  # it holds these records, and no others
                    self._committing = time.monotonic()
                    await self._commit(records, totals, None)
                    self._written_totals = tuple(totals.values())
                    if spooled is not None:
                        spool.clear(spooled)
            except Exception as exc:
                if self._failed is None:
                    self._failed = exc if isinstance(exc, StorageError) else self._wrap(exc, "cannot write it")
            finally:
                self._committing = None
                self._unstored -= len(records)
                if self._progress is not None:
                    self._progress.set()
                for _ in batch:
                    queue.task_done()

    def _changed(self, totals: dict[str, int]) -> bool:
        return tuple(totals.values()) != self._written_totals

    def _totals(self) -> dict[str, int]:
        return dict(zip(TOTAL_FIELDS, self._snapshot(), strict=True))

    def _snapshot(self) -> tuple[int, ...]:
        """The run's totals (``TOTAL_FIELDS``): the watched client's ledger since ``watch``, its
        requests in flight, and the results written."""
        client, start, counts = self._client, self._usage_at_start, self._counts
        if client is None or start is None:
            return (0, 0, 0, 0, 0, 0, 0, counts["fetched"], counts["failed"])
        usage = client.usage
        return (usage.requests - start.requests, usage.billed - start.billed,
                usage.possibly_billed - start.possibly_billed, usage.not_billed - start.not_billed,
                usage.refused - start.refused, usage.retries - start.retries, client.limits.in_flight,
                counts["fetched"], counts["failed"])

    def _run_row(self) -> dict[str, Any]:
        """The first values of this run's row."""
        return {
            "started_at": now(), "status": "running", "host": socket.gethostname(), "pid": os.getpid(),
            **dict.fromkeys(TOTAL_FIELDS, 0), "settings": msgspec.json.encode(self.settings).decode(),
        }
