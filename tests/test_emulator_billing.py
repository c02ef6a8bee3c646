"""What the emulator bills: every 0000 and 2000 it decides, whatever happens to the answer next."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from douyin_async import DouyinClient, DouyinError, RequestTimeoutError, TransportError
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET, SEED_ID


def absent_id(emu: Emulator) -> str:
    return next(str(i) for i in range(1, 1000) if emu.expected_item(str(i)) is None)


async def call(session: aiohttp.ClientSession, emu: Emulator, item_id: str) -> str:
    """The error_code answered, or what went wrong instead of a whole envelope."""
    params = {"key": KEY, "secret": SECRET, "item_id": item_id}
    try:
        async with session.get(f"{emu.base_url}/item_get_video/", params=params) as resp:
            raw = await resp.read()
    except aiohttp.ClientPayloadError:
        return "reset"
    try:
        return str(json.loads(raw)["error_code"])
    except ValueError:
        return f"http{resp.status}" if resp.status != 200 else "truncated"


@pytest.mark.parametrize(
    ("outcome", "seen", "charged"),
    [
        ("reset", ["reset", "reset"], True),
        ("truncated", ["truncated", "truncated"], True),
        ("0000", ["0000", "2000"], True),  # a scripted success for an absent id is its 2000
        ("2000", ["2000", "2000"], True),
        ("timeout", ["4017", "4017"], False),
        ("http502", ["http502", "http502"], False),
        ("4000", ["4000", "4000"], False),
        ("4017", ["4017", "4017"], False),
        ("5000", ["5000", "5000"], False),
    ],
)
async def test_a_fault_is_charged_only_after_a_charged_decision(outcome: str, seen: list[str], charged: bool) -> None:
    async with Emulator(fast=True, timeout_delay=0.05) as emu, aiohttp.ClientSession() as session:
        answers = []
        for item_id in (SEED_ID, absent_id(emu)):  # one found, one absent
            emu.script(item_id, [outcome])
            answers.append(await call(session, emu, item_id))
    assert answers == seen
    assert emu.stats.charged == (2 if charged else 0)
    spoiled = outcome in ("reset", "truncated")
    assert emu.stats.charged_undelivered == ({outcome: 2} if spoiled else {})
    if spoiled:  # counted by the code decided, before the fault spoiled the answer
        assert emu.stats.codes == {"0000": 1, "2000": 1}


async def test_a_client_that_gives_up_is_still_charged() -> None:
    async with Emulator(latency=0.15) as emu:
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, timeout=0.05, max_retries=0) as client:
            with pytest.raises(RequestTimeoutError):
                await client.item_get_video(SEED_ID)
        for _ in range(100):
            if emu.stats.in_flight == 0:
                break
            await asyncio.sleep(0.02)
    assert emu.stats.charged == 1 and emu.stats.charged_undelivered == {"abandoned": 1}


async def test_charge_counter_matches_a_clients_own_billing() -> None:
    """What a client saw billed, plus the undelivered answers, is exactly what the emulator billed."""
    async with Emulator(fast=True, timeout_delay=0.05) as emu:
        ids = [str(10**15 + i) for i in range(21)]
        for n, item_id in enumerate(ids):
            emu.script(item_id, [("reset", "truncated", "timeout", "http503", "4001", "0000", "2000")[n % 7]])
        billed_seen = unsure = 0
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, max_retries=0, timeout=2,
                                rate_limit=None, max_concurrency=None) as client:
            for item_id in ids:
                try:
                    await client.item_get_video(item_id)
                    billed_seen += 1
                except DouyinError as exc:
                    billed_seen += exc.charged
                    unsure += isinstance(exc, TransportError)  # no envelope: maybe billed
    undelivered = sum(emu.stats.charged_undelivered.values())
    assert emu.stats.charged == billed_seen + undelivered
    assert set(emu.stats.charged_undelivered) == {"reset", "truncated"} and undelivered <= unsure
