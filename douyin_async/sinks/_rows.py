"""A video as the flat outputs hold it: one tuple of text fields, the same in CSV rows and tables.

The CSV writer, the SQLite tables and the PostgreSQL tables all take their flat columns from
``VIDEO_FIELDS`` and ``flat_video``, so a column added here appears in every output at once.
"""

from __future__ import annotations

import json

import msgspec

from .._wire._models import ItemGetVideoResponse

VIDEO_FIELDS = (
    "item_id", "title", "nick", "uid", "short_id", "video_url", "video_url_raw", "cover_url", "music_title",
    "music_url", "detail_url",
)
"""The flat fields of a video, in the order of ``flat_video``."""


def flat_video(response: ItemGetVideoResponse) -> tuple[str, ...]:
    """The fields of ``VIDEO_FIELDS`` for one answer."""
    item = response.item
    video, music = item.video, item.music
    return (
        item.num_iid, item.title, item.nick, item.uid, item.short_id, video.url, video.url_raw, video.pic_url,
        music.title, music.url, item.detail_url,
    )


def readable_item(raw: bytes) -> bytes:
    """The gateway's item as one line of UTF-8, without ``\\u`` escapes: the same JSON values,
    readable as is. A pretty-printed item is folded onto one line: a record is one line."""
    if b"\\u" not in raw:
        return msgspec.json.format(raw, indent=0) if b"\n" in raw or b"\r" in raw else raw
    try:
        text = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":"))
        return text.encode()
    except (ValueError, RecursionError, UnicodeEncodeError):  # lone surrogates and such: keep the original
        return raw
