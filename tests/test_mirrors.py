"""Mirror hosts: host failures move to the next base URL, gateway codes never do."""

from __future__ import annotations

import pytest

from douyin_async import DouyinClient, RetryOptions, ServerError
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET, SEED_ID, SleepRecorder

DEAD = "http://127.0.0.1:9/douyin"  # nothing listens on the discard port


def client(*base_urls: str, sleeps: SleepRecorder, **options: object) -> DouyinClient:
    return DouyinClient(KEY, SECRET, base_url=list(base_urls), rate_limit=None, max_concurrency=None,
                        retry=RetryOptions(sleep=sleeps), **options)  # type: ignore[arg-type]


async def test_a_dead_host_moves_to_the_next_and_the_good_one_is_kept(
    emulator: Emulator, sleeps: SleepRecorder
) -> None:
    async with client(DEAD, emulator.base_url, sleeps=sleeps) as c:
        assert c.base_url == DEAD
        first = await c.item_get_video(SEED_ID)
        assert first.attempts == 2 and c.base_url == emulator.base_url
        second = await c.item_get_video(SEED_ID)
        assert second.attempts == 1  # straight to the host that answered
    assert emulator.stats.requests == 2


async def test_an_html_5xx_page_moves_to_the_next_host(sleeps: SleepRecorder) -> None:
    async with Emulator(fast=True) as broken, Emulator(fast=True) as good:
        broken.script(SEED_ID, ["http502"])
        async with client(broken.base_url, good.base_url, sleeps=sleeps) as c:
            response = await c.item_get_video(SEED_ID)
        assert response.attempts == 2
        assert (broken.stats.requests, good.stats.requests) == (1, 1)


async def test_gateway_codes_never_move_the_host(sleeps: SleepRecorder) -> None:
    async with Emulator(fast=True) as first, Emulator(fast=True) as second:
        first.script(SEED_ID, ["4000", "4000", "4000"])
        async with client(first.base_url, second.base_url, sleeps=sleeps, max_retries=2) as c:
            with pytest.raises(ServerError):
                await c.item_get_video(SEED_ID)
            assert c.base_url == first.base_url
        assert (first.stats.requests, second.stats.requests) == (3, 0)


async def test_every_host_dead_is_a_typed_error_after_the_retries(sleeps: SleepRecorder) -> None:
    from douyin_async import TransportError

    async with client(DEAD, "http://127.0.0.1:7/douyin", sleeps=sleeps, max_retries=3) as c:
        with pytest.raises(TransportError) as caught:
            await c.item_get_video(SEED_ID)
    assert caught.value.attempts == 4 and SECRET not in str(caught.value)


def test_every_mirror_is_checked_at_construction() -> None:
    from douyin_async import InvalidSettingError

    with pytest.raises(InvalidSettingError, match="base_url"):
        DouyinClient(KEY, SECRET, base_url=["http://ok/douyin", "ftp://bad/douyin"])
    with pytest.raises(InvalidSettingError, match="base_url"):
        DouyinClient(KEY, SECRET, base_url=[])
