"""When to retry and how long to wait: one positive predicate, capped full-jitter backoff, tenacity.

Two tenacity loops, each driven only by its own retry state: the inner one retries 4008s (up to
``rate_limit_retries`` in a row, with a short jittered wait, since the throttle has already
slowed down); the outer one retries every other retryable failure (4000, 4001, 4002, 4017,
4009, transport failures) up to ``max_retries`` times, its n-th wait drawn from
``[0, min(backoff_max, backoff_initial * 2**(n-1))]``. So the waits' ceilings run 0.5, 1, 2, 4, ...
at the defaults, whatever order tenacity evaluates ``wait`` and ``stop`` in.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ._options import RetryOptions
from .errors import DouyinError, HTTPStatusError, MaintenanceError, RateLimitError

log = logging.getLogger("douyin_async")

T = TypeVar("T")


def should_retry(exc: BaseException) -> bool:
    """True only for our typed errors that are marked retryable; never for cancellation."""
    return isinstance(exc, DouyinError) and exc.retryable


def _is_rate_limited(exc: BaseException) -> bool:
    return isinstance(exc, RateLimitError)


def _is_other_retryable(exc: BaseException) -> bool:
    return should_retry(exc) and not isinstance(exc, RateLimitError)


class RetryPolicy:
    """Retry limits and backoff for one client; :meth:`call` runs one call under them."""

    def __init__(
        self,
        *,
        max_retries: int,
        backoff_initial: float,
        backoff_max: float,
        options: RetryOptions,
    ) -> None:
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.options = options
        self._failures = AsyncRetrying(
            retry=retry_if_exception(_is_other_retryable),
            stop=stop_after_attempt(max_retries + 1),
            wait=self._wait,
            sleep=options.sleep,
            reraise=True,
            before_sleep=_log_retry,
        )
        self._rate_limited = AsyncRetrying(
            retry=retry_if_exception(_is_rate_limited),
            stop=stop_after_attempt(options.rate_limit_retries + 1),
            wait=self._wait,
            sleep=options.sleep,
            reraise=True,
            before_sleep=_log_retry,
        )

    def delay(self, exc: BaseException, failures: int) -> float:
        """Seconds to wait after ``exc``, the ``failures``-th failure in a row of its kind."""
        if isinstance(exc, RateLimitError):
            return self.options.jitter(0, self.backoff_initial)
        if isinstance(exc, MaintenanceError):
            return self.backoff_max
        if isinstance(exc, HTTPStatusError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** max(failures - 1, 0))
        return self.options.jitter(0, ceiling)

    def _wait(self, state: RetryCallState) -> float:
        return self.delay(_exception(state), state.attempt_number)

    async def call(self, attempt: Callable[[], Awaitable[T]], label: str) -> T:
        """Run ``attempt`` (for ``label``, as logs name it) until it succeeds, fails for good,
        or the retries are spent."""
        try:
            return await attempt()
        except DouyinError as exc:
            if not should_retry(exc):
                raise
            first = exc
        return await self.retry(first, attempt, label)

    async def retry(self, first: DouyinError, attempt: Callable[[], Awaitable[T]], label: str) -> T:
        """Go on after ``first``, the retryable failure of a first attempt made outside tenacity.

        Most calls succeed at once, and tenacity's per-call set-up costs more than the rest of the
        client, so callers make the first attempt themselves; tenacity is handed its failure as
        the outcome of its own first attempt, and decides every wait and stop from there.
        """
        pending: DouyinError | None = first

        async def replaying_first(label: str) -> T:
            nonlocal pending
            if pending is not None:
                failure, pending = pending, None
                raise failure
            return await attempt()

        async def through_rate_limits(label: str) -> T:
            return await self._rate_limited.copy()(replaying_first, label)

        return await self._failures.copy()(through_rate_limits, label)


def _exception(state: RetryCallState) -> BaseException:
    exc = state.outcome.exception() if state.outcome is not None else None
    assert exc is not None, "tenacity waits only after a failed attempt"
    return exc


def _log_retry(state: RetryCallState) -> None:
    exc = _exception(state)
    code = getattr(exc, "code", None) or type(exc).__name__
    log.info(
        "retrying %s after %s (attempt %d), sleeping %.2fs",
        state.args[0], code, state.attempt_number, state.next_action.sleep if state.next_action else 0.0,
    )


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def retry_after_seconds(value: str | None, now: Callable[[], dt.datetime] = _utc_now) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if parseable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max((when - now()).total_seconds(), 0.0)
