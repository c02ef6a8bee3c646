"""Scale: time per id and peak RSS for batches of growing size through ``iter_videos``.

Each size runs in a fresh process (peak RSS is a per-process high-water mark) against the same
fast server, with the throttle off, so what grows with the batch is the SDK's own cost.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time

from douyin_async import DouyinClient


async def _batch(base_url: str, count: int, concurrency: int) -> float:
    ids = (str(10**18 + n) for n in range(count))
    started = time.perf_counter()
    ok = 0
    async with DouyinClient("bench-key", "bench-secret", base_url=base_url, rate_limit=None,
                            max_concurrency=concurrency, max_retries=0) as client:
        async for result in client.iter_videos(ids):
            ok += result.ok
    if ok != count:
        raise RuntimeError(f"only {ok} of {count} ok")
    return time.perf_counter() - started


def measure(base_url: str, count: int, concurrency: int = 64) -> dict[str, float]:
    """Run one size in a child process; returns seconds, µs per id and peak RSS in MiB."""
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", base_url, str(count), str(concurrency)],
        capture_output=True, text=True, check=True, timeout=3600,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _child(base_url: str, count: int, concurrency: int) -> None:
    runner = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        pass
    seconds = runner(_batch(base_url, count, concurrency))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ids": count, "seconds": seconds, "us_per_id": seconds / count * 1e6,
                      "peak_rss_mib": peak_kib / 1024}))


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
