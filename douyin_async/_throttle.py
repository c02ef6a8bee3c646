"""Client-side throttle: a no-burst token bucket plus a concurrency cap, adapting to 4008.

Every attempt takes a concurrency slot, then a rate token, then sends. The bucket is an
aiolimiter ``AsyncLimiter(1, 1 / rate)``: capacity one, so it never bursts, even at start-up.
It paces at ``rate * (1 - margin)``: a gateway counting requests per one-second window sees
at most ``rate`` of them in any window even when each request's arrival jitters by up to
``margin / (1 - margin)`` seconds (about 20 ms at the default 2%).

Adaptation (AIMD): a 4008 lowers the rate and the concurrency multiplicatively and records the
rate it happened at as the learned bound; successes raise them additively back towards just
below that bound, which itself creeps back up towards the configured ceiling so that a limit
that was raised is found again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

import msgspec
from aiolimiter import AsyncLimiter

DEFAULT_MARGIN = 0.02
_DECREASE = 0.7
_TARGET_BELOW_BOUND = 0.97
_BOUND_CREEP = 1.0003
_RECOVERY_STEPS = 20


class ThrottleLimits(msgspec.Struct, frozen=True):
    """The throttle's current state: ``rate``/``concurrency`` are None when that limit is off."""

    rate: float | None
    concurrency: int | None
    in_flight: int
    rate_ceiling: float | None
    concurrency_ceiling: int | None
    rate_limited: int


class _PacedLimiter(AsyncLimiter):
    """``AsyncLimiter(1, 1 / rate)`` whose rate can change while tasks wait on it."""

    def __init__(self, rate: float) -> None:
        super().__init__(1, 1 / rate)

    def set_rate(self, rate: float) -> None:
        self._leak()
        self.time_period = 1 / rate
        self._rate_per_sec = rate
        self._wake_next()


class _Gate:
    """A FIFO semaphore whose limit can be lowered or raised while tasks wait on it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)


class Throttle:
    """Shared by every call of one client, so concurrent callers together stay within both limits."""

    def __init__(
        self,
        rate_limit: float | None,
        max_concurrency: int | None,
        *,
        margin: float = DEFAULT_MARGIN,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be positive or None")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1 or None")
        if not 0 <= margin < 1:
            raise ValueError("margin must be in [0, 1)")
        self._rate_ceiling = rate_limit
        self._concurrency_ceiling = max_concurrency
        self._margin = margin
        self._adaptive = adaptive
        self._clock = clock
        self._rate = rate_limit
        self._rate_bound = rate_limit
        self._concurrency = max_concurrency
        self._successes_since_raise = 0
        self._cooldown_until = -math.inf
        self._rate_limited = 0
        self._in_flight = 0
        self._limiter = _PacedLimiter(self._pace(rate_limit)) if rate_limit else None
        self._gate = _Gate(max_concurrency) if max_concurrency else None

    def _pace(self, rate: float) -> float:
        return rate * (1 - self._margin)

    async def acquire(self) -> None:
        """Wait for a concurrency slot, then a rate token. Pair with :meth:`release`."""
        if self._gate is not None:
            await self._gate.acquire()
        try:
            if self._limiter is not None:
                await self._limiter.acquire()
        except BaseException:
            if self._gate is not None:
                self._gate.release()
            raise
        self._in_flight += 1

    def release(self) -> None:
        self._in_flight -= 1
        if self._gate is not None:
            self._gate.release()

    @property
    def limits(self) -> ThrottleLimits:
        return ThrottleLimits(
            rate=self._rate,
            concurrency=self._concurrency,
            in_flight=self._in_flight,
            rate_ceiling=self._rate_ceiling,
            concurrency_ceiling=self._concurrency_ceiling,
            rate_limited=self._rate_limited,
        )

    def on_rate_limited(self) -> None:
        """A 4008 came back: back off once per burst of them (one in-flight window)."""
        self._rate_limited += 1
        now = self._clock()
        if not self._adaptive or now < self._cooldown_until:
            return
        self._cooldown_until = now + 1.0
        self._successes_since_raise = 0
        if self._rate is not None and self._limiter is not None:
            self._rate_bound = self._rate
            self._rate = max(self._rate * _DECREASE, 0.01)
            self._limiter.set_rate(self._pace(self._rate))
        if self._concurrency is not None and self._gate is not None:
            busy = max(min(self._concurrency, self._in_flight), 1)
            self._concurrency = max(math.floor(busy * _DECREASE), 1)
            self._gate.set_limit(self._concurrency)

    def on_success(self) -> None:
        """A request got through: climb back towards the learned bound and the ceiling."""
        if not self._adaptive:
            return
        if self._rate is not None and self._rate_bound is not None and self._limiter is not None:
            assert self._rate_ceiling is not None
            self._rate_bound = min(self._rate_bound * _BOUND_CREEP, self._rate_ceiling)
            target = min(self._rate_bound * _TARGET_BELOW_BOUND, self._rate_ceiling)
            if self._rate_bound >= self._rate_ceiling:
                target = self._rate_ceiling
            if self._rate < target:
                step = self._rate_ceiling / _RECOVERY_STEPS
                self._rate = min(self._rate + step / max(self._rate, 1.0), target)
                self._limiter.set_rate(self._pace(self._rate))
        if self._concurrency is not None and self._gate is not None:
            assert self._concurrency_ceiling is not None
            self._successes_since_raise += 1
            if (
                self._concurrency < self._concurrency_ceiling
                and self._successes_since_raise >= self._concurrency
            ):
                self._successes_since_raise = 0
                self._concurrency += 1
                self._gate.set_limit(self._concurrency)
