"""Response models: frozen msgspec Structs, and the one decoder that turns a body into them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import msgspec

from ._redact import Redactor
from .errors import (
    SUCCESS,
    MalformedResponseError,
    UnexpectedItemError,
    error_for_code,
    normalize_code,
)


class VideoStreams(msgspec.Struct, frozen=True):
    """The video's media URLs: ``url`` is watermarked, ``url_raw`` is not, ``pic_url`` the cover."""

    url: str = ""
    url_raw: str = ""
    pic_url: str = ""


class Music(msgspec.Struct, frozen=True):
    """The soundtrack: ``url`` is an mp3, ``pic_url`` its cover."""

    title: str = ""
    nick: str = ""
    url: str = ""
    pic_url: str = ""


class ItemImage(msgspec.Struct, frozen=True):
    """One image of an image post."""

    url: str = ""


class Video(msgspec.Struct, frozen=True):
    """One Douyin video as the gateway describes it."""

    num_iid: str
    title: str = ""
    nick: str = ""
    uid: str = ""
    short_id: str = ""
    signature: str = ""
    type: str = ""
    detail_url: str = ""
    video: VideoStreams = msgspec.field(default_factory=VideoStreams)
    music: Music = msgspec.field(default_factory=Music)
    # Objects with ``url`` in this gateway's other APIs, plain strings in some: accept both.
    item_imgs: tuple[ItemImage | str, ...] = ()

    @property
    def image_urls(self) -> list[str]:
        """``item_imgs`` as plain URLs, whichever shape the gateway sent."""
        return [img if isinstance(img, str) else img.url for img in self.item_imgs]


class Quota(msgspec.Struct, frozen=True):
    """The key's usage as reported in ``api_info``: ``today:USED max:LIMIT ...;expires:DATE``."""

    used: int
    limit: int
    expires: dt.date | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class ItemGetVideoResponse(msgspec.Struct, frozen=True):
    """A successful ``item_get_video`` answer; ``raw`` is the body exactly as received."""

    item: Video
    error_code: str
    request_id: str
    execution_time: float
    server_time: str
    cache: int
    quota: Quota | None
    api_info: str = ""
    attempts: int = 1
    raw: bytes = b""

    @property
    def raw_item(self) -> bytes:
        """The ``item`` exactly as the gateway sent it (JSON bytes), for archiving."""
        return bytes(_RAW_ITEM.decode(self.raw).item)

    def __repr__(self) -> str:
        return (
            f"ItemGetVideoResponse(item_id={self.item.num_iid!r}, title={self.item.title!r}, "
            f"request_id={self.request_id!r}, cache={self.cache}, attempts={self.attempts})"
        )


class _Envelope(msgspec.Struct):
    """The wire shape, loose exactly where the gateway is: item, error_code, execution_time."""

    item: Video | list[Video] | None = None
    error_code: str | int = ""
    error: str = ""
    reason: str = ""
    request_id: str = ""
    execution_time: Decimal | None = None
    server_time: str = ""
    cache: int | str = 0
    api_info: str = ""


class _RawItem(msgspec.Struct):
    item: msgspec.Raw = msgspec.Raw(b"null")


_DECODER = msgspec.json.Decoder(_Envelope)
_RAW_ITEM = msgspec.json.Decoder(_RawItem)
_QUOTA = re.compile(r"today:\s*(\d+)\s+max:\s*(\d+)(?:.*?expires:\s*(\d{4})-(\d{2})-(\d{2}))?")


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


def _single_item(item: Video | list[Video] | None) -> Video | None:
    if isinstance(item, list):
        return item[0] if item else None
    return item


def decode_item_get_video(
    body: bytes,
    item_id: str,
    redactor: Redactor,
    *,
    retry_unknown: bool = False,
) -> ItemGetVideoResponse:
    """Decode one body for ``item_id``: the response on success, else raise its typed error."""
    try:
        env = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponseError(
            f"response is not the gateway's JSON envelope: {redactor(str(exc))}",
            excerpt=redactor.excerpt(body),
        ) from None
    code = normalize_code(env.error_code)
    quota = parse_quota(env.api_info)
    if code != SUCCESS:
        error = error_for_code(
            code, reason=env.reason or env.error, request_id=env.request_id,
            retry_unknown=retry_unknown,
        )
        error.quota = quota
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
    try:
        cache = int(env.cache)
    except ValueError:
        cache = 0
    return ItemGetVideoResponse(
        item=item,
        error_code=code,
        request_id=env.request_id,
        execution_time=float(env.execution_time or 0),
        server_time=env.server_time,
        cache=cache,
        quota=quota,
        api_info=env.api_info,
        raw=body,
    )
