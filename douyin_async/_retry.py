"""When to retry and how long to wait: one positive predicate and a capped full-jitter backoff.

4008 answers have their own allowance (``max_rate_limit_retries``) instead of using up
``max_retries``: the throttle has already slowed down, and the call is expected to succeed
once it has, so a brief saturation must not turn into failures. Every other retryable error
(4000, 4001, 4002, 4017, 4009, transport failures) counts against ``max_retries``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from .errors import DouyinError, HTTPStatusError, MaintenanceError, RateLimitError

log = logging.getLogger("douyin_async")

Sleep = Callable[[float], Awaitable[None]]


def should_retry(exc: BaseException) -> bool:
    """True only for our typed errors that are marked retryable; never for cancellation."""
    return isinstance(exc, DouyinError) and exc.retryable


class RetryPolicy:
    """Retry limits and backoff for one client; :meth:`retrying` makes the per-call controller."""

    def __init__(
        self,
        *,
        max_retries: int,
        backoff_initial: float,
        backoff_max: float,
        max_rate_limit_retries: int,
        sleep: Sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if max_retries < 0 or max_rate_limit_retries < 0:
            raise ValueError("retry counts must be >= 0")
        if not 0 <= backoff_initial <= backoff_max:
            raise ValueError("need 0 <= backoff_initial <= backoff_max")
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_rate_limit_retries = max_rate_limit_retries
        self._sleep = sleep
        self._jitter = jitter

    def delay(self, exc: BaseException, failures: int) -> float:
        """Seconds to wait before the next attempt after ``exc``, the ``failures``-th real failure."""
        if isinstance(exc, RateLimitError):
            return self._jitter(0, self.backoff_initial)
        if isinstance(exc, MaintenanceError):
            return self.backoff_max
        if isinstance(exc, HTTPStatusError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** max(failures - 1, 0))
        return self._jitter(0, ceiling)

    def retrying(self, item_id: str) -> AsyncRetrying:
        """A tenacity controller for one call; its counters live only as long as the call."""
        budget = _Budget(self)
        return AsyncRetrying(
            retry=retry_if_exception(should_retry),
            stop=budget.exhausted,
            wait=budget.wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: _log_retry(item_id, state),
        )


class _Budget:
    """Per-call counts of real failures and of 4008s, each against its own limit."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self.failures = 0
        self.rate_limited = 0

    def exhausted(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError):
            self.rate_limited += 1
            return self.rate_limited > self._policy.max_rate_limit_retries
        self.failures += 1
        return self.failures > self._policy.max_retries

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        assert exc is not None
        return self._policy.delay(exc, self.failures)


def _log_retry(item_id: str, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    code = getattr(exc, "code", None) or type(exc).__name__
    log.info(
        "retrying item %s after %s (attempt %d), sleeping %.2fs",
        item_id, code, state.attempt_number, state.upcoming_sleep,
    )
