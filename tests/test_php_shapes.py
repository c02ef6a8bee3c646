"""Decoding the PHP back end's loose JSON: empty values, numbers for strings, false for absent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from douyin_async import (
    DouyinError,
    ItemGetVideoResponse,
    ItemImage,
    MalformedItemError,
    MalformedResponseError,
    Music,
    NotFoundError,
    RateLimitError,
    Redactor,
    UnexpectedItemError,
    Video,
    VideoStreams,
    decode_item_get_video,
)
from douyin_async.emulator import SEED_ERROR, SEED_ITEM, SEED_SUCCESS

from .conftest import SEED_ID

REDACT = Redactor(["the-key", "the-secret"])
EMPTIES: list[Any] = [[], {}, "", None, False, "absent"]


def body_of(payload: dict[str, Any], *, encoding: str = "utf-8") -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode(encoding)


def decode(payload: dict[str, Any] | bytes, item_id: str = SEED_ID, **kwargs: Any) -> ItemGetVideoResponse:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    return decode_item_get_video(body, item_id, redact=REDACT, **kwargs)


def with_item(**fields: Any) -> dict[str, Any]:
    """The seed success with item fields replaced; the value "absent" removes the field."""
    item = {**SEED_ITEM, **fields}
    return {**SEED_SUCCESS, "item": {k: v for k, v in item.items() if v != "absent"}}


def with_fields(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    merged = {**payload, **fields}
    return {k: v for k, v in merged.items() if v != "absent"}


# --- Success bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("empty", EMPTIES)
@pytest.mark.parametrize("field", ["video", "music"])
def test_empty_object_in_every_php_shape(field: str, empty: Any) -> None:
    item = decode(with_item(**{field: empty})).item
    assert getattr(item, field) == (VideoStreams() if field == "video" else Music())
    assert item.title == SEED_ITEM["title"]


@pytest.mark.parametrize("empty", EMPTIES)
def test_empty_image_list_in_every_php_shape(empty: Any) -> None:
    assert decode(with_item(item_imgs=empty)).item.item_imgs == ()


@pytest.mark.parametrize("empty", EMPTIES)
@pytest.mark.parametrize("field", ["title", "nick", "signature", "detail_url", "uid", "short_id", "type"])
def test_empty_text_in_every_php_shape(field: str, empty: Any) -> None:
    assert getattr(decode(with_item(**{field: empty})).item, field) == ""


@pytest.mark.parametrize("empty", EMPTIES)
@pytest.mark.parametrize("field", ["url", "url_raw", "pic_url"])
def test_empty_stream_url_in_every_php_shape(field: str, empty: Any) -> None:
    video = {k: v for k, v in {**SEED_ITEM["video"], field: empty}.items() if v != "absent"}
    assert getattr(decode(with_item(video=video)).item.video, field) == ""


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("num_iid", int(SEED_ID), SEED_ID),
        ("uid", 5698411035, "5698411035"),
        ("short_id", 969898359, "969898359"),
        ("short_id", 969898359.0, "969898359"),
        ("type", 4, "4"),
        ("title", 12.5, "12.5"),
        ("title", True, "1"),
    ],
)
def test_numbers_where_text_is_expected(field: str, value: Any, expected: str) -> None:
    item = decode(with_item(**{field: value})).item
    assert getattr(item, field) == expected
    assert isinstance(item.num_iid, str)


@pytest.mark.parametrize("empty", [{}, "", [], None, False, [{}], [[]], [None]])
def test_empty_item_is_a_success_without_an_item(empty: Any) -> None:
    with pytest.raises(UnexpectedItemError, match="without an item") as caught:
        decode({**SEED_SUCCESS, "item": empty})
    assert type(caught.value) is UnexpectedItemError
    assert caught.value.charged and not caught.value.retryable
    assert caught.value.request_id == SEED_SUCCESS["request_id"]


def test_item_list_takes_its_first_object_in_any_shape() -> None:
    assert decode({**SEED_SUCCESS, "item": [{**SEED_ITEM, "num_iid": int(SEED_ID), "video": []}]}).item.num_iid == SEED_ID


def test_image_list_sent_as_an_object_with_index_keys() -> None:
    imgs = {"0": {"url": "https://a/1.jpg"}, "2": "https://a/2.jpg"}
    assert decode(with_item(item_imgs=imgs)).item.image_urls == ["https://a/1.jpg", "https://a/2.jpg"]


def test_image_entries_in_php_shapes() -> None:
    imgs = [{"url": "https://a/1.jpg"}, None, False, [], {"url": None}, "https://a/2.jpg", 7]
    item = decode(with_item(item_imgs=imgs)).item
    assert item.item_imgs == (ItemImage("https://a/1.jpg"), ItemImage(""), "https://a/2.jpg", "7")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("execution_time", "", 0.0),
        ("execution_time", None, 0.0),
        ("execution_time", False, 0.0),
        ("execution_time", "nan", 0.0),
        ("execution_time", "inf", 0.0),
        ("execution_time", [], 0.0),
        ("cache", "1", 1),
        ("cache", "yes", 0),
        ("cache", None, 0),
        ("cache", 1.0, 1),
    ],
)
def test_envelope_numbers_in_php_shapes(field: str, value: Any, expected: float) -> None:
    assert getattr(decode(with_fields(SEED_SUCCESS, **{field: value})), field) == expected


@pytest.mark.parametrize("value", [None, False, 1234, [], {}])
@pytest.mark.parametrize("field", ["request_id", "server_time", "api_info", "reason", "error", "last_id"])
def test_envelope_text_in_php_shapes(field: str, value: Any) -> None:
    response = decode(with_fields(SEED_SUCCESS, **{field: value}))
    assert response.item == decode(SEED_SUCCESS).item
    if field in ("request_id", "server_time", "api_info"):
        assert getattr(response, field) == ("1234" if value == 1234 else "")


def test_php_shaped_success_equals_the_well_formed_one() -> None:
    loose = {
        **SEED_ITEM,
        "num_iid": int(SEED_ID), "uid": int(SEED_ITEM["uid"]), "short_id": int(SEED_ITEM["short_id"]),
        "item_imgs": {}, "signature": SEED_ITEM["signature"] or False,
    }
    a = decode(SEED_SUCCESS)
    b = decode(with_fields(SEED_SUCCESS, item=loose, cache="0", last_id=False, call_args={}))
    assert (b.item, b.request_id, b.execution_time, b.cache, b.api_info) == (
        a.item, a.request_id, a.execution_time, a.cache, a.api_info,
    )
    assert json.loads(b.raw_item) == loose


# --- A success whose item does not fit, even after normalisation ------------------------------


@pytest.mark.parametrize(
    "item",
    [
        {**SEED_ITEM, "video": "https://not-an-object"},
        {**SEED_ITEM, "music": [1, 2]},
        {**SEED_ITEM, "title": {"zh": "标题"}},
        {**SEED_ITEM, "item_imgs": "https://a/1.jpg"},
        {**SEED_ITEM, "item_imgs": [[1]]},
        {**SEED_ITEM, "video": {"url": {"hd": "x"}}},
        {**SEED_ITEM, "num_iid": [SEED_ID]},
        "not an item",
        12,
        True,
    ],
)
def test_success_with_an_unfit_item_is_charged_typed_and_keeps_the_item(item: Any) -> None:
    payload = {**SEED_SUCCESS, "item": item}
    with pytest.raises(MalformedItemError) as caught:
        decode(payload)
    error = caught.value
    assert isinstance(error, UnexpectedItemError) and not isinstance(error, MalformedResponseError)
    assert error.charged and not error.retryable and not error.fatal
    assert error.code == "0000"
    assert error.request_id == SEED_SUCCESS["request_id"]
    assert json.loads(error.raw_item) == item
    assert "the-secret" not in str(error)


def test_item_of_another_id_keeps_its_raw_item() -> None:
    with pytest.raises(UnexpectedItemError, match="asked for 42") as caught:
        decode(SEED_SUCCESS, item_id="42")
    assert type(caught.value) is UnexpectedItemError
    assert json.loads(caught.value.raw_item) == SEED_ITEM


def test_unexpected_item_reports_the_quota() -> None:
    with pytest.raises(UnexpectedItemError) as caught:
        decode({**SEED_SUCCESS, "item": {}})
    assert caught.value.quota is not None and caught.value.quota.limit == 10100


# --- Error envelopes --------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["4008", 4008, 4008.0, "  4008 ", " 4008", "4008.0"])
def test_error_code_in_every_shape(code: Any) -> None:
    with pytest.raises(RateLimitError) as caught:
        decode({**SEED_ERROR, "error_code": code})
    assert caught.value.code == "4008"


@pytest.mark.parametrize("code", ["0", 0, 0.0, " 0 ", "0000", "  0000"])
def test_success_code_in_every_shape(code: Any) -> None:
    assert decode({**SEED_SUCCESS, "error_code": code}).error_code == "0000"


@pytest.mark.parametrize("value", [None, 12, 1.5, False, [], {}, {"zh": "没找到"}, ["a"]])
@pytest.mark.parametrize("field", ["reason", "error", "request_id", "api_info", "execution_time", "cache", "item"])
def test_error_envelope_maps_by_code_whatever_the_other_fields_hold(field: str, value: Any) -> None:
    with pytest.raises(NotFoundError) as caught:
        decode({**SEED_ERROR, field: value})
    assert caught.value.code == "2000" and caught.value.charged


def test_error_envelope_text_fields_as_numbers_or_null() -> None:
    with pytest.raises(RateLimitError) as caught:
        decode({**SEED_ERROR, "error_code": 4008.0, "reason": None, "error": 7, "request_id": 12345})
    assert (caught.value.reason, caught.value.request_id) == ("7", "12345")


def test_error_envelope_with_an_out_of_range_number_keeps_its_code() -> None:
    body = body_of({**SEED_ERROR, "error_code": "4008"}).replace(b'"cache": 0', b'"cache": 1e400')
    assert b"1e400" in body
    with pytest.raises(RateLimitError):
        decode(body)


@pytest.mark.parametrize("code", [{"nested": True}, [4008], True])
def test_error_code_that_is_no_code_is_malformed(code: Any) -> None:
    with pytest.raises(MalformedResponseError):
        decode({**SEED_ERROR, "error_code": code})


def test_well_formed_results_are_the_public_types() -> None:
    response = decode(with_item(video=[], music=None, uid=1))
    assert type(response.item) is Video
    assert type(response.item.video) is VideoStreams and type(response.item.music) is Music
    assert isinstance(response, ItemGetVideoResponse)
    assert issubclass(MalformedItemError, DouyinError)
