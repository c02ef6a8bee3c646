"""Ids from what users paste: forms, property tests, hostile strings, short links."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from douyin_async import DouyinClient, InvalidParamError, ShortLinkOptions, extract_item_ids, parse_item_id
from douyin_async.emulator import Emulator
from douyin_async.emulator._catalog import SEED_ITEM

from .conftest import KEY, SECRET, SEED_ID

FORMS = [
    SEED_ID,
    f"  {SEED_ID}\n",
    f"https://www.douyin.com/video/{SEED_ID}",
    f"https://www.douyin.com/video/{SEED_ID}?previous_page=app_code_link",
    f"https://www.iesdouyin.com/share/video/{SEED_ID}/?region=CN&mid=7090863251021515533",
    f"m.douyin.com/share/video/{SEED_ID}",
    f"https://www.douyin.com/note/{SEED_ID}",
    f"https://www.douyin.com/discover?modal_id={SEED_ID}",
    f"https://www.douyin.com/search/x?aweme_id={SEED_ID}",
    f"https://www.douyin.com/user/self?item_id={SEED_ID}",
    f"https://www.douyin.com/x?vid={SEED_ID}",
    f"7.92 复制打开抖音，看看【花草日记的作品】修以美好 https://www.douyin.com/video/{SEED_ID} ZzZ:/ 01/12",
    SEED_ITEM["detail_url"],
]


@pytest.mark.parametrize("text", FORMS)
def test_every_documented_form(text: str) -> None:
    assert parse_item_id(text) == SEED_ID


def test_int_input() -> None:
    assert parse_item_id(7092264344980868359) == SEED_ID


def test_other_numbers_in_urls_are_not_taken() -> None:
    blob = " ".join([SEED_ITEM["detail_url"], SEED_ITEM["video"]["pic_url"], SEED_ITEM["music"]["url"]])
    assert extract_item_ids(blob) == [SEED_ID]


def test_extract_keeps_order_and_drops_repeats() -> None:
    blob = f"b 7092264344980868360 then https://www.douyin.com/video/{SEED_ID} again {SEED_ID}"
    assert extract_item_ids(blob) == ["7092264344980868360", SEED_ID]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty input"),
        ("   ", "empty input"),
        ("1&key=x", "no video id"),
        ("../", "no video id"),
        ("１２３４５６７８９０１２３４５６７", "non-ASCII"),
        ("1" * 40, "1-32"),
        ("https://example.com/video/7092264344980868359", "no video id"),
        (f"{SEED_ID} and 7092264344980868360", "found 2 video ids"),
        ("7.92 复制打开抖音，看看【...】 https://v.douyin.com/AbCdEf/ ...", "resolve_item_id"),
        (None, "not NoneType"),
        (3.5, "not float"),
    ],
)
def test_hostile_and_empty_inputs_are_rejected_clearly(text: object, message: str) -> None:
    with pytest.raises(InvalidParamError, match=message) as caught:
        parse_item_id(text)
    assert caught.value.code == "4003"


def test_credentials_in_rejected_input_are_masked() -> None:
    with pytest.raises(InvalidParamError) as caught:
        parse_item_id("see https://x.example/?key=abc123&secret=s3cr3t")
    assert "s3cr3t" not in str(caught.value)
    assert "abc123" not in str(caught.value)


ids = st.from_regex(r"[1-9][0-9]{14,31}", fullmatch=True)
# Surrounding text: anything, but an id must stand alone, so the neighbours are not ASCII
# letters or digits (those would make it part of a longer token, as in a hash).
noise = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
edge = st.sampled_from([" ", "\n", "，", "【", "】", ":", "(", ")", "。", "“"])


@settings(max_examples=300, deadline=None)
@given(prefix=noise, left=edge, item_id=ids, right=edge, suffix=noise)
def test_any_id_in_any_text_is_found(prefix: str, left: str, item_id: str, right: str, suffix: str) -> None:
    text = f"{prefix}{left}{item_id}{right}{suffix}"
    assert item_id in extract_item_ids(text)


@settings(max_examples=300, deadline=None)
@given(prefix=noise, item_id=ids, suffix=noise, form=st.sampled_from(FORMS[2:11]))
def test_any_url_form_in_any_text_is_found(prefix: str, item_id: str, suffix: str, form: str) -> None:
    text = f"{prefix} {form.replace(SEED_ID, item_id)} {suffix}"
    assert item_id in extract_item_ids(text)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=80))
def test_nothing_that_is_not_an_id_is_returned(text: str) -> None:
    for found in extract_item_ids(text):
        assert found.isascii()
        assert found.isdigit()
        assert 1 <= len(found) <= 32
        assert found in text


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_parse_either_returns_an_ascii_id_or_raises_invalid_param(text: str) -> None:
    try:
        found = parse_item_id(text)
    except InvalidParamError:
        return
    assert found.isascii()
    assert found.isdigit()
    assert len(found) <= 32


async def test_short_link_resolved_without_credentials() -> None:
    async with Emulator(fast=True) as emu:
        host = f"127.0.0.1:{emu.port}"
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, short_links=ShortLinkOptions(hosts=[host])) as client:
            share = f"7.92 复制打开抖音，看看【花草】 {emu.short_link(SEED_ID)} 复制此链接"
            assert await client.resolve_item_id(share) == SEED_ID
            assert await client.resolve_item_id(f"https://www.douyin.com/video/{SEED_ID}") == SEED_ID
            with pytest.raises(InvalidParamError, match="did not lead"):
                await client.resolve_item_id(f"http://{host}/s/!!!/")
        assert emu.stats.short_link_requests == 2
        assert emu.stats.credential_leaks == 0
        assert emu.stats.requests == 0  # the gateway was never asked


async def test_batch_inputs_may_be_short_links_and_urls() -> None:
    async with Emulator(fast=True) as emu:
        host = f"127.0.0.1:{emu.port}"
        inputs = [emu.short_link(SEED_ID), f"https://www.douyin.com/video/{SEED_ID}", "nonsense"]
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, short_links=ShortLinkOptions(hosts=[host])) as client:
            results = await client.get_videos(inputs)
        assert [r.item_id for r in results] == [SEED_ID, SEED_ID, None]
        assert results[0].ok
        assert results[1].ok
        assert isinstance(results[2].error, InvalidParamError)
        assert emu.stats.requests == 1  # the two inputs for one id share one fetch
        assert emu.stats.credential_leaks == 0


async def test_short_link_host_refusing_head_is_asked_with_get() -> None:
    from aiohttp import web

    methods: list[str] = []

    async def short(request: web.Request) -> web.Response:
        methods.append(request.method)
        if request.method == "HEAD":
            return web.Response(status=405)
        raise web.HTTPFound(f"https://www.iesdouyin.com/share/video/{SEED_ID}/?region=CN")

    app = web.Application()
    app.router.add_route("*", "/abc/", short)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host = f"127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with DouyinClient(KEY, SECRET, short_links=ShortLinkOptions(hosts=[host])) as client:
            assert await client.resolve_item_id(f"看看 http://{host}/abc/ 复制") == SEED_ID
    finally:
        await runner.cleanup()
    assert methods == ["HEAD", "GET"]
