"""Goodput under the gateway's limits: the number that matters to users.

Each scenario runs the emulator with one kind of limit (a cap in flight C, a rate R, or both) and
answers of a given latency, and compares, on the same ids in the same run, the SDK configured to
exactly the gateway's limits with the SDK given higher ceilings, adapting, and (for the rate)
a naive ``asyncio.gather`` over a semaphore, as users write today. Goodput is answered requests
(not 4008) per second; "ids ok" is what each client delivered.

Every case runs several times (five in the full run) on a fresh emulator, and the table reports
the minimum and the median: one run says little on a noisy machine, and a policy that collapses
in one run of five is broken. Each run also records, second by second, how many requests the
gateway answered and how many it refused (4008), for the plot.
"""

from __future__ import annotations

import asyncio
import statistics
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
    ok_per_second: list[int] = field(default_factory=list)
    refused_per_second: list[int] = field(default_factory=list)

    def goodput(self) -> float:
        return (self.requests - self.rate_limited) / self.elapsed

    def refused_share(self) -> float:
        return self.rate_limited / max(self.requests, 1)


@dataclass
class Case:
    """One client on one gateway, run ``len(runs)`` times."""

    scenario: str
    name: str
    rate: float | None
    runs: list[Row]
    reference: float | None = None

    def goodputs(self) -> list[float]:
        return [row.goodput() for row in self.runs]

    def median(self) -> float:
        return statistics.median(self.goodputs())

    def of_rate(self) -> tuple[float, float] | None:
        """Minimum and median goodput as a share of the gateway's rate R, where a rate binds."""
        if self.rate is None:
            return None
        return min(self.goodputs()) / self.rate, self.median() / self.rate


@dataclass
class Scenario:
    title: str
    emulator: dict[str, Any]
    clients: list[tuple[str, dict[str, Any]]]
    ids: int
    naive: int | None = None
    rate_binds: bool = False


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
        samples: list[tuple[float, int, int]] = []
        done = asyncio.Event()

        async def sample() -> None:
            """The gateway's counts every 20 ms: answered and refused requests by second."""
            while not done.is_set():
                samples.append((time.monotonic() - started, emu.stats.requests, emu.stats.rate_limited))
                await asyncio.sleep(0.02)

        started = time.monotonic()
        sampler = asyncio.ensure_future(sample())
        try:
            ok, answered = await client(emu, ids)
        finally:
            done.set()
            await sampler
        elapsed = time.monotonic() - started
        samples.append((elapsed, emu.stats.requests, emu.stats.rate_limited))
        row = Row(scenario.title, name, len(ids), ok, emu.stats.requests, emu.stats.rate_limited, elapsed,
                  [t - started for t in answered])
    row.ok_per_second, row.refused_per_second = _by_second(samples)
    return row


def _by_second(samples: list[tuple[float, int, int]]) -> tuple[list[int], list[int]]:
    """Answered (not 4008) and refused requests in each whole second, from cumulative samples."""
    ok: list[int] = []
    refused: list[int] = []
    before = (0, 0)
    for second in range(int(samples[-1][0]) + 1):
        within = [s for s in samples if s[0] <= second + 1]
        _, requests, limited = within[-1]
        ok.append((requests - limited) - (before[0] - before[1]))
        refused.append(limited - before[1])
        before = (requests, limited)
    return ok, refused


async def run_scenario(scenario: Scenario, runs: int) -> list[Case]:
    """Each client ``runs`` times; the runs of the clients interleave, so drift hits them alike."""
    rate = scenario.emulator.get("rate_limit") if scenario.rate_binds else None
    clients: list[tuple[str, Callable[[Emulator, list[str]], Awaitable[tuple[int, list[float]]]]]] = [
        (name, lambda emu, ids, o=options: _sdk(emu, ids, o)) for name, options in scenario.clients  # type: ignore[misc]
    ]
    if scenario.naive is not None:
        naive = scenario.naive
        clients.append((f"naive gather, semaphore {naive}, no rate limit, no retry",
                        lambda emu, ids: _naive(emu, ids, naive)))
    cases = [Case(scenario.title, name, rate, []) for name, _ in clients]
    for _ in range(runs):
        for case, (name, client) in zip(cases, clients, strict=True):
            case.runs.append(await _run_one(scenario, name, client))
    for case in cases:
        case.reference = cases[0].median()
    return cases


GATE = "ceiling 2R, 2C, adaptive"
"""The case CI's quick run checks against ``FLOOR``."""
FLOOR = 0.75
"""Below this share of R at 2R, 2C the rate adaptation has collapsed: the run fails."""


def gate_scenario() -> Scenario:
    """The rate case that once collapsed: R = 50/s, C = 4, answers of 50 ms, limits set 2x too high."""
    c, r = 4, 50.0
    return Scenario(f"rate R = {r:g}/s and C = {c}, answers 50 ms", {"rate_limit": r, "concurrency": c,
                                                                   "latency": 0.05}, [
        ("exactly R, C", {"rate_limit": r, "max_concurrency": c}),
        (GATE, {"rate_limit": 2 * r, "max_concurrency": 2 * c}),
        ("ceiling 4R, 4C, adaptive", {"rate_limit": 4 * r, "max_concurrency": 4 * c}),
    ], ids=500, naive=2 * c, rate_binds=True)


def scenarios(quick: bool) -> list[Scenario]:
    """The gateway as it behaves (a cap in flight, answers of 20-180 ms), a rate, and both.

    ``quick`` runs only the 2R, 2C case of the rate, at full size: the floor CI checks.
    """
    if quick:
        gate = gate_scenario()
        gate.clients = [client for client in gate.clients if client[0] == GATE]
        gate.naive = None
        return [gate]
    c = 4
    fast = {"latency": 0.02, "jitter": 0.16}
    return [
        Scenario(f"cap in flight C = {c}, no rate limit, answers 20-180 ms", {"concurrency": c, **fast}, [
            ("exactly C", {"rate_limit": None, "max_concurrency": c}),
            ("ceiling 2C, adaptive", {"rate_limit": None, "max_concurrency": 2 * c}),
            ("ceiling 4C, adaptive", {"rate_limit": None, "max_concurrency": 4 * c}),
            ("ceiling 2C, backoff 1 ms, 5 retries", {"rate_limit": None, "max_concurrency": 2 * c,
                                                    "backoff_initial": 0.001, "max_retries": 5}),
        ], ids=400),
        gate_scenario(),
        Scenario("rate R = 10/s and C = 3, answers 0.3-3 s", {"rate_limit": 10, "concurrency": 3,
                                                               "latency": 0.3, "jitter": 2.7}, [
            ("exactly R, C", {"rate_limit": 10, "max_concurrency": 3}),
            ("ceiling 20/s, 12, adaptive", {"rate_limit": 20, "max_concurrency": 12}),
        ], ids=150),
    ]


async def run(quick: bool = False, runs: int = 5) -> list[Case]:
    cases: list[Case] = []
    for scenario in scenarios(quick):
        cases += await run_scenario(scenario, 1 if quick else runs)
    return cases


def gate(cases: list[Case]) -> float | None:
    """The minimum share of R the 2R, 2C case reached, if it ran."""
    for case in cases:
        if case.name == GATE and (shares := case.of_rate()) is not None:
            return shares[0]
    return None


def table(cases: list[Case]) -> list[list[str]]:
    rows = []
    for case in cases:
        goodputs, refused = case.goodputs(), [row.refused_share() for row in case.runs]
        reference = case.reference or 1.0
        shares = case.of_rate()
        rows.append([
            case.scenario, case.name, str(len(case.runs)),
            f"{min(row.ok for row in case.runs):,} of {case.runs[0].ids:,}",
            f"{min(goodputs):.1f} / {case.median():.1f}/s",
            f"{shares[0]:.2f} / {shares[1]:.2f}" if shares else "",
            f"{min(goodputs) / reference:.2f} / {case.median() / reference:.2f}",
            f"{statistics.median(refused):.1%} / {max(refused):.1%}",
            f"{statistics.median(row.elapsed for row in case.runs):.1f} s",
        ])
    return rows


HEADER = ["gateway", "client", "runs", "ids ok (min)", "goodput min / median", "of R, min / median",
          "vs exact limits, min / median", "4008s, median / max", "time (median)"]


def series(cases: list[Case], name: str = GATE) -> list[str]:
    """The ok/s and 4008/s of every run of one case, second by second, as text."""
    lines = []
    for case in cases:
        if case.name != name:
            continue
        for n, row in enumerate(case.runs, 1):
            lines.append(f"- run {n}: {row.goodput() / (case.rate or 1):.2f} R, {row.refused_share():.1%} 4008  \n"
                         f"  ok/s `{' '.join(map(str, row.ok_per_second))}`  \n"
                         f"  4008/s `{' '.join(map(str, row.refused_per_second))}`")
    return lines


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


def plot(cases: list[Case], recovered: Recovery | None, path: str) -> bool:
    """Answered and refused requests per second over time, one panel per case (every run drawn)
    and one for recovery."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [case for case in cases if not case.name.startswith("naive")]
    count = len(panels) + (recovered is not None)
    figure, axes_list = plt.subplots(count, 1, figsize=(8, 2.4 * count), dpi=100, squeeze=False)
    for axes, case in zip([a[0] for a in axes_list], panels, strict=False):
        _per_second(axes, case)
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


def _per_second(axes: Any, case: Case) -> None:
    for n, row in enumerate(case.runs):
        seconds = range(len(row.ok_per_second))
        axes.plot(seconds, row.ok_per_second, color="tab:blue", alpha=0.6, linewidth=1,
                  label="answered/s (each run)" if n == 0 else None)
        axes.plot(seconds, row.refused_per_second, color="tab:red", alpha=0.6, linewidth=1,
                  label="4008/s (each run)" if n == 0 else None)
    if case.rate is not None:
        axes.axhline(case.rate, color="grey", linestyle=":", label=f"gateway R = {case.rate:g}/s")
    axes.set_title(f"{case.scenario}: {case.name}", fontsize=9)
    axes.set_xlabel("seconds")
    axes.set_ylabel("requests / s")
    axes.legend(loc="center right", fontsize=7)


def _throughput(axes: Any, times: list[float], title: str) -> None:
    buckets: dict[int, int] = {}
    for t in times:
        buckets[int(t * 2)] = buckets.get(int(t * 2), 0) + 1
    xs = sorted(buckets)
    axes.plot([x / 2 for x in xs], [buckets[x] * 2 for x in xs], label="answered/s (0.5 s buckets)")
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("seconds")
    axes.set_ylabel("requests / s")
