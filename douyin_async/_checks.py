"""The value checks every setting passes where it is made: one wording for every refusal."""

from __future__ import annotations

import math

from .errors import InvalidSettingError


def check(name: str, value: object, ok: bool, allowed: str) -> None:
    """Raise ``InvalidSettingError`` naming the setting, its value and what is allowed."""
    if not ok:
        raise InvalidSettingError(f"{name}={value!r} is not allowed: {allowed}")


def is_number(value: object) -> bool:
    """A real, finite int or float (not a bool, not NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_positive(name: str, value: object, *, optional: bool = False, minimum: float = 1e-3) -> None:
    """A finite number of at least ``minimum`` (a thousandth by default: smaller is a mistake)."""
    allowed = f"a finite number >= {minimum:g}" + (" or None" if optional else "")
    check(name, value, (optional and value is None) or (is_number(value) and value >= minimum), allowed)  # type: ignore[operator]


def check_count(name: str, value: object, *, minimum: int, optional: bool = False) -> None:
    allowed = f"a whole number >= {minimum}" + (" or None" if optional else "")
    ok = (optional and value is None) or (
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    )
    check(name, value, ok, allowed)


def check_limits(rate_limit: object, max_concurrency: object, margin: object | None = None) -> None:
    """The limits every throttle takes: a rate and a cap in flight (either may be None), and the margin."""
    check_positive("rate_limit", rate_limit, optional=True)
    check_count("max_concurrency", max_concurrency, minimum=1, optional=True)
    if margin is not None:
        check("margin", margin, is_number(margin) and 0 <= margin < 1, "a number from 0 up to (not including) 1")  # type: ignore[operator]
