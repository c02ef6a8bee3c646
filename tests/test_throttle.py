"""The throttle: no burst, windows within the rate, concurrency held, AIMD adaptation."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from douyin_async import DouyinClient, InvalidSettingError, LocalThrottle, Outcome
from douyin_async._adaptive import AimdPolicy
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
    throttle = LocalThrottle(10, None)
    stamps: list[float] = []
    for _ in range(25):
        await throttle.acquire()
        stamps.append(time.monotonic())
        await throttle.release(Outcome.ANSWERED)
    assert max_in_window(stamps) <= 10
    # The first eleven must already span a full second: a bursting bucket would send ten at once.
    assert stamps[10] - stamps[0] >= 1.0


async def test_concurrent_callers_share_the_limits() -> None:
    throttle = LocalThrottle(None, 3)
    in_flight = peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        await throttle.acquire()
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await throttle.release(Outcome.ANSWERED)

    await asyncio.gather(*(call() for _ in range(30)))
    assert peak == 3


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    throttle = LocalThrottle(None, 1)
    await throttle.acquire()
    waiter = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await throttle.release(Outcome.ANSWERED)
    await asyncio.wait_for(throttle.acquire(), 1)
    assert throttle.limits.in_flight == 1


def send(policy: AimdPolicy, clock: list[float], count: int, gap: float) -> None:
    """``count`` requests ``gap`` seconds apart, each answered with success at once."""
    for _ in range(count):
        clock[0] += gap
        policy.on_send(clock[0])
        policy.on_success(clock[0])


def test_4008_at_full_pace_cuts_the_rate_once_per_window_then_recovers() -> None:
    policy, clock = AimdPolicy(1000, 8, 0.02), [0.0]
    send(policy, clock, 200, 0.001)  # sending at our pace: the rate is the constraint
    policy.on_rate_limited(clock[0], others_in_flight=2)
    cut = policy.rate
    assert cut is not None and cut < 1000
    assert policy.concurrency == 8
    assert policy.paused_until > clock[0]  # wait for the gateway's window to empty
    policy.on_rate_limited(clock[0], others_in_flight=2)  # same burst: counted, not cut again
    assert (policy.rate, policy.rate_limited) == (cut, 2)
    clock[0] += 2.0
    send(policy, clock, 300, 0.001)
    before = policy.rate
    policy.on_rate_limited(clock[0], others_in_flight=0)
    assert before is not None and policy.rate is not None and policy.rate < before
    send(policy, clock, 20_000, 0.001)
    assert policy.rate == 1000


def test_4008_below_pace_cuts_concurrency_to_what_was_in_flight() -> None:
    policy, clock = AimdPolicy(1000, 8, 0.02), [0.0]
    for _ in range(5):  # slow requests, far below the rate
        clock[0] += 0.1
        policy.on_send(clock[0])
    policy.on_rate_limited(clock[0], others_in_flight=5)
    assert (policy.concurrency, policy.rate) == (5, 1000)
    send(policy, clock, 499, 0.01)
    assert policy.concurrency == 5  # at the learned bound it probes only rarely
    send(policy, clock, 1, 0.01)
    assert policy.concurrency == 6


def test_a_lone_request_cannot_be_over_a_concurrency_cap() -> None:
    policy, clock = AimdPolicy(1000, 8, 0.02), [0.0]
    send(policy, clock, 3, 0.5)
    policy.on_rate_limited(clock[0], others_in_flight=0)
    assert policy.concurrency == 8
    assert policy.rate is not None and policy.rate < 1000


async def test_throttle_applies_the_policy_to_the_cap() -> None:
    throttle = LocalThrottle(None, 4)  # no rate limit: a 4008 can only be the concurrency
    for _ in range(3):
        await throttle.acquire()
    await throttle.release(Outcome.LIMITED)
    assert throttle.limits.concurrency == 2
    assert throttle.limits.in_flight == 2
    third = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0.05)
    assert not third.done()  # two in flight, a cap of two: the third waits
    await throttle.release(Outcome.ANSWERED)
    await asyncio.wait_for(third, 1)
    assert throttle.limits.in_flight == 2


async def test_adaptive_off_keeps_limits() -> None:
    throttle = LocalThrottle(20, 8, adaptive=False)
    await throttle.acquire()
    await throttle.release(Outcome.LIMITED)
    assert (throttle.limits.rate, throttle.limits.concurrency, throttle.limits.rate_limited) == (20, 8, 1)


async def test_a_rate_cut_applies_to_requests_already_waiting() -> None:
    """Waiters on the old bucket move to the new one: nothing goes out at the old pace."""
    throttle = LocalThrottle(50, None)
    await throttle.acquire()
    waiters = [asyncio.create_task(throttle.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    throttle.policy.rate = 5.0  # what a 4008 at full pace would decide, without the pause
    throttle._apply()
    stamps = []
    for waiter in asyncio.as_completed(waiters):
        await waiter
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.9 / (5 * 0.98)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"rate_limit": 0}, "rate_limit=0"),
        ({"rate_limit": -5}, "rate_limit=-5"),
        ({"rate_limit": float("nan")}, "rate_limit=nan"),
        ({"rate_limit": float("inf")}, "rate_limit=inf"),
        ({"max_concurrency": 0}, "max_concurrency=0"),
        ({"max_concurrency": 2.5}, "max_concurrency=2.5"),
        ({"margin": 1.0}, "margin=1.0"),
    ],
)
def test_invalid_settings_rejected_with_the_value(options: dict[str, float], named: str) -> None:
    with pytest.raises(InvalidSettingError, match=named):
        LocalThrottle(**options)  # type: ignore[arg-type]


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
