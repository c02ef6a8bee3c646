"""One worker process of the shared-throttle tests: a batch on one key, or leases held until killed.

``python tests/redis_worker.py batch REDIS_URL BASE_URL FIRST COUNT OPTIONS_JSON`` prints ``ready``,
waits for a line on stdin (so that every worker starts together), runs ``get_videos`` over COUNT
ids from FIRST and prints a JSON summary. ``hold REDIS_URL N OPTIONS_JSON`` takes N slots, prints
``held`` and sleeps until it is killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from douyin_async import DouyinClient
from douyin_async.redis import RedisThrottle

KEY, SECRET = "test-key", "test-secret"


async def batch(redis_url: str, base_url: str, first: int, count: int, options: dict[str, Any]) -> None:
    throttle = RedisThrottle(redis_url, key=KEY, **options)
    async with throttle, DouyinClient(KEY, SECRET, base_url=base_url, throttle=throttle,
                                      backoff_initial=0.05) as client:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        results = await client.get_videos([str(10**15 + first + n) for n in range(count)])
        elapsed = time.monotonic() - started
    errors = Counter(r.error.code or type(r.error).__name__ for r in results if r.error is not None)
    print(json.dumps({
        "ids": sorted(r.item_id or "" for r in results),
        "ok": sum(r.ok for r in results),
        "errors": dict(errors),
        "elapsed": elapsed,
        "rate_limited": throttle.limits.rate_limited,
    }), flush=True)


async def hold(redis_url: str, count: int, options: dict[str, Any]) -> None:
    async with RedisThrottle(redis_url, key=KEY, **options) as throttle:
        for _ in range(count):
            await throttle.acquire()
        print("held", flush=True)
        await asyncio.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "batch":
        asyncio.run(batch(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), json.loads(sys.argv[6])))
    else:
        asyncio.run(hold(sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])))
