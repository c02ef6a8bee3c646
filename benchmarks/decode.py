"""Decode cost: microseconds per response body, for our models against the alternatives."""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable

from douyin_async import decode_item_get_video

from .servers import PLACEHOLDER, envelope_template

SEED_ID = "7092264344980868359"
BODY = envelope_template().replace(PLACEHOLDER, SEED_ID).encode()
"""The seed's success body as ``result_type=jsonu`` sends it: Chinese as UTF-8 (the client's default)."""
ESCAPED = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
"""The same body as ``result_type=json`` sends it: every Chinese character as a ``\\uXXXX`` escape."""


def _ours(body: bytes = BODY) -> Callable[[], object]:
    return lambda: decode_item_get_video(body, SEED_ID).item.video.url_raw


def _json() -> Callable[[], object]:
    def decode() -> object:
        envelope = json.loads(BODY)
        if str(envelope["error_code"]) not in ("0", "0000"):
            raise ValueError(envelope["error_code"])
        return envelope["item"]["video"]["url_raw"]

    return decode


def _pydantic() -> Callable[[], object] | None:
    try:
        import pydantic
    except ImportError:
        return None

    class Streams(pydantic.BaseModel):
        url: str = ""
        url_raw: str = ""
        pic_url: str = ""

    class Music(pydantic.BaseModel):
        title: str = ""
        nick: str = ""
        url: str = ""
        pic_url: str = ""

    class Item(pydantic.BaseModel):
        num_iid: str
        title: str = ""
        nick: str = ""
        uid: str = ""
        short_id: str = ""
        signature: str = ""
        type: str = ""
        detail_url: str = ""
        video: Streams = Streams()
        music: Music = Music()
        item_imgs: list[object] = []

    class Envelope(pydantic.BaseModel):
        item: Item | list[Item] | None = None
        error_code: str | int = ""
        request_id: str = ""
        execution_time: float | str | None = None
        api_info: str = ""

    def decode() -> object:
        envelope = Envelope.model_validate_json(BODY)
        assert isinstance(envelope.item, Item)
        return envelope.item.video.url_raw

    return decode


def run(number: int) -> list[list[str]]:
    candidates: list[tuple[str, Callable[[], object] | None]] = [
        (f"douyin-async models, jsonu body ({len(BODY):,} bytes)", _ours()),
        (f"douyin-async models, json body with \\u escapes ({len(ESCAPED):,} bytes)", _ours(ESCAPED)),
        ("json.loads + dict access", _json()),
        ("pydantic v2 models", _pydantic()),
    ]
    rows = []
    reference = None
    for name, decode in candidates:
        if decode is None:
            rows.append([name, "not installed", ""])
            continue
        best = min(timeit.repeat(decode, number=number, repeat=5)) / number * 1e6
        reference = reference or best
        rows.append([name, f"{best:.1f} µs", f"{best / reference:.2f}"])
    return rows


HEADER = ["decoder", "per response (best of 5)", "vs douyin-async"]
