"""A self-contained emulator: every URL it hands out is on 127.0.0.1, and it serves them all."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from douyin_async import DouyinClient, ShortLinkOptions
from douyin_async.cli._parser import build_parser
from douyin_async.cli._session import open_client
from douyin_async.emulator import SEED_ITEM, Emulator

from .conftest import KEY, SECRET, SEED_ID


def urls_in(value: Any) -> list[str]:
    """Every http(s) URL anywhere in a JSON value."""
    if isinstance(value, dict):
        return [url for inner in value.values() for url in urls_in(inner)]
    if isinstance(value, list):
        return [url for inner in value for url in urls_in(inner)]
    return [value] if isinstance(value, str) and value.startswith(("http://", "https://")) else []


def synthetic_id(emu: Emulator) -> str:
    return next(str(i) for i in range(10**18, 10**18 + 50) if emu.expected_item(str(i)))


@pytest.mark.parametrize("lang", ["cn", "en", "ko"])
async def test_every_url_in_served_items_is_on_the_emulator(lang: str) -> None:
    async with Emulator(fast=True, self_contained=True) as emu, aiohttp.ClientSession() as session:
        for item_id in (SEED_ID, synthetic_id(emu)):
            params = {"key": KEY, "secret": SECRET, "item_id": item_id, "lang": lang}
            async with session.get(f"{emu.base_url}/item_get_video/", params=params) as resp:
                item = (await resp.json())["item"]
            urls = urls_in(item)
            assert len(urls) == 6  # detail_url, three video URLs, two music URLs
            assert {(urlsplit(u).hostname, urlsplit(u).port) for u in urls} == {("127.0.0.1", emu.port)}
            assert item == emu.expected_item(item_id, lang)
    seed = emu.expected_item(SEED_ID)
    assert seed is not None
    for field in ("url", "url_raw", "pic_url"):  # the seed's URLs keep their paths and queries
        original = urlsplit(SEED_ITEM["video"][field])
        assert seed["video"][field] == f"{emu.origin}{original.path}?{original.query}"


async def test_without_the_flag_the_seed_is_verbatim() -> None:
    async with Emulator(fast=True) as emu:
        assert emu.expected_item(SEED_ID) == SEED_ITEM
        assert "iesdouyin.com" in (emu.expected_item(synthetic_id(emu)) or {})["detail_url"]


async def test_every_url_is_served() -> None:
    async with Emulator(fast=True, self_contained=True, video_size=5000) as emu, aiohttp.ClientSession() as s:
        for item_id in (SEED_ID, synthetic_id(emu)):
            item = emu.expected_item(item_id)
            assert item is not None
            expected = {
                item["video"]["url"]: emu.media_bytes("video", item_id, watermark=True),
                item["video"]["url_raw"]: emu.media_bytes("video", item_id),
                item["video"]["pic_url"]: emu.media_bytes("cover", item_id),
                item["music"]["url"]: emu.media_bytes("music", item_id),
                item["music"]["pic_url"]: emu.media_bytes("avatar", item_id),
            }
            for url, body in expected.items():
                async with s.get(url) as resp:
                    assert resp.status == 200 and await resp.read() == body, url
            async with s.get(item["detail_url"]) as resp:
                page = await resp.text()
            assert resp.status == 200 and resp.content_type == "text/html"
            assert html.escape(item["title"]) in page and html.escape(item["video"]["url"]) in page
        assert emu.stats.media_requests == 10 and emu.stats.share_page_requests == 2
        assert emu.stats.credential_leaks == 0


async def test_sdk_resolves_and_downloads_the_seed_offline(tmp_path: Path) -> None:
    async with Emulator(fast=True, self_contained=True) as emu:
        links = ShortLinkOptions(hosts=[f"127.0.0.1:{emu.port}"])
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, short_links=links) as client:
            assert await client.resolve_item_id(emu.short_link(SEED_ID)) == SEED_ID
            paths = await client.download(SEED_ID, tmp_path, kinds=("video", "cover", "music"))
        assert [p.read_bytes() for p in paths] == [
            emu.media_bytes(kind, SEED_ID) for kind in ("video", "cover", "music")
        ]
        assert emu.stats.media_requests == 3 and emu.stats.short_link_requests == 1
        assert emu.stats.credential_leaks == 0


async def test_cli_emulator_is_self_contained(tmp_path: Path) -> None:
    args = build_parser().parse_args(["download", SEED_ID, "-d", str(tmp_path), "--emulator"])
    async with open_client(args) as client:
        response = await client.item_get_video(SEED_ID)
        paths = await client.download(response, tmp_path, kinds=("video", "music"))
    assert {urlsplit(u).hostname for u in urls_in(json.loads(response.raw_item))} == {"127.0.0.1"}
    emu = Emulator()  # the same deterministic bytes as the CLI's own emulator
    assert [p.read_bytes() for p in paths] == [emu.media_bytes(kind, SEED_ID) for kind in ("video", "music")]
