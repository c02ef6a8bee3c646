"""Response models: frozen msgspec Structs for what ``item_get_video`` returns."""

from __future__ import annotations

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
    """A successful ``item_get_video`` answer; ``raw`` is the body exactly as received."""

    item: Video
    error_code: str
    request_id: str
    execution_time: float
    server_time: str
    cache: int
    api_info: str = ""
    attempts: int = 1
    raw: bytes = b""

    @property
    def quota(self) -> Quota | None:
        """The key's quota from ``api_info``, parsed when asked for (most callers never do)."""
        return parse_quota(self.api_info)

    @property
    def raw_item(self) -> bytes:
        """The ``item`` exactly as the gateway sent it (JSON bytes), for archiving."""
        return bytes(_RAW_ITEM.decode(self.raw).item)

    def __repr__(self) -> str:
        return (
            f"ItemGetVideoResponse(item_id={self.item.num_iid!r}, title={self.item.title!r}, "
            f"request_id={self.request_id!r}, cache={self.cache}, attempts={self.attempts})"
        )


class _RawItem(msgspec.Struct):
    item: msgspec.Raw = msgspec.Raw(b"null")


_RAW_ITEM = msgspec.json.Decoder(_RawItem)
