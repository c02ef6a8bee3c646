"""The throttle: no burst, windows within the rate, concurrency held, AIMD adaptation."""

from __future__ import annotations

import asyncio
import time

import pytest

from douyin_async import DouyinClient
from douyin_async._throttle import Throttle
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_no_burst_at_start_and_no_window_over_the_rate() -> None:
    throttle = Throttle(10, None)
    stamps: list[float] = []
    for _ in range(25):
        await throttle.acquire()
        stamps.append(time.monotonic())
        throttle.release()
    assert max_in_window(stamps) <= 10
    # The first eleven must already span a full second: a bursting bucket would send ten at once.
    assert stamps[10] - stamps[0] >= 1.0


async def test_concurrent_callers_share_the_limits() -> None:
    throttle = Throttle(None, 3)
    in_flight = peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        await throttle.acquire()
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        throttle.release()

    await asyncio.gather(*(call() for _ in range(30)))
    assert peak == 3


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    throttle = Throttle(None, 1)
    await throttle.acquire()
    waiter = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    throttle.release()
    await asyncio.wait_for(throttle.acquire(), 1)
    assert throttle.limits.in_flight == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_rate_limited_decreases_once_per_cooldown_then_recovers() -> None:
    clock = FakeClock()
    throttle = Throttle(20, 8, clock=clock)
    throttle.on_rate_limited()
    after_first = throttle.limits
    assert after_first.rate is not None and after_first.rate < 20
    assert after_first.concurrency is not None and after_first.concurrency < 8
    throttle.on_rate_limited()  # same burst: no second cut
    assert throttle.limits.rate == after_first.rate
    clock.now = 2.0
    throttle.on_rate_limited()
    lowered = throttle.limits.rate
    assert lowered is not None and lowered < after_first.rate
    for _ in range(5000):
        throttle.on_success()
    recovered = throttle.limits
    assert recovered.rate == 20 and recovered.concurrency == 8
    assert recovered.rate_limited == 3


async def test_adaptive_off_keeps_limits() -> None:
    throttle = Throttle(20, 8, adaptive=False)
    throttle.on_rate_limited()
    assert (throttle.limits.rate, throttle.limits.concurrency) == (20, 8)


@pytest.mark.parametrize("bad", [{"rate_limit": 0}, {"max_concurrency": 0}, {"margin": 1.0}])
def test_invalid_settings_rejected(bad: dict[str, float]) -> None:
    options = {"rate_limit": 1.0, "max_concurrency": 1, **bad}
    with pytest.raises(ValueError):
        Throttle(options["rate_limit"], int(options["max_concurrency"]), margin=options.get("margin", 0.02))


async def test_client_holds_concurrency_and_rate_at_the_server() -> None:
    async with Emulator(latency=0.05, jitter=0.05, seed=1) as emu:
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, rate_limit=40, max_concurrency=3) as client:
            results = await asyncio.gather(
                *(client.item_get_video(str(10**15 + i)) for i in range(60)), return_exceptions=True
            )
        assert len(results) == 60
        assert emu.stats.max_in_flight <= 3
        assert emu.max_in_window() <= 40
        assert emu.stats.rate_limited == 0


async def test_client_at_the_emulators_exact_limits_gets_no_4008() -> None:
    async with Emulator(rate_limit=15, concurrency=4, latency=0.01, jitter=0.02, seed=2) as emu:
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, rate_limit=15, max_concurrency=4) as client:
            await asyncio.gather(
                *(client.item_get_video(str(10**15 + i)) for i in range(40)), return_exceptions=True
            )
        assert emu.stats.rate_limited == 0
        assert emu.stats.requests == 40
