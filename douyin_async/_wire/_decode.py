"""The one decoder from a response body to a model or its typed error.

A well-formed UTF-8 body decodes straight into the public models, as fast as msgspec allows.
Any other body is read again: in its declared charset, as UTF-8, or as GB18030; the envelope
with every field kept raw, the code read first, so an error envelope maps by its code whatever
its other fields hold; and for a success only, the item in every shape the gateway's PHP back
end sends (``[]`` for an empty object, numbers for strings, ``false`` for absent), normalised
into the public models, so an item that fits nothing is charged and kept. Each decoder is built
once, at import.
"""

from __future__ import annotations

import codecs
import logging
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from .._secrets import CREDENTIAL_PARAMS, body_excerpt
from ..errors import (
    SUCCESS,
    ApiError,
    MalformedItemError,
    MalformedResponseError,
    UnexpectedItemError,
    error_for_code,
    normalize_code,
)
from ._models import ItemGetVideoResponse, ShapeError, Video, WireItem, as_text, first_value, normalize_item
from ._quota import parse_quota


class _Envelope(msgspec.Struct, gc=False):
    """The well-formed wire shape, loose only where the seed itself is: item, error_code, times.

    Its fields come in the order the gateway sends them: msgspec matches a key fastest when it
    is the field after the last one matched.
    """

    item: Video | list[Video] | None = None
    error: str = ""
    reason: str = ""
    error_code: str | int = ""
    cache: int | str = 0
    api_info: str = ""
    execution_time: float | str | None = None
    server_time: str = ""
    request_id: str = ""


_NULL = msgspec.Raw(b"null")


class _LooseEnvelope(msgspec.Struct, gc=False):
    """Every field kept as sent, to be read one at a time: one odd field cannot hide the code."""

    item: msgspec.Raw = _NULL
    error_code: msgspec.Raw = _NULL
    error: msgspec.Raw = _NULL
    reason: msgspec.Raw = _NULL
    request_id: msgspec.Raw = _NULL
    execution_time: msgspec.Raw = _NULL
    server_time: msgspec.Raw = _NULL
    cache: msgspec.Raw = _NULL
    api_info: msgspec.Raw = _NULL


_DECODER = msgspec.json.Decoder(_Envelope)
_LOOSE = msgspec.json.Decoder(_LooseEnvelope)
_ITEM = msgspec.json.Decoder(WireItem)
_VALUE = msgspec.json.Decoder()

log = logging.getLogger("douyin_async")


# msgspec before 0.19 raises UnicodeDecodeError, not DecodeError, for bytes that are not UTF-8;
# JSON nested deeper than its recursion guard (about a thousand levels, where a real envelope
# has five) raises RecursionError: a malformed body like any other, never an untyped error.
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def decode_item_get_video(
    body: bytes,
    item_id: str,
    *,
    redact: Callable[[str], str] = CREDENTIAL_PARAMS,
    retry_unknown: bool = False,
    charset: str | None = None,
) -> ItemGetVideoResponse:
    """Decode one ``item_get_video`` body asked for ``item_id``: the response, or raise its typed error.

    For archived bodies, or a transport of your own. Text quoted in errors passes through ``redact``.
    Every shape the PHP back end sends is accepted (see the contract); an answer that is no
    envelope raises ``MalformedResponseError``, a success whose item fits no shape
    ``MalformedItemError`` (charged, with ``raw_item``).

    ``charset`` is the one Content-Type declares. A body is read in it when it is not UTF-8; a
    body that is not valid UTF-8 (error bodies in GBK come labelled UTF-8) is read as GB18030.

    >>> decode_item_get_video(body, "7092264344980868359").item.title   # doctest: +SKIP
    """
    if charset is not None and charset not in _UTF8_LABELS:
        declared = _declared(charset)
        if declared is not None:
            return _decode_loose(body, item_id, redact, retry_unknown, declared)
    try:
        env = _DECODER.decode(body)
    except _DECODE_ERRORS:
        # Not the well-formed shape, not UTF-8, or not JSON at all: the loose reading decides.
        return _decode_loose(body, item_id, redact, retry_unknown)
    code = SUCCESS if env.error_code == SUCCESS else normalize_code(env.error_code)
    if not code:  # no error_code: the loose reading says why this is no envelope
        return _decode_loose(body, item_id, redact, retry_unknown)
    if code != SUCCESS:
        raise _api_error(code, env.reason or env.error, env.request_id, env.api_info, retry_unknown, redact)
    item = env.item[0] if isinstance(env.item, list) and env.item else env.item
    if not isinstance(item, Video) or item.num_iid != item_id:
        # Rare and charged: the loose reading raises the error with the raw item attached.
        return _decode_loose(body, item_id, redact, retry_unknown)
    return ItemGetVideoResponse(
        item, code, env.request_id, _number(env.execution_time, float), env.server_time,
        _number(env.cache, int), env.api_info, 1, body,
    )


def _decode_loose(
    body: bytes, item_id: str, redact: Callable[[str], str], retry_unknown: bool, declared: str | None = None
) -> ItemGetVideoResponse:
    try:
        env, encoding = _read_envelope(body, declared, redact)
    except MalformedResponseError as exc:
        # A whole body that no reading takes but that names its code once (a success nested past
        # the depth guard): the gateway billed what that code bills, and asking again bills again.
        unreadable = _unreadable_answer(body, exc, retry_unknown, redact)
        if unreadable is None:
            raise
        raise unreadable from None
    code = _code(env.error_code)
    if code is None:
        raise MalformedResponseError(
            f"no gateway envelope: error_code is {redact(_raw_text(env.error_code))[:80] or 'missing'}",
            excerpt=body_excerpt(body, redact),
        )
    request_id, api_info = _text(env.request_id), _text(env.api_info)
    if code != SUCCESS:
        raise _api_error(code, _text(env.reason) or _text(env.error), request_id, api_info, retry_unknown, redact)
    raw_item = bytes(env.item)
    try:
        item = normalize_item(_ITEM.decode(raw_item))
    except (*_DECODE_ERRORS, ShapeError) as exc:
        error: UnexpectedItemError = MalformedItemError(
            f"success, but the item does not fit the model: {redact(str(exc))}",
            code=code, raw_item=raw_item, request_id=redact(request_id)[:100],
        )
    else:
        if item is not None and item.num_iid == item_id:
            return ItemGetVideoResponse(
                item, code, request_id, _number(_value(env.execution_time), float),
                _text(env.server_time), _number(_value(env.cache), int), api_info, 1, body, encoding,
            )
        message = (
            f"success without an item for {item_id}" if item is None
            else f"asked for {item_id}, got item {redact(item.num_iid)[:40]!r}"
        )
        error = UnexpectedItemError(message, code=code, raw_item=raw_item, request_id=redact(request_id)[:100])
    error.quota = parse_quota(api_info)
    raise error


_UTF8_LABELS = frozenset({"utf-8", "UTF-8", "utf8", "UTF8"})
_GBK_CODECS = frozenset({"gbk", "gb2312"})


def _declared(charset: str) -> str | None:
    """The codec of a declared charset other than UTF-8; None for UTF-8 or a bogus name."""
    try:
        name = codecs.lookup(charset.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None
    if name in _GBK_CODECS:
        return "gb18030"  # its superset: bodies labelled GBK may hold GB18030's four-byte forms
    return None if name == "utf-8" else name


def _readings(body: bytes, declared: str | None) -> Iterator[tuple[bytes | str, str]]:
    """The body as JSON text to try, each with its charset: the declared one, UTF-8, GB18030.

    Every reading is checked as a whole: the loose envelope keeps its fields raw, and raw bytes
    are never checked for UTF-8 by msgspec.
    """
    if declared is not None:
        text = _decoded(body, declared)
        if text is not None:
            yield text, declared
    text = _decoded(body, "utf-8-sig")
    if text is not None:
        yield (text, "utf-8-sig") if body.startswith(codecs.BOM_UTF8) else (body, "utf-8")
        return
    text = _mended_utf8(body)
    if text is not None:
        yield text, "utf-8"
        return
    text = _decoded(body, "gb18030")
    if text is not None:
        yield text, "gb18030"


_MAX_DEFECTS = 0.05
"""Share of a body's non-ASCII characters that may be invalid UTF-8 and it still be read as UTF-8."""


def _mended_utf8(body: bytes) -> str | None:
    """``body`` as UTF-8 with its few invalid sequences (a character cut in two) replaced by U+FFFD;
    None when it is not UTF-8 at all. GB18030 reads nearly any bytes, so a UTF-8 answer with one
    cut character would otherwise come back whole as mojibake."""
    text = body.decode("utf-8", "replace")
    defects = text.count("\ufffd") - body.count("\ufffd".encode())
    wide = sum(1 for char in text if char > "\x7f")
    if defects > _MAX_DEFECTS * wide:
        return None
    log.warning("a body had %d byte sequences that are not UTF-8: read as UTF-8 with U+FFFD in their place", defects)
    return text


def _decoded(body: bytes, codec: str) -> str | None:
    """``body`` as text in ``codec``; None when it is not (or the codec is not for text)."""
    try:
        return body.decode(codec)
    except (ValueError, LookupError):
        return None


def _read_envelope(
    body: bytes, declared: str | None, redact: Callable[[str], str]
) -> tuple[_LooseEnvelope, str]:
    """The loose envelope from the first reading of ``body`` that is JSON, and its charset."""
    failure = "bytes that are neither UTF-8 nor GB18030"
    for text, encoding in _readings(body, declared):
        try:
            return _LOOSE.decode(text), encoding
        except _DECODE_ERRORS as exc:
            failure = str(exc)
        first = first_value(text)
        if first is not None:
            try:
                return _LOOSE.decode(first), encoding
            except _DECODE_ERRORS:
                pass
    raise MalformedResponseError(
        f"response is not the gateway's JSON envelope: {redact(failure)}",
        excerpt=body_excerpt(body, redact),
    )


def _api_error(
    code: str, reason: str, request_id: str, api_info: str, retry_unknown: bool, redact: Callable[[str], str]
) -> ApiError:
    """The typed error of a gateway code; the gateway's own text in it is redacted like ours."""
    error = error_for_code(
        redact(code)[:16], reason=redact(reason)[:500], request_id=redact(request_id)[:100],
        retry_unknown=retry_unknown,
    )
    error.quota = parse_quota(api_info)
    return error


_ERROR_CODE = re.compile(rb'"error_code"\s*:\s*"?\s*([0-9]{1,4}(?:\.0*)?)\s*"?\s*[,}]')


def _unreadable_answer(
    body: bytes, failure: MalformedResponseError, retry_unknown: bool, redact: Callable[[str], str]
) -> ApiError | None:
    """The typed error of a body no reading takes but whose one ``error_code`` can be seen, or None."""
    codes = _ERROR_CODE.findall(body)
    if len(codes) != 1:
        return None
    code = normalize_code(codes[0].decode())
    if code != SUCCESS:
        return error_for_code(code, retry_unknown=retry_unknown)
    return MalformedItemError(
        f"success, but the body cannot be read: {failure.message}", code=code, raw_item=b"",
    )


_UNREADABLE: Any = object()


def _value(raw: msgspec.Raw) -> Any:
    """One envelope field as a Python value; ``_UNREADABLE`` for a number out of range."""
    try:
        return _VALUE.decode(raw)
    except _DECODE_ERRORS:
        return _UNREADABLE


def _raw_text(raw: msgspec.Raw) -> str:
    return bytes(raw).decode("utf-8", "replace")


def _text(raw: msgspec.Raw) -> str:
    """One envelope text field as a ``str`` whatever it held: a list or object gives its JSON."""
    try:
        return as_text(_value(raw))
    except ShapeError:
        return _raw_text(raw)


def _code(raw: msgspec.Raw) -> str | None:
    """The normalized ``error_code``, or None when there is none: then the body is no envelope
    (a proxy's JSON error page, say), whatever else it holds."""
    value = _value(raw)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        code = SUCCESS if value == SUCCESS else normalize_code(value)
        return code or None
    return None


def _number(value: object, kind: type[float] | type[int]) -> Any:
    """``value`` as ``kind`` whether it came as a number or a string; 0 when it is neither or not finite."""
    if type(value) is kind:
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return kind(0)
    return kind(number) if math.isfinite(number) else kind(0)
