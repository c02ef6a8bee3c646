"""How long the emulator takes to answer by default: a model of the real gateway's latency.

Public bodies of this gateway show ``execution_time`` from 0.08 s to over 8 s, so by default an
answer takes a fixed overhead plus a heavy-tailed (log-normal) fetch time: about a second at the
median, several seconds for one answer in ten, and a cap so nothing hangs forever. An answer the
gateway has cached (``cache=yes`` and the id asked recently) is about ten times faster.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencyModel:
    """``base + min(LogNormal(ln(median), sigma), cap)`` seconds, one draw per answer."""

    base: float = 0.08
    """The gateway's own overhead, paid by every admitted request."""
    fresh_median: float = 1.0
    """Median fetch time when the gateway asks Douyin (a miss, or ``cache=no``)."""
    cached_median: float = 0.1
    """Median when it answers from its cache."""
    sigma: float = 0.9
    """Spread of the log-normal: ~10% of fresh answers take over 3 s, ~1% over 8 s."""
    cap: float = 15.0
    """The longest fetch time drawn."""

    def draw(self, rng: random.Random, cached: bool) -> float:
        median = self.cached_median if cached else self.fresh_median
        return self.base + min(rng.lognormvariate(math.log(median), self.sigma), self.cap)


REALISTIC = LatencyModel()


def latency_rng(seed: int) -> random.Random:
    """The latency draws' own generator, so they never shift the fault draws of the same seed."""
    return random.Random(f"latency/{seed}")
