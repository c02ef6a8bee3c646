"""Goodput under the gateway's limits: the number that matters to users.

The emulator enforces rate R and concurrency C per key. Rows: the SDK configured to exactly R and
C; the SDK with its ceiling at 2R and 2C, adapting; and a naive ``asyncio.gather`` over a semaphore
of 2C with no rate limit, as users write today. Goodput is answered requests (not 4008) per second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from douyin_async import DouyinClient
from douyin_async.emulator import Emulator


@dataclass
class Row:
    name: str
    requests: int
    rate_limited: int
    elapsed: float
    answered_times: list[float] = field(default_factory=list)

    def goodput(self) -> float:
        return (self.requests - self.rate_limited) / self.elapsed


async def _sdk(emu: Emulator, ids: list[str], rate: float, concurrency: int) -> list[float]:
    answered: list[float] = []
    async with DouyinClient("test-key", "test-secret", base_url=emu.base_url, rate_limit=rate,
                            max_concurrency=concurrency) as client:
        async for result in client.iter_videos(ids):
            if result.error is None or result.error.code != "4008":
                answered.append(time.monotonic())
    return answered


async def _naive(emu: Emulator, ids: list[str], concurrency: int) -> list[float]:
    """What users write today: gather over a semaphore, no rate limit, no retry."""
    answered: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    url = f"{emu.base_url}/item_get_video/"
    async with aiohttp.ClientSession() as session:
        async def one(item_id: str) -> None:
            async with semaphore, session.get(url, params={"key": "test-key", "secret": "test-secret",
                                                           "item_id": item_id}) as resp:
                body = await resp.json()
            if body.get("error_code") != "4008":
                answered.append(time.monotonic())

        await asyncio.gather(*(one(item_id) for item_id in ids))
    return answered


async def run(*, rate: float, concurrency: int, count: int, latency: float = 0.02) -> list[Row]:
    ids = [str(10**15 + i) for i in range(count)]
    rows = []
    scenarios = [
        (f"douyin-async at R, C ({rate:g}/s, {concurrency})", lambda emu: _sdk(emu, ids, rate, concurrency)),
        (f"douyin-async ceiling 2R, 2C, adaptive ({2 * rate:g}/s, {2 * concurrency})",
         lambda emu: _sdk(emu, ids, 2 * rate, 2 * concurrency)),
        (f"naive gather, semaphore 2C ({2 * concurrency}), no rate limit",
         lambda emu: _naive(emu, ids, 2 * concurrency)),
    ]
    for name, scenario in scenarios:
        async with Emulator(rate_limit=rate, concurrency=concurrency, latency=latency, jitter=latency, seed=1) as emu:
            started = time.monotonic()
            answered = await scenario(emu)
            elapsed = time.monotonic() - started
            rows.append(Row(name, emu.stats.requests, emu.stats.rate_limited, elapsed,
                            [t - started for t in answered]))
    return rows


def table(rows: list[Row], rate: float, ids: int) -> list[list[str]]:
    return [
        [row.name, f"{len(row.answered_times):,} of {ids:,}", f"{row.requests:,}",
         f"{row.rate_limited:,} ({row.rate_limited / row.requests:.1%})",
         f"{row.goodput():.1f}/s", f"{row.goodput() / rate:.2f} R", f"{row.elapsed:.1f} s"]
        for row in rows
    ]


HEADER = ["client", "ids answered", "requests sent", "4008 answers", "goodput", "goodput / R", "time"]


def plot(row: Row, rate: float, path: str) -> bool:
    """Answered requests per second over time for one row, as a PNG; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    buckets: dict[int, int] = {}
    for t in row.answered_times:
        buckets[int(t * 2)] = buckets.get(int(t * 2), 0) + 1
    xs = sorted(buckets)
    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
    axes.plot([x / 2 for x in xs], [buckets[x] * 2 for x in xs], label="answered/s (0.5 s buckets)")
    axes.axhline(rate, color="grey", linestyle="--", label=f"gateway limit R = {rate:g}/s")
    axes.set_xlabel("seconds")
    axes.set_ylabel("requests / s")
    axes.set_title(row.name)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True
