"""How 4008 answers move the limits: a pure policy, told what happened and when.

The gateway's 4008 says 并发已达上限, too many requests in flight, and real answers take seconds,
so the cap in flight is the limit a client meets first. The policy treats a 4008 as "too many in
flight" unless the evidence says rate (below).

- **Concurrency**, like TCP's window: start at two and grow by one per answer (slow start) until
  the first refusal; a refusal with *k* in flight (itself included) proves room for at most
  *k - 1*, so the window drops there at once, within the round trip. At the learned bound it
  probes one higher only after ``PROBE_AFTER`` clean answers; each probe that holds halves that
  wait, so a cap that grew (another user of the key stopped) is found again quickly, while a cap
  that did not costs one 4008 per ``PROBE_AFTER`` answers. Answers that came back with more in
  flight than the learned bound (sent before a cut) raise it, but only every ``RAISE_AFTER``-th
  such answer since the last cut, probe or raise: a count of requests in flight lags the
  gateway's by a release or two, across processes most, so one such answer proves little.
- **Which limit**: a refusal with more in flight than recently succeeded is the cap. One with
  no more in flight is the rate if we were sending at our pace; if we were not, the first such
  refusal in a window is taken for the cap (counts in flight are noisy), and a second one within
  the same window says rate: the cut the first one made to the window is undone. Without that,
  a per-second cap given a rate twice too high read as a cascade of window cuts down to one in flight.
- **Rate**: a refusal for the rate sets the bound to the accepted count of the last window (a
  strict window admits exactly its limit, so that count is the measurement), settles the rate
  just under it and pauses until the gateway's window has emptied. After ``RATE_HOLD`` clean
  seconds it probes: the bound rises by ``RATE_PROBE_STEP`` of itself, and each probe that holds
  for a window doubles the next step, up to the ceiling; a refusal cuts back to the measurement
  and starts the steps small again. So a rate that did not move costs one short burst of 4008s
  per few seconds, and a rate that grew (another user of the key stopped) is found within a few
  seconds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

INITIAL_WINDOW = 2
PROBE_AFTER = 100
RAISE_AFTER = 2
RATE_HOLD = 2.0
RATE_PROBE_STEP = 0.05
RATE_PROBE_EVERY = 1.0
TARGET_BELOW_BOUND = 0.97
WINDOW = 1.0
RECENT = 2.0
RATE_BINDING = 0.8

SCRIPT_NUMBERS = (
    INITIAL_WINDOW, PROBE_AFTER, RAISE_AFTER, RATE_HOLD, RATE_PROBE_STEP,
    RATE_PROBE_EVERY, TARGET_BELOW_BOUND, WINDOW, RECENT, RATE_BINDING,
)
"""The policy's numbers, in the order its Lua twin (``_redis_scripts.py``) reads them from its
arguments: defined here once, never repeated in the script."""


@dataclass(slots=True)
class Ticket:
    """One request as the throttle let it go: when, and how many were in flight with it."""

    sent_at: float
    in_flight: int


class AdaptivePolicy:
    """The limits now, from the ceilings and every answer and refusal so far."""

    def __init__(
        self, rate_ceiling: float | None, concurrency_ceiling: int | None, margin: float, *, start_small: bool = True
    ) -> None:
        self.rate_ceiling = rate_ceiling
        self.concurrency_ceiling = concurrency_ceiling
        self.margin = margin
        self.rate = rate_ceiling
        initial = INITIAL_WINDOW if start_small else concurrency_ceiling
        self.concurrency = min(initial, concurrency_ceiling) if concurrency_ceiling and initial else None
        self.paused_until = -math.inf
        self.rate_limited = 0
        self._window = float(self.concurrency or 0)
        self._slow_start = True
        self._cap_bound = concurrency_ceiling
        self._probe_after = PROBE_AFTER
        self._clean = 0
        self._above = 0
        self._rate_bound = rate_ceiling
        self._rate_cooldown_until = -math.inf
        self._rate_probe_at = -math.inf
        self._rate_step = RATE_PROBE_STEP
        self._doubt: _Doubt | None = None
        self._first_send: float | None = None
        self._sends: deque[float] = deque()
        self._answers: deque[float] = deque()
        self._answered_in_flight: deque[tuple[float, int]] = deque()

    def pace(self, rate: float) -> float:
        """The rate actually paced at: ``rate`` less the safety margin."""
        return rate * (1 - self.margin)

    def on_send(self, now: float) -> None:
        if self._first_send is None:
            self._first_send = now
        _prune(self._sends, now, WINDOW).append(now)

    def on_answer(self, now: float, ticket: Ticket) -> None:
        """The gateway answered (any code but 4008): the limits held for this request."""
        if self.rate is not None:
            _prune(self._answers, now, WINDOW).append(now)
            self._relax_rate(now)
        if self.concurrency is not None:
            recent = self._answered_in_flight
            while recent and recent[0][0] <= now - RECENT:
                recent.popleft()
            recent.append((now, ticket.in_flight))
            self._grow_window(ticket)

    def on_refusal(self, now: float, ticket: Ticket) -> None:
        """A 4008: cut the limit the evidence points at."""
        self.rate_limited += 1
        cause = self._cause(now, ticket) if self.concurrency is not None else _RATE
        if cause is not _RATE:
            if cause is _DOUBT and (self._doubt is None or self._doubt.at <= now - WINDOW):
                self._doubt = self._window_state(now, ticket.in_flight)
            self._cut_window(ticket)
        elif self.rate is not None:
            self._undo_doubtful_cut(now)
            self._cut_rate(now)

    # -- concurrency -------------------------------------------------------------------------

    def _grow_window(self, ticket: Ticket) -> None:
        assert self.concurrency_ceiling is not None
        assert self._cap_bound is not None
        if ticket.in_flight > self._cap_bound:  # more got through than we thought the cap was
            self._above += 1
            if self._above >= RAISE_AFTER:
                self._cap_bound = min(ticket.in_flight, self.concurrency_ceiling)
                self._above = 0
        if self._slow_start:
            self._window = min(self._window + 1, self._cap_bound)
        elif self._window < self._cap_bound:
            self._window = min(self._window + 1 / self._window, self._cap_bound)
        else:
            self._clean += 1
            if self._clean >= self._probe_after and self._cap_bound < self.concurrency_ceiling:
                # One higher than the learned cap; if it holds, the next probe comes sooner.
                self._cap_bound += 1
                self._window = self._cap_bound
                self._clean = 0
                self._above = 0
                self._probe_after = max(self._probe_after // 2, 1)
        self.concurrency = max(1, int(self._window))

    def _cut_window(self, ticket: Ticket) -> None:
        room = max(1, ticket.in_flight - 1)
        self._slow_start = False
        self._cap_bound = min(self._cap_bound or room, room)
        self._window = min(self._window, room)
        self._clean = 0
        self._above = 0
        self._probe_after = PROBE_AFTER
        self.concurrency = max(1, int(self._window))

    def _cause(self, now: float, ticket: Ticket) -> str:
        """``_CAP``: more in flight than recently succeeded. ``_RATE``: no more, while sending at our
        pace, or fewer than a refusal of this window taken for the cap. ``_DOUBT``: otherwise."""
        if self.rate is None:
            return _CAP
        k = ticket.in_flight
        recent_ok = max((n for t, n in self._answered_in_flight if t > now - RECENT), default=0)
        if k > recent_ok:
            return _CAP
        doubt = self._doubt
        if doubt is not None and doubt.at > now - WINDOW and k < doubt.in_flight:
            return _RATE
        return _RATE if self._at_pace(now) else _DOUBT

    def _at_pace(self, now: float) -> bool:
        """Sending near our rate for a whole window (within the first, slow start is still
        finding the cap, and its counts in flight are the noisiest), or just after a pause."""
        if self._first_send is None or now - self._first_send < WINDOW:
            return False
        sent = self._per_second(self._sends, now)
        assert self.rate is not None
        return sent >= RATE_BINDING * self.pace(self.rate) or self.paused_until > now - WINDOW

    def _window_state(self, now: float, in_flight: int) -> _Doubt:
        assert self._cap_bound is not None
        return _Doubt(now, in_flight, self._cap_bound, self._window, self._slow_start, self._probe_after, self._clean)

    def _undo_doubtful_cut(self, now: float) -> None:
        """The window as it was before a refusal taken for the cap, which the rate explains."""
        doubt, self._doubt = self._doubt, None
        if doubt is None or doubt.at <= now - WINDOW or self.concurrency is None:
            return
        self._cap_bound, self._window, self._slow_start = doubt.cap_bound, doubt.window, doubt.slow_start
        self._probe_after, self._clean, self._above = doubt.probe_after, doubt.clean, 0
        self.concurrency = max(1, int(self._window))

    # -- rate --------------------------------------------------------------------------------

    def _cut_rate(self, now: float) -> None:
        assert self.rate is not None
        self._rate_probe_at = now + RATE_HOLD
        self._rate_step = RATE_PROBE_STEP
        if now < self._rate_cooldown_until:
            return  # one burst of refusals (one window) cuts once
        self._rate_cooldown_until = now + WINDOW
        # A strict window admits exactly its limit: what it accepted is the measurement.
        got_through = len(_prune(self._answers, now, WINDOW))
        self._rate_bound = min(self.rate, max(got_through, 1.0))
        self.rate = self._rate_bound * TARGET_BELOW_BOUND
        # The gateway's window stays full until its oldest admitted request ages out.
        if self._answers:
            self.paused_until = self._answers[0] + WINDOW

    def _relax_rate(self, now: float) -> None:
        assert self.rate is not None
        assert self.rate_ceiling is not None
        assert self._rate_bound is not None
        if self._rate_bound < self.rate_ceiling and now >= self._rate_probe_at:
            # A probe above the bound; it held if no refusal came within a window.
            self._rate_bound = min(self.rate_ceiling, self._rate_bound * (1 + self._rate_step))
            self._rate_step = min(2 * self._rate_step, 1.0)
            self._rate_probe_at = now + RATE_PROBE_EVERY
        bound = self._rate_bound
        target = self.rate_ceiling if bound >= self.rate_ceiling else bound * TARGET_BELOW_BOUND
        self.rate = max(self.rate, target)

    def _per_second(self, events: deque[float], now: float) -> float:
        """Events per second over the last window (or since the first send, if sooner)."""
        span = min(WINDOW, now - self._first_send) if self._first_send is not None else 0.0
        return len(_prune(events, now, WINDOW)) / span if span > 0 else 0.0


_CAP, _RATE, _DOUBT = "cap", "rate", "doubt"


@dataclass(slots=True)
class _Doubt:
    """The window before a refusal taken for the cap that the rate may yet explain, and when."""

    at: float
    in_flight: int
    cap_bound: int
    window: float
    slow_start: bool
    probe_after: int
    clean: int


def _prune(events: deque[float], now: float, window: float) -> deque[float]:
    """``events`` without those older than ``window`` seconds."""
    while events and events[0] <= now - window:
        events.popleft()
    return events
