"""The syntactic check every video id passes before a request is made."""

from __future__ import annotations

import re
from collections.abc import Callable

from ._redact import CREDENTIAL_PARAMS
from .errors import InvalidParamError

_ITEM_ID = re.compile(r"[0-9]{1,32}")


def normalize_item_id(value: object, redact: Callable[[str], str] = CREDENTIAL_PARAMS) -> str:
    """``value`` as the gateway's ``item_id``: 1 to 32 ASCII digits, from a str or an int.

    Raises InvalidParamError (code 4003, never sent) for anything else; the message quotes the
    input through ``redact``, since pasted input can hold credentials.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if value >= 0 else ""
    else:
        raise InvalidParamError(
            f"item_id must be a str or int of 1-32 digits, not {type(value).__name__}",
            code="4003",
        )
    if not _ITEM_ID.fullmatch(text):
        masked = redact(text)
        shown = masked if len(masked) <= 40 else masked[:40] + "…"
        raise InvalidParamError(
            f"invalid item_id {shown!r}: expected 1-32 ASCII digits", code="4003"
        )
    return text
