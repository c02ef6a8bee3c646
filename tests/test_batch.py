"""Batches against the emulator over loopback HTTP: complete, bounded, ordered, stopping on fatal codes."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from douyin_async import (
    BatchAbortedError,
    BatchProgress,
    BatchStoppedError,
    BudgetExhaustedError,
    DouyinClient,
    DouyinError,
    InsufficientBalanceError,
    InvalidParamError,
    InvalidSettingError,
    NotFoundError,
)
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET, ClientFactory

IDS = [str(10**15 + i) for i in range(400)]


def client_for(emu: Emulator, **options: object) -> DouyinClient:
    settings: dict[str, object] = {
        "base_url": emu.base_url, "rate_limit": None, "max_concurrency": 8,
        "backoff_initial": 0.005, "backoff_max": 0.02,
    }
    settings.update(options)
    return DouyinClient(KEY, SECRET, **settings)  # type: ignore[arg-type]


@pytest.mark.slow
async def test_ten_thousand_ids_with_transient_faults_all_accounted_for() -> None:
    faults = {"4000": 0.03, "4001": 0.02, "http502": 0.02, "reset": 0.015, "truncated": 0.015}
    ids = [str(10**15 + i) for i in range(10_000)]
    async with Emulator(fast=True, rate_limit=800, concurrency=16, faults=faults, seed=5) as emu:
        async with client_for(emu, rate_limit=800, max_concurrency=16, max_retries=8) as client:
            results = [r async for r in client.iter_videos(iter(ids))]
        assert sorted(r.index for r in results) == list(range(10_000))
        assert Counter(r.item_id for r in results) == Counter(ids)
        for result in results:
            expected = emu.expected_item(result.item_id or "")
            if expected is None:
                assert isinstance(result.error, NotFoundError)
            else:
                assert result.ok, result.error
                assert result.response is not None
                assert result.response.item.title == expected["title"]
                assert result.response.item.video.url_raw == expected["video"]["url_raw"]
        assert emu.stats.rate_limited == 0
        assert sum(emu.stats.faults.values()) > 500  # the faults really happened


async def test_ordered_mode_keeps_input_order_under_random_latency() -> None:
    async with Emulator(latency=0.001, jitter=0.03, seed=3) as emu, client_for(emu) as client:
        results = await client.get_videos(IDS[:150], ordered=True)
    assert [r.input for r in results] == IDS[:150]
    assert [r.index for r in results] == list(range(150))


async def test_unordered_mode_yields_as_completed() -> None:
    async with Emulator(fast=True, jitter=0.02, seed=4) as emu, client_for(emu) as client:
        emu.script(IDS[0], ["timeout"])
        emu.config.timeout_delay = 0.3
        results = [r async for r in client.iter_videos(IDS[:60])]
    assert results[0].input != IDS[0]  # the slow first id did not hold the others back
    assert sorted(r.index for r in results) == list(range(60))


async def test_fatal_code_stops_sending_and_aborts_the_rest() -> None:
    async with Emulator(fast=True, balance=25) as emu, client_for(emu, max_concurrency=4) as client:
        results = await client.get_videos(IDS[:200])
        requests = emu.stats.requests
    assert len(results) == 200
    charged = [r for r in results if r.ok or isinstance(r.error, NotFoundError)]
    fatal = [r for r in results if isinstance(r.error, InsufficientBalanceError)]
    aborted = [r for r in results if isinstance(r.error, BatchAbortedError)]
    assert len(charged) == 25
    assert 1 <= len(fatal) <= 4  # the one that hit it, plus any already in flight
    assert len(charged) + len(fatal) + len(aborted) == 200
    assert requests == len(charged) + len(fatal)  # nothing sent after the stop
    assert all(not r.attempted and r.attempts == 0 for r in aborted)
    assert all(r.attempted for r in charged + fatal)
    assert isinstance(aborted[0].error, BatchAbortedError)
    assert isinstance(aborted[0].error.cause, InsufficientBalanceError)
    assert "4016" in str(aborted[0].error)


async def test_fatal_stop_with_one_worker_is_exact() -> None:
    async with Emulator(fast=True, balance=10) as emu, client_for(emu, max_concurrency=1) as client:
        results = await client.get_videos(IDS[:30], concurrency=1)
    codes = [r.error.code if r.error else "0000" for r in results]
    assert all(code in ("0000", "2000") for code in codes[:10])
    assert codes[10] == "4016"
    assert all(isinstance(r.error, BatchAbortedError) for r in results[11:])
    assert emu.stats.requests == 11


async def test_a_stop_event_ends_sending_and_reading_and_keeps_answers_in_flight() -> None:
    stop = asyncio.Event()
    read = 0

    def inputs() -> Iterator[str]:
        nonlocal read
        for item_id in IDS:
            read += 1
            yield item_id

    async with Emulator(latency=0.05, found_ratio=1.0) as emu, client_for(emu, max_concurrency=4) as client:
        results = []
        async for result in client.iter_videos(inputs(), stop=stop):
            results.append(result)
            if len(results) == 10:
                stop.set()
        requests = emu.stats.requests
    ok = [r for r in results if r.ok]
    aborted = [r for r in results if isinstance(r.error, BatchAbortedError)]
    assert len(ok) + len(aborted) == len(results)
    assert requests == len(ok)  # what was in flight came back; nothing was sent after the stop
    assert 10 <= len(ok) <= 10 + 4
    assert all(isinstance(r.error, BatchAbortedError) and isinstance(r.error.cause, BatchStoppedError)
               and "by request" in str(r.error) for r in aborted)
    assert read < len(IDS)  # the rest of the input stays unread
    assert len(results) <= read


@pytest.mark.parametrize("name", ["max_billed_calls", "max_charged_calls"])
async def test_max_billed_calls_stops_before_exceeding(name: str) -> None:
    """``max_charged_calls`` is the older name of ``max_billed_calls``, and still works."""
    async with Emulator(fast=True) as emu, client_for(emu, max_concurrency=4) as client:
        results = await client.get_videos(IDS[:100], **{name: 30})
        assert emu.stats.charged == 30
        with pytest.raises(InvalidSettingError, match="older name"):
            client.iter_videos(IDS[:1], max_billed_calls=5, max_charged_calls=6)
    aborted = [r for r in results if isinstance(r.error, BatchAbortedError)]
    assert len(aborted) == 70
    assert isinstance(aborted[0].error, BatchAbortedError)
    assert isinstance(aborted[0].error.cause, BudgetExhaustedError)


async def test_respect_quota_stops_before_4013() -> None:
    async with Emulator(fast=True, daily_quota=20) as emu, client_for(emu, max_concurrency=1) as client:
        results = await client.get_videos(IDS[:50], concurrency=1)
        assert emu.stats.codes["4013"] == 0
        assert emu.stats.charged == 20
    assert client.quota is not None
    assert client.quota.used == 20
    assert sum(isinstance(r.error, BatchAbortedError) for r in results) == 30


async def test_duplicates_are_fetched_once_and_each_gets_a_result() -> None:
    ids = [IDS[0], IDS[1], IDS[0], 1000000000000002, IDS[2], IDS[0]]
    async with Emulator(latency=0.02) as emu, client_for(emu) as client:
        results = await client.get_videos(ids)
        assert emu.stats.requests == 3
    assert [r.input for r in results] == ids
    assert [r.duplicate for r in results] == [False, False, True, False, True, True]
    assert results[2].response == results[0].response
    assert results[3].item_id == IDS[2]


async def test_duplicates_of_aborted_inputs_are_not_attempted() -> None:
    ids = [IDS[0], IDS[1], IDS[2], IDS[2], IDS[3], IDS[3]]
    # One request in flight, four workers: the repeat of IDS[2] attaches to its original, which is
    # still waiting for the throttle when IDS[1] hits 4016 and stops the batch.
    async with Emulator(balance=1, latency=0.05) as emu, client_for(emu, max_concurrency=1) as client:
        results = await client.get_videos(ids, concurrency=4)
        assert emu.stats.requests == 2
    assert results[3].duplicate
    assert [r.attempted for r in results] == [True, True, False, False, False, False]
    assert [type(r.error).__name__ for r in results[2:]] == ["BatchAbortedError"] * 4


async def test_unparsable_inputs_fail_without_a_request() -> None:
    ids = ["abc", None, IDS[0], "1 2", -1, "１２３"]
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        results = await client.get_videos(ids)
        assert emu.stats.requests == 1
    assert [type(r.error) for r in results if r.input != IDS[0]] == [InvalidParamError] * 5
    assert all(r.item_id is None and not r.attempted for r in results if r.input != IDS[0])


async def test_async_iterable_input() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(50):
            await asyncio.sleep(0)
            yield 10**15 + i

    async with Emulator(fast=True) as emu, client_for(emu) as client:
        results = await client.get_videos(source())
    assert [r.item_id for r in results] == IDS[:50]


async def test_huge_lazy_input_is_read_only_a_bounded_amount_ahead() -> None:
    pulled = 0

    def ten_million() -> Iterator[str]:
        nonlocal pulled
        for i in range(10_000_000):
            pulled += 1
            yield str(10**15 + i)

    async with Emulator(fast=True) as emu, client_for(emu, max_concurrency=4) as client:
        seen = 0
        async for _ in client.iter_videos(ten_million()):
            seen += 1
            if seen == 300:
                break
        await asyncio.sleep(0.05)
        pulled_at_stop = pulled
        await asyncio.sleep(0.2)
    assert pulled == pulled_at_stop  # nothing keeps reading after the consumer left
    assert pulled <= 300 + 64 + 4 + 1  # read-ahead window plus the job queue


async def test_slow_consumer_applies_back_pressure() -> None:
    pulled = 0

    def counting() -> Iterator[str]:
        nonlocal pulled
        for value in IDS:
            pulled += 1
            yield value

    async with Emulator(fast=True) as emu, client_for(emu, max_concurrency=2) as client:
        results = client.iter_videos(counting())
        await results.__anext__()
        await asyncio.sleep(0.3)  # a consumer busy elsewhere
        assert pulled <= 1 + 64 + 2 + 1
        assert emu.stats.requests <= 64 + 2
        await results.aclose()


@pytest.mark.parametrize("read_ahead", [1, 5, 200])
async def test_read_ahead_bounds_what_is_sent_while_the_consumer_is_away(read_ahead: int) -> None:
    async with Emulator(fast=True) as emu, client_for(emu, max_concurrency=16) as client, \
            client.iter_videos(IDS, concurrency=16, read_ahead=read_ahead) as results:
        await results.__anext__()
        await asyncio.sleep(0.3)  # a consumer that stores what it took before it takes more
        # The result taken gave its slot back: read_ahead more inputs may be out meanwhile.
        assert emu.stats.requests == min(read_ahead + 1, len(IDS))
        taken = 1 + len([result async for result in results])
    assert taken == len(IDS)


@pytest.mark.parametrize(("options", "message"), [
    ({"read_ahead": 0}, "read_ahead=0 is not allowed: a whole number >= 1 or None"),
    ({"concurrency": 0}, "concurrency=0 is not allowed: a whole number >= 1 or None"),
    ({"read_ahead": 2.5}, "read_ahead=2.5"),
])
async def test_bad_batch_settings_are_refused_before_anything_is_sent(options: dict[str, Any], message: str) -> None:
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        with pytest.raises(InvalidSettingError, match=message):
            client.iter_videos(IDS, **options)
        assert emu.stats.requests == 0


async def test_breaking_out_leaves_no_tasks_behind() -> None:
    async with Emulator(latency=0.05) as emu, client_for(emu) as client:
        async for _ in client.iter_videos(IDS):
            break
        await asyncio.sleep(0.05)  # let the abandoned generator be finalised
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in others if t.get_name().startswith("douyin-batch")]


async def test_cancelling_the_consumer_cancels_in_flight_work() -> None:
    async with Emulator(latency=0.5) as emu, client_for(emu) as client:
        async def consume() -> None:
            async for _ in client.iter_videos(IDS):
                pass

        task = asyncio.create_task(consume())
        while emu.stats.in_flight == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("douyin-batch")]
        assert client.limits.in_flight == 0


async def test_input_that_raises_is_reported_not_swallowed() -> None:
    def broken() -> Iterator[str]:
        yield IDS[0]
        raise OSError("disk gone")

    seen = []

    async def consume(client: DouyinClient) -> None:
        async for result in client.iter_videos(broken()):
            seen.append(result)

    async with Emulator(fast=True) as emu, client_for(emu) as client:
        with pytest.raises(OSError, match="disk gone"):
            await consume(client)
    assert len(seen) <= 1


async def test_progress_counts() -> None:
    snapshots: list[tuple[int, int, int]] = []

    def on_progress(progress: BatchProgress) -> None:
        snapshots.append((progress.done, progress.ok, sum(progress.failed.values())))

    ids = [*IDS[:40], "bad"]
    async with Emulator(fast=True) as emu, client_for(emu, rate_limit=1000) as client:
        results = await client.get_videos(ids, progress=on_progress)
    done, ok, failed = snapshots[-1]
    assert done == 41
    assert ok == sum(r.ok for r in results)
    assert failed == 41 - ok
    assert [s[0] for s in snapshots] == list(range(1, 42))


@pytest.mark.slow
async def test_adaptive_throttle_converges_below_the_gateways_limits() -> None:
    rate, concurrency = 40, 4
    emulator = Emulator(rate_limit=rate, concurrency=concurrency, latency=0.01, jitter=0.02, seed=9)
    async with emulator as emu, client_for(emu, rate_limit=2 * rate, max_concurrency=2 * concurrency) as client:
        started = asyncio.get_running_loop().time()
        results = await client.get_videos(itertools.islice(itertools.count(10**15), 500))
        elapsed = asyncio.get_running_loop().time() - started
        limits = client.limits
    assert all(r.error is None or r.error.code == "2000" for r in results)
    assert emu.stats.rate_limited / emu.stats.requests < 0.05  # measured ~1%; the benchmark reports it
    assert 500 / elapsed >= 0.7 * rate  # measured ~0.94 R
    assert limits.rate is not None and limits.rate <= 2 * rate


async def test_a_progress_callback_that_raises_stops_the_batch_with_its_exception(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    class Boom(Exception):
        pass

    def progress(p: object) -> None:
        raise Boom("callback failed")

    async with make_client() as client:
        with pytest.raises(Boom):
            await asyncio.wait_for(client.get_videos(["1", "1", "2"], progress=progress), 10)


async def test_inputs_that_break_the_parser_are_their_own_results(make_client: ClientFactory) -> None:
    bad = ["看看 https://[www.douyin.com/video/7092264344980868359", "https://h℀.douyin.com/video/1"]
    async with make_client() as client:
        results = await asyncio.wait_for(client.get_videos(["1", *bad, "2"]), 10)
    assert [r.ok for r in results] == [True, False, False, True]
    assert all(isinstance(r.error, DouyinError) for r in results[1:3])


async def test_an_unexpected_failure_in_a_resolver_is_that_inputs_error(make_client: ClientFactory) -> None:
    async with make_client() as client:
        async def broken(text: object) -> str:
            raise ValueError("Invalid IPv6 URL")

        client.resolve_item_id = broken  # type: ignore[method-assign]
        results = await asyncio.wait_for(client.get_videos(["1", "https://v.douyin.com/abc/", "2"]), 10)
    assert [r.ok for r in results] == [True, False, True]
    assert "unexpected ValueError" in str(results[1].error)


async def test_leaving_async_with_stops_sending_at_once() -> None:
    """A consumer that breaks out of ``async with client.iter_videos(...)`` pays for what was in
    flight at the break, and nothing after it, though it still holds the iterator."""
    ids = [str(1000000000000000 + n) for n in range(500)]
    async with Emulator(fast=True, latency=0.05, jitter=0.0) as emu, client_for(emu, max_concurrency=4) as client:
        async with client.iter_videos(ids) as results:
            async for _ in results:
                break
        await asyncio.sleep(0.2)  # what was on the wire at the break has arrived
        settled = emu.stats.requests
        await asyncio.sleep(0.5)  # ten latencies: a batch still running would send about 40 more
        assert emu.stats.requests == settled <= 8
        with pytest.raises(StopAsyncIteration):
            await results.__anext__()  # closed: it yields nothing more
    assert isinstance(results, AsyncIterator)


async def test_aclosing_stops_it_the_same_way() -> None:
    from contextlib import aclosing

    ids = [str(1000000000000000 + n) for n in range(500)]
    async with Emulator(fast=True, latency=0.05, jitter=0.0) as emu, client_for(emu, max_concurrency=4) as client:
        results = client.iter_videos(ids)
        async with aclosing(results):
            async for _ in results:
                break
        await asyncio.sleep(0.2)
        settled = emu.stats.requests
        await asyncio.sleep(0.5)
        assert emu.stats.requests == settled <= 8


async def test_a_waiting_worker_cancelled_after_its_wake_hands_the_wake_on() -> None:
    """Two workers wait for a job; the one woken for it is cancelled before it runs: the other
    takes the job, so no job is left behind by a wake that went nowhere."""
    from douyin_async._fanout import BatchRun, _Job

    async with DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", rate_limit=None) as client:
        run = BatchRun(client._gateway, [], parse=str, cache=None, lang=None, ordered=False, concurrency=2,
                       max_billed_calls=None, respect_quota=False, dedupe=0, progress=None)
        first = asyncio.create_task(run._next_job())
        second = asyncio.create_task(run._next_job())
        await asyncio.sleep(0)  # both wait
        job = _Job(0, "1", "1")
        run._put(job)  # wakes the first
        first.cancel()
        assert await asyncio.wait_for(second, 1) is job
        with pytest.raises(asyncio.CancelledError):
            await first
