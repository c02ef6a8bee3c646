"""Batch fan-out: bounded, complete, ordered or not, stopping on fatal account errors.

One reader task pulls the input lazily; a fixed pool of workers fetches. The reader takes a slot
of the read-ahead window for every input and the slot comes back only when that input's result
has been yielded, so tasks, memory and read-ahead are bounded by the window whatever the input's
length, and a slow consumer holds the reader back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._call._billing import Charge
from ._ledger import Ledger, listeners_of
from ._throttle._protocol import ThrottleLimits
from ._wire._models import ItemGetVideoResponse
from ._wire._quota import Quota
from .errors import BatchAbortedError, BatchStoppedError, BudgetExhaustedError, DouyinError
from .events import Listener

log = logging.getLogger("douyin_async")

Ids = Iterable[Any] | AsyncIterable[Any]
ProgressCallback = Callable[["BatchProgress"], None]
Resolver = Callable[[Any], Awaitable[str]]
Parser = Callable[[Any], "str | Resolver"]


class Fetcher(Protocol):
    """What a batch needs from a client: fetch one id, and tell the limits and the key's quota."""

    async def fetch(
        self,
        item_id: object,
        cache: bool | None = None,
        lang: str | None = None,
        before_send: Callable[[], None] | None = None,
        after_send: Callable[[Charge], None] | None = None,
        ledger: Ledger | None = None,
    ) -> ItemGetVideoResponse:
        """Fetch a normalised id; ``before_send`` runs before every attempt and may raise to stop it,
        ``after_send`` is told the charge of every attempt sent, which ``ledger`` records."""
        ...

    @property
    def ledger(self) -> Ledger:
        """The client's record of every attempt; a batch's ledger passes its records up to it."""
        ...

    @property
    def limits(self) -> ThrottleLimits: ...

    @property
    def quota(self) -> Quota | None: ...

    def redact(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome for one input: exactly one per input, ``response`` or ``error``."""

    input: Any
    item_id: str | None
    response: ItemGetVideoResponse | None
    error: DouyinError | None
    attempts: int
    index: int
    duplicate: bool = False
    """True when this input repeated an earlier id and shares its fetch."""
    billed: int = 0
    """Answers to this input's fetch that the gateway billed (0 for a duplicate)."""
    possibly_billed: int = 0
    """Requests of this input's fetch sent without an answer that could be read: maybe billed."""

    @property
    def ok(self) -> bool:
        """Whether a response came back (``error`` is None)."""
        return self.error is None

    @property
    def attempted(self) -> bool:
        """Whether the gateway was asked for this id (by this input, or by the one it repeats).

        False for unparsable inputs and for those a fatal stop reached before they were sent.
        """
        if self.item_id is None:
            return False
        if isinstance(self.error, BatchAbortedError):
            return self.error.attempts > 0
        return True


@dataclass
class BatchProgress:
    """Live counters of a running batch, handed to the ``progress`` callback after every result."""

    total: int | None = None
    done: int = 0
    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    aborted: int = 0
    in_flight: int = 0
    """Requests sent and not yet answered."""
    billed: int = 0
    """Answers the gateway billed (0000, 2000)."""
    possibly_billed: int = 0
    """Requests sent whose answer could not be read (resets, timeouts, cut bodies): maybe billed."""
    rate: float | None = None
    concurrency: int | None = None
    started: float = field(default_factory=time.monotonic)
    stopped_by: DouyinError | None = None

    @property
    def charged(self) -> int:
        """Calls that were or may have been billed: what a budget must count."""
        return self.billed + self.possibly_billed

    @property
    def elapsed(self) -> float:
        """Seconds since the batch started."""
        return time.monotonic() - self.started

    @property
    def per_second(self) -> float:
        """Results per second since the start."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(slots=True)
class _Job:
    index: int
    input: Any
    item_id: str | None
    resolve: Resolver | None = None


class BatchRun:
    """One batch over one client; iterate it once."""

    def __init__(
        self,
        fetcher: Fetcher,
        ids: Ids,
        *,
        parse: Parser,
        cache: bool | None,
        lang: str | None,
        ordered: bool,
        concurrency: int | None,
        max_billed_calls: int | None,
        respect_quota: bool,
        dedupe: int,
        progress: ProgressCallback | None,
        stop: asyncio.Event | None = None,
        on_event: Listener | Iterable[Listener] | None = None,
        read_ahead: int | None = None,
    ) -> None:
        self._fetcher = fetcher
        self.ledger = Ledger(parent=fetcher.ledger, listeners=listeners_of(on_event))
        """This batch's record of its attempts (and the events of this batch only)."""
        self._ids = ids
        self._parse = parse
        self._cache, self._lang = cache, lang
        self._ordered = ordered
        self._workers_count = concurrency or fetcher.limits.concurrency_ceiling or 32
        self._window = read_ahead or max(64, self._workers_count * 8)
        self._max_billed = max_billed_calls
        self._respect_quota = respect_quota
        self._dedupe = dedupe
        self._on_progress = progress
        self._stop_event = stop
        self.progress = BatchProgress(total=len(ids) if hasattr(ids, "__len__") else None)  # type: ignore[arg-type]
        self._yielded = 0
        self._space = asyncio.Event()
        """Set when the consumer frees a slot of the read-ahead window while the reader waits for one."""
        self._reader_waits = False
        self._jobs: deque[_Job] = deque()
        """Jobs read and not yet taken: at most one per worker."""
        self._idle: deque[asyncio.Future[None]] = deque()
        """Workers waiting for a job, woken one per job."""
        self._room = asyncio.Event()
        """Set once the jobs are down to half: the reader refills them in bursts, not job by job."""
        self._refilling = False
        """Whether the reader waits for ``_room``."""
        self._ready: deque[BatchResult] = deque()
        self._pending: dict[int, BatchResult] = {}
        self._changed = asyncio.Event()
        self._next_index = 0
        self._read = 0
        self._reader_done = False
        self._failure: BaseException | None = None
        self._abort: DouyinError | None = None
        self._waiting: dict[str, list[_Job] | None] = {}
        """Ids in flight, each with the duplicates that wait for it (None until one does)."""
        self._recent: dict[str, BatchResult] = {}
        self._recent_ids: deque[str] = deque()
        """The ids of ``_recent`` in the order they came: the first goes when there are too many."""

    # -- the consumer side ---------------------------------------------------------------------

    async def __aiter__(self) -> AsyncGenerator[BatchResult, None]:
        tasks = [asyncio.create_task(self._reader(), name="douyin-batch-reader")]
        tasks += [
            asyncio.create_task(self._worker(), name=f"douyin-batch-worker-{n}")
            for n in range(self._workers_count)
        ]
        progress = self.progress
        try:
            while True:
                result = self._take()
                if result is not None:
                    self._yielded += 1
                    if self._reader_waits:
                        self._space.set()
                    progress.done += 1
                    if result.error is None:
                        progress.ok += 1
                    else:
                        self._count_failure(result.error)
                    if self._on_progress is not None:
                        # Called here, in the consumer's task: if it raises, the batch stops
                        # and the caller gets that exception, instead of a worker dying silently.
                        limits = self._fetcher.limits
                        progress.rate, progress.concurrency = limits.rate, limits.concurrency
                        self._on_progress(progress)
                    yield result
                    continue
                if self._failure is not None:
                    raise self._failure
                if self._reader_done and self._yielded == self._read:
                    return
                self._changed.clear()
                await self._changed.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _take(self) -> BatchResult | None:
        if self._ordered:
            result = self._pending.pop(self._next_index, None)
            if result is not None:
                self._next_index += 1
            return result
        return self._ready.popleft() if self._ready else None

    def _count_failure(self, error: DouyinError) -> None:
        if isinstance(error, BatchAbortedError):
            self.progress.aborted += 1
        else:
            self.progress.failed[error.code or type(error).__name__] += 1

    def _emit(self, result: BatchResult) -> None:
        if self._ordered:
            self._pending[result.index] = result
        else:
            self._ready.append(result)
        self._changed.set()

    # -- the reader ---------------------------------------------------------------------------

    async def _reader(self) -> None:
        try:
            ids = self._ids
            source = aiter(ids) if isinstance(ids, AsyncIterable) else None
            values = iter(ids) if source is None else iter(())  # type: ignore[arg-type]
            while True:
                # A plain iterable is read without an await: no coroutine step per input.
                value = next(values, _END) if source is None else await anext(source, _END)
                if value is _END:
                    break
                while self._read - self._yielded >= self._window:  # every slot taken: wait for one
                    self._reader_waits = True
                    self._space.clear()
                    await self._space.wait()
                self._reader_waits = False
                if self._stopped_by_caller():
                    break  # the caller stopped the batch: the rest of the input stays unread
                job = _Job(self._read, value, None)
                self._read += 1
                try:
                    parsed = self._parse(value)
                except Exception as exc:  # one input's failure, whatever it is, is its result
                    self._emit(BatchResult(value, None, None, self._as_error(exc, job.index), 0, job.index))
                    continue
                if isinstance(parsed, str):
                    job.item_id = parsed
                else:
                    job.resolve = parsed
                if self._abort is not None:
                    self._emit(self._aborted(job))
                    continue
                if len(self._jobs) >= self._workers_count:
                    self._room.clear()
                    self._refilling = True
                    await self._room.wait()
                self._put(job)
            if self.progress.total is None:
                self.progress.total = self._read
        except Exception as exc:  # the input itself failed: not a per-id error
            self._failure = exc
        finally:
            self._reader_done = True
            self._changed.set()

    # -- the workers ---------------------------------------------------------------------------

    async def _worker(self) -> None:
        """Runs until cancelled: the consumer cancels the pool once every input has its result."""
        while True:
            jobs = self._jobs
            job = jobs.popleft() if jobs else await self._next_job()
            if self._refilling and len(jobs) <= self._workers_count // 2:
                self._refilling = False
                self._room.set()
            try:
                if job.resolve is not None and not await self._resolved(job):
                    continue
                if self._abort is not None:
                    self._emit(self._aborted(job))
                elif not self._claim(job):
                    await self._fetch(job)
            except Exception as exc:  # a bug of ours: the consumer raises it rather than wait forever
                self._failure = exc
                self._changed.set()
                return

    def _put(self, job: _Job) -> None:
        self._jobs.append(job)
        self._wake_one()

    def _wake_one(self) -> None:
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _next_job(self) -> _Job:
        """The next job, once the reader has put one: a worker waits here only when there is none.

        A plain deque and one future per waiting worker: an ``asyncio.Queue`` costs a dozen calls
        per job, and most jobs are taken without waiting.
        """
        jobs = self._jobs
        while not jobs:
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and jobs:
                    self._wake_one()  # the wake it was given goes to another worker
                raise
        return jobs.popleft()

    async def _resolved(self, job: _Job) -> bool:
        """Look the input's id up (a short link); on failure its error is its result (False)."""
        assert job.resolve is not None
        try:
            job.item_id = await job.resolve(job.input)
        except Exception as exc:  # one input's failure is its result
            self._emit(BatchResult(job.input, None, None, self._as_error(exc, job.index), 0, job.index))
            return False
        return True

    def _as_error(self, exc: Exception, index: int) -> DouyinError:
        """``exc`` as one input's typed error: itself if it is ours, else wrapped and logged."""
        if isinstance(exc, DouyinError):
            return exc
        error = DouyinError(f"unexpected {type(exc).__name__}: {self._fetcher.redact(str(exc))}")
        log.error("unexpected error for input %d: %s", index, error)
        return error

    def _claim(self, job: _Job) -> bool:
        """Attach a duplicate to its original's fetch (or copy a recent result); True if handled."""
        item_id = job.item_id
        assert item_id is not None
        if item_id in self._waiting:
            duplicates = self._waiting[item_id]
            if duplicates is None:
                self._waiting[item_id] = [job]
            else:
                duplicates.append(job)
            return True
        earlier = self._recent.get(item_id)
        if earlier is not None:
            self._emit(self._share(earlier, job))
            return True
        self._waiting[item_id] = None
        return False

    def _stopped_by_caller(self) -> bool:
        if self._stop_event is not None and self._stop_event.is_set() and self._abort is None:
            self._stop(BatchStoppedError("stopped by the caller"))
        return self._stop_event is not None and self._stop_event.is_set()

    def _before_send(self) -> None:
        """Every attempt: stop if the batch has stopped, or if this one could exceed a budget."""
        if self._stop_event is not None:
            self._stopped_by_caller()
        if self._abort is not None:
            raise BatchAbortedError(self._abort)
        self._check_budget()
        self.progress.in_flight += 1

    def _after_send(self, charge: Charge) -> None:
        """An attempt was sent and recorded: the progress reads its counts from the batch's ledger."""
        progress, ledger = self.progress, self.ledger
        progress.in_flight -= 1
        progress.billed, progress.possibly_billed = ledger.billed, ledger.possibly_billed

    async def _fetch(self, job: _Job) -> None:
        assert job.item_id is not None
        response: ItemGetVideoResponse | None = None
        error: DouyinError | None = None
        try:
            response = await self._fetcher.fetch(
                job.item_id, self._cache, self._lang, self._before_send, self._after_send, self.ledger
            )
        except Exception as exc:  # a bug must not lose the id: it is its error
            error = self._as_error(exc, job.index)
        if error is not None and error.fatal and self._abort is None:
            self._stop(error)
        if response is not None:
            attempts, billed, possibly_billed = response.attempts, 1, response.possibly_billed
        else:
            assert error is not None
            attempts, billed, possibly_billed = error.attempts, error.billed, error.possibly_billed
        result = BatchResult(job.input, job.item_id, response, error, attempts, job.index, False,
                             billed, possibly_billed)
        self._emit(result)
        for duplicate in self._waiting.pop(job.item_id) or ():
            self._emit(self._share(result, duplicate))
        if self._dedupe > 0:
            self._recent[job.item_id] = result  # never there already: a recent id is not fetched again
            self._recent_ids.append(job.item_id)
            if len(self._recent_ids) > self._dedupe:
                del self._recent[self._recent_ids.popleft()]

    def _check_budget(self) -> None:
        """Stop before a send that could exceed the caller's charge limit or the key's quota.

        Billed, possibly billed and in-flight requests all count: each may cost a call.
        """
        progress = self.progress
        committed = progress.billed + progress.possibly_billed + progress.in_flight
        if self._max_billed is not None and committed >= self._max_billed:
            self._stop(BudgetExhaustedError(f"max_billed_calls={self._max_billed} reached"))
        quota = self._fetcher.quota if self._respect_quota else None
        if self._abort is None and quota is not None:
            # Without a count from the gateway, the limit still holds over what this batch spent.
            used = committed if quota.used is None else quota.used + progress.in_flight
            if used >= quota.limit:
                self._stop(BudgetExhaustedError(f"daily quota reached ({quota.used}/{quota.limit})"))
        if self._abort is not None:
            raise BatchAbortedError(self._abort)

    def _stop(self, cause: DouyinError) -> None:
        self._abort = cause
        self.progress.stopped_by = cause
        log.warning("batch stopped: %s", cause)

    def _aborted(self, job: _Job) -> BatchResult:
        assert self._abort is not None
        return BatchResult(job.input, job.item_id, None, BatchAbortedError(self._abort), 0, job.index)

    @staticmethod
    def _share(result: BatchResult, job: _Job) -> BatchResult:
        return BatchResult(job.input, job.item_id, result.response, result.error, 0, job.index, True)


class BatchIterator(AsyncGenerator[BatchResult, None]):
    """What ``iter_videos`` returns: an async generator of results that is also an async context
    manager. Leaving ``async with`` (or calling ``aclose()``) stops the batch at once: nothing more
    is sent. A ``break`` out of a bare ``async for`` leaves the batch running until the generator
    is collected, sending up to its read-ahead window (``read_ahead``, by default ``max(64, 8 × workers)`` requests).
    """

    __slots__ = ("_results",)

    def __init__(self, results: AsyncGenerator[BatchResult, None]) -> None:
        self._results = results

    def __anext__(self) -> Coroutine[Any, Any, BatchResult]:
        return self._results.__anext__()

    def asend(self, value: None) -> Coroutine[Any, Any, BatchResult]:
        return self._results.asend(value)

    def athrow(self, *args: Any) -> Coroutine[Any, Any, BatchResult]:
        return self._results.athrow(*args)

    def aclose(self) -> Coroutine[Any, Any, None]:
        return self._results.aclose()

    async def __aenter__(self) -> BatchIterator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._results.aclose()


_END = object()
"""The end of the input."""

