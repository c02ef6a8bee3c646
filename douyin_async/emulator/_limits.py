"""Per-key accounting the way a strict gateway keeps it: window, in flight, quota, balance."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ._config import EmulatorConfig


@dataclass
class KeyState:
    """One key's usage. A refused request takes nothing: no slot in flight, no place in the window."""

    window: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    charged: int = 0

    def admit(self, now: float, config: EmulatorConfig) -> tuple[str, str] | None:
        """(code, reason) refusing a request arriving at ``now``, or None (then it is in flight).

        The cap on requests in flight and the per-second rate are independent: either, both or
        neither may be set. The cap is checked first, so a request it refuses never enters the
        rate window.
        """
        if config.balance is not None and self.charged >= config.balance:
            return "4016", "balance"
        if config.daily_quota is not None and self.charged >= config.daily_quota:
            return "4013", "quota"
        if config.concurrency is not None and self.in_flight >= config.concurrency:
            return "4008", "concurrency"
        if config.rate_limit is not None:
            while self.window and self.window[0] <= now - 1.0:
                self.window.popleft()
            if len(self.window) >= config.rate_limit:
                return "4008", "rate"
            self.window.append(now)
        self.in_flight += 1
        return None

    def api_info(self, config: EmulatorConfig) -> str:
        limit = config.daily_quota if config.daily_quota is not None else 10_000_000
        return f"today:{self.charged} max:{limit} all[{self.charged}={self.charged}+0+0];expires:2030-12-31"
