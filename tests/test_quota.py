"""``api_info`` as the gateway really writes it: spaces, order, missing parts, garbage."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from douyin_async import Quota
from douyin_async._wire._quota import parse_quota


@pytest.mark.parametrize(
    ("api_info", "expected"),
    [
        ("today:60 max:10100 all[110=60+19+31];expires:2030-12-31", Quota(60, 10100, dt.date(2030, 12, 31))),
        ("today: 60  max: 10100  all[110=60+19+31] ; expires: 2030-12-31", Quota(60, 10100, dt.date(2030, 12, 31))),
        ("today : 60 max : 10100", Quota(60, 10100)),
        ("max:10000 today:3", Quota(3, 10000)),
        ("expires:2030-01-02;max:10 today:1", Quota(1, 10, dt.date(2030, 1, 2))),
        ("today:3 max:10000", Quota(3, 10000)),
        ("today:3 max:10000;expires:2030-1-2", Quota(3, 10000, dt.date(2030, 1, 2))),
        ("today:3 max:10000;expires:", Quota(3, 10000)),
        ("today:3 max:10000;expires:0000-00-00", Quota(3, 10000)),
        ("today:3\tmax:10000\n", Quota(3, 10000)),
        ("today：3 max：10000", Quota(3, 10000)),
        ("today: max:20000 all[=++];expires:2024-01-16", Quota(None, 20000, dt.date(2024, 1, 16))),
        ("today:max:20000", Quota(None, 20000)),
        ("max:20000", Quota(None, 20000)),
        ("today:1 max:" + "9" * 18, Quota(1, 10**18 - 1)),
    ],
)
def test_quota_shapes(api_info: str, expected: Quota) -> None:
    assert parse_quota(api_info) == expected


@pytest.mark.parametrize(
    "api_info",
    [
        "",
        "garbage",
        "today:x max:y",
        "today:1 max:",
        "today:1",
        "max:" + "9" * 5000,
        "\x00\xff",
        "yesterday:1 maximum:2",
    ],
)
def test_unparsable_quota_is_none_never_an_error(api_info: str) -> None:
    assert parse_quota(api_info) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("today:max:expires:all[=+];- 0123456789\t：x"), max_size=80) | st.text(max_size=80))
def test_parse_quota_never_raises(api_info: str) -> None:
    quota = parse_quota(api_info)
    assert quota is None or (isinstance(quota, Quota) and quota.limit >= 0)


def test_remaining_is_none_when_the_count_is_not_reported() -> None:
    assert Quota(used=None, limit=20000).remaining is None
    assert Quota(used=60, limit=100).remaining == 40
    assert Quota(used=120, limit=100).remaining == 0
