"""The in-process throttle: a no-burst token bucket plus a cap in flight.

The bucket is aiolimiter's ``AsyncLimiter`` with a capacity of one token (plus a small credit
for late timer wake-ups), so it never bursts, even at start-up. It paces at
``rate * (1 - margin)``: a gateway counting requests per one-second window sees at most ``rate``
of them in any window even when each request's arrival jitters by up to
``margin / (1 - margin)`` seconds (about 20 ms at the default 2%).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from .._checks import check_limits
from .._lifecycle import LoopBound
from ._adaptive import AdaptivePolicy, Ticket
from ._cap import ConcurrencyCap
from ._protocol import DEFAULT_MARGIN, UNLIMITED, Outcome, ThrottleLimits

log = logging.getLogger("douyin_async")

LATENESS_CREDIT = 0.002
"""Seconds of late timer wake-ups the bucket makes up for (a capacity-one bucket loses them)."""


class LocalThrottle:
    """The in-process throttle: shared by every call of one client, so together they stay within both limits.

    >>> client = DouyinClient(throttle=LocalThrottle(rate_limit=10, max_concurrency=3))   # doctest: +SKIP
    """

    def __init__(
        self,
        rate_limit: float | None = 5.0,
        max_concurrency: int | None = 5,
        *,
        margin: float = DEFAULT_MARGIN,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_limits(rate_limit, max_concurrency, margin)
        self.policy = AdaptivePolicy(rate_limit, max_concurrency, margin, start_small=adaptive)
        self._adaptive = adaptive
        self._clock = clock
        self._unlimited = rate_limit is None and max_concurrency is None
        self._in_flight = 0
        self._parts = LoopBound(self._bind, "the throttle's queues", owner="throttle")
        self._limiter: AsyncLimiter | None = None
        self._cap: ConcurrencyCap | None = None
        self._pace = 0.0
        self._last_send = -float("inf")
        self._not_before = -float("inf")

    def _bind(self) -> bool:
        """Build the loop-bound parts on the running loop (again, if the client moved loops)."""
        self._in_flight = 0
        policy = self.policy
        self._limiter = self._new_limiter(policy.pace(policy.rate)) if policy.rate is not None else None
        if policy.concurrency_ceiling is not None:
            self._cap = ConcurrencyCap(policy.concurrency_ceiling)
            self._cap.set_limit(policy.concurrency or policy.concurrency_ceiling)
        return True

    def _new_limiter(self, pace: float) -> AsyncLimiter:
        self._pace = pace
        credit = min(LATENESS_CREDIT * pace, 0.5)
        return AsyncLimiter(1 + credit, (1 + credit) / pace)

    async def acquire(self) -> Ticket:
        """Wait for a slot in flight, then a rate token (outside any pause after a 4008)."""
        if self._unlimited:  # nothing to wait for, nothing to learn: only count
            self._in_flight += 1
            return UNLIMITED
        self._parts.get()
        cap = self._cap
        if cap is not None:
            await cap.acquire()
        try:
            if self._limiter is not None:
                await self._take_token()
        except BaseException:
            if cap is not None:
                cap.release()
            raise
        self._in_flight += 1
        return Ticket(self._clock(), self._in_flight)

    async def _take_token(self) -> None:
        """A token from the current bucket, outside any pause, even if both change meanwhile."""
        while True:
            hold = max(self.policy.paused_until, self._not_before) - self._clock()
            if hold > 0:
                await asyncio.sleep(hold)
                continue
            limiter = self._limiter
            assert limiter is not None
            await limiter.acquire()
            if limiter is self._limiter and self.policy.paused_until <= self._clock():
                break
        self._last_send = now = self._clock()
        if self._adaptive:
            self.policy.on_send(now)

    async def release(self, ticket: Ticket, outcome: Outcome) -> None:
        """Give the slot back, and let the policy learn from ``outcome``."""
        self._in_flight -= 1
        if ticket is UNLIMITED:
            return
        if self._cap is not None:
            self._cap.release()
        if outcome is Outcome.NO_ANSWER:
            return  # nothing learned
        if not self._adaptive:
            self.policy.rate_limited += outcome is Outcome.LIMITED
            return
        if outcome is Outcome.LIMITED:
            self.policy.on_refusal(self._clock(), ticket)
            self._apply()
            log.info("rate limited (4008) with %d in flight; throttle now %s", ticket.in_flight, self.limits)
        else:
            self.policy.on_answer(self._clock(), ticket)
            self._apply()

    def _apply(self) -> None:
        policy = self.policy
        if self._limiter is not None and policy.rate is not None:
            pace = policy.pace(policy.rate)
            if pace != self._pace:
                # Waiters on the old bucket move to the new one; its first token waits one
                # interval of the new pace after the last send, so a change is never a burst.
                self._limiter = self._new_limiter(pace)
                self._not_before = self._last_send + 1 / pace
        if self._cap is not None and policy.concurrency is not None:
            self._cap.set_limit(policy.concurrency)

    @property
    def limits(self) -> ThrottleLimits:
        """The rate and concurrency in force now, their ceilings, and the 4008s seen."""
        policy = self.policy
        return ThrottleLimits(
            rate=policy.rate,
            concurrency=policy.concurrency,
            in_flight=self._in_flight,
            rate_ceiling=policy.rate_ceiling,
            concurrency_ceiling=policy.concurrency_ceiling,
            rate_limited=policy.rate_limited,
        )
