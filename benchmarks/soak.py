"""Soak: 100,000 ids with 20% faults through one client; every id once, memory flat.

``python -m benchmarks.soak [--count N] [--max-seconds S]``. The emulator runs in its own
process on 127.0.0.1 (so the client has a core to itself), drawing a fault for one request in
five: gateway codes, HTML 502 pages, resets, cut JSON, empty bodies, timeouts, gzip bombs and
endless bodies. One client runs the whole batch through ``iter_videos``; the run checks that every
id has exactly one result, and samples this process's RSS as it goes. It stops by itself after
``--max-seconds`` (then it reports the ids it did not reach, and fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

from douyin_async import DouyinClient, ResponseOptions, RetryOptions

FAULTS = {
    "4000": 0.04, "4001": 0.03, "4002": 0.02, "4017": 0.02, "5000": 0.005, "http502": 0.03,
    "reset": 0.02, "truncated": 0.015, "empty": 0.01, "timeout": 0.002, "gzip_bomb": 0.0015,
    "endless": 0.0015,
}
"""One request in five: 20% in all."""
BASE_ID = 10**15
MiB = 1024 * 1024


@dataclass
class SoakReport:
    count: int
    seconds: float = 0.0
    results: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    missing: int = 0
    requests: int = 0
    faults: int = 0
    rss_mib: list[float] = field(default_factory=list)
    """RSS samples, one per tenth of the ids."""

    @property
    def every_id_once(self) -> bool:
        return self.results == self.count and not self.duplicates and not self.missing

    @property
    def rss_growth_mib(self) -> float:
        """RSS at the end against RSS once a tenth was done (the pool and caches warm by then)."""
        return self.rss_mib[-1] - self.rss_mib[1] if len(self.rss_mib) > 2 else 0.0


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _emulator() -> tuple[asyncio.subprocess.Process, str]:
    flags = [f"--fault={name}={p}" for name, p in FAULTS.items()]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "douyin_async.emulator", "--port", "0", "--fast", "--found-ratio", "1.0",
        "--timeout-delay", "1.5", "--seed", "11", *flags, stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    return proc, line.strip().partition("base_url=")[2]


async def soak(count: int = 100_000, max_seconds: float = 300.0, concurrency: int = 64) -> SoakReport:
    """Run the soak; the report says what happened (it raises nothing for a failed check)."""
    report = SoakReport(count)
    proc, base_url = await _emulator()
    seen = bytearray(count)
    errors: Counter[str] = Counter()
    started = time.monotonic()
    try:
        async with DouyinClient(
            "test-key", "test-secret", base_url=base_url, rate_limit=None, max_concurrency=concurrency,
            max_retries=3, backoff_initial=0.01, backoff_max=0.05, timeout=1.0,
            retry=RetryOptions(rate_limit_retries=5), response=ResponseOptions(max_body_size=256 * 1024),
        ) as client:
            report.rss_mib.append(round(rss_mib(), 1))
            ids = (str(BASE_ID + n) for n in range(count))
            async for result in client.iter_videos(ids):
                index = int(result.item_id or -1) - BASE_ID
                if not 0 <= index < count:
                    errors["unknown id"] += 1
                elif seen[index]:
                    report.duplicates += 1
                else:
                    seen[index] = 1
                report.results += 1
                if result.ok:
                    report.ok += 1
                else:
                    errors[type(result.error).__name__] += 1
                if report.results % max(count // 10, 1) == 0:
                    report.rss_mib.append(round(rss_mib(), 1))
                if time.monotonic() - started > max_seconds:
                    break
        stats_url = base_url.removesuffix("/douyin") + "/_emulator/stats"
        async with aiohttp.ClientSession() as session, session.get(stats_url) as answer:
            stats = await answer.json()
        report.requests, report.faults = stats["requests"], sum(stats["faults"].values())
    finally:
        proc.terminate()
        await proc.wait()
    report.seconds = round(time.monotonic() - started, 1)
    report.missing = count - sum(seen)
    report.errors = dict(errors)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    report = asyncio.run(soak(args.count, args.max_seconds, args.concurrency))
    print(json.dumps({**asdict(report), "every_id_once": report.every_id_once,
                      "rss_growth_mib": round(report.rss_growth_mib, 1),
                      "requests_per_second": round(report.requests / max(report.seconds, 1e-9))}, indent=1))
    return 0 if report.every_id_once and report.rss_growth_mib < 32 else 1


if __name__ == "__main__":
    sys.exit(main())
