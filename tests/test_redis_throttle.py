"""RedisThrottle against a real redis-server on 127.0.0.1, and real worker processes sharing it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from douyin_async import (
    BatchAbortedError,
    DouyinClient,
    InvalidSettingError,
    Outcome,
    ThrottleUnavailableError,
)
from douyin_async._throttle._adaptive import AdaptivePolicy, Ticket
from douyin_async._throttle._redis import _Lease
from douyin_async.emulator import Emulator
from douyin_async.redis import RedisThrottle

from .redis_server import RedisServer, free_port

KEY, SECRET = "test-key", "test-secret"
WORKER = Path(__file__).with_name("redis_worker.py")
FAST = {"latency": 0.02, "jitter": 0.16, "seed": 1, "found_ratio": 1.0}



@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "options"), [
    ((42,), {"key": KEY}),
    (("",), {"key": KEY}),
    (("http://127.0.0.1:6379",), {"key": KEY}),
    (("redis://x",), {"key": KEY, "rate_limit": 0}),
    (("redis://x",), {"key": KEY, "max_concurrency": 0}),
    (("redis://x",), {"key": KEY, "lease_seconds": 0}),
    (("redis://x",), {"key": KEY, "fallback": "yes"}),
    (("redis://x",), {"key": KEY, "processes": 0}),
    (("redis://x",), {"key": KEY, "prefix": ""}),
    (("redis://x",), {"key": KEY, "margin": 1}),
    (("redis://x",), {"key": ""}),
])
def test_settings_are_checked(args: tuple[Any, ...], options: dict[str, Any]) -> None:
    with pytest.raises(InvalidSettingError):
        RedisThrottle(*args, **options)


def test_the_key_comes_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOUYIN_API_KEY", raising=False)
    with pytest.raises(InvalidSettingError, match="DOUYIN_API_KEY"):
        RedisThrottle("redis://127.0.0.1:1")
    monkeypatch.setenv("DOUYIN_API_KEY", "from-env")
    assert "from-env" not in repr(RedisThrottle("redis://:pw@127.0.0.1:1"))


# -- one process, several throttles ------------------------------------------------------------


async def test_no_window_holds_more_than_the_rate_across_throttles(redis_server: RedisServer) -> None:
    rate = 25
    throttles = [RedisThrottle(redis_server.url, key=KEY, rate_limit=rate, max_concurrency=None) for _ in range(3)]
    sends: list[float] = []

    async def one(throttle: RedisThrottle) -> None:
        ticket = await throttle.acquire()
        sends.append(time.monotonic())
        await throttle.release(ticket, Outcome.ANSWERED)

    try:
        await asyncio.gather(*(one(throttles[n % 3]) for n in range(2 * rate)))
    finally:
        for throttle in throttles:
            await throttle.aclose()
    sends.sort()
    assert max_in_window(sends) <= rate
    assert sends[1] - sends[0] > 0.8 / rate  # no burst at start: the second waits one interval
    assert sends[-1] - sends[0] >= (2 * rate - 1) / rate * 0.95


async def test_the_cap_holds_across_throttles_and_releases_wake_waiters(redis_server: RedisServer) -> None:
    cap, hold = 3, 0.03
    throttles = [RedisThrottle(redis_server.url, key=KEY, rate_limit=None, max_concurrency=cap, adaptive=False)
                 for _ in range(3)]
    in_flight = [0, 0]

    async def one(throttle: RedisThrottle) -> None:
        ticket = await throttle.acquire()
        in_flight[0] += 1
        in_flight[1] = max(in_flight)
        await asyncio.sleep(hold)
        in_flight[0] -= 1
        await throttle.release(ticket, Outcome.ANSWERED)

    started = time.monotonic()
    try:
        await asyncio.gather(*(one(throttles[n % 3]) for n in range(30)))
    finally:
        for throttle in throttles:
            await throttle.aclose()
    assert in_flight[1] == cap
    # 10 rounds of 30 ms: waiters are woken by releases, not by their fallback timer (0.5-1 s).
    assert time.monotonic() - started < 1.0


async def test_a_4008_in_one_process_narrows_the_window_of_all(redis_server: RedisServer) -> None:
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=None, max_concurrency=8) as a, \
            RedisThrottle(redis_server.url, key=KEY, rate_limit=None, max_concurrency=8) as b:
        first, second = await a.acquire(), await a.acquire()
        assert second.in_flight == 2
        await a.release(second, Outcome.LIMITED)  # 2 in flight were too many: room for one
        assert a.limits.concurrency == 1
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(b.acquire(), 0.3)
        waiting = asyncio.ensure_future(b.acquire())
        await asyncio.sleep(0.05)
        await a.release(first, Outcome.ANSWERED)
        ticket = await asyncio.wait_for(waiting, 0.5)
        assert b.limits.concurrency == 1
        await b.release(ticket, Outcome.ANSWERED)


async def test_the_shared_window_moves_as_the_in_process_policy(redis_server: RedisServer) -> None:
    """The Lua port of AdaptivePolicy's window, event for event, probes included."""
    rng = random.Random(5)
    ceiling = 8
    policy = AdaptivePolicy(None, ceiling, 0.02)
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=None, max_concurrency=ceiling) as throttle:
        for n in range(600):
            assert policy.concurrency is not None
            in_flight = rng.randint(1, policy.concurrency + 1)
            refused = rng.random() < 0.04 or (in_flight > 5 and rng.random() < 0.5)
            if refused:
                policy.on_refusal(0.0, Ticket(0.0, in_flight))
            else:
                policy.on_answer(0.0, Ticket(0.0, in_flight))
            await throttle._release(f"lease-{n}", in_flight, Outcome.LIMITED if refused else Outcome.ANSWERED)
            assert throttle.limits.concurrency == policy.concurrency, n


async def test_the_shared_rate_moves_as_the_in_process_policy(redis_server: RedisServer, redis_client: Redis) -> None:
    """The Lua port of the rate side, event for event, on Redis's clock: which limit a refusal
    points at, the window cut a second refusal undoes, the cut to what got through, the probes."""
    policy = AdaptivePolicy(100.0, 8, 0.02)
    script = [(4, False, 0.01)] * 6 + [(5, True, 0.01)] + [(4, False, 0.01)] * 30
    script += [(4, True, 0.01), (3, True, 0.3)] + [(3, False, 0.3)] * 14 + [(2, True, 0.3)] + [(3, False, 0.3)] * 8
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=100, max_concurrency=8) as throttle:
        for n, (in_flight, refused, gap) in enumerate(script):
            seconds, micros = await redis_client.time()
            now = seconds + micros / 1e6
            if refused:
                policy.on_refusal(now, Ticket(now, in_flight))
            else:
                policy.on_answer(now, Ticket(now, in_flight))
            await throttle._release(f"lease-{n}", in_flight, Outcome.LIMITED if refused else Outcome.ANSWERED)
            assert throttle.limits.concurrency == policy.concurrency, n
            assert throttle.limits.rate == pytest.approx(policy.rate, rel=1e-9), n
            await asyncio.sleep(gap)
    assert policy.rate is not None and policy.rate < 100  # the script did cut the rate


async def learned_counts(redis_client: Redis) -> dict[str, int]:
    """The count in flight the shared policy learned from each answer, by lease."""
    answers = [k for k in await redis_client.keys("*") if k.endswith(b":answers")]
    members = [m.decode() for m in await redis_client.zrange(answers[0], 0, -1)]
    return {lease: int(k) for lease, _, k in (m.rpartition(":") for m in members)}


async def test_a_lease_scheduled_later_is_counted_in_flight_from_its_send_time(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    """Leases granted together go one GCRA slot apart; each request here is answered before the
    next is sent, so each met one in flight (itself), as LocalThrottle would count it, whatever
    was granted with it. Counted at the grant (1, 2, 3, 4), those answers would raise the cap
    just cut to one back above it."""
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=2, max_concurrency=8) as throttle:
        for n in range(2):  # slow start: a window of 4
            await throttle._release(f"warm-{n}", 1, Outcome.ANSWERED)
        assert throttle.limits.concurrency == 4
        first = await throttle.acquire()
        # 0.5 s apart: a wake-up late by most of that on a busy machine still answers before the next goes.
        later = [asyncio.ensure_future(throttle.acquire()) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert all(not task.done() for task in later)
        await throttle._release("refused", 2, Outcome.LIMITED)  # 2 in flight too many: the cap is 1
        assert throttle.limits.concurrency == 1
        tickets = [first]
        await throttle.release(first, Outcome.ANSWERED)

        async def answered_soon_after_sending(task: asyncio.Future[Ticket]) -> None:
            ticket = await task  # each on its own: wake-ups may come in another order than the leases
            tickets.append(ticket)
            await asyncio.sleep(0.02)
            await throttle.release(ticket, Outcome.ANSWERED)

        await asyncio.gather(*map(answered_soon_after_sending, later))
        assert sorted(ticket.in_flight for ticket in tickets) == [1, 2, 3, 4]  # as granted
        assert throttle.limits.concurrency == 1
        learned = await learned_counts(redis_client)
    assert [learned[t.lease] for t in tickets if isinstance(t, _Lease)] == [1, 1, 1, 1]


async def test_a_lease_given_back_after_another_was_sent_counts_for_it(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    """In flight when a request is sent: the earlier ones still held then, given back since or not."""
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=5, max_concurrency=8) as throttle:
        for n in range(2):  # slow start: a window of 4
            await throttle._release(f"warm-{n}", 1, Outcome.ANSWERED)
        first = await throttle.acquire()
        second = await throttle.acquire()  # sent 0.2 s after the first, which is still in flight
        later = asyncio.ensure_future(throttle.acquire())  # granted with 3 held, sent at 0.4 s
        await asyncio.sleep(0.02)
        await throttle.release(first, Outcome.ANSWERED)  # after the second was sent
        await throttle.release(second, Outcome.ANSWERED)
        third = await later
        await throttle.release(third, Outcome.ANSWERED)  # sent alone
        learned = await learned_counts(redis_client)
    assert isinstance(first, _Lease) and isinstance(second, _Lease) and isinstance(third, _Lease)
    assert (learned[first.lease], learned[second.lease], learned[third.lease]) == (1, 2, 1)


async def test_a_rate_4008_lowers_the_shared_rate(redis_server: RedisServer) -> None:
    rate = 20.0
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=rate, max_concurrency=None) as a, \
            RedisThrottle(redis_server.url, key=KEY, rate_limit=rate, max_concurrency=None) as b:
        for _ in range(10):
            await a.release(await a.acquire(), Outcome.ANSWERED)
        await a.release(await a.acquire(), Outcome.LIMITED)
        ticket = await b.acquire()
        assert b.limits.rate is not None
        assert b.limits.rate < rate * 0.95
        await b.release(ticket, Outcome.ANSWERED)


# -- secrets -----------------------------------------------------------------------------------


async def test_the_gateway_key_is_never_in_redis_or_logs(
    redis_server: RedisServer, redis_client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_key = "K3Y-must-not-leak-5e1f"
    async with RedisThrottle(redis_server.url, key=secret_key, rate_limit=50, max_concurrency=4) as throttle:
        for outcome in (Outcome.ANSWERED, Outcome.LIMITED, Outcome.NO_ANSWER):
            await throttle.release(await throttle.acquire(), outcome)
        texts = [repr(throttle), str(throttle.limits)]
    keys = [k.decode() for k in await redis_client.keys("*")]
    digest = hashlib.sha256(secret_key.encode()).hexdigest()[:16]
    assert keys
    assert all(digest in k and k.startswith("douyin-async:") for k in keys)
    dead = RedisThrottle(f"redis://user:pw@127.0.0.1:{free_port()}", key=secret_key)
    with pytest.raises(ThrottleUnavailableError) as caught:
        await dead.acquire()
    texts += [str(caught.value), repr(caught.value), repr(dead)]
    await dead.aclose()
    everything = "\n".join([*keys, *texts, caplog.text])
    assert secret_key not in everything
    assert "pw" not in str(caught.value)


# -- faults ------------------------------------------------------------------------------------


async def test_redis_unreachable_at_start_is_a_fatal_typed_error() -> None:
    async with Emulator(fast=True) as emu:
        throttle = RedisThrottle(f"redis://127.0.0.1:{free_port()}", key=KEY)
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, throttle=throttle) as client:
            with pytest.raises(ThrottleUnavailableError) as caught:
                await client.item_get_video("7092264344980868359")
            assert caught.value.fatal
            assert not caught.value.retryable
            results = await client.get_videos(["1", "2", "3"], concurrency=1)
        await throttle.aclose()
    assert isinstance(results[0].error, ThrottleUnavailableError)
    assert all(isinstance(r.error, (ThrottleUnavailableError, BatchAbortedError)) for r in results)
    assert emu.stats.requests == 0


async def test_fallback_local_warns_once_and_divides_the_limits(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="douyin_async")
    async with RedisThrottle(f"redis://127.0.0.1:{free_port()}", key=KEY, rate_limit=10, max_concurrency=5,
                             fallback="local", processes=2) as throttle:
        for _ in range(3):
            await throttle.release(await throttle.acquire(), Outcome.ANSWERED)
        assert throttle.limits.rate_ceiling == 5
        assert throttle.limits.concurrency_ceiling == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "local throttle" in warnings[0].getMessage()


async def test_a_redis_restart_mid_batch_loses_no_id_and_makes_no_burst(redis_server: RedisServer) -> None:
    rate, cap, count = 30, 4, 60
    throttle = RedisThrottle(redis_server.url, key=KEY, rate_limit=rate, max_concurrency=cap)
    async with Emulator(rate_limit=rate, concurrency=cap, latency=0.02, jitter=0.02, found_ratio=1.0) as emu, \
            throttle, DouyinClient(KEY, SECRET, base_url=emu.base_url, throttle=throttle) as client:

        async def restart() -> None:
            await asyncio.sleep(0.8)
            redis_server.kill()
            await asyncio.sleep(0.4)
            await asyncio.get_running_loop().run_in_executor(None, redis_server.start)

        restarting = asyncio.ensure_future(restart())
        results = await asyncio.wait_for(client.get_videos([str(10**15 + n) for n in range(count)]), 30)
        await restarting
    assert sorted(r.item_id or "" for r in results) == sorted(str(10**15 + n) for n in range(count))
    assert all(r.ok for r in results), [r.error for r in results if r.error]
    # No burst after the restart. On a loaded machine one send can arrive later than the pacing
    # margin allows and meet the gateway's strict window: one refusal, then retried, is tolerated.
    assert emu.stats.rate_limited <= 1
    assert emu.max_in_window() <= rate + emu.stats.rate_limited


# -- real processes ----------------------------------------------------------------------------


async def run_workers(
    processes: int, redis_url: str, base_url: str, per_process: int, options: dict[str, Any]
) -> list[dict[str, Any]]:
    """``processes`` workers on one key, started together; their JSON summaries."""
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), "batch", redis_url, base_url, str(n * per_process), str(per_process),
            json.dumps(options), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for n in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert (await asyncio.wait_for(worker.stdout.readline(), 30)).strip() == b"ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 60)
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    assert all(w.returncode == 0 for w in workers)
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def all_ids(summaries: list[dict[str, Any]], expected: int) -> None:
    ids = [item_id for summary in summaries for item_id in summary["ids"]]
    assert sorted(ids) == sorted(str(10**15 + n) for n in range(expected))
    assert all(summary["ok"] == len(summary["ids"]) for summary in summaries), summaries


async def test_processes_set_to_the_cap_never_exceed_it(redis_server: RedisServer) -> None:
    cap = 4
    async with Emulator(concurrency=cap, **FAST) as emu:
        summaries = await run_workers(4, redis_server.url, emu.base_url, 20,
                                      {"rate_limit": None, "max_concurrency": cap, "adaptive": False})
    all_ids(summaries, 80)
    assert emu.stats.limited.get("concurrency", 0) == 0
    assert emu.stats.max_in_flight <= cap


async def test_adaptive_processes_learn_the_cap_together(redis_server: RedisServer) -> None:
    cap = 4
    async with Emulator(concurrency=cap, **FAST) as emu:
        summaries = await run_workers(4, redis_server.url, emu.base_url, 30,
                                      {"rate_limit": None, "max_concurrency": 2 * cap})
    all_ids(summaries, 120)
    assert emu.stats.max_in_flight <= cap
    # Sharing what 4008 taught keeps refusals to the learning on the way up: a few percent of 120 ids
    # on a quiet machine, up to about 9% on a slow CI leg. Four processes that did not share (each
    # growing to 2C on its own) are refused about half the time, so 15% still tells the two apart.
    assert emu.stats.rate_limited <= 0.15 * emu.stats.requests


async def test_processes_share_the_rate(redis_server: RedisServer) -> None:
    rate, cap = 50, 4
    async with Emulator(rate_limit=rate, concurrency=cap, latency=0.02, jitter=0.02, seed=1, found_ratio=1.0) as emu:
        summaries = await run_workers(4, redis_server.url, emu.base_url, 30,
                                      {"rate_limit": rate, "max_concurrency": cap})
    all_ids(summaries, 120)
    assert emu.stats.limited.get("rate", 0) <= 1
    assert emu.max_in_window() <= rate + 1


async def test_a_killed_process_gives_its_slots_back_within_the_lease(redis_server: RedisServer) -> None:
    cap, lease = 3, 1.0
    options = {"rate_limit": None, "max_concurrency": cap, "adaptive": False, "lease_seconds": lease}
    holder = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), "hold", redis_server.url, str(cap), json.dumps(options),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
        async with RedisThrottle(redis_server.url, key=KEY, **options) as throttle:  # type: ignore[arg-type]
            await asyncio.sleep(lease)  # the holder renews: its slots outlive one lease
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(throttle.acquire(), 0.3)
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            killed = time.monotonic()
            tickets = [await asyncio.wait_for(throttle.acquire(), 5) for _ in range(cap)]
            recovered = time.monotonic() - killed
            for ticket in tickets:
                await throttle.release(ticket, Outcome.ANSWERED)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
    assert recovered < lease + 1.2


async def test_a_cancelled_acquire_leaves_no_lease_behind(redis_server: RedisServer, redis_client: Redis) -> None:
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=2, max_concurrency=2, adaptive=False) as throttle:
        first = await throttle.acquire()
        waiting = asyncio.ensure_future(throttle.acquire())  # granted a lease, sleeping until its slot
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        for _ in range(20):  # cancelled in the middle of the script call, too
            call = asyncio.ensure_future(throttle.acquire())
            await asyncio.sleep(0)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
        await asyncio.sleep(0.1)
        leases = [k for k in await redis_client.keys("*") if k.endswith(b":leases")]
        assert await redis_client.zcard(leases[0]) == 1
        await throttle.release(first, Outcome.ANSWERED)
        assert throttle.limits.in_flight == 0


async def test_a_script_error_is_a_typed_error(redis_server: RedisServer, redis_client: Redis) -> None:
    digest = hashlib.sha256(KEY.encode()).hexdigest()[:16]
    await redis_client.set(f"douyin-async:{{{digest}}}:policy", "not a hash")
    async with RedisThrottle(redis_server.url, key=KEY) as throttle:
        with pytest.raises(ThrottleUnavailableError, match=r"WRONGTYPE|ResponseError"):
            await throttle.acquire()
        assert throttle.limits.in_flight == 0


# -- ACLs, outages, closing, loops -------------------------------------------------------------


def user_url(server: RedisServer, user: str | None) -> str:
    return server.url if user is None else f"redis://{user}:pw@127.0.0.1:{server.port}/0"


async def make_user(admin: Redis, user: str, *refused: str) -> None:
    await admin.acl_setuser(user, enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
                            commands=["+@all", *(f"-{command}" for command in refused)])


async def connections_of(admin: Redis, user: str) -> int:
    return sum(1 for client in await admin.client_list() if client.get("user") == user)


@pytest.mark.parametrize(("user", "refused"), [
    ("nosub", ("subscribe", "psubscribe", "ssubscribe")),
    ("nopub", ("publish",)),
    (None, ()),
])
async def test_a_user_refused_subscribe_or_publish_polls_and_warns_once(
    redis_server: RedisServer, redis_client: Redis, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, user: str | None, refused: tuple[str, ...],
) -> None:
    import douyin_async._throttle._redis_wakeup as wakeup

    monkeypatch.setattr(wakeup, "MAX_WAIT", 30.0)  # a waiter ends its wait in time only if woken (or polling)
    caplog.set_level(logging.DEBUG, logger="douyin_async")
    if user is not None:
        await make_user(redis_client, user, *refused)
    url = user_url(redis_server, user)
    options: dict[str, Any] = {"key": KEY, "rate_limit": None, "max_concurrency": 1, "adaptive": False}
    async with RedisThrottle(url, **options) as here, RedisThrottle(url, **options) as there:
        for _ in range(3):
            held = await here.acquire()
            waiting = asyncio.ensure_future(here.acquire())
            await asyncio.sleep(0.2)
            await here.release(held, Outcome.ANSWERED)  # this process's release wakes its waiter
            held = await asyncio.wait_for(waiting, 5)
            waiting = asyncio.ensure_future(there.acquire())
            await asyncio.sleep(0.2)
            await here.release(held, Outcome.ANSWERED)  # another process's waiter hears it, or polls
            await there.release(await asyncio.wait_for(waiting, 5), Outcome.ANSWERED)
        leases = [k for k in await redis_client.keys("*") if k.endswith(b":leases")]
        assert not leases or await redis_client.zcard(leases[0]) == 0  # every lease was given back
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if user is None:
        assert warnings == []
    else:  # one per throttle, naming the command; nothing per request
        command = refused[0].upper()
        assert len(warnings) == 2 and all(f"may not {command}" in w for w in warnings), warnings
        assert await connections_of(redis_client, user) == 0  # both clients closed, without raising


async def test_redis_lost_mid_run_fails_typed_after_outage_timeout(redis_server: RedisServer) -> None:
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=None, max_concurrency=2,
                             outage_timeout=0.5) as throttle:
        await throttle.release(await throttle.acquire(), Outcome.ANSWERED)
        held = await throttle.acquire()
        redis_server.kill()
        started = time.monotonic()
        with pytest.raises(ThrottleUnavailableError, match="outage_timeout") as caught:
            await asyncio.wait_for(throttle.acquire(), 10)
        assert caught.value.fatal and time.monotonic() - started < 5
        started = time.monotonic()
        with pytest.raises(ThrottleUnavailableError):  # still gone: the next one fails at once
            await asyncio.wait_for(throttle.acquire(), 10)
        assert time.monotonic() - started < 0.5
        await throttle.release(held, Outcome.NO_ANSWER)  # dropped: it expires with the lost state
        await asyncio.get_running_loop().run_in_executor(None, redis_server.start)
        ticket = await asyncio.wait_for(throttle.acquire(), 10)  # back: waits out the settling, then goes
        await throttle.release(ticket, Outcome.ANSWERED)


async def test_redis_lost_mid_run_falls_back_to_local_after_outage_timeout(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="douyin_async")
    async with RedisThrottle(redis_server.url, key=KEY, rate_limit=10, max_concurrency=4, fallback="local",
                             processes=2, outage_timeout=0.5) as throttle:
        held = await throttle.acquire()
        redis_server.kill()
        tickets = await asyncio.wait_for(asyncio.gather(*(throttle.acquire() for _ in range(2))), 10)
        assert throttle.limits.concurrency_ceiling == 2 and throttle.limits.rate_ceiling == 5
        for ticket in [held, *tickets]:
            await throttle.release(ticket, Outcome.ANSWERED)
        assert throttle.limits.in_flight == 0
    fallbacks = [r.getMessage() for r in caplog.records if "local throttle" in r.getMessage()]
    assert len(fallbacks) == 1 and "outage_timeout" in fallbacks[0]


async def test_close_waits_for_the_leases_being_given_back(redis_server: RedisServer, redis_client: Redis) -> None:
    throttle = RedisThrottle(redis_server.url, key=KEY, rate_limit=None, max_concurrency=50, adaptive=False)
    for _ in range(10):
        async with throttle:
            calls = [asyncio.ensure_future(throttle.acquire()) for _ in range(5)]
            await asyncio.sleep(0)  # the scripts are on their way
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
        assert not throttle._undoing
    leases = [k for k in await redis_client.keys("*") if k.endswith(b":leases")]
    assert not leases or await redis_client.zcard(leases[0]) == 0


def test_a_throttle_moves_to_a_new_loop_only_once_its_old_loop_is_closed(redis_server: RedisServer) -> None:
    import gc
    import warnings

    from douyin_async import TransportError

    throttle = RedisThrottle(redis_server.url, key=KEY, rate_limit=None, max_concurrency=1)

    async def use(close: bool) -> None:
        held = await throttle.acquire()
        waiting = asyncio.ensure_future(throttle.acquire())  # the release listener runs
        await asyncio.sleep(0.1)
        await throttle.release(held, Outcome.ANSWERED)
        await throttle.release(await asyncio.wait_for(waiting, 5), Outcome.ANSWERED)
        if close:
            await throttle.aclose()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(use(close=False))
        with pytest.raises(TransportError, match=r"stopped but not closed.*run_until_complete"):
            asyncio.run(use(close=True))  # its connections are open on a loop that can still close them
        loop.run_until_complete(throttle.aclose())
    finally:
        loop.close()
    asyncio.run(use(close=False))  # left open, and that loop is then closed by asyncio.run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        asyncio.run(use(close=True))  # replaced: what could be closed was, the rest is collected here
        gc.collect()


async def test_processes_with_other_limits_on_one_key_are_warned_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="douyin_async")
    secret_key = "a-gateway-key-of-ours"
    first = RedisThrottle(redis_server.url, key=secret_key, rate_limit=10, max_concurrency=4, lease_seconds=0.3)
    same = RedisThrottle(redis_server.url, key=secret_key, rate_limit=10.0, max_concurrency=4)
    other = RedisThrottle(redis_server.url, key=secret_key, rate_limit=5, max_concurrency=2)
    async with first, same:
        held = await first.acquire()  # renews its lease, and looks at its peers, every 0.1 s
        await asyncio.sleep(0.3)
        assert caplog.records == []  # the same limits, however written: nothing to say
        async with other:
            await asyncio.sleep(0.5)
            await other.release(await other.acquire(), Outcome.ANSWERED)
        await asyncio.sleep(0.3)
        await first.release(held, Outcome.ANSWERED)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings  # the newcomer at once, the one running at its next renewal
    for text in warnings:
        assert "rate_limit=10, max_concurrency=4" in text and "rate_limit=5, max_concurrency=2" in text
        assert secret_key not in text and hashlib.sha256(secret_key.encode()).hexdigest()[:16] not in text


async def test_a_given_client_refused_subscribe_is_left_open_and_usable(
    redis_server: RedisServer, redis_client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="douyin_async")
    await make_user(redis_client, "nosub", "subscribe")
    given = Redis.from_url(user_url(redis_server, "nosub"))
    try:
        async with RedisThrottle(given, key=KEY, rate_limit=None, max_concurrency=1, adaptive=False) as throttle:
            held = await throttle.acquire()
            waiting = asyncio.ensure_future(throttle.acquire())
            await asyncio.sleep(0.2)
            await throttle.release(held, Outcome.ANSWERED)
            await throttle.release(await asyncio.wait_for(waiting, 5), Outcome.ANSWERED)
        assert await given.ping()  # the caller's client: not closed
    finally:
        await given.aclose()
    assert ["SUBSCRIBE" in r.getMessage() for r in caplog.records] == [True]
