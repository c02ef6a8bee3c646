"""Events, the ledger and their listeners at the edges: odd base URLs, odd transports, odd listeners."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from douyin_async import AttemptEnded, CallEnded, DouyinClient, Event, MediaFetched, RetryOptions, TransportError
from douyin_async.emulator import Emulator

from .conftest import SEED_ID

KEY, SECRET = "edge-sentinel-key-41d", "edge-sentinel-secret-9ae"
IDS = [str(10**15 + i) for i in range(40)]


async def _no_sleep(seconds: float) -> None:
    return None


def client_for(base_url: str, **options: object) -> DouyinClient:
    settings: dict[str, object] = {
        "rate_limit": None, "max_concurrency": 8, "timeout": 0.5, "retry": RetryOptions(sleep=_no_sleep), **options,
    }
    return DouyinClient(KEY, SECRET, base_url=base_url, **settings)  # type: ignore[arg-type]


async def test_the_userinfo_of_a_base_url_is_in_no_event_or_log_line(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Event] = []
    async with Emulator(fast=True, keys={KEY: SECRET}) as emu:
        with_userinfo = emu.base_url.replace("http://", "http://proxyuser:proxy-pass-77@")
        emu.script(SEED_ID, ["reset", "0000"])
        with caplog.at_level(logging.DEBUG, logger="douyin_async"):
            async with client_for(with_userinfo, on_event=events.append) as client:
                await client.item_get_video(SEED_ID)
    ended = [e for e in events if isinstance(e, AttemptEnded)]
    assert len(ended) == 2
    shown = repr(events) + caplog.text
    assert "proxy-pass-77" not in shown and "proxyuser" not in shown


class _Leaky:
    """A caller's transport whose errors quote the URL it was given (credentials and all)."""

    async def send(self, request: object) -> object:
        raise TransportError(f"cannot reach {request.url}")  # type: ignore[attr-defined]

    async def stream(self, *args: object, **kwargs: object) -> object:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def test_a_raising_listener_logs_no_credentials_of_the_failure_it_interrupted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: Event) -> None:
        if isinstance(event, AttemptEnded):  # while the transport's failure is on its way out
            raise RuntimeError("listener bug")

    with caplog.at_level(logging.DEBUG, logger="douyin_async"):
        async with client_for("http://127.0.0.1:9/douyin", transport=_Leaky(), max_retries=0,
                              on_event=broken) as client:
            with pytest.raises(TransportError) as caught:
                await client.item_get_video(SEED_ID)
    assert KEY not in str(caught.value)
    assert "listener bug" in caplog.text
    assert KEY not in caplog.text and SECRET not in caplog.text


async def test_two_batches_at_once_each_hear_their_own_and_usage_adds_both() -> None:
    first: list[Event] = []
    second: list[Event] = []
    async with Emulator(fast=True, keys={KEY: SECRET}, seed=3, faults={"reset": 0.2}) as emu, \
            client_for(emu.base_url) as client:
        one, two = await asyncio.gather(client.get_videos(IDS[:20], on_event=first.append),
                                        client.get_videos(IDS[20:], on_event=second.append))
        usage = client.usage
    assert {e.item_id for e in first if isinstance(e, CallEnded)} == set(IDS[:20])
    assert {e.item_id for e in second if isinstance(e, CallEnded)} == set(IDS[20:])
    attempts = [e for e in first + second if isinstance(e, AttemptEnded)]
    assert usage.requests == len(attempts) == emu.stats.requests
    assert usage.billed == sum(e.charge == "billed" for e in attempts) == sum(r.billed for r in one + two)
    assert usage.billed <= emu.stats.charged <= usage.charged


async def test_calls_cut_by_a_timeout_are_possibly_billed_everywhere() -> None:
    events: list[Event] = []
    async with Emulator(keys={KEY: SECRET}, latency=0.3) as emu, client_for(emu.base_url, on_event=events.append) as client:
        for item_id in IDS[:3]:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.item_get_video(item_id), 0.1)
        await asyncio.sleep(0.5)
        usage = client.usage
    attempts = [e for e in events if isinstance(e, AttemptEnded)]
    calls = [e for e in events if isinstance(e, CallEnded)]
    assert len(calls) == 3 and not any(c.ok for c in calls)
    assert [a.charge for a in attempts] == ["possibly_billed"] * 3
    assert (usage.requests, usage.possibly_billed, usage.billed) == (3, 3, 0)
    assert usage.billed <= emu.stats.charged <= usage.charged


async def test_a_client_closed_mid_batch_agrees_with_the_gateway() -> None:
    events: list[Event] = []
    async with Emulator(keys={KEY: SECRET}, latency=0.05, seed=2) as emu:
        client = client_for(emu.base_url, on_event=events.append, max_concurrency=4)
        async with client:
            results = []
            async with client.iter_videos(IDS) as batch:
                async for result in batch:
                    results.append(result)
                    if len(results) == 5:
                        await client.aclose()
            usage = client.usage
        await asyncio.sleep(0.2)
    attempts = [e for e in events if isinstance(e, AttemptEnded)]
    assert len(results) == len(IDS)
    assert usage.requests == len(attempts) == emu.stats.requests
    assert sum(r.billed for r in results) == usage.billed == sum(a.charge == "billed" for a in attempts)
    assert sum(r.possibly_billed for r in results) == usage.possibly_billed
    assert usage.billed <= emu.stats.charged <= usage.charged


async def test_expired_urls_of_several_kinds_are_refreshed_by_one_billed_call(tmp_path: Path) -> None:
    events: list[Event] = []
    async with Emulator(fast=True, keys={KEY: SECRET}) as emu, \
            client_for(emu.base_url, on_event=events.append) as client:
        item_id = next(str(i) for i in range(10**15, 10**15 + 50) if emu.expected_item(str(i)))
        video = emu.expected_item(item_id)["video"]  # type: ignore[index]
        for url in (video["url_raw"], video["url"], video["pic_url"]):
            emu.script_media(url, ["http403"])
        result = await client.download_media(item_id, tmp_path, kinds=("video", "cover"))
        usage = client.usage
    assert (usage.refetches.requests, usage.refetches.billed) == (1, 1)
    assert (usage.requests, usage.billed) == (2, 2) == (emu.stats.requests, emu.stats.charged) == (len(result.charges), 2)
    media = [e for e in events if isinstance(e, MediaFetched)]
    assert [(e.kind, e.refreshed) for e in media] == [("video", True), ("cover", False)]


async def test_a_call_ended_by_a_close_says_so_in_its_event() -> None:
    events: list[Event] = []
    async with Emulator(keys={KEY: SECRET}, latency=0.5) as emu:
        client = client_for(emu.base_url, on_event=events.append)
        async with client:
            call = asyncio.ensure_future(client.item_get_video(SEED_ID))
            await asyncio.sleep(0.1)
            await client.aclose()
            with pytest.raises(Exception) as caught:
                await call
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert len(ended) == 1 and ended[0].error == type(caught.value).__name__ == "ClientClosedError"
    assert (ended[0].attempts, ended[0].possibly_billed) == (1, 1)


class FailingRelease:
    """A throttle whose store goes away: every release raises."""

    def __init__(self) -> None:
        from douyin_async import LocalThrottle

        self._inner = LocalThrottle(rate_limit=None, max_concurrency=4)

    async def acquire(self):  # type: ignore[no-untyped-def]
        return await self._inner.acquire()

    async def release(self, ticket, outcome) -> None:  # type: ignore[no-untyped-def]
        await self._inner.release(ticket, outcome)
        raise TransportError("the throttle's store is gone", retryable=False)

    @property
    def limits(self):  # type: ignore[no-untyped-def]
        return self._inner.limits


async def test_an_attempt_is_recorded_even_when_the_throttle_release_fails() -> None:
    events: list[Event] = []
    async with Emulator(keys={KEY: SECRET}, fast=True) as emu, DouyinClient(
        KEY, SECRET, base_url=emu.base_url, throttle=FailingRelease(), on_event=events.append, max_retries=0,
    ) as client:
        with pytest.raises(TransportError):
            await client.item_get_video(SEED_ID)
        usage = client.usage
    assert emu.stats.charged == 1
    assert (usage.requests, usage.billed) == (1, 1)
    assert [e.charge for e in events if isinstance(e, AttemptEnded)] == ["billed"]
