"""Decoding: the seed's two examples and every quirk the contract lists."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from douyin_async import (
    ItemGetVideoResponse,
    ItemImage,
    MalformedResponseError,
    NotFoundError,
    Quota,
    Redactor,
    UnexpectedItemError,
    decode_item_get_video,
)
from douyin_async._wire._quota import parse_quota
from douyin_async.emulator._catalog import SEED_ERROR, SEED_ITEM, SEED_SUCCESS

from .conftest import SEED_ID

REDACT = Redactor(["the-key", "the-secret"])


def decode(payload: dict[str, Any] | bytes, item_id: str = SEED_ID) -> ItemGetVideoResponse:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_item_get_video(body, item_id, redact=REDACT)


def test_seed_success_example() -> None:
    response = decode(SEED_SUCCESS)
    item = response.item
    assert item.num_iid == SEED_ID
    assert item.title == "修以美好,与君相遇#就算无人欣赏也要独自芬芳"
    assert item.nick == "花草日记 🪴 麦麦"
    assert (item.uid, item.short_id, item.type) == ("5698411035", "969898359", "video")
    assert item.video.url_raw.startswith("https://aweme.snssdk.com/aweme/v1/play/")
    assert "/playwm/" in item.video.url
    assert item.music.url.endswith(".mp3")
    assert item.item_imgs == ()
    assert response.execution_time == pytest.approx(0.237)
    assert response.request_id == "1.62b57bc005cc9"
    assert response.error_code == "0000"
    assert response.quota == Quota(used=60, limit=10100, expires=dt.date(2030, 12, 31))
    assert json.loads(response.raw) == SEED_SUCCESS


def test_seed_error_example_with_numeric_execution_time() -> None:
    with pytest.raises(NotFoundError) as caught:
        decode(SEED_ERROR)
    assert caught.value.request_id == "1ee0ffc041242"
    assert caught.value.reason == "没找到"
    assert caught.value.charged
    assert caught.value.quota == Quota(used=0, limit=10000)


@pytest.mark.parametrize("execution_time", ["0.5", 0.5, 1, "1e-1"])
def test_execution_time_string_or_number(execution_time: object) -> None:
    assert decode({**SEED_SUCCESS, "execution_time": execution_time}).execution_time > 0


@pytest.mark.parametrize("code", [0, "0", "0000"])
def test_success_code_forms(code: object) -> None:
    assert decode({**SEED_SUCCESS, "error_code": code}).error_code == "0000"


def test_numeric_error_code() -> None:
    with pytest.raises(NotFoundError):
        decode({**SEED_ERROR, "error_code": 2000})


def test_item_as_one_element_list() -> None:
    assert decode({**SEED_SUCCESS, "item": [SEED_ITEM]}).item.num_iid == SEED_ID


@pytest.mark.parametrize("item", [[], None, "absent"])
def test_success_without_item_is_unexpected(item: object) -> None:
    payload = dict(SEED_SUCCESS)
    if item == "absent":
        del payload["item"]
    else:
        payload["item"] = item
    with pytest.raises(UnexpectedItemError) as caught:
        decode(payload)
    assert caught.value.charged and not caught.value.retryable


def test_item_for_another_id_is_unexpected() -> None:
    with pytest.raises(UnexpectedItemError, match="asked for 42"):
        decode(SEED_SUCCESS, item_id="42")


def test_item_imgs_objects_and_strings() -> None:
    imgs = [{"url": "https://a/1.jpg", "w": 1}, "https://a/2.jpg"]
    item = decode({**SEED_SUCCESS, "item": {**SEED_ITEM, "item_imgs": imgs}}).item
    assert item.item_imgs == (ItemImage(url="https://a/1.jpg"), "https://a/2.jpg")
    assert item.image_urls == ["https://a/1.jpg", "https://a/2.jpg"]


def test_unknown_fields_ignored_everywhere() -> None:
    item = {**SEED_ITEM, "brand_new": {"x": 1}, "video": {**SEED_ITEM["video"], "hd": "y"}}
    response = decode({**SEED_SUCCESS, "item": item, "future": [1, 2]})
    assert response.item.video.url_raw == SEED_ITEM["video"]["url_raw"]


def test_missing_optional_item_fields_default() -> None:
    response = decode({**SEED_SUCCESS, "item": {"num_iid": SEED_ID}})
    assert response.item.video.url_raw == "" and response.item.music.title == ""


@pytest.mark.parametrize(
    ("api_info", "expected"),
    [
        ("today:60 max:10100 all[110=60+19+31];expires:2030-12-31", Quota(60, 10100, dt.date(2030, 12, 31))),
        ("today:0 max:10000", Quota(0, 10000)),
        ("today:5 max:9;expires:2030-02-31", Quota(5, 9)),
        ("garbage", None),
        ("", None),
    ],
)
def test_quota_parsing_never_fails(api_info: str, expected: Quota | None) -> None:
    assert parse_quota(api_info) == expected


def test_quota_remaining() -> None:
    assert Quota(used=60, limit=100).remaining == 40
    assert Quota(used=120, limit=100).remaining == 0


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway key=the-key&secret=the-secret</body></html>",
        b'{"item": {"num_iid": "1", ',
        b"",
        b"[1, 2, 3]",
        b'{"error_code": {"nested": true}}',
    ],
)
def test_undecodable_body_is_typed_and_redacted(body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        decode(body)
    text = str(caught.value) + caught.value.excerpt
    assert "the-secret" not in text and "the-key" not in text
    assert caught.value.retryable
    assert len(caught.value.excerpt) <= 201


def test_excerpt_is_truncated() -> None:
    with pytest.raises(MalformedResponseError) as caught:
        decode(b"<html>" + b"x" * 5000)
    assert caught.value.excerpt.endswith("…")


def test_response_repr_is_short_and_models_are_frozen() -> None:
    response = decode(SEED_SUCCESS)
    assert len(repr(response)) < 300
    with pytest.raises(AttributeError):
        response.item.title = "changed"  # type: ignore[misc]


def test_seed_text_item_matches_catalog() -> None:
    seed = Path(__file__).resolve().parent / "data" / "item_get_video.seed.txt"  # the gateway's own page
    text = seed.read_text(encoding="utf-8")
    start = text.index("响应示例\n") + len("响应示例\n")
    example = json.loads(text[start:text.index("异常示例")])
    assert example == SEED_SUCCESS
    error_start = text.index("异常示例\n") + len("异常示例\n")
    assert json.loads(text[error_start:text.index("相关资料")]) == SEED_ERROR


def test_raw_item_is_the_item_as_sent() -> None:
    body = json.dumps(SEED_SUCCESS, ensure_ascii=False).encode()
    assert json.loads(decode(body).raw_item) == SEED_ITEM
