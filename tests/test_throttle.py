"""The throttle: no burst, windows within the rate, concurrency held, AIMD adaptation."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from douyin_async import DouyinClient, InvalidSettingError, LocalThrottle, Outcome, Ticket
from douyin_async._throttle._adaptive import PROBE_AFTER, RAISE_AFTER, RATE_HOLD, RATE_PROBE_STEP, AdaptivePolicy
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_no_burst_at_start_and_no_window_over_the_rate() -> None:
    throttle = LocalThrottle(10, None)
    stamps: list[float] = []
    for _ in range(25):
        ticket = await throttle.acquire()
        stamps.append(time.monotonic())
        await throttle.release(ticket, Outcome.ANSWERED)
    assert max_in_window(stamps) <= 10
    # The first eleven must already span a full second: a bursting bucket would send ten at once.
    assert stamps[10] - stamps[0] >= 1.0


async def test_concurrent_callers_share_the_limits() -> None:
    throttle = LocalThrottle(None, 3)
    in_flight = peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        ticket = await throttle.acquire()
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await throttle.release(ticket, Outcome.ANSWERED)

    await asyncio.gather(*(call() for _ in range(30)))
    assert peak == 3


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    throttle = LocalThrottle(None, 1)
    ticket = await throttle.acquire()
    waiter = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await throttle.release(ticket, Outcome.ANSWERED)
    await asyncio.wait_for(throttle.acquire(), 1)
    assert throttle.limits.in_flight == 1


def answer(policy: AdaptivePolicy, clock: list[float], count: int, gap: float, in_flight: int = 1) -> None:
    """``count`` requests ``gap`` seconds apart, each answered at once with ``in_flight`` in flight."""
    for _ in range(count):
        clock[0] += gap
        policy.on_send(clock[0])
        policy.on_answer(clock[0], Ticket(clock[0], in_flight))


def test_concurrency_starts_small_and_doubles_per_round_trip() -> None:
    policy, clock = AdaptivePolicy(None, 16, 0.02), [0.0]
    assert policy.concurrency == 2
    answer(policy, clock, 2, 0.01, in_flight=2)
    assert policy.concurrency == 4
    answer(policy, clock, 4, 0.01, in_flight=4)
    assert policy.concurrency == 8
    answer(policy, clock, 100, 0.01, in_flight=8)
    assert policy.concurrency == 16  # never above the ceiling


def test_a_refusal_cuts_to_the_room_it_proves_at_once() -> None:
    policy, clock = AdaptivePolicy(None, 16, 0.02), [0.0]
    answer(policy, clock, 20, 0.01, in_flight=4)
    assert policy.concurrency == 16
    policy.on_refusal(clock[0], Ticket(clock[0], 5))  # 5 in flight was one too many
    assert policy.concurrency == 4
    policy.on_refusal(clock[0], Ticket(clock[0], 9))  # an older send, from before the cut
    assert policy.concurrency == 4


def test_one_answer_above_the_learned_cap_is_not_enough_to_raise_it() -> None:
    """Counts of requests in flight lag the gateway's by a release or two; one answer proves little."""
    policy, clock = AdaptivePolicy(None, 16, 0.02), [0.0]
    answer(policy, clock, 20, 0.01, in_flight=4)
    policy.on_refusal(clock[0], Ticket(clock[0], 5))
    answer(policy, clock, 1, 0.01, in_flight=5)  # sent before the cut, answered after it
    answer(policy, clock, 10, 0.01, in_flight=4)
    assert policy.concurrency == 4
    answer(policy, clock, 1, 0.01, in_flight=6)
    answer(policy, clock, RAISE_AFTER - 1, 0.01, in_flight=6)  # now it is evidence
    answer(policy, clock, 12, 0.01, in_flight=6)
    assert policy.concurrency == 6


def test_a_probe_starts_the_count_of_answers_above_the_cap_again() -> None:
    policy, clock = AdaptivePolicy(None, 16, 0.02), [0.0]
    answer(policy, clock, 20, 0.01, in_flight=4)
    policy.on_refusal(clock[0], Ticket(clock[0], 5))
    answer(policy, clock, 1, 0.01, in_flight=6)  # one answer above the cap: not yet evidence
    answer(policy, clock, PROBE_AFTER, 0.01, in_flight=4)
    assert policy.concurrency == 5  # the probe
    answer(policy, clock, 1, 0.01, in_flight=6)  # one answer above the probe: not yet evidence either
    answer(policy, clock, 4, 0.01, in_flight=5)
    assert policy.concurrency == 5


def test_at_the_learned_cap_it_probes_rarely_and_faster_once_probes_hold() -> None:
    policy, clock = AdaptivePolicy(None, 16, 0.02), [0.0]
    answer(policy, clock, 6, 0.01, in_flight=4)
    policy.on_refusal(clock[0], Ticket(clock[0], 5))
    answer(policy, clock, PROBE_AFTER - 1, 0.01, in_flight=4)
    assert policy.concurrency == 4
    answer(policy, clock, 1, 0.01, in_flight=4)
    assert policy.concurrency == 5  # the probe
    answer(policy, clock, PROBE_AFTER // 2, 0.01, in_flight=5)
    assert policy.concurrency == 6  # it held: the next probe came twice as soon
    answer(policy, clock, PROBE_AFTER // 4, 0.01, in_flight=6)
    assert policy.concurrency == 7
    policy.on_refusal(clock[0], Ticket(clock[0], 7))
    assert policy.concurrency == 6
    answer(policy, clock, PROBE_AFTER // 2, 0.01, in_flight=6)
    assert policy.concurrency == 6  # a refusal resets the wait


def test_a_refusal_at_pace_with_known_good_concurrency_is_the_rate() -> None:
    policy, clock = AdaptivePolicy(100, 8, 0.02), [0.0]
    answer(policy, clock, 300, 0.0102, in_flight=2)  # about 98/s, two in flight: the rate binds
    policy.on_refusal(clock[0], Ticket(clock[0], 2))
    assert policy.concurrency == 8
    assert policy.rate is not None and policy.rate < 100
    assert policy.paused_until > clock[0]  # wait for the gateway's window to empty
    cut = policy.rate
    policy.on_refusal(clock[0], Ticket(clock[0], 2))  # same burst: counted, not cut again
    assert (policy.rate, policy.rate_limited) == (cut, 2)


def test_a_refusal_below_pace_is_the_cap_in_flight() -> None:
    policy, clock = AdaptivePolicy(1000, 8, 0.02), [0.0]
    answer(policy, clock, 20, 0.1, in_flight=3)  # slow answers, far below the rate
    policy.on_refusal(clock[0], Ticket(clock[0], 4))
    assert (policy.concurrency, policy.rate) == (3, 1000)


def test_the_rate_is_back_near_the_ceiling_within_ten_clean_seconds() -> None:
    policy, clock = AdaptivePolicy(20, None, 0.02), [0.0]
    answer(policy, clock, 100, 0.05)
    for _ in range(3):  # another user takes most of the key: we get 5/s through
        answer(policy, clock, 5, 0.2)
        policy.on_refusal(clock[0], Ticket(clock[0], 1))
        clock[0] += 1.1
    assert policy.rate is not None and policy.rate <= 6
    stopped = clock[0]
    while policy.rate < 0.9 * 20 and clock[0] - stopped < 30:
        answer(policy, clock, 1, 1 / policy.pace(policy.rate))
    assert clock[0] - stopped <= RATE_HOLD + 6


def test_refusals_at_falling_counts_in_flight_are_the_rate_not_a_cascade_of_cuts() -> None:
    """A per-second cap met below our pace: the second refusal with fewer in flight says rate,
    and the window cut the first one made is undone (once, this read as a cut per refusal down
    to one in flight, and the client crawled at 0.38 R for seconds)."""
    policy, clock = AdaptivePolicy(100, 8, 0.02), [0.0]
    answer(policy, clock, 6, 0.0125, in_flight=4)
    policy.on_refusal(clock[0], Ticket(clock[0], 5))  # slow start overshot the cap: room for 4
    answer(policy, clock, 40, 0.0125, in_flight=4)  # 80/s, below our pace: the window binds, not the rate
    assert policy.concurrency == 4
    policy.on_refusal(clock[0], Ticket(clock[0], 4))  # one refusal with 4 in flight: taken for the cap
    assert policy.concurrency == 3
    policy.on_refusal(clock[0] + 0.01, Ticket(clock[0], 3))  # fewer in flight and refused again: the rate
    assert policy.concurrency == 4
    accepted = 46  # answers in the last second
    assert policy.rate is not None and 0.95 * accepted <= policy.rate < accepted


def test_a_lone_refusal_with_no_more_in_flight_below_pace_is_still_the_cap() -> None:
    policy, clock = AdaptivePolicy(1000, 8, 0.02), [0.0]
    answer(policy, clock, 20, 0.1, in_flight=3)
    policy.on_refusal(clock[0], Ticket(clock[0], 3))
    assert (policy.concurrency, policy.rate) == (2, 1000)
    answer(policy, clock, 20, 0.1, in_flight=2)
    policy.on_refusal(clock[0], Ticket(clock[0], 2))  # a window later: a new doubt, not the rate
    assert (policy.concurrency, policy.rate) == (1, 1000)


def test_a_rate_cut_settles_just_under_what_got_through() -> None:
    policy, clock = AdaptivePolicy(100, None, 0.02), [0.0]
    answer(policy, clock, 150, 0.02)  # 50 accepted in every second
    policy.on_refusal(clock[0], Ticket(clock[0], 1))
    assert policy.rate is not None and 0.95 * 50 <= policy.rate < 50
    assert policy.paused_until > clock[0]


def test_probes_raise_the_rate_in_growing_steps_and_a_refusal_starts_them_small() -> None:
    policy, clock = AdaptivePolicy(100, None, 0.02), [0.0]
    answer(policy, clock, 150, 0.02)
    policy.on_refusal(clock[0], Ticket(clock[0], 1))
    cut = policy.rate
    assert cut is not None
    answer(policy, clock, int(RATE_HOLD / 0.02) - 5, 0.02)
    assert policy.rate == cut  # held just under the measurement for RATE_HOLD seconds
    rates = []
    for _ in range(4):  # one probe per clean window, each step twice the one before
        answer(policy, clock, 50, 0.02)
        rates.append(policy.rate)
    steps = [b / a - 1 for a, b in itertools.pairwise([cut, *rates])]
    assert steps == pytest.approx([RATE_PROBE_STEP * 2**n for n in range(4)], rel=0.01)
    policy.on_refusal(clock[0], Ticket(clock[0], 1))  # the last probe did not hold
    assert policy.rate is not None and policy.rate < rates[-1]
    answer(policy, clock, int(RATE_HOLD / 0.02) + 50, 0.02)
    assert policy.rate is not None
    assert policy.rate <= 52 * 0.97 * (1 + RATE_PROBE_STEP)  # one small step again, not the next doubling


async def test_throttle_applies_the_policy_to_the_cap() -> None:
    throttle = LocalThrottle(None, 8)  # no rate limit: a 4008 can only be the concurrency
    for _ in range(6):  # slow start: 2, then 4, then 8
        await throttle.release(await throttle.acquire(), Outcome.ANSWERED)
    tickets = [await throttle.acquire() for _ in range(3)]
    await throttle.release(tickets[-1], Outcome.LIMITED)  # three in flight was too many
    assert throttle.limits.concurrency == 2
    assert throttle.limits.in_flight == 2
    third = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0.05)
    assert not third.done()  # two in flight, a cap of two: the third waits
    await throttle.release(tickets[0], Outcome.ANSWERED)
    await asyncio.wait_for(third, 1)
    assert throttle.limits.in_flight == 2


async def test_adaptive_off_keeps_limits() -> None:
    throttle = LocalThrottle(20, 8, adaptive=False)
    await throttle.release(await throttle.acquire(), Outcome.LIMITED)
    assert (throttle.limits.rate, throttle.limits.concurrency, throttle.limits.rate_limited) == (20, 8, 1)


async def test_a_rate_cut_applies_to_requests_already_waiting() -> None:
    """Waiters on the old bucket move to the new one: nothing goes out at the old pace."""
    throttle = LocalThrottle(50, None)
    await throttle.acquire()
    waiters = [asyncio.create_task(throttle.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    throttle.policy.rate = 5.0  # what a 4008 at full pace would decide, without the pause
    throttle._apply()
    stamps = []
    for waiter in asyncio.as_completed(waiters):
        await waiter
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.9 / (5 * 0.98)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"rate_limit": 0}, "rate_limit=0"),
        ({"rate_limit": -5}, "rate_limit=-5"),
        ({"rate_limit": float("nan")}, "rate_limit=nan"),
        ({"rate_limit": float("inf")}, "rate_limit=inf"),
        ({"max_concurrency": 0}, "max_concurrency=0"),
        ({"max_concurrency": 2.5}, "max_concurrency=2.5"),
        ({"margin": 1.0}, "margin=1.0"),
    ],
)
def test_invalid_settings_rejected_with_the_value(options: dict[str, float], named: str) -> None:
    with pytest.raises(InvalidSettingError, match=named):
        LocalThrottle(**options)  # type: ignore[arg-type]


async def test_client_holds_concurrency_and_rate_at_the_server() -> None:
    async with Emulator(latency=0.05, jitter=0.05, seed=1) as emu:
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, rate_limit=40, max_concurrency=3) as client:
            results = await asyncio.gather(
                *(client.item_get_video(str(10**15 + i)) for i in range(60)), return_exceptions=True
            )
        assert len(results) == 60
        assert emu.stats.max_in_flight <= 3
        assert emu.max_in_window() <= 40
        assert emu.stats.rate_limited == 0


async def test_client_at_the_emulators_exact_limits_gets_no_4008() -> None:
    async with Emulator(rate_limit=15, concurrency=4, latency=0.01, jitter=0.02, seed=2) as emu:
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, rate_limit=15, max_concurrency=4) as client:
            await asyncio.gather(
                *(client.item_get_video(str(10**15 + i)) for i in range(40)), return_exceptions=True
            )
        assert emu.stats.rate_limited == 0
        assert emu.stats.requests == 40
