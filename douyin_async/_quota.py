"""The key's quota, as the gateway reports it in ``api_info``."""

from __future__ import annotations

import datetime as dt
import re

import msgspec

# Each part on its own, in any order, with any spacing (and the full-width colon of Chinese
# text). Counts longer than 18 digits are garbage, and int() refuses very long ones anyway.
_TODAY = re.compile(r"\btoday\s*[:：]\s*([0-9]{0,18})(?![0-9])", re.IGNORECASE)
_MAX = re.compile(r"\bmax\s*[:：]\s*([0-9]{1,18})(?![0-9])", re.IGNORECASE)
_EXPIRES = re.compile(r"\bexpires\s*[:：]\s*([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9])", re.IGNORECASE)


class Quota(msgspec.Struct, frozen=True, gc=False):
    """The key's usage as reported in ``api_info``: ``today:USED max:LIMIT ...;expires:DATE``.

    ``used`` is None when the gateway does not report the count (``today: max:20000``, seen on
    trial keys); ``remaining`` is then None too. ``expires`` is None when absent or impossible.
    """

    used: int | None
    limit: int
    expires: dt.date | None = None

    @property
    def remaining(self) -> int | None:
        """Calls left today, never below 0; None when ``used`` is not reported."""
        return None if self.used is None else max(self.limit - self.used, 0)


def parse_quota(api_info: str) -> Quota | None:
    """The quota in ``api_info``, or None when it is absent or unparsable (never an error).

    The parts may come in any order and spacing; a blank or missing count gives ``used=None``,
    ``expires`` is optional, and an impossible date gives ``expires=None``. No limit, no quota.
    """
    limit = _MAX.search(api_info)
    if limit is None:
        return None
    used = _TODAY.search(api_info)
    count = int(used[1]) if used is not None and used[1] else None
    return Quota(used=count, limit=int(limit[1]), expires=_expiry(api_info))


def _expiry(api_info: str) -> dt.date | None:
    match = _EXPIRES.search(api_info)
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
