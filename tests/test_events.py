"""Events and the ledger: one record per attempt, every total read from it, against the emulator's bill."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import douyin_async._call._gateway as gateway_module
from douyin_async import (
    AttemptEnded,
    AttemptStarted,
    CallEnded,
    DouyinClient,
    Event,
    InvalidSettingError,
    LimitsChanged,
    MediaFetched,
    RetryOptions,
)
from douyin_async.emulator import Emulator
from douyin_async.events import EVENTS, kinds_heard, listens_to

from .conftest import SEED_ID
from .test_download import found_id

SENTINEL_KEY = "sentinel-key-9f3a"
SENTINEL_SECRET = "sentinel-secret-77c1"
IDS = [str(10**15 + i) for i in range(120)]


async def _no_sleep(seconds: float) -> None:
    return None


def sentinel_emulator(**options: object) -> Emulator:
    return Emulator(fast=True, keys={SENTINEL_KEY: SENTINEL_SECRET}, **options)  # type: ignore[arg-type]


def sentinel_client(emu: Emulator, **options: object) -> DouyinClient:
    settings: dict[str, object] = {
        "base_url": emu.base_url, "rate_limit": None, "max_concurrency": 8, "timeout": 0.3,
        "retry": RetryOptions(sleep=_no_sleep), "max_retries": 3, **options,
    }
    return DouyinClient(SENTINEL_KEY, SENTINEL_SECRET, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", ["truncated", "reset", "timeout"])
async def test_every_total_derives_from_one_record_and_bounds_the_gateways_bill(fault: str) -> None:
    """Events, the client's usage, the batch's progress and the per-result counts agree; the
    emulator's charge counter lies between billed and billed + possibly billed."""
    events: list[Event] = []
    batch_events: list[Event] = []
    progress_seen = []
    emu = sentinel_emulator(seed=5, faults={fault: 0.3}, timeout_delay=0.5)
    async with emu, sentinel_client(emu, on_event=events.append) as client:
        results = await client.get_videos(IDS, on_event=batch_events.append, progress=progress_seen.append)
        usage = client.usage
    attempts = [e for e in events if isinstance(e, AttemptEnded)]
    calls = [e for e in events if isinstance(e, CallEnded)]
    assert len(calls) == len(IDS) == len(results)
    assert [e for e in batch_events if not isinstance(e, LimitsChanged)] == \
        [e for e in events if not isinstance(e, LimitsChanged)]
    billed = sum(e.charge == "billed" for e in attempts)
    possibly = sum(e.charge == "possibly_billed" for e in attempts)
    assert (usage.requests, usage.billed, usage.possibly_billed) == (len(attempts), billed, possibly)
    assert usage.not_billed == len(attempts) - billed - possibly
    assert usage.retries == sum(e.attempt > 1 for e in attempts)
    assert (sum(r.billed for r in results), sum(r.possibly_billed for r in results)) == (billed, possibly)
    assert (sum(c.billed for c in calls), sum(c.possibly_billed for c in calls)) == (billed, possibly)
    last = progress_seen[-1]
    assert (last.billed, last.possibly_billed) == (billed, possibly)
    assert billed <= emu.stats.charged <= billed + possibly
    if fault != "timeout":
        assert possibly > 0
    shown = repr(events)
    assert SENTINEL_KEY not in shown and SENTINEL_SECRET not in shown


async def test_an_attempts_event_says_what_happened() -> None:
    events: list[Event] = []
    async with sentinel_emulator() as emu, sentinel_client(emu, on_event=events.append) as client:
        emu.script(SEED_ID, ["4008", "reset", "0000"])
        response = await client.item_get_video(SEED_ID)
    started = [e for e in events if isinstance(e, AttemptStarted)]
    ended = [e for e in events if isinstance(e, AttemptEnded)]
    assert [e.attempt for e in started] == [e.attempt for e in ended] == [1, 2, 3]
    refused, cut, ok = ended
    assert (refused.code, refused.error, refused.charge, refused.status) == ("4008", "RateLimitError", "not_billed", 200)
    assert (cut.code, cut.charge) == (None, "possibly_billed") and cut.error is not None
    assert (ok.code, ok.error, ok.charge, ok.request_id) == ("0000", None, "billed", response.request_id)
    assert all(e.host == emu.base_url for e in ended)
    assert all(e.duration >= 0 and e.waited >= 0 and e.started_at > 1e9 for e in ended)
    call = events[-1]
    assert isinstance(call, CallEnded)
    assert (call.attempts, call.billed, call.possibly_billed, call.ok, call.error) == (3, 1, 1, True, None)


async def test_a_listener_that_raises_is_detached_and_never_breaks_a_call(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    async with sentinel_emulator() as emu, sentinel_client(emu, on_event=[broken, seen.append]) as client:
        with caplog.at_level(logging.ERROR, logger="douyin_async"):
            await client.item_get_video(SEED_ID)
            await client.item_get_video(SEED_ID)
    assert sum("listener" in r.getMessage() for r in caplog.records) == 1  # logged once, then detached
    assert sum(isinstance(e, CallEnded) for e in seen) == 2  # the others still hear


async def test_without_a_listener_no_event_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("an event was built with nobody listening")

    for name in ("AttemptEnded", "AttemptStarted", "CallEnded", "LimitsChanged"):
        monkeypatch.setattr(gateway_module, name, refuse)
    async with sentinel_emulator() as emu, sentinel_client(emu) as client:
        emu.script(SEED_ID, ["reset", "0000"])
        await client.item_get_video(SEED_ID)
        assert (client.usage.requests, client.usage.billed, client.usage.possibly_billed) == (2, 1, 1)


async def test_a_listener_hears_only_the_kinds_it_listens_to_and_no_other_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """``listens_to`` marks a listener: it hears its kinds alone, a listener beside it without a mark
    hears everything, and a kind nobody hears is never built (what a sink's listener saves each
    request); at a batch's level, and for media, as at the client's."""
    started: list[Event] = []
    media: list[Event] = []
    batch: list[Event] = []

    def hear_started(event: Event) -> None:
        started.append(event)

    def hear_media(event: Event) -> None:
        media.append(event)

    def hear_calls(event: Event) -> None:
        batch.append(event)

    listens_to(AttemptStarted)(hear_started)
    listens_to(MediaFetched)(hear_media)
    listens_to(CallEnded, LimitsChanged)(hear_calls)
    assert kinds_heard(hear_started) == {AttemptStarted} and kinds_heard(started.append) == set(EVENTS)

    def refuse(*args: object) -> None:
        raise AssertionError("an event was built that nobody hears")

    async with sentinel_emulator() as emu, sentinel_client(emu, on_event=[hear_started, hear_media]) as client:
        monkeypatch.setattr(gateway_module, "AttemptEnded", refuse)
        monkeypatch.setattr(gateway_module, "CallEnded", refuse)
        emu.script(SEED_ID, ["reset", "0000"])
        await client.item_get_video(SEED_ID)
        assert [(e.item_id, e.attempt) for e in started if isinstance(e, AttemptStarted)] == [(SEED_ID, 1), (SEED_ID, 2)]
        monkeypatch.undo()
        results = await client.get_videos(IDS[:5], on_event=hear_calls)
        assert len(started) == 2 + 5 and all(isinstance(e, AttemptStarted) for e in started)
        assert sorted(e.item_id for e in batch if isinstance(e, CallEnded)) == IDS[:5]  # in the order they end
        assert all(isinstance(e, (CallEnded, LimitsChanged)) for e in batch) and len(results) == 5
        await client.download_media(found_id(emu), tmp_path, kinds=("cover",))
    assert [(e.kind, e.refreshed) for e in media if isinstance(e, MediaFetched)] == [("cover", False)]


async def test_a_listener_that_answers_every_attribute_still_hears_everything() -> None:
    """A proxy whose ``__getattr__`` answers any name (not a mark) was a listener before marks
    existed, and still is: it hears every kind."""
    heard: list[Event] = []

    class Proxy:
        def __call__(self, event: Event) -> None:
            heard.append(event)

        def __getattr__(self, name: str) -> object:
            return lambda *args: None

    assert kinds_heard(Proxy()) == set(EVENTS)
    async with sentinel_emulator() as emu, sentinel_client(emu, on_event=Proxy()) as client:
        await client.item_get_video(SEED_ID)
    assert {AttemptStarted, AttemptEnded, CallEnded} <= {type(e) for e in heard}


def test_listens_to_refuses_what_is_not_an_event_and_a_listener_it_cannot_mark() -> None:
    with pytest.raises(TypeError, match="give one or more of AttemptStarted"):
        listens_to()
    with pytest.raises(TypeError, match="give one or more of"):
        listens_to(str)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wrap it in a function of your own"):
        listens_to(AttemptEnded)(print)


def test_on_event_refuses_what_is_not_a_listener() -> None:
    with pytest.raises(InvalidSettingError, match="on_event"):
        DouyinClient("k", "s", on_event=["not callable"])  # type: ignore[list-item]
    with pytest.raises(InvalidSettingError, match="on_event"):
        DouyinClient("k", "s", on_event=42)  # type: ignore[arg-type]


async def test_the_learned_limits_are_events() -> None:
    events: list[Event] = []
    async with Emulator(fast=True, concurrency=2) as emu, DouyinClient(
        "test-key", "test-secret", base_url=emu.base_url, rate_limit=None, max_concurrency=8,
        retry=RetryOptions(sleep=_no_sleep), on_event=events.append,
    ) as client:
        await client.get_videos(IDS[:60])
    changes = [e for e in events if isinstance(e, LimitsChanged)]
    assert changes, "the cap in flight moved, and said so"
    assert all(c.max_concurrency is None or 1 <= c.max_concurrency <= 8 for c in changes)
    assert {c.reason for c in changes} <= {"refused", "probe"}


async def test_a_media_refetch_is_in_the_ledger_and_its_event(tmp_path: Path) -> None:
    events: list[Event] = []
    async with sentinel_emulator() as emu, sentinel_client(emu, on_event=events.append) as client:
        item_id = found_id(emu)
        video = emu.expected_item(item_id)["video"]  # type: ignore[index]
        for url in (video["url_raw"], video["url"]):
            emu.script_media(url, ["http403"])
        result = await client.download_media(item_id, tmp_path, kinds=("video", "cover"))
        usage = client.usage
    assert (usage.requests, usage.billed) == (2, 2) == (emu.stats.requests, emu.stats.charged)
    assert (usage.refetches.requests, usage.refetches.billed) == (1, 1)
    assert result.billed == 2
    media = [e for e in events if isinstance(e, MediaFetched)]
    assert [(e.kind, e.refreshed, e.charge) for e in media] == [("video", True, "billed"), ("cover", False, None)]
    assert media[0].bytes == (tmp_path / f"{item_id}.mp4").stat().st_size > 0


def test_douyin_async_log_debug_writes_one_line_per_attempt_without_credentials(tmp_path: Path) -> None:
    script = (
        "import asyncio\n"
        "from douyin_async import DouyinClient\n"
        "from douyin_async.emulator import Emulator\n"
        "async def main():\n"
        f"    async with Emulator(fast=True, keys={{{SENTINEL_KEY!r}: {SENTINEL_SECRET!r}}}) as emu:\n"
        f"        emu.script({SEED_ID!r}, ['reset', '0000'])\n"
        f"        async with DouyinClient({SENTINEL_KEY!r}, {SENTINEL_SECRET!r}, base_url=emu.base_url) as c:\n"
        f"            await c.item_get_video({SEED_ID!r})\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "DOUYIN_ASYNC_LOG": "debug"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    attempts = [line for line in result.stderr.splitlines() if "DEBUG douyin_async: attempt" in line]
    assert len(attempts) == 2
    assert "charge='possibly_billed'" in attempts[0] and "charge='billed'" in attempts[1]
    assert SENTINEL_KEY not in result.stderr and SENTINEL_SECRET not in result.stderr
    assert "aiohttp" not in result.stderr
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if k != "DOUYIN_ASYNC_LOG"})
    assert "attempt" not in quiet.stderr
