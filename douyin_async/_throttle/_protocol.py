"""The throttle seam: every attempt acquires, sends, and releases with what came back.

That ``Outcome`` is all an adaptive throttle needs. A throttle shared between processes
implements the same ``Throttle`` protocol and drops in via ``DouyinClient(throttle=...)``.
"""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec

from ._adaptive import Ticket

DEFAULT_MARGIN = 0.02
"""The share of the rate kept in reserve for the jitter of arrivals."""


class Outcome(enum.Enum):
    """What came back for one attempt, as the throttle's feedback."""

    ANSWERED = "answered"
    """The gateway answered with a code other than 4008: the limits held."""
    LIMITED = "limited"
    """4008: too many requests, or too many in flight."""
    NO_ANSWER = "no_answer"
    """No envelope came back (connection failure, timeout): nothing learned about the limits."""



UNLIMITED = Ticket(0.0, 0)
"""The ticket of a throttle with no limits: nothing to learn, so nothing to record."""


class ThrottleLimits(msgspec.Struct, frozen=True):
    """The throttle's current state: ``rate``/``concurrency`` are None when that limit is off."""

    rate: float | None
    concurrency: int | None
    in_flight: int
    rate_ceiling: float | None
    concurrency_ceiling: int | None
    rate_limited: int
    """How many 4008 answers the throttle has seen (a count; ``refused`` says it plainer)."""

    @property
    def refused(self) -> int:
        """How many 4008 answers the throttle has seen: ``rate_limited``, by the name ``Usage`` uses."""
        return self.rate_limited


class Throttle(Protocol):
    """Decides when an attempt may be sent; one per key, shared by every call that uses it."""

    async def acquire(self) -> Ticket:
        """Wait until one more request may be sent; the ticket goes back with ``release``."""
        ...

    async def release(self, ticket: Ticket, outcome: Outcome) -> None:
        """The request on ``ticket`` is over; ``outcome`` says what came back."""
        ...

    @property
    def limits(self) -> ThrottleLimits:
        """The limits in force now."""
        ...
