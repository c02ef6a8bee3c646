"""The adaptation to 4008 answers, as a pure policy: told what happened and when, it sets the limits.

AIMD: on a 4008 the learned bound becomes what actually got through in the last second (a
strict window admits exactly its limit, so that is the best estimate of it) and the rate drops
below it; the concurrency drops only when the cap was full, since otherwise the rate was the
cause. Successes raise both additively back towards just below the bound, which itself creeps
up towards the configured ceiling so that a limit that was raised is found again. One burst of
4008s (one window) counts once.
"""

from __future__ import annotations

import math
from collections import deque

_BELOW_BOUND_AFTER_CUT = 0.9
_TARGET_BELOW_BOUND = 0.97
_BOUND_CREEP = 1.0003
_RECOVERY_STEPS = 20
_WINDOW = 1.0
_PROBE_AFTER = 500
_RATE_BINDING = 0.8


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


def _prune(events: deque[float], now: float) -> deque[float]:
    """``events`` without those older than one window."""
    while events and events[0] <= now - _WINDOW:
        events.popleft()
    return events
