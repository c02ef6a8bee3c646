"""What the emulator saw: requests, codes, faults, charges, in flight, media and leaks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EmulatorStats:
    """What the emulator saw since it started (or since ``Emulator.reset_stats``)."""

    requests: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    """Every 4008 answered, whatever refused it (scripts and faults included)."""
    limited: Counter[str] = field(default_factory=Counter)
    """4008s by the limit that refused them: ``concurrency`` (the cap) or ``rate`` (the window)."""
    charged: int = 0
    """Calls billed: every 0000 and 2000 the emulator decided, delivered whole or not."""
    charged_undelivered: Counter[str] = field(default_factory=Counter)
    """Billed answers the client cannot have read whole, by why: ``reset``, ``truncated`` (faults
    after the decision) or ``abandoned`` (the client had closed the connection, on its own timeout
    say, before the answer was ready)."""
    in_flight: int = 0
    max_in_flight: int = 0
    media_requests: int = 0
    media_bytes: int = 0
    short_link_requests: int = 0
    share_page_requests: int = 0
    credential_leaks: int = 0
    """Requests to media, short-link or share-page routes that carried a configured key or secret."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "codes": dict(self.codes),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "faults": dict(self.faults),
            "rate_limited": self.rate_limited,
            "limited": dict(self.limited),
            "charged": self.charged,
            "charged_undelivered": dict(self.charged_undelivered),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "media_requests": self.media_requests,
            "media_bytes": self.media_bytes,
            "short_link_requests": self.short_link_requests,
            "share_page_requests": self.share_page_requests,
            "credential_leaks": self.credential_leaks,
        }
