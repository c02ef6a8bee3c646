"""A thousand failing calls leave nothing behind: connections, tasks and file descriptors."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from douyin_async import DouyinClient, DouyinError, ResponseOptions, RetryOptions
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET

FD_DIR = Path("/proc/self/fd")
OUTCOMES = ["4000", "2000", "4005", "4008", "5000", "reset", "truncated", "timeout", "http502", "empty",
            "deep_json", "redirect_other", "gzip_bomb", "endless"]


def open_fds() -> int:
    return len(os.listdir(FD_DIR))


def tasks() -> int:
    """Tasks on this loop, the emulator's per-connection handlers (server side) left out."""
    return sum(not getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler.")
               for t in asyncio.all_tasks())


async def settle(check: object, seconds: float = 5.0) -> None:
    """Wait until ``check()`` holds (server handlers and closing sockets finish on their own time)."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.05)


@pytest.mark.skipif(not FD_DIR.exists(), reason="needs /proc/self/fd")
async def test_a_thousand_failures_leak_no_connection_task_or_descriptor() -> None:
    async with Emulator(fast=True, timeout_delay=0.3, found_ratio=1.0) as emu:
        ids = [str(10**12 + n) for n in range(1000)]
        for n, item_id in enumerate(ids):
            emu.script(item_id, [OUTCOMES[n % len(OUTCOMES)]])
        client = DouyinClient(
            KEY, SECRET, base_url=emu.base_url, rate_limit=None, max_concurrency=20, max_retries=0,
            timeout=0.1, retry=RetryOptions(rate_limit_retries=0), response=ResponseOptions(max_body_size=64 * 1024),
        )
        baseline_fds = open_fds()
        baseline_tasks = tasks()
        kinds: Counter[str] = Counter()
        started = time.monotonic()
        async with client:
            results = await asyncio.wait_for(asyncio.gather(
                *(client.item_get_video(item_id) for item_id in ids), return_exceptions=True), 60)
            assert tasks() == baseline_tasks  # nothing of ours left running
            # The pool keeps at most its limit of idle connections: two descriptors each, ours and the server's.
            assert open_fds() <= baseline_fds + 2 * 100 + 10
        elapsed = time.monotonic() - started
        for result in results:
            assert isinstance(result, DouyinError), result  # typed, every one
            kinds[type(result).__name__] += 1
        assert len(kinds) >= 8, kinds
        await settle(lambda: open_fds() <= baseline_fds and tasks() <= baseline_tasks and not emu.stats.in_flight)
        assert open_fds() <= baseline_fds
        assert tasks() <= baseline_tasks
        assert emu.stats.in_flight == 0
    assert elapsed < 60
