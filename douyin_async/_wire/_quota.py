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



class QuotaTracker:
    """The key's quota as the latest answers report it, parsed only when asked for.

    A cached answer may carry a blank count (``today: max:10``) even for a key whose count the
    gateway reports; a blank never erases a known count: the count then is the last one reported
    plus the answers billed since.
    """

    __slots__ = ("_api_info", "_api_info_at", "_billed", "_counted", "_parsed", "_quota")

    def __init__(self) -> None:
        self._quota: Quota | None = None
        self._counted: tuple[int, int] | None = None
        """The last reported count, and how many answers had been billed when it came."""
        self._api_info = ""
        self._api_info_at = 0
        self._billed = 0
        self._parsed: tuple[str, Quota | None] = ("", None)
        """The last ``api_info`` parsed and its quota: a batch reads the quota before every send,
        and answers in a row often carry the same text."""

    def answered(self, api_info: str) -> None:
        """A billed answer came, with its ``api_info`` (which counts it, when it has a count)."""
        self._billed += 1
        if api_info:
            self._api_info, self._api_info_at = api_info, self._billed

    def reported(self, quota: Quota, *, billed: bool) -> None:
        """An error envelope's quota, already parsed."""
        self._billed += billed
        self._api_info = ""
        self._note(quota, self._billed)

    def _note(self, quota: Quota, at: int) -> None:
        if quota.used is not None:
            self._counted = (quota.used, at)
        self._quota = quota

    @property
    def quota(self) -> Quota | None:
        if self._api_info:
            text, self._api_info = self._api_info, ""
            if text != self._parsed[0]:
                self._parsed = (text, parse_quota(text))
            parsed = self._parsed[1]
            if parsed is not None:
                self._note(parsed, self._api_info_at)
        quota = self._quota
        if quota is None or quota.used is not None or self._counted is None:
            return quota
        used, at = self._counted
        return Quota(used=used + self._billed - at, limit=quota.limit, expires=quota.expires)
