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
import re
from collections.abc import Awaitable, Callable
from email.utils import parsedate_tz
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .._options import RetryOptions
from ..errors import DouyinError, HTTPStatusError, MaintenanceError, RateLimitError

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
    """Retry limits and backoff for one client; ``call`` runs one call under them."""

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
        or the retries are spent.

        The first attempt runs here, outside tenacity: most calls succeed at once, and tenacity's
        per-call set-up costs more than the rest of the client. Only its retryable failure goes on
        to ``_retry``.
        """
        try:
            return await attempt()
        except DouyinError as exc:
            if not should_retry(exc):
                raise
            first = exc
        return await self._retry(first, attempt, label)

    async def _retry(self, first: DouyinError, attempt: Callable[[], Awaitable[T]], label: str) -> T:
        """Go on after ``first``, the retryable failure of the first attempt: tenacity is handed
        it as the outcome of its own first attempt, and decides every wait and stop from there."""
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


# The shapes of the three HTTP-date forms of RFC 9110 section 5.6.7 (names in any case, one or more
# spaces between parts, a numeric zone accepted where IMF-fixdate says GMT); the standard library's
# parser reads the date out of them, but would also take forms HTTP does not allow (EST, no zone).
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_CLOCK = r"[0-9]{2}:[0-9]{2}:[0-9]{2}"
_HTTP_DATE = re.compile(
    rf"{_DAY}, +[0-9]{{2}} +[a-z]{{3}} +[0-9]{{4}} +{_CLOCK} +(?:gmt|utc|ut|[+-](?:[01][0-9]|2[0-3])[0-5][0-9])"
    rf"|(?:mon|tues|wednes|thurs|fri|satur|sun)day, +[0-9]{{2}}-[a-z]{{3}}-(?P<yy>[0-9]{{2}}) +{_CLOCK} +gmt"
    rf"|{_DAY} +[a-z]{{3}} +[0-9]{{1,2}} +{_CLOCK} +[0-9]{{4}}",
    re.IGNORECASE | re.ASCII,
)
_DELTA_SECONDS = re.compile(r"[0-9]+")


def retry_after_seconds(value: str | None, now: Callable[[], dt.datetime] = _utc_now) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, in any form RFC 9110 allows.

    delta-seconds (``120``), IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``, also with
    ``-0000``), and the obsolete RFC 850 (``Sunday, 06-Nov-94 ...``) and asctime
    (``Sun Nov  6 08:49:37 1994``) forms. A date in the past gives 0.0. Anything else (``-5``,
    ``1.5``, ``nan``, ``1e400``, garbage, empty) gives None and one INFO line on the
    ``douyin_async`` logger: never an error, NaN, infinity, or a zero wait by mistake.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(text)  # float() of a long digit string is inf, where int() would raise
        if math.isfinite(seconds):
            return seconds
    else:
        current = now()
        if current.tzinfo is None:
            current = current.replace(tzinfo=dt.timezone.utc)
        when = _http_date(text, current)
        if when is not None:
            return max((when - current).total_seconds(), 0.0)
    shown = value if len(value) <= 100 else value[:100] + "…"
    log.info("ignoring Retry-After %r: neither seconds nor an HTTP date", shown)
    return None


def _http_date(text: str, current: dt.datetime) -> dt.datetime | None:
    """The moment an HTTP-date names, or None when ``text`` is none or names no real moment."""
    shape = _HTTP_DATE.fullmatch(text)
    parts = parsedate_tz(text) if shape is not None else None
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    if shape is not None and shape["yy"] is not None:
        # RFC 9110: a two-digit year more than 50 years ahead is in the past century.
        year = current.year - current.year % 100 + year % 100
        year -= 100 if year > current.year + 50 else 0
    try:
        when = dt.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=dt.timezone.utc)  # 60: leap
    except ValueError:
        return None
    return when - dt.timedelta(seconds=parts[9] or 0)
