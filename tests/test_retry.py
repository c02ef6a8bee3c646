"""The retry policy: backoff shape, caps, separate 4008 allowance, cancellation."""

from __future__ import annotations

import asyncio

import pytest
import tenacity

from douyin_async import RetryOptions, errors
from douyin_async._call._retry import RetryPolicy, should_retry
from douyin_async.emulator import Emulator

from .conftest import ClientFactory, SleepRecorder


def policy() -> RetryPolicy:
    return RetryPolicy(max_retries=3, backoff_initial=0.5, backoff_max=4.0,
                       options=RetryOptions(rate_limit_retries=5, jitter=lambda low, high: high))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (errors.ServerError("x", code="4000"), True),
        (errors.RateLimitError("x", code="4008"), True),
        (errors.TransportError("reset"), True),
        (errors.HTTPStatusError("x", status=503), True),
        (errors.HTTPStatusError("x", status=429), True),
        (errors.HTTPStatusError("x", status=404), False),
        (errors.NotFoundError("x", code="2000"), False),
        (errors.InsufficientBalanceError("x", code="4016"), False),
        (errors.InvalidParamError("x", code="4003"), False),
        (asyncio.CancelledError(), False),
        (ValueError("not ours"), False),
    ],
)
def test_should_retry_is_a_positive_predicate(exc: BaseException, expected: bool) -> None:
    assert should_retry(exc) is expected


def test_exponential_backoff_is_capped() -> None:
    p = policy()
    server = errors.ServerError("x", code="4000")
    assert [p.delay(server, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_full_jitter_stays_within_bounds() -> None:
    p = RetryPolicy(max_retries=3, backoff_initial=0.5, backoff_max=4.0, options=RetryOptions())
    server = errors.ServerError("x", code="4000")
    assert all(0 <= p.delay(server, 3) <= 2.0 for _ in range(200))


def test_retry_after_is_honoured_but_capped() -> None:
    p = policy()
    assert p.delay(errors.HTTPStatusError("x", status=429, retry_after=1.5), 1) == 1.5
    assert p.delay(errors.HTTPStatusError("x", status=503, retry_after=600), 1) == 4.0


def test_maintenance_waits_the_long_pause_and_4008_a_short_one() -> None:
    p = policy()
    assert p.delay(errors.MaintenanceError("x", code="4009"), 1) == 4.0
    assert p.delay(errors.RateLimitError("x", code="4008"), 7) == 0.5


async def test_real_attempts_sleep_the_documented_sequence(
    emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    """Ceilings 0.5, 1, 2, 4 (jitter pinned to the ceiling), and 4008s their own short wait."""
    emulator.script("1234567890", ["4000", "4001", "4008", "4002", "4017"])
    async with make_client(max_retries=4, backoff_initial=0.5, backoff_max=30,
                           retry={"jitter": lambda low, high: high}) as client:
        response = await client.item_get_video("1234567890")
    assert response.attempts == 6
    assert sleeps.delays == [0.5, 1.0, 0.5, 2.0, 4.0]


async def test_4008_does_not_use_up_max_retries(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    emulator.script("1234567890", ["4008", "4000", "4008", "4008", "4001"])
    async with make_client(max_retries=2, retry={"rate_limit_retries": 3}) as client:
        response = await client.item_get_video("1234567890")
    assert response.attempts == 6


async def test_retry_after_header_reaches_the_sleep(make_client: ClientFactory, sleeps: SleepRecorder) -> None:
    from aiohttp import web

    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=429, text="slow down", headers={"Retry-After": "2"})

    app = web.Application()
    app.router.add_get("/douyin/item_get_video/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with make_client(base_url=f"http://127.0.0.1:{port}/douyin", max_retries=2,
                               backoff_max=1.0) as client:
            with pytest.raises(errors.HTTPStatusError) as caught:
                await client.item_get_video("1")
    finally:
        await runner.cleanup()
    assert caught.value.status == 429 and caught.value.attempts == 3 == calls
    assert sleeps.delays == [1.0, 1.0]


async def test_final_error_is_typed_never_retry_error(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    emulator.script("1234567890", ["4002"] * 10)
    async with make_client(max_retries=1) as client:
        with pytest.raises(errors.ServerError) as caught:
            await client.item_get_video("1234567890")
    assert not isinstance(caught.value, tenacity.RetryError)
    assert caught.value.attempts == 2
    assert "attempts=2" in str(caught.value)


async def test_cancellation_is_not_retried_or_swallowed(emulator: Emulator, make_client: ClientFactory) -> None:
    emulator.config.latency = 5.0
    async with make_client(max_retries=5) as client:
        task = asyncio.create_task(client.item_get_video("1234567890"))
        while emulator.stats.in_flight == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert emulator.stats.requests == 1


async def test_cancellation_during_backoff_sleep(emulator: Emulator, make_client: ClientFactory) -> None:
    emulator.script("1234567890", ["4000"] * 5)
    async with make_client(max_retries=5, retry={"sleep": asyncio.sleep}, backoff_initial=10, backoff_max=10) as client:
        task = asyncio.create_task(client.item_get_video("1234567890"))
        while emulator.stats.requests == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert emulator.stats.requests == 1
