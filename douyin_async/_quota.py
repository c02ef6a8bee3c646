"""The key's quota, as the gateway reports it in ``api_info``."""

from __future__ import annotations

import datetime as dt
import re

import msgspec

_QUOTA = re.compile(r"today:\s*(\d+)\s+max:\s*(\d+)(?:.*?expires:\s*(\d{4})-(\d{2})-(\d{2}))?")


class Quota(msgspec.Struct, frozen=True, gc=False):
    """The key's usage as reported in ``api_info``: ``today:USED max:LIMIT ...;expires:DATE``."""

    used: int
    limit: int
    expires: dt.date | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def parse_quota(api_info: str) -> Quota | None:
    """The quota in ``api_info``, or None when it is absent or unparsable (never an error)."""
    match = _QUOTA.search(api_info)
    if match is None:
        return None
    expires = None
    if match[3]:
        try:
            expires = dt.date(int(match[3]), int(match[4]), int(match[5]))
        except ValueError:
            expires = None
    return Quota(used=int(match[1]), limit=int(match[2]), expires=expires)
