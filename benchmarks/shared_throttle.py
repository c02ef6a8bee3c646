"""The shared throttle: what one acquire costs against a local Redis, and what N processes get together.

Cost: acquire + release in a loop, one at a time, for ``LocalThrottle`` and ``RedisThrottle``
with the same limits (a cap, and a rate too high to ever wait), so the figure is the throttle's
own cost: one script round trip each way to Redis on 127.0.0.1, against none.

Goodput: 1, 2, 4 and 8 worker processes (separate Python processes, started together) share one
key through one Redis and split one list of ids, against the emulator in this process. The
reference row is one process with ``LocalThrottle`` set to exactly the gateway's limits. Goodput
is answered requests (not 4008) per second, from the go signal to the last worker's end. The third
gateway gives 4 processes limits twice too high (the rate they must learn) and runs five times:
the table shows the minimum and the median, and ``series`` prints each run second by second
(answered and refused, the refusals split by the limit that made them).

``python -m benchmarks.shared_throttle twice [RUNS]`` runs only that case (five runs by default)
and prints its table and series; ``python -m benchmarks.shared_throttle worker ...`` is one
worker; the driver starts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from douyin_async import DouyinClient, LocalThrottle, Outcome, Throttle
from douyin_async.emulator import Emulator

from .goodput import _by_second

KEY, SECRET = "test-key", "test-secret"  # the emulator's
REDIS_SERVER = shutil.which("redis-server") or "redis-server"


def available() -> bool:
    return shutil.which("redis-server") is not None


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server without persistence on a free 127.0.0.1 port; its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


# -- cost --------------------------------------------------------------------------------------


async def _loop(throttle: Throttle, count: int) -> float:
    """Microseconds per acquire + release, one at a time."""
    for _ in range(min(count // 10, 200)):  # warm-up: connections, scripts loaded
        await throttle.release(await throttle.acquire(), Outcome.ANSWERED)
    started = time.perf_counter()
    for _ in range(count):
        await throttle.release(await throttle.acquire(), Outcome.ANSWERED)
    return (time.perf_counter() - started) / count * 1e6


async def cost(url: str, quick: bool) -> list[list[str]]:
    from douyin_async.redis import RedisThrottle

    limits: dict[str, Any] = {"rate_limit": 1e6, "max_concurrency": 8}
    local = await _loop(LocalThrottle(**limits), 2_000 if quick else 50_000)
    async with RedisThrottle(url, key=KEY, prefix="bench-cost", **limits) as shared:
        remote = await _loop(shared, 300 if quick else 10_000)
    return [
        ["LocalThrottle (in process)", f"{local:,.1f} µs", "1.0"],
        ["RedisThrottle (Redis on 127.0.0.1)", f"{remote:,.0f} µs", f"{remote / local:,.0f}"],
    ]


COST_HEADER = ["throttle", "acquire + release", "vs in-process"]


# -- goodput -----------------------------------------------------------------------------------


@dataclass
class Scenario:
    title: str
    emulator: dict[str, Any]
    exact: dict[str, Any]
    shared: dict[str, Any]
    ids: int
    counts: tuple[int, ...] = (1, 2, 4, 8)
    runs: int = 1


@dataclass
class Row:
    scenario: str
    client: str
    ok: int
    ids: int
    requests: int
    rate_limited: int
    elapsed: float
    reference: float = 0.0
    rate: float | None = None
    limited: dict[str, int] = field(default_factory=dict)
    ok_per_second: list[int] = field(default_factory=list)
    refused_per_second: list[int] = field(default_factory=list)

    def goodput(self) -> float:
        return (self.requests - self.rate_limited) / self.elapsed

    def refused_share(self) -> float:
        return self.rate_limited / max(self.requests, 1)


def scenarios(quick: bool) -> list[Scenario]:
    """The targets: a cap C = 4 with answers of 20-180 ms; a rate R = 50/s with C = 4, given exactly
    and given twice too high."""
    c, r = 4, 50.0
    counts = (1, 2) if quick else (1, 2, 4, 8)
    return [
        Scenario(f"cap C = {c}, answers 20-180 ms", {"concurrency": c, "latency": 0.02, "jitter": 0.16},
                 {"rate_limit": None, "max_concurrency": c}, {"rate_limit": None, "max_concurrency": 2 * c},
                 ids=60 if quick else 600, counts=counts),
        Scenario(f"rate R = {r:g}/s and C = {c}, answers 20-40 ms",
                 {"rate_limit": r, "concurrency": c, "latency": 0.02, "jitter": 0.02},
                 {"rate_limit": r, "max_concurrency": c}, {"rate_limit": r, "max_concurrency": c},
                 ids=60 if quick else 750, counts=counts),
        Scenario(f"rate R = {r:g}/s and C = {c}, answers 50 ms, limits given 2x too high",
                 {"rate_limit": r, "concurrency": c, "latency": 0.05},
                 {"rate_limit": r, "max_concurrency": c}, {"rate_limit": 2 * r, "max_concurrency": 2 * c},
                 ids=60 if quick else 500, counts=(2,) if quick else (4,), runs=1 if quick else 5),
    ]


async def _workers(
    count: int, ids: int, options: dict[str, Any], base_url: str, url: str, go: Callable[[], None]
) -> list[dict[str, Any]]:
    share, extra = divmod(ids, count)
    spans, first = [], 0
    for n in range(count):
        size = share + (n < extra)
        spans.append((first, size))
        first += size
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.shared_throttle", "worker", url, base_url, str(start), str(size),
            json.dumps(options), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for start, size in spans
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            await asyncio.wait_for(process.stdout.readline(), 60)
        go()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 600)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


async def _row(scenario: Scenario, name: str, processes: int, options: dict[str, Any], url: str) -> Row:
    async with Emulator(seed=1, found_ratio=1.0, **scenario.emulator) as emu:
        samples: list[tuple[float, int, int]] = []
        started = time.monotonic()

        async def sample() -> None:
            """The gateway's counts every 20 ms, from the go signal: answered and refused by second."""
            while True:
                samples.append((time.monotonic() - started, emu.stats.requests, emu.stats.rate_limited))
                await asyncio.sleep(0.02)

        def go() -> None:
            nonlocal started
            started = time.monotonic()
            samples.clear()
            sampler.append(asyncio.ensure_future(sample()))

        sampler: list[asyncio.Future[None]] = []
        try:
            summaries = await _workers(processes, scenario.ids, options, emu.base_url, url, go)
        finally:
            for task in sampler:
                task.cancel()
        samples.append((time.monotonic() - started, emu.stats.requests, emu.stats.rate_limited))
        row = Row(scenario.title, name, sum(s["ok"] for s in summaries), scenario.ids, emu.stats.requests,
                  emu.stats.rate_limited, max(s["elapsed"] for s in summaries), limited=dict(emu.stats.limited))
    row.ok_per_second, row.refused_per_second = _by_second(samples)
    return row


async def goodput(url: str, quick: bool, chosen: list[Scenario] | None = None) -> list[list[Row]]:
    """Each case's runs: the reference first on each gateway, then each count of processes."""
    cases: list[list[Row]] = []
    for scenario in scenarios(quick) if chosen is None else chosen:
        limits = ", ".join(f"{k.removesuffix('_limit').removeprefix('max_')} {v:g}"
                           for k, v in scenario.shared.items() if v is not None)
        names = [("1 process, LocalThrottle at exactly the limits", 1, {"throttle": "local", **scenario.exact})]
        names += [(f"{count} process{'es' if count > 1 else ''}, RedisThrottle ({limits} each)", count,
                   {"throttle": "redis", **scenario.shared}) for count in scenario.counts]
        runs: list[list[Row]] = [[] for _ in names]
        for _ in range(scenario.runs):
            for case, (name, count, options) in zip(runs, names, strict=True):
                if options["throttle"] == "redis":  # each run learns from scratch, not from the previous one
                    options = {**options, "prefix": f"bench-{time.time_ns()}"}
                case.append(await _row(scenario, name, count, options, url))
        reference = statistics.median(row.goodput() for row in runs[0])
        for case in runs:
            for row in case:
                row.reference = reference
                row.rate = scenario.emulator.get("rate_limit")
        cases += runs
    return cases


def table(cases: list[list[Row]]) -> list[list[str]]:
    rows = []
    for case in cases:
        first = case[0]
        goodputs = [row.goodput() for row in case]
        refused = [row.rate_limited / max(row.requests, 1) for row in case]
        low, median = min(goodputs), statistics.median(goodputs)
        rows.append([
            first.scenario, first.client, str(len(case)), f"{min(row.ok for row in case):,} of {first.ids:,}",
            f"{low:.1f} / {median:.1f}/s",
            f"{low / first.rate:.2f} / {median / first.rate:.2f}" if first.rate else "",
            f"{low / first.reference:.2f} / {median / first.reference:.2f}",
            f"{statistics.median(refused):.1%} / {max(refused):.1%}",
            f"{statistics.median(row.elapsed for row in case):.1f} s",
        ])
    return rows


GOODPUT_HEADER = ["gateway", "clients", "runs", "ids ok (min)", "goodput min / median", "of R, min / median",
                  "vs reference, min / median", "4008s, median / max", "time (median)"]


TWICE = "limits given 2x too high"
"""The title of the case whose limits the processes must learn."""


def series(cases: list[list[Row]]) -> list[str]:
    """Each RedisThrottle run of the 2x case, second by second: answered and refused per second,
    and the refusals by the limit that made them (the cap in flight or the rate)."""
    lines = []
    for case in cases:
        if TWICE not in case[0].scenario or "RedisThrottle" not in case[0].client:
            continue
        for n, row in enumerate(case, 1):
            causes = ", ".join(f"{count} {why}" for why, count in sorted(row.limited.items())) or "none"
            lines.append(f"- run {n}: {row.goodput() / (row.rate or 1):.2f} R, {row.refused_share():.1%} 4008 "
                         f"({causes})  \n"
                         f"  ok/s `{' '.join(map(str, row.ok_per_second))}`  \n"
                         f"  4008/s `{' '.join(map(str, row.refused_per_second))}`")
    return lines


async def twice(runs: int) -> list[list[Row]]:
    """Only the 2x case, ``runs`` times, on a redis-server of its own."""
    with redis_server() as url:
        chosen = [s for s in scenarios(False) if TWICE in s.title]
        for scenario in chosen:
            scenario.runs = runs
        return await goodput(url, False, chosen)


# -- one worker process ------------------------------------------------------------------------


async def worker(url: str, base_url: str, first: int, count: int, options: dict[str, Any]) -> None:
    from douyin_async.redis import RedisThrottle

    kind = options.pop("throttle")
    throttle: LocalThrottle | RedisThrottle = (
        RedisThrottle(url, key=KEY, **options) if kind == "redis" else LocalThrottle(**options)
    )
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(throttle, RedisThrottle):
            await stack.enter_async_context(throttle)
        client = await stack.enter_async_context(
            DouyinClient(KEY, SECRET, base_url=base_url, throttle=throttle, backoff_initial=0.05))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        results = await client.get_videos([str(10**15 + first + n) for n in range(count)])
        elapsed = time.monotonic() - started
    print(json.dumps({"ok": sum(r.ok for r in results), "elapsed": elapsed}), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        asyncio.run(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), json.loads(sys.argv[6])))
    elif sys.argv[1:2] == ["twice"]:
        found = asyncio.run(twice(int(sys.argv[2]) if len(sys.argv) > 2 else 5))
        print("| " + " | ".join(GOODPUT_HEADER) + " |\n|" + "---|" * len(GOODPUT_HEADER))
        print("\n".join("| " + " | ".join(row) + " |" for row in table(found)))
        print("\n".join(series(found)))
    else:
        sys.exit("usage: python -m benchmarks.shared_throttle twice [RUNS] | worker ...")
