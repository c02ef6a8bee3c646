"""Properties of the decoder over every PHP shape: typed results only, and the item is never lost."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from douyin_async import (
    ApiError,
    DouyinError,
    ItemGetVideoResponse,
    Redactor,
    decode_item_get_video,
)
from douyin_async._wire._decode import _decode_loose
from douyin_async.errors import normalize_code

from .php_shapes import bodies, digits, envelopes, error_envelopes, success_envelopes

REDACT = Redactor(["the-key", "the-secret"])
BOUNDED = settings(max_examples=300, deadline=None)
SECONDARY = settings(max_examples=150, deadline=None)


@BOUNDED
@given(st.data(), digits)
def test_decode_returns_a_response_or_raises_a_douyin_error(data: st.DataObject, item_id: str) -> None:
    payload = data.draw(envelopes(item_id))
    body, charset = data.draw(bodies(payload))
    try:
        result = decode_item_get_video(body, item_id, redact=REDACT, charset=charset)
    except DouyinError:
        return
    assert isinstance(result, ItemGetVideoResponse)


@BOUNDED
@given(st.binary(max_size=200), st.sampled_from([None, "utf-8", "gbk", "big5", "utf-16", "bogus"]))
def test_any_bytes_give_a_response_or_a_douyin_error(body: bytes, charset: str | None) -> None:
    with contextlib.suppress(DouyinError):
        assert isinstance(decode_item_get_video(body, "1", redact=REDACT, charset=charset), ItemGetVideoResponse)


@BOUNDED
@given(st.data(), digits)
def test_success_in_any_php_shape_returns_the_asked_item(data: st.DataObject, item_id: str) -> None:
    payload = data.draw(success_envelopes(item_id))
    body, charset = data.draw(bodies(payload))
    response = decode_item_get_video(body, item_id, redact=REDACT, charset=charset)
    assert response.item.num_iid == item_id
    assert type(response.item.num_iid) is str
    assert response.error_code == "0000"
    assert response.raw == body
    item = payload["item"]
    assert json.loads(response.raw_item) == item


@SECONDARY
@given(error_envelopes(), st.sampled_from([None, "utf-8", "gbk"]))
def test_error_envelope_in_any_shape_keeps_its_code(envelope: tuple[dict[str, Any], str], charset: str | None) -> None:
    payload, code = envelope
    body = json.dumps(payload, ensure_ascii=False).encode("gb18030" if charset == "gbk" else "utf-8")
    # A MalformedResponseError is no ApiError: it escapes pytest.raises and fails the test.
    with pytest.raises(ApiError) as caught:
        decode_item_get_video(body, "1", redact=REDACT, charset=charset)
    assert caught.value.code == normalize_code(code)


@SECONDARY
@given(st.data(), digits)
def test_the_strict_and_the_loose_readings_agree(data: st.DataObject, item_id: str) -> None:
    body = json.dumps(data.draw(success_envelopes(item_id)), ensure_ascii=data.draw(st.booleans())).encode()
    via_either = decode_item_get_video(body, item_id, redact=REDACT)
    via_loose = _decode_loose(body, item_id, REDACT, False)
    assert via_either == via_loose
