"""``Retry-After`` in every form RFC 9110 allows, and nothing else."""

from __future__ import annotations

import datetime as dt
import logging
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from douyin_async._call._retry import retry_after_seconds

NOW = dt.datetime(1994, 11, 6, 8, 49, 0, tzinfo=dt.timezone.utc)


def now() -> dt.datetime:
    return NOW


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("  7 ", 7.0),
        ("007", 7.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 37.0),      # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 37.0),     # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", 37.0),           # obsolete asctime
        ("Sun Nov 6 08:49:37 1994", 37.0),
        ("Sun, 06 Nov 1994 08:49:37 -0000", 37.0),    # a date with -0000
        ("Sun, 06 Nov 1994 08:49:37 +0000", 37.0),
        ("Sun, 06 Nov 1994 09:49:37 +0100", 37.0),
        ("Sun, 06 Nov 1994 08:49:37 UTC", 37.0),
        ("sun, 06 nov 1994 08:49:37 gmt", 37.0),
        ("Sun, 06 Nov 1994 08:48:00 GMT", 0.0),       # in the past: what the header says
        ("Sun, 06 Nov 1994 08:49:60 GMT", 59.0),      # a leap second
        ("Sun, 06 Nov 1994 08:49:37 GMT ", 37.0),
    ],
)
def test_every_form_rfc_9110_allows(value: str, expected: float) -> None:
    assert retry_after_seconds(value, now=now) == pytest.approx(expected)


def test_rfc_850_two_digit_year_is_never_more_than_50_years_ahead() -> None:
    def in_2030() -> dt.datetime:
        return dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)

    assert retry_after_seconds("Tuesday, 01-Jan-30 00:00:10 GMT", now=in_2030) == 10.0
    ahead = retry_after_seconds("Monday, 01-Jan-80 00:00:00 GMT", now=in_2030)  # 2080: 50 years ahead
    assert ahead == (dt.datetime(2080, 1, 1) - dt.datetime(2030, 1, 1)).total_seconds()
    assert retry_after_seconds("Wednesday, 01-Jan-81 00:00:10 GMT", now=in_2030) == 0.0  # 1981, not 2081


@pytest.mark.parametrize(
    "value",
    [
        "", " ", "nan", "NaN", "inf", "-inf", "infinity", "-5", "+5", "1e400", "1e3", "1.5", "0x10", "5 s",
        "١٢", "12\x00", "garbage", "9" * 400, "Sun, 06 Nov 1994 08:49:37", "06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 99999 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 EST",
        "Sun, 06 Nov 1994 08:49:37 +9999", "1994-11-06T08:49:37Z", "2 3 4 5",
    ],
)
def test_anything_else_is_none(value: str) -> None:
    assert retry_after_seconds(value, now=now) is None


def test_absent_header_is_none_and_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="douyin_async"):
        assert retry_after_seconds(None, now=now) is None
    assert caplog.records == []


def test_unparsable_value_is_logged_once_and_cut(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="douyin_async"):
        assert retry_after_seconds("x" * 500 + "TAIL", now=now) is None
        assert retry_after_seconds("nan", now=now) is None
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert all(r.name == "douyin_async" for r in caplog.records)
    long, short = (r.getMessage() for r in caplog.records)
    assert "TAIL" not in long and "x" * 100 in long and "x" * 101 not in long
    assert "'nan'" in short


def test_a_naive_clock_is_taken_as_utc() -> None:
    assert retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT", now=lambda: NOW.replace(tzinfo=None)) == 37.0


def test_default_clock_is_now() -> None:
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    seconds = retry_after_seconds(later.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert seconds is not None and 3500 < seconds <= 3600


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.from_regex(r"[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} [A-Z]{3}"))
def test_never_raises_never_nan_or_inf(value: str) -> None:
    seconds = retry_after_seconds(value, now=now)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0.0)
