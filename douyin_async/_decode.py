"""The one decoder from a response body to a model or its typed error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ._models import ItemGetVideoResponse, Video
from ._quota import parse_quota
from ._redact import CREDENTIAL_PARAMS, excerpt
from .errors import (
    SUCCESS,
    MalformedResponseError,
    UnexpectedItemError,
    error_for_code,
    normalize_code,
)


class _Envelope(msgspec.Struct, gc=False):
    """The wire shape, loose exactly where the gateway is: item, error_code, execution_time."""

    item: Video | list[Video] | None = None
    error_code: str | int = ""
    error: str = ""
    reason: str = ""
    request_id: str = ""
    execution_time: float | str | None = None
    server_time: str = ""
    cache: int | str = 0
    api_info: str = ""


_DECODER = msgspec.json.Decoder(_Envelope)


def _single_item(item: Video | list[Video] | None) -> Video | None:
    if isinstance(item, list):
        return item[0] if item else None
    return item


def decode_item_get_video(
    body: bytes,
    item_id: str,
    *,
    redact: Callable[[str], str] = CREDENTIAL_PARAMS,
    retry_unknown: bool = False,
) -> ItemGetVideoResponse:
    """Decode one ``item_get_video`` body asked for ``item_id``: the response, or raise its typed error.

    For archived bodies, or a transport of your own. Text quoted in errors passes through ``redact``.

    >>> decode_item_get_video(body, "7092264344980868359").item.title   # doctest: +SKIP
    """
    try:
        env = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponseError(
            f"response is not the gateway's JSON envelope: {redact(str(exc))}",
            excerpt=excerpt(body, redact),
        ) from None
    code = SUCCESS if env.error_code == SUCCESS else normalize_code(env.error_code)
    if code != SUCCESS:
        error = error_for_code(
            code, reason=env.reason or env.error, request_id=env.request_id,
            retry_unknown=retry_unknown,
        )
        error.quota = parse_quota(env.api_info)
        raise error
    item = _single_item(env.item)
    if item is None:
        raise UnexpectedItemError(
            f"success without an item for {item_id}", code=code, request_id=env.request_id
        )
    if item.num_iid != item_id:
        raise UnexpectedItemError(
            f"asked for {item_id}, got item {item.num_iid!r}", code=code,
            request_id=env.request_id,
        )
    return ItemGetVideoResponse(
        item, code, env.request_id, _number(env.execution_time, float), env.server_time,
        _number(env.cache, int), env.api_info, 1, body,
    )


def _number(value: float | str | None, kind: type[float] | type[int]) -> Any:
    """``value`` as ``kind`` whether it came as a number or a string; 0 when it is neither."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value or 0)
    except (TypeError, ValueError):
        return kind(0)
