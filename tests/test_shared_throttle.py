"""Clients of one key in one process share its limits: together they stay within them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from douyin_async import DouyinClient, LocalThrottle, RetryOptions
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET

RATE, CONCURRENCY = 40.0, 4


async def run_six(emu: Emulator, *, own_throttles: bool) -> int:
    """Six clients, each given the key's full limits, 12 calls each at once; the 4008s seen."""

    def make() -> DouyinClient:
        limits = ({"throttle": LocalThrottle(RATE, CONCURRENCY)} if own_throttles
                  else {"rate_limit": RATE, "max_concurrency": CONCURRENCY})
        return DouyinClient(KEY, SECRET, base_url=emu.base_url, backoff_initial=0.01, backoff_max=0.05,
                            retry=RetryOptions(rate_limit_retries=50), **limits)  # type: ignore[arg-type]

    clients = [make() for _ in range(6)]

    async def work(client: DouyinClient, n: int) -> None:
        async with client:
            await asyncio.gather(*(client.item_get_video(str(10**12 + 100 * n + i)) for i in range(12)))

    await asyncio.wait_for(asyncio.gather(*(work(c, n) for n, c in enumerate(clients))), 30)
    return emu.stats.rate_limited


async def test_six_clients_of_one_key_stay_within_its_limits() -> None:
    async with Emulator(fast=True, latency=0.03, rate_limit=RATE, concurrency=CONCURRENCY, found_ratio=1.0) as emu:
        refused = await run_six(emu, own_throttles=False)
        assert emu.stats.max_in_flight <= CONCURRENCY
    assert refused <= 2  # 72 calls: at most a stray refusal from timing jitter


async def test_own_throttles_opt_out_and_together_exceed_the_limits() -> None:
    """What sharing prevents: with a throttle each, the gateway refuses many."""
    async with Emulator(fast=True, latency=0.03, rate_limit=RATE, concurrency=CONCURRENCY, found_ratio=1.0) as emu:
        refused = await run_six(emu, own_throttles=True)
    assert refused > 10


def test_clients_alike_share_and_others_do_not(caplog: pytest.LogCaptureFixture) -> None:
    a = DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin")
    b = DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin")
    other_key = DouyinClient("k2", SECRET, base_url="http://127.0.0.1:9/douyin")
    other_host = DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:10/douyin")
    assert a._throttle is b._throttle
    assert other_key._throttle is not a._throttle and other_host._throttle is not a._throttle
    with caplog.at_level(logging.WARNING, logger="douyin_async"):
        c = DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", rate_limit=50)
    assert c._throttle is not a._throttle and "other limits" in caplog.text
    assert KEY not in caplog.text
