"""The key's quota, as the gateway reports it in ``api_info``."""

from __future__ import annotations

import datetime as dt
import re

import msgspec

# Each part on its own, in any order, with any spacing (and the full-width colon of Chinese
# text). Counts longer than 18 digits are garbage, and int() refuses very long ones anyway.
_TODAY = re.compile(r"\btoday\s*[:：]\s*([0-9]{1,18})(?![0-9])", re.IGNORECASE)
_MAX = re.compile(r"\bmax\s*[:：]\s*([0-9]{1,18})(?![0-9])", re.IGNORECASE)
_EXPIRES = re.compile(r"\bexpires\s*[:：]\s*([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9])", re.IGNORECASE)


class Quota(msgspec.Struct, frozen=True, gc=False):
    """The key's usage as reported in ``api_info``: ``today:USED max:LIMIT ...;expires:DATE``."""

    used: int
    limit: int
    expires: dt.date | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def parse_quota(api_info: str) -> Quota | None:
    """The quota in ``api_info``, or None when it is absent or unparsable (never an error).

    The parts may come in any order and spacing; ``expires`` is optional, and an impossible
    date gives ``expires=None``.
    """
    used, limit = _TODAY.search(api_info), _MAX.search(api_info)
    if used is None or limit is None:
        return None
    return Quota(used=int(used[1]), limit=int(limit[1]), expires=_expiry(api_info))


def _expiry(api_info: str) -> dt.date | None:
    match = _EXPIRES.search(api_info)
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
