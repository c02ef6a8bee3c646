"""Hypothesis strategies for ``item_get_video`` envelopes in every shape the PHP back end sends.

Each field comes in each of its shapes: an empty object or list as ``[]``, ``{}``, ``""``,
``null``, ``false`` or absent; numbers for text and text for numbers; codes as strings, ints,
floats or padded. ``success_envelopes(item_id)`` draws a success for that id that a decoder must
accept; ``error_envelopes()`` an error envelope and its code; ``envelopes()`` anything, junk
included; ``bodies()`` the bytes (UTF-8, GB18030, a byte order mark) and the declared charset.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from douyin_async.errors import CODES, SUCCESS

ABSENT: Any = object()
"""A field value meaning: leave the field out."""

EMPTIES: list[Any] = [[], {}, "", None, False, ABSENT]
INT64 = 2**63 - 1

empty = st.sampled_from(EMPTIES)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
words = st.text(max_size=30)
urls = st.sampled_from([
    "https://aweme.snssdk.com/aweme/v1/playwm/?video_id=v0200fg10000c9l6f1rc77u1ckvf2s70&ratio=720p",
    "https://aweme.snssdk.com/aweme/v1/play/?video_id=v0200fg10000c9l6f1rc77u1ckvf2s70&ratio=720p",
    "https://p3-sign.douyinpic.com/tos-cn-p-0015/abc~noop.jpeg?x-expires=1657270800",
    "https://sf3-cdn-tos.douyinstatic.com/obj/ies-music/7108734474519071517.mp3",
    "http://a/1.jpg",
])
digits = st.integers(1, 10**19 - 1).map(str)
"""An item id: 1 to 19 digits, some beyond what a PHP int holds."""


def number_shapes(number: str) -> st.SearchStrategy[Any]:
    """A number in each PHP shape: its digits as text or as an int (or an integral float, when exact)."""
    shapes: list[Any] = [number]
    value = int(number)
    if value <= INT64:
        shapes.append(value)
    if value <= 2**53:
        shapes.append(float(value))
    return st.sampled_from(shapes)


def text_shapes(text: str) -> st.SearchStrategy[Any]:
    """A text value in each PHP shape: itself, its number when it is one, an empty form when empty."""
    if text == "":
        return empty
    if text.isascii() and text.isdigit() and text[0] != "0":
        return number_shapes(text)
    return st.just(text)


def compact(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if value is not ABSENT}


@st.composite
def streams(draw: st.DrawFn) -> Any:
    """The ``video`` object in any shape."""
    if draw(st.booleans()):
        return draw(empty)
    fields = {name: draw(urls | st.just("")) for name in ("url", "url_raw", "pic_url")}
    return compact({name: draw(text_shapes(value)) for name, value in fields.items()})


@st.composite
def music(draw: st.DrawFn) -> Any:
    """The ``music`` object in any shape."""
    if draw(st.booleans()):
        return draw(empty)
    fields = {"title": draw(words), "nick": draw(words), "url": draw(urls | st.just("")), "pic_url": ""}
    return compact({name: draw(text_shapes(value)) for name, value in fields.items()})


@st.composite
def images(draw: st.DrawFn) -> Any:
    """``item_imgs`` in any shape: a list, an object with index keys, or an empty form."""
    entry = st.builds(lambda url: {"url": url}, urls) | urls | st.sampled_from([None, False, []])
    entries = draw(st.lists(entry, max_size=3))
    shape = draw(st.sampled_from(["list", "object", "empty"]))
    if shape == "list":
        return entries
    if shape == "object" and entries:
        return {str(2 * index): value for index, value in enumerate(entries)}
    return draw(empty)


@st.composite
def items(draw: st.DrawFn, item_id: str) -> Any:
    """An item for ``item_id`` in any shape the decoder must accept, unknown fields included."""
    fields = {
        "num_iid": draw(number_shapes(item_id)),
        "title": draw(text_shapes(draw(words))),
        "nick": draw(text_shapes(draw(words))),
        "uid": draw(text_shapes(draw(digits | st.just("")))),
        "short_id": draw(text_shapes(draw(digits | st.just("")))),
        "signature": draw(text_shapes(draw(words))),
        "type": draw(text_shapes(draw(st.sampled_from(["video", "images", "4", ""])))),
        "detail_url": draw(text_shapes(draw(urls | st.just("")))),
        "video": draw(streams()),
        "music": draw(music()),
        "item_imgs": draw(images()),
    }
    item = compact(fields)
    item.update(draw(st.dictionaries(st.sampled_from(["desc", "stats", "brand_new"]), json_values, max_size=2)))
    return [item] if draw(st.booleans()) else item


def success_codes() -> st.SearchStrategy[Any]:
    return st.sampled_from([SUCCESS, "0", 0, 0.0, " 0000 ", "0000.0"])


def code_shapes(code: str) -> st.SearchStrategy[Any]:
    """A 4-digit code as a string, an int, a float, or padded."""
    return st.sampled_from([code, int(code), float(code), f"  {code} ", f"{int(code)}", f"{code}.0"])


@st.composite
def envelope_fields(draw: st.DrawFn) -> dict[str, Any]:
    """The envelope's other fields, each in any shape, any JSON value included."""
    loose_text = st.one_of(words, st.integers(), st.floats(allow_nan=False, allow_infinity=False), empty, json_values)
    fields = {
        "error": draw(loose_text),
        "reason": draw(loose_text),
        "request_id": draw(st.from_regex(r"[0-9a-f.]{1,14}", fullmatch=True) | loose_text),
        "execution_time": draw(st.sampled_from(["0.237", 0.081, 1, "", "nan", None, False, ABSENT]) | json_values),
        "server_time": draw(st.just("Beijing/2022-06-24 16:54:24") | loose_text),
        "cache": draw(st.sampled_from([0, 1, "0", "1", "yes", None, False, ABSENT]) | json_values),
        "api_info": draw(
            st.sampled_from([
                "today:60 max:10100 all[110=60+19+31];expires:2030-12-31",
                "today: max:20000 all[=++];expires:2024-01-16",
                "max:10000 today:3",
            ])
            | loose_text
        ),
        "last_id": draw(st.sampled_from(["1038207645", 1038207645, False, ABSENT])),
        "call_args": draw(st.sampled_from([[], {}, ABSENT])),
        "success": draw(st.sampled_from([0, 1, "0", ABSENT])),
    }
    return fields


@st.composite
def success_envelopes(draw: st.DrawFn, item_id: str) -> dict[str, Any]:
    """A success for ``item_id``, every field in any PHP shape: the decoder must return its item."""
    return compact({**draw(envelope_fields()), "error_code": draw(success_codes()), "item": draw(items(item_id))})


@st.composite
def error_envelopes(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """An error envelope and its 4-digit code; its ``item``, if any, is junk to be ignored."""
    code = draw(st.sampled_from(sorted(set(CODES) - {SUCCESS})) | st.from_regex(r"[1-9][0-9]{3}", fullmatch=True))
    item = draw(st.just(ABSENT) | empty | json_values)
    return compact({**draw(envelope_fields()), "error_code": draw(code_shapes(code)), "item": item}), code


@st.composite
def envelopes(draw: st.DrawFn, item_id: str) -> dict[str, Any]:
    """Anything a gateway or a proxy may send as an envelope, well-formed or not."""
    choice = draw(st.sampled_from(["success", "error", "junk item", "junk code"]))
    if choice == "success":
        return draw(success_envelopes(item_id))
    if choice == "error":
        return draw(error_envelopes())[0]
    base = draw(success_envelopes(item_id))
    if choice == "junk item":
        return {**base, "item": draw(json_values)}
    return {**base, "error_code": draw(json_values)}


@st.composite
def bodies(draw: st.DrawFn, payload: dict[str, Any]) -> tuple[bytes, str | None]:
    """``payload`` as bytes in a charset the decoder must read, and the charset declared for it."""
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    encoding, declared = draw(st.sampled_from([
        ("utf-8", None), ("utf-8", "utf-8"), ("utf-8", "UTF-8"), ("utf-8-sig", None),
        ("gb18030", None), ("gb18030", "utf-8"), ("gb18030", "gbk"), ("gb18030", "gb18030"),
        ("utf-8", "no-such-charset"),
    ]))
    return text.encode(encoding), declared
