"""Progress for people: a pace from a moving window, money on the line, no bogus first reading."""

from __future__ import annotations

import pytest

from douyin_async import BatchProgress, Quota, Usage
from douyin_async.cli._progress import Money, Speedometer, describe


def test_speed_is_a_moving_window_and_silent_until_it_means_something() -> None:
    now = [0.0]
    speed = Speedometer(window=10, settle=3, clock=lambda: now[0])
    speed.add(50)  # a burst of repeats and fast failures at the start
    now[0] = 1.0
    speed.add(60)
    assert speed.per_second() is None  # one second says nothing about the pace
    for second in range(2, 60):
        now[0] = float(second)
        speed.add(60 + 2 * (second - 1))
    assert speed.per_second() == pytest.approx(2.0)  # the pace of the last window, not since the start



def test_the_line_shows_billed_possibly_billed_cost_and_quota() -> None:
    progress = BatchProgress(total=100, done=40, ok=38, billed=39, possibly_billed=2)
    quota = Quota(limit=1000, used=600)
    line = describe(progress, total=90, speed=None, money=Money(0.01, lambda: quota, lambda: Usage(billed=39, possibly_billed=2)))
    assert "done 40/90" in line
    assert "-/s" in line and "eta" not in line
    assert "billed 39 (+2 possibly)  cost 0.39-0.41  quota left 400" in line
