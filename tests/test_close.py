"""Closing a client with calls in flight ends them with a typed error; it never reopens by itself."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from douyin_async import AiohttpTransport, BatchAbortedError, ClientClosedError, DouyinClient, TransportError
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET, SEED_ID
from .test_download import found_id


def client_for(emu: Emulator, **options: object) -> DouyinClient:
    settings: dict[str, object] = {"base_url": emu.base_url, "rate_limit": None, "max_concurrency": 4,
                                   "backoff_initial": 0.0, "backoff_max": 0.0}
    settings.update(options)
    return DouyinClient(KEY, SECRET, **settings)  # type: ignore[arg-type]


async def test_close_fails_calls_in_flight_and_later_calls() -> None:
    async with Emulator(fast=True, latency=5.0) as emu:
        client = client_for(emu)
        await client.open()
        calls = [asyncio.create_task(client.item_get_video(str(10**12 + n))) for n in range(6)]
        await asyncio.sleep(0.2)  # some at the emulator, the rest waiting for a slot
        started = time.monotonic()
        await client.aclose()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 2)
        assert time.monotonic() - started < 2
        assert all(isinstance(r, ClientClosedError) for r in results), results
        with pytest.raises(ClientClosedError, match="closed"):
            await client.item_get_video(SEED_ID)  # no session is opened behind the caller's back
        assert 1 <= emu.stats.requests <= 4
        async with client:  # an explicit open works again
            emu.config.latency = 0.0
            assert (await client.item_get_video(SEED_ID)).item.num_iid == SEED_ID


async def test_close_during_a_batch_stops_it_with_every_input_accounted_for() -> None:
    ids = [str(10**12 + n) for n in range(40)]
    async with Emulator(fast=True, latency=0.05) as emu:
        client = client_for(emu)
        await client.open()
        seen: list[str | None] = []
        errors: list[BaseException | None] = []

        async def consume() -> None:
            async for result in client.iter_videos(ids):
                seen.append(result.item_id)
                errors.append(result.error)
                if len(seen) == 5:
                    await client.aclose()

        await asyncio.wait_for(consume(), 10)
        sent = emu.stats.requests
        await asyncio.sleep(0.2)
        assert emu.stats.requests == sent  # nothing more went out after close
    assert sorted(x for x in seen if x is not None) == sorted(ids)  # every id exactly once
    later = [e for e in errors[5:] if e is not None]
    assert later and all(isinstance(e, (ClientClosedError, BatchAbortedError)) for e in later)


async def test_close_during_a_download_is_typed(tmp_path: Path) -> None:
    async with Emulator(fast=True, video_size=200_000, slow_body=1.0) as emu:
        client = client_for(emu)
        await client.open()
        download = asyncio.create_task(client.download(found_id(emu), tmp_path))
        while emu.stats.media_requests == 0 and not download.done():
            await asyncio.sleep(0.02)
        started = time.monotonic()
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(download, 2)
        assert time.monotonic() - started < 1


async def test_use_from_another_threads_loop_is_refused_at_once() -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        await client.item_get_video(SEED_ID)
        outcome: list[BaseException | None] = []

        def other_thread() -> None:
            async def call() -> None:
                await client.item_get_video(SEED_ID)

            try:
                asyncio.run(asyncio.wait_for(call(), 5))
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=other_thread)
        started = time.monotonic()
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.01)  # this loop keeps running, as a server's would
        assert time.monotonic() - started < 2
        [error] = outcome
        assert isinstance(error, TransportError) and "another event loop" in str(error)
        assert (await client.item_get_video(SEED_ID)).item.num_iid == SEED_ID  # untouched here


class CountingTransport(AiohttpTransport):
    """The default transport, counting the times it is closed."""

    closes = 0

    async def aclose(self) -> None:
        self.closes += 1
        await super().aclose()


async def test_close_leaves_a_given_transport_or_session_open() -> None:
    async with Emulator(fast=True) as emu:
        transport = CountingTransport()
        async with client_for(emu, transport=transport) as client:
            await client.item_get_video(SEED_ID)
        assert transport.closes == 0
        async with client_for(emu, transport=transport) as client:  # still usable: it was left open
            await client.item_get_video(SEED_ID)
        await transport.aclose()
        async with aiohttp.ClientSession() as session:
            async with client_for(emu, session=session) as client:
                await client.item_get_video(SEED_ID)
            assert not session.closed
        async with client_for(emu) as client:  # a session the client made is closed with it
            await client.item_get_video(SEED_ID)
            ours = client._transport
        assert isinstance(ours, AiohttpTransport) and ours._own.value is not None and ours._own.value.closed


async def test_an_owners_cancellation_in_the_same_step_as_close_stays_a_cancellation() -> None:
    async with Emulator(fast=True, latency=5.0) as emu:
        client = client_for(emu)
        await client.open()
        call = asyncio.create_task(client.item_get_video(SEED_ID))
        await asyncio.sleep(0.2)
        closing = asyncio.ensure_future(client.aclose())  # cancels the call in its first step...
        call.cancel()  # ...and the owner does too, before the call runs again
        with pytest.raises(asyncio.CancelledError):
            await call
        await closing
        async with client:  # the neighbour: the close alone
            other = asyncio.create_task(client.item_get_video(SEED_ID))
            await asyncio.sleep(0.2)
        with pytest.raises(ClientClosedError):
            await other


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout and Task.cancelling() are 3.11+")
async def test_a_time_limit_that_expires_as_the_client_closes_is_still_a_timeout() -> None:
    async with Emulator(fast=True, latency=5.0) as emu:
        client = client_for(emu)
        await client.open()
        limits: list[asyncio.Timeout] = []

        async def owner() -> tuple[str, int]:
            try:
                async with asyncio.timeout(30) as limit:
                    limits.append(limit)
                    await client.item_get_video(SEED_ID)
            except TimeoutError:
                return "timeout", asyncio.current_task().cancelling()  # type: ignore[union-attr]
            return "no timeout", -1

        call = asyncio.create_task(owner())
        await asyncio.sleep(0.2)
        closing = asyncio.ensure_future(client.aclose())
        limits[0].reschedule(asyncio.get_running_loop().time())  # expires right after the close's step
        assert await call == ("timeout", 0)
        await closing
