"""Every call the gateway may have billed is counted, and budgets hold on billed + possibly billed."""

from __future__ import annotations

import pytest

from douyin_async import BudgetExhaustedError, DouyinClient, NotFoundError, RetryOptions, TransportError
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET, SEED_ID, ClientFactory


async def test_a_retried_cut_answer_is_counted_as_possibly_billed(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    emulator.script(SEED_ID, ["truncated", "reset", "0000"])
    async with make_client(max_retries=3) as client:
        response = await client.item_get_video(SEED_ID)
    assert (response.attempts, response.possibly_billed) == (3, 2)
    assert emulator.stats.charged == 3  # the gateway billed both answers we could not read
    assert emulator.stats.charged <= 1 + response.possibly_billed


async def test_errors_carry_their_billing(emulator: Emulator, make_client: ClientFactory) -> None:
    emulator.script("1234567890", ["reset", "2000"])
    emulator.script("1234567891", ["4000", "4001", "4002"])
    async with make_client(max_retries=2) as client:
        with pytest.raises(NotFoundError) as found:
            await client.item_get_video("1234567890")
        with pytest.raises(Exception) as server:
            await client.item_get_video("1234567891")
    assert (found.value.billed, found.value.possibly_billed, found.value.attempts) == (1, 1, 2)
    assert (server.value.billed, server.value.possibly_billed) == (0, 0)  # type: ignore[attr-defined]


async def test_a_connection_never_made_bills_nothing(make_client: ClientFactory) -> None:
    async with make_client(base_url="http://127.0.0.1:9/douyin", max_retries=1) as client:
        with pytest.raises(TransportError) as caught:
            await client.item_get_video(SEED_ID)
    assert not caught.value.sent
    assert (caught.value.attempts, caught.value.billed, caught.value.possibly_billed) == (2, 0, 0)


@pytest.mark.parametrize("fault", ["truncated", "reset", "timeout"])
async def test_the_budget_holds_against_the_gateways_own_charge_counter(fault: str) -> None:
    """With a third of the answers spoiled, the gateway never bills more than the budget."""
    budget = 60
    emu = Emulator(fast=True, seed=5, faults={fault: 0.3}, timeout_delay=0.5)
    async with emu, DouyinClient(KEY, SECRET, base_url=emu.base_url, rate_limit=None, max_concurrency=8,
                                 timeout=0.3, retry=RetryOptions(sleep=_no_sleep), max_retries=3) as client:
        results = await client.get_videos([str(10**15 + i) for i in range(200)], max_charged_calls=budget)
    billed = sum(r.billed for r in results)
    possibly = sum(r.possibly_billed for r in results)
    assert len(results) == 200
    assert billed + possibly <= budget
    assert emu.stats.charged <= billed + possibly  # never fewer than the gateway billed
    assert any(isinstance(r.error, BudgetExhaustedError) or getattr(r.error, "cause", None) for r in results)
    if fault != "timeout":  # a timeout fault answers 4017 later: the gateway does not bill it
        assert possibly > 0


async def _no_sleep(seconds: float) -> None:
    return None
