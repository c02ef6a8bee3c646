"""Bodies in other charsets than UTF-8: declared, mislabelled, or not text at all."""

from __future__ import annotations

import json

import pytest

from douyin_async import MalformedItemError, MalformedResponseError, NotFoundError
from douyin_async.emulator import SEED_ERROR, SEED_ITEM, SEED_SUCCESS

from .test_php_shapes import body_of, decode


@pytest.mark.parametrize("charset", [None, "utf-8", "UTF-8", "gbk", "GB2312", "gb18030", "no-such-charset", "base64"])
def test_gbk_error_body_decodes_whatever_the_label(charset: str | None) -> None:
    with pytest.raises(NotFoundError) as caught:
        decode(body_of(SEED_ERROR, encoding="gbk"), charset=charset)
    assert caught.value.reason == "没找到"


@pytest.mark.parametrize("charset", [None, "gbk", "gb18030"])
def test_gbk_success_body_decodes_to_the_same_response(charset: str | None) -> None:
    body = body_of(SEED_SUCCESS, encoding="gb18030")
    response = decode(body, charset=charset)
    assert response.item == decode(SEED_SUCCESS).item
    assert response.raw == body and response.encoding == "gb18030"
    assert json.loads(response.raw_item) == SEED_ITEM


def test_declared_charset_other_than_utf8_is_used() -> None:
    reason = "\u6c92\u627e\u5230"  # the traditional spelling: Big5 has no simplified form
    body = body_of({**SEED_ERROR, "reason": reason}, encoding="big5")
    with pytest.raises(NotFoundError) as caught:
        decode(body, charset="big5")
    assert caught.value.reason == reason


def test_utf8_byte_order_mark_is_accepted() -> None:
    response = decode(b"\xef\xbb\xbf" + body_of(SEED_SUCCESS))
    assert response.item.title == SEED_ITEM["title"] and response.encoding == "utf-8-sig"
    assert json.loads(response.raw_item) == SEED_ITEM


def test_declared_charset_that_cannot_decode_the_body_falls_back() -> None:
    with pytest.raises(NotFoundError):
        decode(body_of(SEED_ERROR), charset="ascii")


@pytest.mark.parametrize("charset", [None, "utf-8", "gbk", "nonsense"])
@pytest.mark.parametrize("body", [b"\xff\xfe\x80{", b"\x80\x81\x82", b'{"reason": "\xff\x80"', b"\x00"])
def test_undecodable_bytes_are_malformed(body: bytes, charset: str | None) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        decode(body, charset=charset)
    assert caught.value.retryable


def test_utf8_body_keeps_the_fast_reading_and_its_encoding() -> None:
    for charset in (None, "utf-8", "UTF8", " utf-8 "):
        assert decode(body_of(SEED_SUCCESS), charset=charset).encoding == "utf-8"


def test_gbk_bytes_in_an_unfit_item_still_give_a_typed_charged_error() -> None:
    body = body_of({**SEED_SUCCESS, "item": {**SEED_ITEM, "title": ["标题"]}}, encoding="gb18030")
    with pytest.raises(MalformedItemError) as caught:
        decode(body)
    assert json.loads(caught.value.raw_item)["title"] == ["标题"]
