"""Response models: frozen msgspec Structs for what ``item_get_video`` returns.

The public Structs are typed for what a caller wants (``num_iid`` is a ``str``, ``video`` a
``VideoStreams``). The gateway's PHP back end is looser: the private ``_Wire*`` types below take
every shape it sends, and ``normalize_item`` turns one into the public ``Video``, once.
"""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import msgspec

from ._quota import Quota, parse_quota


class VideoStreams(msgspec.Struct, frozen=True, gc=False):
    """The video's media URLs: ``url`` is watermarked, ``url_raw`` is not, ``pic_url`` the cover."""

    url: str = ""
    url_raw: str = ""
    pic_url: str = ""


class Music(msgspec.Struct, frozen=True, gc=False):
    """The soundtrack: ``url`` is an mp3, ``pic_url`` its cover."""

    title: str = ""
    nick: str = ""
    url: str = ""
    pic_url: str = ""


class ItemImage(msgspec.Struct, frozen=True, gc=False):
    """One image of an image post."""

    url: str = ""


class Video(msgspec.Struct, frozen=True, gc=False):
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


class ItemGetVideoResponse(msgspec.Struct, frozen=True, gc=False):
    """A successful ``item_get_video`` answer; ``raw`` is the body exactly as received.

    ``encoding`` is the charset ``raw`` was read in: ``"utf-8"`` unless the gateway sent another.
    The answer itself was billed; ``possibly_billed`` counts earlier attempts of the same call that
    were sent but whose answer could not be read (the gateway may have billed them too).
    """

    item: Video
    error_code: str
    request_id: str
    execution_time: float
    server_time: str
    cache: int
    api_info: str = ""
    attempts: int = 1
    raw: bytes = b""
    encoding: str = "utf-8"
    possibly_billed: int = 0

    @property
    def quota(self) -> Quota | None:
        """The key's quota from ``api_info``, parsed when asked for (most callers never do)."""
        return parse_quota(self.api_info)

    @property
    def raw_item(self) -> bytes:
        """The ``item`` exactly as the gateway sent it (JSON bytes), for archiving.

        A body in another charset than UTF-8 gives its item re-encoded as UTF-8.
        """
        raw = self.raw if self.encoding == "utf-8" else self.raw.decode(self.encoding, "replace")
        try:
            item = bytes(_RAW_ITEM.decode(raw).item)
        except msgspec.DecodeError:  # a stray byte after the envelope, or UTF-8 with a cut character
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            item = bytes(_RAW_ITEM.decode(first_value(text) or text).item)
        return item if item.isascii() else item.decode("utf-8", "replace").encode()

    def __repr__(self) -> str:
        return (
            f"ItemGetVideoResponse(item_id={self.item.num_iid!r}, title={self.item.title!r}, "
            f"request_id={self.request_id!r}, cache={self.cache}, attempts={self.attempts})"
        )


def first_value(text: bytes | str) -> str | None:
    """The first JSON value of ``text`` when something else follows it (a stray byte after a whole
    envelope), else None."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip())
    try:
        _, end = _PY_JSON.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return text[start:end] if text[end:].strip() else None


_PY_JSON = json.JSONDecoder()


class _RawItem(msgspec.Struct):
    item: msgspec.Raw = msgspec.Raw(b"null")


_RAW_ITEM = msgspec.json.Decoder(_RawItem)


# The wire as the PHP back end sends it. An empty value comes as [], {}, "", null, false or not
# at all; numbers and strings trade places. msgspec takes one array-like and one object-like type
# per union, so each field is a union of every shape, and normalize_item maps them to the public
# types. Anything these unions take but normalize_item cannot map raises ShapeError.

_Loose: TypeAlias = str | int | float | bool | list[Any] | dict[str, Any] | None
_Absent: TypeAlias = str | bool | list[Any] | None


class _WireStreams(msgspec.Struct, gc=False):
    url: _Loose = ""
    url_raw: _Loose = ""
    pic_url: _Loose = ""


class _WireMusic(msgspec.Struct, gc=False):
    title: _Loose = ""
    nick: _Loose = ""
    url: _Loose = ""
    pic_url: _Loose = ""


class _WireImage(msgspec.Struct, gc=False):
    url: _Loose = ""


_WireImageEntry: TypeAlias = _WireImage | str | int | float | bool | list[Any] | None
# A PHP array with gaps in its keys is sent as an object: {"0": ..., "2": ...}.
_WireImages: TypeAlias = list[_WireImageEntry] | dict[str, _WireImageEntry] | str | bool | None


class _WireItem(msgspec.Struct, gc=False):
    num_iid: _Loose = ""
    title: _Loose = ""
    nick: _Loose = ""
    uid: _Loose = ""
    short_id: _Loose = ""
    signature: _Loose = ""
    type: _Loose = ""
    detail_url: _Loose = ""
    video: _WireStreams | _Absent = None
    music: _WireMusic | _Absent = None
    item_imgs: _WireImages = None


WireItem: TypeAlias = _WireItem | list[_WireItem | _Absent] | str | bool | int | float | None
"""What ``item`` may hold on the wire: an object, a list of them, an empty value, or junk."""


class ShapeError(ValueError):
    """A value the wire types took but the public model has no place for (a list for a title)."""


def _is_empty(value: object) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


def as_text(value: object) -> str:
    """A text field as PHP prints it: numbers as digits, ``true`` as "1", empty values as "".

    Raises ``ShapeError`` for a non-empty list or object.
    """
    if type(value) is str:
        return value
    if value is True:
        return "1"
    if _is_empty(value):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise ShapeError(f"expected text, got {type(value).__name__}: {value!r:.80}")


def _streams(value: _WireStreams | _Absent) -> VideoStreams:
    if isinstance(value, _WireStreams):
        return VideoStreams(as_text(value.url), as_text(value.url_raw), as_text(value.pic_url))
    if _is_empty(value):
        return VideoStreams()
    raise ShapeError(f"expected the video object, got {value!r:.80}")


def _music(value: _WireMusic | _Absent) -> Music:
    if isinstance(value, _WireMusic):
        return Music(as_text(value.title), as_text(value.nick), as_text(value.url), as_text(value.pic_url))
    if _is_empty(value):
        return Music()
    raise ShapeError(f"expected the music object, got {value!r:.80}")


def _images(value: _WireImages) -> tuple[ItemImage | str, ...]:
    entries = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else None
    if entries is None:
        if _is_empty(value):
            return ()
        raise ShapeError(f"expected a list of images, got {value!r:.80}")
    images: list[ItemImage | str] = []
    for entry in entries:
        if isinstance(entry, _WireImage):
            images.append(ItemImage(as_text(entry.url)))
        elif isinstance(entry, str):
            images.append(entry)
        elif not _is_empty(entry):
            images.append(as_text(entry))
    return tuple(images)


_NO_VIDEO = Video(num_iid="")


def normalize_item(wire: WireItem) -> Video | None:
    """The public ``Video`` for an ``item`` in any PHP shape; None when the item is empty.

    A list gives its first entry. Raises ``ShapeError`` for what has no place in ``Video``.
    """
    if isinstance(wire, list):
        wire = wire[0] if wire else None
    if not isinstance(wire, _WireItem):
        if _is_empty(wire):
            return None
        raise ShapeError(f"expected the item object, got {wire!r:.80}")
    video = Video(
        num_iid=as_text(wire.num_iid),
        title=as_text(wire.title),
        nick=as_text(wire.nick),
        uid=as_text(wire.uid),
        short_id=as_text(wire.short_id),
        signature=as_text(wire.signature),
        type=as_text(wire.type),
        detail_url=as_text(wire.detail_url),
        video=_streams(wire.video),
        music=_music(wire.music),
        item_imgs=_images(wire.item_imgs),
    )
    return None if video == _NO_VIDEO else video
