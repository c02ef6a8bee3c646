"""Contract tests of the emulator itself, with a raw aiohttp client."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from douyin_async.emulator import FAULTS, Emulator, EmulatorConfig, add_emulator_options, config_from_args
from douyin_async.emulator._catalog import SEED_ITEM, item_id_from_short_code, short_code
from douyin_async.emulator._latency import REALISTIC, latency_rng

from .conftest import KEY, SECRET, SEED_ID


async def get(session: aiohttp.ClientSession, emu: Emulator, **params: str) -> tuple[int, Any, bytes]:
    query = {"key": KEY, "secret": SECRET, **params}
    async with session.get(f"{emu.base_url}/item_get_video/", params=query) as resp:
        body = await resp.read()
        try:
            return resp.status, json.loads(body), body
        except ValueError:
            return resp.status, None, body


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_seed_envelope_fields(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        status, ok, raw = await get(session, emu, item_id=SEED_ID)
        absent = next(str(i) for i in range(1, 1000) if emu.expected_item(str(i)) is None)
        _, missing, _ = await get(session, emu, item_id=absent)
    assert status == 200 and ok["item"] == SEED_ITEM
    seed_success_fields = {"item", "error", "reason", "error_code", "cache", "api_info", "execution_time",
                           "server_time", "client_ip", "call_args", "api_type", "translate_language",
                           "translate_engine", "server_memory", "request_id", "last_id"}
    assert set(ok) == seed_success_fields
    assert isinstance(ok["execution_time"], str) and ok["error_code"] == "0000"
    assert b"\\u" in raw  # json escapes Chinese
    seed_error_fields = {"error", "reason", "error_code", "success", "cache", "api_info", "execution_time",
                         "server_time", "call_args", "api_type", "request_id"}
    assert set(missing) == seed_error_fields
    assert isinstance(missing["execution_time"], float) and missing["error_code"] == "2000"
    assert ok["request_id"] != missing["request_id"]
    assert missing["api_info"].startswith("today:2 ")


async def test_trailing_slash_optional_and_jsonu(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        url = f"{emu.base_url}/item_get_video"
        params = {"key": KEY, "secret": SECRET, "item_id": SEED_ID, "result_type": "jsonu"}
        async with session.get(url, params=params) as resp:
            raw = await resp.read()
    assert "修以美好".encode() in raw


@pytest.mark.parametrize(
    ("params", "config", "code"),
    [
        ({"key": "nobody"}, {}, "4004"),
        ({"secret": "wrong"}, {}, "4005"),
        ({}, {"stopped": {KEY: "4006"}}, "4006"),
        ({}, {"stopped": {KEY: "4007"}}, "4007"),
        ({}, {"stopped": {KEY: "4012"}}, "4012"),
        ({}, {"maintenance": True}, "4009"),
        ({"item_id": "12x"}, {}, "4003"),
        ({"item_id": ""}, {}, "4014"),
        ({"pageToken": "x"}, {}, "4015"),
        ({}, {"balance": 0}, "4016"),
        ({}, {"daily_quota": 0}, "4013"),
    ],
)
async def test_account_and_parameter_codes(
    session: aiohttp.ClientSession, params: dict[str, str], config: dict[str, Any], code: str
) -> None:
    async with Emulator(fast=True, **config) as emu:
        _, body, _ = await get(session, emu, **{"item_id": SEED_ID, **params})
    assert body["error_code"] == code


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_any_unknown_api_is_a_4010_envelope(session: aiohttp.ClientSession, method: str) -> None:
    params = {"key": KEY, "secret": SECRET, "item_id": SEED_ID}
    async with Emulator(fast=True) as emu:
        for path in ("item_search", "item_search/", "item_get_video_v2/", "item_get"):
            async with session.request(method, f"{emu.base_url}/{path}", params=params) as r:
                assert r.status == 200 and r.content_type == "application/json", path
                body = await r.json()
            assert body["error_code"] == "4010" and body["success"] == 0, path
    assert emu.stats.charged == 0


async def test_post_with_a_form_body_like_the_php_sdk(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        url = f"{emu.base_url}/item_get_video/"
        form = {"key": KEY, "secret": SECRET, "item_id": SEED_ID, "result_type": "jsonu"}
        async with session.post(url, data=form) as r:
            whole = await r.read()
        # The key in the query, the rest in the body; a body field wins over the query's.
        query = {"key": KEY, "item_id": "12x"}
        async with session.post(url.rstrip("/"), params=query, data={"secret": SECRET, "item_id": SEED_ID}) as r:
            mixed = await r.json()
        async with session.post(url, params={"key": KEY, "secret": SECRET}, json={"item_id": SEED_ID}) as r:
            as_json = await r.json()  # a JSON body is not a form: its fields are not read
    assert "修以美好".encode() in whole and json.loads(whole)["item"] == SEED_ITEM
    assert mixed["error_code"] == "0000"
    assert as_json["error_code"] == "4014"
    assert emu.stats.charged == 2


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE"])
async def test_other_methods_are_405_and_never_charged(session: aiohttp.ClientSession, method: str) -> None:
    params = {"key": KEY, "secret": SECRET, "item_id": SEED_ID}
    async with Emulator(fast=True, daily_quota=1) as emu:
        for path in ("item_get_video/", "item_get_video", "item_search/"):
            async with session.request(method, f"{emu.base_url}/{path}", params=params) as r:
                assert r.status == 405, path
                assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "POST"}
        assert emu.stats.charged == 0 and emu.stats.requests == 0 and emu.stats.statuses == {405: 3}
        _, body, _ = await get(session, emu, item_id=SEED_ID)
    assert body["error_code"] == "0000"  # no quota was used
    assert body["api_info"].startswith("today:1 ")


@pytest.mark.parametrize("fault", ["4000", "4001", "4002", "4017", "5000"])
async def test_code_faults(session: aiohttp.ClientSession, fault: str) -> None:
    async with Emulator(fast=True, faults={fault: 1.0}) as emu:
        _, body, _ = await get(session, emu, item_id="1")
    assert body["error_code"] == fault


@pytest.mark.parametrize("fault", ["http500", "http502", "http503"])
async def test_html_faults(session: aiohttp.ClientSession, fault: str) -> None:
    async with Emulator(fast=True, faults={fault: 1.0}) as emu:
        status, body, raw = await get(session, emu, item_id="1")
    assert status == int(fault[4:]) and body is None and b"<html>" in raw


async def test_reset_truncated_and_timeout(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True, timeout_delay=0.05) as emu:
        emu.script(SEED_ID, ["reset", "truncated", "timeout"])
        with pytest.raises(aiohttp.ClientPayloadError):
            await get(session, emu, item_id=SEED_ID)
        status, body, raw = await get(session, emu, item_id=SEED_ID)
        assert status == 200 and body is None and raw.startswith(b'{"item"')
        _, body, _ = await get(session, emu, item_id=SEED_ID)
        assert body["error_code"] == "4017"


async def test_fault_draws_are_seeded() -> None:
    async def run() -> dict[str, int]:
        async with Emulator(fast=True, faults={"4000": 0.3, "http502": 0.2}, seed=11) as emu, aiohttp.ClientSession() as s:
            for i in range(50):
                await get(s, emu, item_id=str(i + 1))
            return dict(emu.stats.faults)

    first, second = await run(), await run()
    assert first == second and sum(first.values()) > 10


async def test_strict_rate_window(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True, rate_limit=5) as emu:
        bodies = [(await get(session, emu, item_id=str(i + 1)))[1] for i in range(8)]
        codes = [b["error_code"] for b in bodies]
        assert codes.count("4008") == 3 and emu.stats.rate_limited == 3
        await asyncio.sleep(1.05)
        assert (await get(session, emu, item_id="1"))[1]["error_code"] in ("0000", "2000")


async def live_stats(session: aiohttp.ClientSession, emu: Emulator) -> Any:
    async with session.get(f"{emu.origin}/_emulator/stats") as resp:
        return await resp.json()


def codes_of(results: list[tuple[int, Any, bytes]]) -> list[str]:
    return sorted(body["error_code"] for _, body, _ in results)


async def test_cap_alone_refuses_only_beyond_it_and_4008s_hold_no_slot(session: aiohttp.ClientSession) -> None:
    async with Emulator(concurrency=2, latency=0.2) as emu:
        calls = [asyncio.create_task(get(session, emu, item_id=str(i + 1))) for i in range(5)]
        await asyncio.sleep(0.1)
        during = await live_stats(session, emu)
        results = await asyncio.gather(*calls)
        emu.config.latency = 0.0
        burst = [(await get(session, emu, item_id=str(i + 1)))[1]["error_code"] for i in range(30)]
    assert codes_of(results).count("4008") == 3
    assert during["in_flight"] == 2 and during["codes"] == {"4008": 3}  # answered at once, no slot held
    assert emu.stats.in_flight == 0 and emu.stats.max_in_flight == 2
    assert "4008" not in burst  # no per-second rate without rate_limit
    assert emu.stats.limited == {"concurrency": 3} and emu.stats.rate_limited == 3


async def test_rate_alone_admits_any_number_in_flight(session: aiohttp.ClientSession) -> None:
    async with Emulator(rate_limit=6, latency=0.15) as emu:
        results = await asyncio.gather(*(get(session, emu, item_id=str(i + 1)) for i in range(8)))
    assert codes_of(results).count("4008") == 2
    assert emu.stats.max_in_flight == 6 and emu.stats.limited == {"rate": 2}


async def test_cap_and_rate_together_per_key(session: aiohttp.ClientSession) -> None:
    async with Emulator(keys={KEY: SECRET, "other": "pw"}, concurrency=2, rate_limit=3, latency=0.1) as emu:
        first = await asyncio.gather(*(get(session, emu, item_id=str(i + 1)) for i in range(4)))
        # Within the same second: the cap has room again, the window only for one more.
        second = await asyncio.gather(*(get(session, emu, item_id=str(i + 1)) for i in range(2)))
        _, other, _ = await get(session, emu, item_id="1", key="other", secret="pw")
    assert codes_of(first).count("4008") == 2 and codes_of(second).count("4008") == 1
    assert emu.stats.limited == {"concurrency": 2, "rate": 1}  # cap refusals took no place in the window
    assert other["error_code"] != "4008"  # limits are per key
    assert emu.stats.max_in_flight == 2


async def test_quota_and_balance_spent_only_by_charged_calls(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True, balance=3, faults={}) as emu:
        emu.script("77", ["4000", "4000"])
        codes = [(await get(session, emu, item_id="77"))[1]["error_code"] for _ in range(6)]
    assert codes[:2] == ["4000", "4000"] and codes[5] == "4016" and emu.stats.charged == 3
    async with Emulator(fast=True, daily_quota=2) as emu:
        codes = [(await get(session, emu, item_id=SEED_ID))[1]["error_code"] for _ in range(3)]
    assert codes == ["0000", "0000", "4013"]


async def test_synthetic_items_are_deterministic_and_localised(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as a, Emulator(fast=True) as b:
        ids = [str(10**18 + i) for i in range(40)]
        first = [(await get(session, a, item_id=i))[1] for i in ids]
        second = [(await get(session, b, item_id=i))[1] for i in ids]
        found = [i for i, body in zip(ids, first, strict=True) if body["error_code"] == "0000"]
        en = (await get(session, a, item_id=found[0], lang="en"))[1]["item"]
        ru = (await get(session, a, item_id=found[0], lang="ru"))[1]["item"]
    assert [x.get("item", {}).get("title") for x in first] == [x.get("item", {}).get("title") for x in second]
    assert 25 <= len(found) < 40
    assert en["title"].isascii() and any("\u0400" <= c <= "\u04ff" for c in ru["title"])


async def test_cache_flag_on_repeat(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        caches = [(await get(session, emu, item_id=SEED_ID, **extra))[1]["cache"]
                  for extra in ({}, {}, {"cache": "no"})]
    assert caches == [0, 1, 0]


async def test_media_bytes_types_and_ranges(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True, video_size=10_000) as emu:
        item = emu.expected_item(str(10**18 + 1)) or emu.expected_item(str(10**18 + 2))
        assert item is not None
        url = item["video"]["url_raw"]
        async with session.get(url) as resp:
            whole = await resp.read()
            assert resp.headers["Content-Type"] == "video/mp4" and resp.content_length == 10_000
        assert whole == emu.media_bytes("video", item["num_iid"]) and whole[4:8] == b"ftyp"
        async with session.get(url, headers={"Range": "bytes=100-"}) as resp:
            assert resp.status == 206 and await resp.read() == whole[100:]
            assert resp.headers["Content-Range"] == "bytes 100-9999/10000"
        async with session.get(url, headers={"Range": "bytes=20000-"}) as resp:
            assert resp.status == 416
        async with session.get(item["music"]["url"]) as resp:
            assert resp.content_type == "audio/mpeg" and (await resp.read())[:3] == b"ID3"
        async with session.get(item["video"]["pic_url"]) as resp:
            assert resp.content_type == "image/jpeg" and (await resp.read())[:2] == b"\xff\xd8"
        async with session.get(item["video"]["url"]) as resp:
            assert await resp.read() != whole  # the watermarked stream differs


async def test_media_faults(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True, media_faults={"reset": 1.0}) as emu:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.get(f"{emu.origin}/media/video/{SEED_ID}.mp4") as resp:
                await resp.read()
    async with (
        Emulator(fast=True, media_faults={"http403": 1.0}) as emu,
        session.get(f"{emu.origin}/media/video/{SEED_ID}.mp4") as resp,
    ):
        assert resp.status == 403


async def test_short_links_redirect_to_the_video_page(session: aiohttp.ClientSession) -> None:
    assert item_id_from_short_code(short_code(SEED_ID)) == SEED_ID
    async with Emulator(fast=True) as emu:
        async with session.get(emu.short_link(SEED_ID), allow_redirects=False) as resp:
            assert resp.status == 302
            assert f"/share/video/{SEED_ID}/" in resp.headers["Location"]
        assert emu.stats.credential_leaks == 0


async def test_stats_route(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        await get(session, emu, item_id=SEED_ID)
        async with session.get(f"{emu.origin}/_emulator/stats") as resp:
            stats = await resp.json()
    assert stats["requests"] == 1 and stats["codes"] == {"0000": 1} and stats["charged"] == 1


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        EmulatorConfig(faults={"nope": 0.1})
    with pytest.raises(ValueError):
        EmulatorConfig(faults={"4000": 0.7, "4001": 0.7})
    assert "reset" in FAULTS


def test_standalone_help_lists_every_knob() -> None:
    out = subprocess.run([sys.executable, "-m", "douyin_async.emulator", "--help"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    for flag in ("--port", "--rate-limit", "--concurrency", "--daily-quota", "--balance", "--maintenance",
                 "--fault", "--latency", "--fast", "--self-contained", "--slow-body", "--seed", "--media-fault", "--found-ratio"):
        assert flag in out


async def test_slow_body_is_dribbled_out(session: aiohttp.ClientSession) -> None:
    from douyin_async import DouyinClient, RequestTimeoutError

    async with Emulator(fast=True, slow_body=0.4) as emu:
        started = asyncio.get_running_loop().time()
        status, body, _ = await get(session, emu, item_id=SEED_ID)
        assert status == 200
        assert body["item"]["num_iid"] == SEED_ID
        assert asyncio.get_running_loop().time() - started >= 0.35
        async with DouyinClient(KEY, SECRET, base_url=emu.base_url, timeout=0.15, max_retries=0) as client:
            with pytest.raises(RequestTimeoutError):
                await client.item_get_video(SEED_ID)


def test_latency_model_is_heavy_tailed_like_the_gateway() -> None:
    rng = random.Random(0)
    fresh = sorted(REALISTIC.draw(rng, cached=False) for _ in range(20_000))
    cached = sorted(REALISTIC.draw(rng, cached=True) for _ in range(20_000))
    median, p90, p99 = (fresh[int(len(fresh) * q)] for q in (0.5, 0.9, 0.99))
    assert 0.9 < median < 1.3 and 2.5 < p90 < 4.5 and 6 < p99 < 11  # the seen 0.08, 2.5 and 8.3 s
    assert fresh[0] >= REALISTIC.base and fresh[-1] <= REALISTIC.base + REALISTIC.cap
    assert cached[len(cached) // 2] < median / 4


async def test_default_latency_is_drawn_from_the_model_and_reported(session: aiohttp.ClientSession) -> None:
    rng = latency_rng(267)
    cached, fresh = REALISTIC.draw(rng, cached=True), REALISTIC.draw(rng, cached=False)
    assert cached + fresh < 0.35  # seed 267 is picked for a short test
    async with Emulator(seed=267) as emu:
        emu.config.fast = True
        await get(session, emu, item_id=SEED_ID)  # puts the id in the cache at once, drawing nothing
        emu.config.fast = False
        loop = asyncio.get_running_loop()
        started = loop.time()
        _, from_cache, _ = await get(session, emu, item_id=SEED_ID)
        _, refetched, _ = await get(session, emu, item_id=SEED_ID, cache="no")
        elapsed = loop.time() - started
    assert from_cache["cache"] == 1 and refetched["cache"] == 0
    assert float(from_cache["execution_time"]) == pytest.approx(cached, abs=0.03)
    assert float(refetched["execution_time"]) == pytest.approx(fresh, abs=0.03)
    assert elapsed >= cached + fresh


async def test_fast_means_no_latency_unless_given(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        _, body, _ = await get(session, emu, item_id=SEED_ID)
    assert float(body["execution_time"]) < 0.05
    async with Emulator(fast=True, latency=0.1) as emu:
        _, body, _ = await get(session, emu, item_id=SEED_ID)
        _, missing, _ = await get(session, emu, item_id=next(
            str(i) for i in range(1, 1000) if emu.expected_item(str(i)) is None))
    assert 0.1 <= float(body["execution_time"]) < 0.2
    assert 0.1 <= missing["execution_time"] < 0.2  # a number on errors, as on the gateway


def test_standalone_latency_options() -> None:
    parser = argparse.ArgumentParser()
    add_emulator_options(parser)
    default = config_from_args(parser.parse_args([]))
    fast = config_from_args(parser.parse_args(["--fast"]))
    fixed = config_from_args(parser.parse_args(["--fast", "--latency", "0.5"]))
    assert (default.latency, default.fast) == (None, False)
    assert (fast.latency, fast.fast) == (None, True)
    assert (fixed.latency, fixed.fast) == (0.5, True)
    assert not default.self_contained
    assert config_from_args(parser.parse_args(["--self-contained"])).self_contained
    with pytest.raises(ValueError, match="negative"):
        EmulatorConfig(latency=-1)


async def test_any_language_code_answers_the_seed_as_is_where_untranslated(session: aiohttp.ClientSession) -> None:
    synthetic = str(10**18 + 1)
    async with Emulator(fast=True) as emu:
        for lang in ("cn", "", "zh", "zh-CN", "zh-TW", "zh_CN", "zh-Hans", "ko", "ja", "pt-BR", "es-419", "fil"):
            _, body, _ = await get(session, emu, item_id=SEED_ID, lang=lang)
            assert body["error_code"] == "0000" and body["item"] == SEED_ITEM, lang
            assert body["translate_language"] == ("zh-CN" if lang in ("cn", "") else lang)
            assert emu.expected_item(synthetic, lang) == emu.expected_item(synthetic)


@pytest.mark.parametrize(("lang", "title_start"), [("en", "Cultivate"), ("EN-us", "Cultivate"), ("ru", "Взращивать")])
async def test_translated_languages_translate_the_seeds_text(
    session: aiohttp.ClientSession, lang: str, title_start: str
) -> None:
    async with Emulator(fast=True) as emu:
        _, body, _ = await get(session, emu, item_id=SEED_ID, lang=lang)
    item = body["item"]
    assert item["title"].startswith(title_start) and item["music"]["nick"] != SEED_ITEM["music"]["nick"]
    untranslated = {k: v for k, v in item.items() if k not in ("title", "nick", "signature", "music")}
    assert untranslated == {k: v for k, v in SEED_ITEM.items() if k in untranslated}  # ids and media as they were
    assert item["music"]["url"] == SEED_ITEM["music"]["url"] and len(item) == len(SEED_ITEM)


async def test_malformed_language_codes_are_4003(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        for lang in ("e", "english", "en-", "-CN", "en-US-x", "12", "en;1", "zh CN", "zh-C", "ko-KR-"):
            _, body, _ = await get(session, emu, item_id=SEED_ID, lang=lang)
            assert body["error_code"] == "4003", lang
    assert emu.stats.charged == 0


async def test_json_escapes_chinese_and_jsonu_does_not(session: aiohttp.ClientSession) -> None:
    async with Emulator(fast=True) as emu:
        absent = next(str(i) for i in range(1, 1000) if emu.expected_item(str(i)) is None)
        raws = {
            (result_type, item_id): (await get(session, emu, item_id=item_id, result_type=result_type))[2]
            for result_type in ("json", "jsonu") for item_id in (SEED_ID, absent)
        }
    for (result_type, _), raw in raws.items():
        assert raw.isascii() == (result_type == "json")
        assert ("没找到".encode() in raw or "修以美好".encode() in raw) == (result_type == "jsonu")
    assert json.loads(raws["json", SEED_ID])["item"] == json.loads(raws["jsonu", SEED_ID])["item"] == SEED_ITEM
