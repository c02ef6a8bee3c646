"""Goodput under the gateway's limits: the number that matters to users.

Each scenario runs the emulator with one kind of limit (a cap in flight C, a rate R, or both) and
answers of a given latency, and compares, on the same ids in the same run, the SDK configured to
exactly the gateway's limits with the SDK given higher ceilings, adapting, and (for the rate)
a naive ``asyncio.gather`` over a semaphore, as users write today. Goodput is answered requests
(not 4008) per second; "ids ok" is what each client delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from douyin_async import DouyinClient, LocalThrottle
from douyin_async.emulator import Emulator

KEY, SECRET = "test-key", "test-secret"


@dataclass
class Row:
    scenario: str
    name: str
    ids: int
    ok: int
    requests: int
    rate_limited: int
    elapsed: float
    answered_times: list[float] = field(default_factory=list)
    reference: float | None = None

    def goodput(self) -> float:
        return (self.requests - self.rate_limited) / self.elapsed


@dataclass
class Scenario:
    title: str
    emulator: dict[str, Any]
    clients: list[tuple[str, dict[str, Any]]]
    ids: int
    naive: int | None = None


async def _sdk(emu: Emulator, ids: list[str], options: dict[str, Any]) -> tuple[int, list[float]]:
    answered: list[float] = []
    ok = 0
    async with DouyinClient(KEY, SECRET, base_url=emu.base_url, **options) as client:
        async for result in client.iter_videos(ids):
            ok += result.ok or (result.error is not None and result.error.code == "2000")
            if result.error is None or result.error.code != "4008":
                answered.append(time.monotonic())
    return ok, answered


async def _naive(emu: Emulator, ids: list[str], concurrency: int) -> tuple[int, list[float]]:
    """What users write today: gather over a semaphore, no rate limit, no retry."""
    answered: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    url = f"{emu.base_url}/item_get_video/"
    async with aiohttp.ClientSession() as session:
        async def one(item_id: str) -> None:
            async with semaphore, session.get(url, params={"key": KEY, "secret": SECRET, "item_id": item_id}) as resp:
                body = await resp.json()
            if body.get("error_code") != "4008":
                answered.append(time.monotonic())

        await asyncio.gather(*(one(item_id) for item_id in ids))
    return len(answered), answered


async def _run_one(
    scenario: Scenario, name: str, client: Callable[[Emulator, list[str]], Awaitable[tuple[int, list[float]]]]
) -> Row:
    ids = [str(10**15 + i) for i in range(scenario.ids)]
    async with Emulator(seed=1, found_ratio=1.0, **scenario.emulator) as emu:
        started = time.monotonic()
        ok, answered = await client(emu, ids)
        elapsed = time.monotonic() - started
        return Row(scenario.title, name, len(ids), ok, emu.stats.requests, emu.stats.rate_limited, elapsed,
                   [t - started for t in answered])


async def run_scenario(scenario: Scenario) -> list[Row]:
    rows = []
    for name, options in scenario.clients:
        rows.append(await _run_one(scenario, name, lambda emu, ids, o=options: _sdk(emu, ids, o)))  # type: ignore[misc]
    if scenario.naive is not None:
        naive = scenario.naive
        rows.append(await _run_one(scenario, f"naive gather, semaphore {naive}, no rate limit, no retry",
                                   lambda emu, ids: _naive(emu, ids, naive)))
    reference = rows[0].goodput()
    for row in rows:
        row.reference = reference
    return rows


def scenarios(quick: bool) -> list[Scenario]:
    """The gateway as it behaves (a cap in flight, answers of 20-180 ms), a rate, and both."""
    scale = 0.1 if quick else 1.0
    c, r = 4, 50.0
    fast = {"latency": 0.02, "jitter": 0.16}
    return [
        Scenario(f"cap in flight C = {c}, no rate limit, answers 20-180 ms", {"concurrency": c, **fast}, [
            ("exactly C", {"rate_limit": None, "max_concurrency": c}),
            ("ceiling 2C, adaptive", {"rate_limit": None, "max_concurrency": 2 * c}),
            ("ceiling 4C, adaptive", {"rate_limit": None, "max_concurrency": 4 * c}),
            ("ceiling 2C, backoff 1 ms, 5 retries", {"rate_limit": None, "max_concurrency": 2 * c,
                                                    "backoff_initial": 0.001, "max_retries": 5}),
        ], ids=int(400 * scale) or 40),
        Scenario(f"rate R = {r:g}/s and C = {c}, answers 20-40 ms", {"rate_limit": r, "concurrency": c,
                                                                     "latency": 0.02, "jitter": 0.02}, [
            ("exactly R, C", {"rate_limit": r, "max_concurrency": c}),
            ("ceiling 2R, 2C, adaptive", {"rate_limit": 2 * r, "max_concurrency": 2 * c}),
        ], ids=int(3000 * scale), naive=2 * c),
        Scenario("rate R = 10/s and C = 3, answers 0.3-3 s", {"rate_limit": 10, "concurrency": 3,
                                                               "latency": 0.3, "jitter": 2.7}, [
            ("exactly R, C", {"rate_limit": 10, "max_concurrency": 3}),
            ("ceiling 20/s, 12, adaptive", {"rate_limit": 20, "max_concurrency": 12}),
        ], ids=int(150 * scale) or 15),
    ]


async def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    for scenario in scenarios(quick):
        rows += await run_scenario(scenario)
    return rows


def table(rows: list[Row]) -> list[list[str]]:
    return [
        [row.scenario, row.name, f"{row.ok:,} of {row.ids:,}", f"{row.requests:,}",
         f"{row.rate_limited:,} ({row.rate_limited / max(row.requests, 1):.1%})",
         f"{row.goodput():.1f}/s", f"{row.goodput() / row.reference:.2f}" if row.reference else "",
         f"{row.elapsed:.1f} s"]
        for row in rows
    ]


HEADER = ["gateway", "client", "ids ok", "requests sent", "4008 answers", "goodput", "vs exact limits", "time"]


@dataclass
class Recovery:
    """A client alone on a key after a second user of the key stops: its limits over time."""

    ceiling: float
    stopped_at: float
    samples: list[tuple[float, float]]
    answered_times: list[float]

    def seconds_to(self, share: float) -> float | None:
        for t, rate in self.samples:
            if t >= self.stopped_at and rate >= share * self.ceiling:
                return t - self.stopped_at
        return None


async def recovery(*, rate: float = 20.0, compete: float = 8.0, alone: float = 15.0) -> Recovery:
    """Rate R shared with a greedy second user for ``compete`` seconds, then the key is ours."""
    async with Emulator(rate_limit=rate, latency=0.02, jitter=0.02, seed=3, found_ratio=1.0) as emu:
        throttle = LocalThrottle(rate, None)
        samples: list[tuple[float, float]] = []
        answered: list[float] = []
        started = time.monotonic()

        async def competitor() -> None:
            async with DouyinClient(KEY, SECRET, base_url=emu.base_url, rate_limit=rate * 0.75,
                                    max_concurrency=None) as other:
                ids = (str(2 * 10**15 + i) for i in range(10**6))
                async for _ in other.iter_videos(ids):
                    if time.monotonic() - started > compete:
                        return

        async def ours() -> None:
            async with DouyinClient(KEY, SECRET, base_url=emu.base_url, throttle=throttle) as client:
                ids = (str(10**15 + i) for i in range(10**6))
                async for result in client.iter_videos(ids):
                    now = time.monotonic() - started
                    samples.append((now, client.limits.rate or 0.0))
                    if result.error is None:
                        answered.append(now)
                    if now > compete + alone:
                        return

        await asyncio.gather(competitor(), ours())
    return Recovery(rate, compete, samples, answered)


def plot(rows: list[Row], recovered: Recovery | None, path: str) -> bool:
    """Answered requests per second over time, one panel per adaptive row and one for recovery."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels: list[tuple[str, list[float]]] = [
        (f"{row.scenario}\n{row.name}", row.answered_times) for row in rows if "adaptive" in row.name
    ]
    count = len(panels) + (recovered is not None)
    figure, axes_list = plt.subplots(count, 1, figsize=(8, 2.6 * count), dpi=100, squeeze=False)
    for axes, (title, times) in zip([a[0] for a in axes_list], panels, strict=False):
        _throughput(axes, times, title)
    if recovered is not None:
        axes = axes_list[-1][0]
        _throughput(axes, recovered.answered_times, "recovery: a second user of the key stops at the dashed line")
        axes.plot([t for t, _ in recovered.samples], [r for _, r in recovered.samples], label="client's rate limit")
        axes.axvline(recovered.stopped_at, color="grey", linestyle="--")
        axes.axhline(recovered.ceiling, color="grey", linestyle=":", label=f"gateway R = {recovered.ceiling:g}/s")
        axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def _throughput(axes: Any, times: list[float], title: str) -> None:
    buckets: dict[int, int] = {}
    for t in times:
        buckets[int(t * 2)] = buckets.get(int(t * 2), 0) + 1
    xs = sorted(buckets)
    axes.plot([x / 2 for x in xs], [buckets[x] * 2 for x in xs], label="answered/s (0.5 s buckets)")
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("seconds")
    axes.set_ylabel("requests / s")
