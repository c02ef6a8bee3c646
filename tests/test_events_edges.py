"""Events, the ledger and their listeners at the edges: odd base URLs, odd transports, odd listeners."""

from __future__ import annotations

import logging

import pytest

from douyin_async import AttemptEnded, DouyinClient, Event, RetryOptions, TransportError
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
