"""What the events show of an adaptive run: the learned cap, requests in flight and 4008s over time.

``python -m benchmarks.observe [PATH]`` runs one batch against the emulator (a cap of 4 in flight,
answers in 20-180 ms, the client set to 8) with an ``on_event`` listener, and draws the three
series from the events alone into ``docs/observability-adaptive.png`` (needs matplotlib, the
``bench`` extra). It also prints the listener's cost: the run again without it, side by side.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from douyin_async import AttemptEnded, AttemptStarted, DouyinClient, Event, LimitsChanged
from douyin_async.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "docs" / "observability-adaptive.png"
IDS = [str(10**15 + n) for n in range(1500)]


@dataclass
class Timeline:
    """The events of a run, stamped with the time they were heard."""

    start: float = field(default_factory=time.monotonic)
    in_flight: list[tuple[float, int]] = field(default_factory=list)
    cap: list[tuple[float, int]] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    _now_in_flight: int = 0

    def __call__(self, event: Event) -> None:
        now = time.monotonic() - self.start
        if isinstance(event, AttemptStarted):
            self._now_in_flight += 1
            self.in_flight.append((now, self._now_in_flight))
        elif isinstance(event, AttemptEnded):
            self._now_in_flight -= 1
            self.in_flight.append((now, self._now_in_flight))
            if event.code == "4008":
                self.refused.append(now)
        elif isinstance(event, LimitsChanged) and event.max_concurrency is not None:
            self.cap.append((now, event.max_concurrency))


async def batch(listener: Timeline | None) -> float:
    """Seconds one batch takes, heard by ``listener``."""
    async with Emulator(concurrency=4, latency=0.02, jitter=0.16, seed=3) as emu, DouyinClient(
        "test-key", "test-secret", base_url=emu.base_url, rate_limit=None, max_concurrency=8,
        on_event=listener,
    ) as client:
        started = time.monotonic()
        await client.get_videos(IDS)
        return time.monotonic() - started


def plot(timeline: Timeline, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'douyin-async[bench]'): no plot", file=sys.stderr)
        return False
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    times, counts = zip(*timeline.in_flight, strict=True)
    top.step(times, counts, where="post", linewidth=0.6, color="tab:blue", label="requests in flight")
    if timeline.cap:
        cap_times, caps = zip(*timeline.cap, strict=True)
        top.step((0.0, *cap_times, times[-1]), (2, *caps, caps[-1]), where="post", color="tab:orange",
                 linewidth=2, label="learned cap (LimitsChanged)")
    top.axhline(4, linestyle=":", color="grey", label="gateway's cap (4)")
    top.set_ylabel("requests")
    top.legend(loc="upper right", fontsize=8)
    seconds = int(times[-1]) + 1
    per_second = [0] * seconds
    for moment in timeline.refused:
        per_second[int(moment)] += 1
    bottom.bar(range(seconds), per_second, width=0.8, align="edge", color="tab:red", label="4008 per second")
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("4008s")
    bottom.legend(loc="upper right", fontsize=8)
    figure.suptitle("an adaptive run, from its events: client set to 8 in flight, gateway allows 4", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


async def main(path: Path) -> None:
    timeline = Timeline()
    heard = await batch(timeline)
    quiet = await batch(None)
    print(f"{len(IDS)} ids: {heard:.2f} s with a listener, {quiet:.2f} s without "
          f"({len(timeline.refused)} refusals, cap moved {len(timeline.cap)} times)")
    if plot(timeline, path):
        print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else PLOT))
