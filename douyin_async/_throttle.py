"""Client-side throttle: a no-burst token bucket plus a concurrency cap, adapting to 4008.

Every attempt takes a concurrency slot, then a rate token, then sends. The bucket is an
aiolimiter ``AsyncLimiter(1, 1 / rate)``: capacity one, so it never bursts, even at start-up.
It paces at ``rate * (1 - margin)``: a gateway counting requests per one-second window sees
at most ``rate`` of them in any window even when each request's arrival jitters by up to
``margin / (1 - margin)`` seconds (about 20 ms at the default 2%).

Adaptation (AIMD): on a 4008 the learned bound becomes what actually got through in the last
second (a strict window admits exactly its limit, so that is the best estimate of it) and the rate
drops below it; the concurrency drops only when the gate was full, since otherwise the rate was the
cause. Successes raise both additively back towards just below the bound, which itself creeps
up towards the configured ceiling so that a limit that was raised is found again. One burst of
4008s (one window) counts once.
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
LATENESS_CREDIT = 0.002
_BELOW_BOUND_AFTER_CUT = 0.9
_TARGET_BELOW_BOUND = 0.97
_BOUND_CREEP = 1.0003
_RECOVERY_STEPS = 20
_WINDOW = 1.0
_PROBE_AFTER = 500
_RATE_BINDING = 0.8


class ThrottleLimits(msgspec.Struct, frozen=True):
    """The throttle's current state: ``rate``/``concurrency`` are None when that limit is off."""

    rate: float | None
    concurrency: int | None
    in_flight: int
    rate_ceiling: float | None
    concurrency_ceiling: int | None
    rate_limited: int


class _PacedLimiter(AsyncLimiter):
    """``AsyncLimiter(1, 1 / rate)`` whose rate can change while tasks wait on it.

    A bucket of capacity one loses, for good, every moment a waiter is woken late; at 50/s that
    was 3% of the rate. So the level may fall ``LATENESS_CREDIT`` seconds' worth below empty:
    late wake-ups are made up, and no window can gain more than that much (2 ms of a 20 ms margin).
    """

    def __init__(self, rate: float) -> None:
        super().__init__(1, 1 / rate)
        self.rate = rate

    def _leak(self) -> None:
        now = self._loop.time()
        elapsed = now - self._last_check
        self._level = max(self._level - elapsed * self._rate_per_sec, -LATENESS_CREDIT * self._rate_per_sec)
        self._last_check = now

    def set_rate(self, rate: float) -> None:
        self.rate = rate
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


class AimdPolicy:
    """The adaptation rules, pure: told what happened and when, it decides the limits."""

    def __init__(self, rate_ceiling: float | None, concurrency_ceiling: int | None, margin: float) -> None:
        self.rate_ceiling = rate_ceiling
        self.concurrency_ceiling = concurrency_ceiling
        self.margin = margin
        self.rate = rate_ceiling
        self.concurrency = concurrency_ceiling
        self.paused_until = -math.inf
        self.rate_limited = 0
        self._rate_bound = rate_ceiling
        self._concurrency_bound = concurrency_ceiling
        self._successes_since_raise = 0
        self._cooldown_until = -math.inf
        self._first_send: float | None = None
        self._recent_successes: deque[float] = deque()
        self._recent_sends: deque[float] = deque()

    def pace(self, rate: float) -> float:
        """The rate actually paced at: ``rate`` less the safety margin."""
        return rate * (1 - self.margin)

    def on_send(self, now: float) -> None:
        if self._first_send is None:
            self._first_send = now
        _prune(self._recent_sends, now).append(now)

    def on_rate_limited(self, now: float, others_in_flight: int) -> None:
        """A 4008: cut whichever limit was the cause, once per burst of them (one window)."""
        self.rate_limited += 1
        if now < self._cooldown_until:
            return
        self._cooldown_until = now + _WINDOW
        self._successes_since_raise = 0
        # Our rate was the constraint if we sent at (near) our pace, or a pause held us back.
        sent = self._per_second(self._recent_sends, now)
        rate_bound = self.rate is not None and (
            sent >= _RATE_BINDING * self.pace(self.rate) or self.paused_until > now - _WINDOW
        )
        if self.concurrency is not None and not rate_bound and others_in_flight:
            # Refused below our own pace with others in flight: the gateway's cap on requests in
            # flight is the limit, and it is below what was in flight (this request included).
            self.concurrency = self._concurrency_bound = others_in_flight
        elif self.rate is not None:
            got_through = self._per_second(self._recent_successes, now)
            self._rate_bound = min(self.rate, max(got_through, self.rate * 0.5, 0.01))
            self.rate = self._rate_bound * _BELOW_BOUND_AFTER_CUT
            # The gateway's window stays full until its oldest admitted request ages out.
            if self._recent_successes:
                self.paused_until = self._recent_successes[0] + _WINDOW

    def on_success(self, now: float) -> None:
        """A request got through: climb back towards the learned bounds and the ceilings."""
        if self.rate is not None and self._rate_bound is not None and self.rate_ceiling is not None:
            _prune(self._recent_successes, now).append(now)
            self._rate_bound = min(self._rate_bound * _BOUND_CREEP, self.rate_ceiling)
            at_ceiling = self._rate_bound >= self.rate_ceiling
            target = self.rate_ceiling if at_ceiling else self._rate_bound * _TARGET_BELOW_BOUND
            if self.rate < target:
                step = self.rate_ceiling / _RECOVERY_STEPS
                self.rate = min(self.rate + step / max(self.rate, 1.0), target)
        if self.concurrency is not None and self._concurrency_bound is not None:
            assert self.concurrency_ceiling is not None
            self._successes_since_raise += 1
            # Below the learned bound: +1 per window of successes. At it: probe +1 only rarely.
            needed = self.concurrency if self.concurrency < self._concurrency_bound else _PROBE_AFTER
            if self.concurrency < self.concurrency_ceiling and self._successes_since_raise >= needed:
                self._successes_since_raise = 0
                self.concurrency += 1
                self._concurrency_bound = max(self._concurrency_bound, self.concurrency)

    def _per_second(self, events: deque[float], now: float) -> float:
        """Events per second over the last window (or since the first send, if sooner)."""
        span = min(_WINDOW, now - self._first_send) if self._first_send is not None else 0.0
        return len(_prune(events, now)) / span if span > 0 else 0.0


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
        self.policy = AimdPolicy(rate_limit, max_concurrency, margin)
        self._adaptive = adaptive
        self._clock = clock
        self._in_flight = 0
        self._limiter = _PacedLimiter(self.policy.pace(rate_limit)) if rate_limit else None
        self._gate = _Gate(max_concurrency) if max_concurrency else None

    async def acquire(self) -> None:
        """Wait for a concurrency slot, then a rate token. Pair with :meth:`release`."""
        if self._gate is not None:
            await self._gate.acquire()
        try:
            if self._limiter is not None:
                pause = self.policy.paused_until - self._clock()
                if pause > 0:
                    await asyncio.sleep(pause)
                await self._limiter.acquire()
        except BaseException:
            if self._gate is not None:
                self._gate.release()
            raise
        self._in_flight += 1
        if self._adaptive and self._limiter is not None:
            self.policy.on_send(self._clock())

    def release(self) -> None:
        self._in_flight -= 1
        if self._gate is not None:
            self._gate.release()

    @property
    def limits(self) -> ThrottleLimits:
        policy = self.policy
        return ThrottleLimits(
            rate=policy.rate,
            concurrency=policy.concurrency,
            in_flight=self._in_flight,
            rate_ceiling=policy.rate_ceiling,
            concurrency_ceiling=policy.concurrency_ceiling,
            rate_limited=policy.rate_limited,
        )

    def on_rate_limited(self) -> None:
        """A 4008 came back (its slot already released)."""
        if self._adaptive:
            self.policy.on_rate_limited(self._clock(), self._in_flight)
            self._apply()
        else:
            self.policy.rate_limited += 1

    def on_success(self) -> None:
        """Any answer other than 4008 came back."""
        if self._adaptive:
            self.policy.on_success(self._clock())
            self._apply()

    def _apply(self) -> None:
        policy = self.policy
        if self._limiter is not None and policy.rate is not None:
            pace = policy.pace(policy.rate)
            if pace != self._limiter.rate:
                self._limiter.set_rate(pace)
        if self._gate is not None and policy.concurrency is not None:
            self._gate.set_limit(policy.concurrency)


def _prune(events: deque[float], now: float) -> deque[float]:
    """``events`` without those older than one window."""
    while events and events[0] <= now - _WINDOW:
        events.popleft()
    return events
