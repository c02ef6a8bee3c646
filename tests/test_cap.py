"""The concurrency cap: held under every order of cancellations, releases and limit changes."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from douyin_async._throttle._cap import ConcurrencyCap

EVENTS = ("release holder", "cancel 0", "cancel 1", "cancel 2", "lower", "raise")


async def run_schedule(order: tuple[str, ...], yield_between: bool) -> None:
    cap = ConcurrencyCap(2)
    holders = 0

    async def take() -> None:
        nonlocal holders
        await cap.acquire()
        holders += 1

    await take()
    await take()
    waiters = [asyncio.create_task(take()) for _ in range(3)]
    await asyncio.sleep(0)
    held = 2
    for event in order:
        if event == "release holder":
            cap.release()
            held -= 1
            holders -= 1
        elif event.startswith("cancel"):
            waiters[int(event[-1])].cancel()
        else:
            cap.set_limit(1 if event == "lower" else 2)
        if yield_between:
            await asyncio.sleep(0)
        assert holders <= cap.ceiling
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    for outcome in outcomes:
        assert outcome is None or isinstance(outcome, asyncio.CancelledError), repr(outcome)
    acquired = sum(outcome is None for outcome in outcomes)
    assert holders == held + acquired
    for _ in range(held + acquired):
        cap.release()
    for _ in range(cap.limit):  # every permit is back: the cap admits exactly its limit
        await asyncio.wait_for(cap.acquire(), 1)
    blocked = asyncio.create_task(cap.acquire())
    await asyncio.sleep(0)
    assert not blocked.done()
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked


@pytest.mark.parametrize("yield_between", [True, False], ids=["yielding", "same-tick"])
async def test_every_order_of_cancel_release_and_limit_change(yield_between: bool) -> None:
    for order in itertools.permutations(EVENTS):
        await run_schedule(order, yield_between)


async def test_a_lowered_limit_holds_even_with_free_permits() -> None:
    cap = ConcurrencyCap(4)
    await cap.acquire()
    cap.set_limit(2)
    await cap.acquire()
    third = asyncio.create_task(cap.acquire())
    await asyncio.sleep(0.01)
    assert not third.done()
    cap.set_limit(3)
    await asyncio.wait_for(third, 1)
    fourth = asyncio.create_task(cap.acquire())
    await asyncio.sleep(0.01)
    assert not fourth.done()
    fourth.cancel()


async def test_peak_in_flight_never_exceeds_a_changing_limit() -> None:
    cap = ConcurrencyCap(8)
    in_flight = peak_over = 0

    async def user(n: int) -> None:
        nonlocal in_flight, peak_over
        await cap.acquire()
        in_flight += 1
        peak_over = max(peak_over, in_flight - cap.limit)
        await asyncio.sleep(0.001 * (n % 3))
        in_flight -= 1
        cap.release()

    async def changer() -> None:
        for limit in [3, 8, 1, 5, 2, 8]:
            cap.set_limit(limit)
            await asyncio.sleep(0.005)

    tasks = [asyncio.create_task(user(n)) for n in range(200)]
    await changer()
    await asyncio.gather(*tasks)
    # Holders keep their slot when the limit drops, but no one is admitted above the limit.
    assert peak_over == 0
    assert in_flight == 0
