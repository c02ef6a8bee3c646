"""What real answers of this gateway look like, and the wrong addresses people give it.

Each case here was seen in public fixtures of the gateway or in a user's first run: a wrong base
URL (404 pages, paid for on every id until it stopped), a cached answer with a blank count, 4005
meaning a spent quota, a stray byte after a whole envelope, a UTF-8 character cut in two.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from douyin_async import (
    AccountDisabledError,
    AuthError,
    BatchAbortedError,
    ConfigurationError,
    DouyinClient,
    EndpointNotFoundError,
    MockTransport,
    QuotaExceededError,
    Request,
    Response,
    decode_item_get_video,
)
from douyin_async.emulator import Emulator
from douyin_async.errors import error_for_code

from .conftest import KEY, SECRET

IDS = [str(7092264344980868359 + n) for n in range(40)]


def client_for(base_url: str, **options: Any) -> DouyinClient:
    return DouyinClient(KEY, SECRET, base_url=base_url, max_retries=2, backoff_initial=0, backoff_max=0,
                        rate_limit=None, max_concurrency=4, **options)


async def test_a_base_url_without_the_api_family_stops_the_batch_and_bills_nothing() -> None:
    async with Emulator(fast=True, keys={KEY: SECRET}) as emu:
        wrong = emu.base_url.removesuffix("/douyin")
        async with client_for(wrong) as client:
            with pytest.raises(EndpointNotFoundError) as caught:
                await client.item_get_video(IDS[0])
            results = await client.get_videos(IDS)
        assert emu.stats.charged == 0
    error = caught.value
    assert error.status == 404 and error.fatal and not error.retryable and error.attempts == 1
    assert error.billed == 0 and error.possibly_billed == 0
    assert wrong in str(error) and "base URL" in str(error)
    sent = [r for r in results if not isinstance(r.error, BatchAbortedError)]
    assert all(isinstance(r.error, EndpointNotFoundError) for r in sent)
    assert len(sent) <= 4  # the first wave, never the whole list
    assert sum(r.billed + r.possibly_billed for r in results) == 0


async def test_a_405_page_is_a_wrong_base_url_too() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=405, text="<html>Method Not Allowed</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with client_for(f"http://127.0.0.1:{runner.addresses[0][1]}/douyin") as client:
            results = await client.get_videos(IDS)
    finally:
        await runner.cleanup()
    assert isinstance(results[0].error, EndpointNotFoundError) and results[0].error.status == 405
    assert sum(not isinstance(r.error, BatchAbortedError) for r in results) <= 4


async def test_a_404_with_an_envelope_is_judged_by_its_code() -> None:
    body = json.dumps({"error_code": "2000", "reason": "没找到"}).encode()
    transport = MockTransport(lambda request: Response(404, {"Content-Type": "application/json"}, body))
    async with DouyinClient(KEY, SECRET, transport=transport) as client:
        results = await client.get_videos(IDS[:3])
    assert [r.error.code for r in results if r.error is not None] == ["2000"] * 3


async def test_4010_stops_a_batch() -> None:
    body = json.dumps({"error_code": "4010", "reason": "API不存在"}).encode()
    sent: list[str] = []

    def answer(request: Request) -> Response:
        sent.append(request.url)
        return Response(200, {"Content-Type": "application/json"}, body)

    async with DouyinClient(KEY, SECRET, transport=MockTransport(answer), max_concurrency=2) as client:
        results = await client.get_videos(IDS)
    assert isinstance(results[0].error, ConfigurationError) and results[0].error.fatal
    assert len(sent) <= 2
    assert sum(isinstance(r.error, BatchAbortedError) for r in results) >= len(IDS) - 2


@pytest.mark.parametrize(
    ("reason", "kind"),
    [("Key[abc]已超量", QuotaExceededError), ("该key请开通接口", AccountDisabledError), ("授权失败", AuthError)],
)
def test_4005_says_why_by_its_reason(reason: str, kind: type) -> None:
    error = error_for_code("4005", reason=reason)
    assert type(error) is kind and error.code == "4005" and error.fatal and not error.charged


def envelope(api_info: str, item_id: str = IDS[0]) -> bytes:
    return json.dumps({"error_code": "0000", "item": {"num_iid": item_id, "title": "t"}, "api_info": api_info,
                       "cache": 1}).encode()


async def test_a_blank_count_never_erases_a_known_one() -> None:
    answers = iter([envelope("today:7 max:10"), envelope("today: max:10 all[=++];expires:2030-01-01")])
    transport = MockTransport(lambda request: Response(200, {}, next(answers)))
    async with DouyinClient(KEY, SECRET, transport=transport) as client:
        await client.item_get_video(IDS[0])
        assert client.quota is not None and client.quota.used == 7
        await client.item_get_video(IDS[0])
        quota = client.quota
    # the count reported, plus the answer billed since (the one with the blank count)
    assert quota is not None and quota.used == 8 and quota.limit == 10 and quota.remaining == 2
    assert quota.expires is not None and quota.expires.year == 2030


async def test_a_blank_count_keeps_the_quota_guard_counting_from_the_gateway() -> None:
    """The guard stops at the gateway's count, not at the calls this batch made."""
    answers = iter([envelope("today:9 max:10", item_id) if n == 0 else envelope("today: max:10", item_id)
                    for n, item_id in enumerate(IDS)])
    transport = MockTransport(lambda request: Response(200, {}, next(answers)))
    async with DouyinClient(KEY, SECRET, transport=transport, max_concurrency=1) as client:
        results = await client.get_videos(IDS)
    assert [r.ok for r in results[:2]] == [True, True]  # 9 of 10 used: one call is left
    assert all(isinstance(r.error, BatchAbortedError) for r in results[2:])


def test_a_stray_byte_after_a_whole_envelope_is_the_answer() -> None:
    body = envelope("today:1 max:10")
    for tail in (b"\x00", b"1", b"\n<!-- cached -->", b" }"):
        response = decode_item_get_video(body + tail, IDS[0])
        assert response.item.num_iid == IDS[0]
        assert json.loads(response.raw_item) == {"num_iid": IDS[0], "title": "t"}


async def test_a_stray_byte_is_billed_once_not_asked_again() -> None:
    sent: list[str] = []

    def answer(request: Request) -> Response:
        sent.append(request.url)
        return Response(200, {"Content-Type": "application/json"}, envelope("today:1 max:10") + b"\x00")

    async with DouyinClient(KEY, SECRET, transport=MockTransport(answer)) as client:
        response = await client.item_get_video(IDS[0])
    assert len(sent) == 1 and response.attempts == 1


def test_a_utf8_character_cut_in_two_is_replaced_not_read_as_another_charset() -> None:
    title = "用户昵称" * 20
    body = json.dumps({"error_code": "0000", "item": {"num_iid": IDS[0], "title": title, "nick": "用户昵称"}},
                      ensure_ascii=False).encode()
    cut = body.replace("昵称".encode(), "昵称".encode()[:-1], 1)  # the first 称 loses its last byte
    response = decode_item_get_video(cut, IDS[0])
    assert response.item.nick == "用户昵称"
    assert response.item.title.startswith("用户昵\ufffd") and response.item.title.endswith("用户昵称")
    assert response.encoding == "utf-8"
    assert "用户昵\ufffd".encode() in response.raw_item  # what the CLI writes is valid UTF-8
    response.raw_item.decode("utf-8")


def test_a_gbk_body_is_still_read_as_gbk() -> None:
    body = json.dumps({"error_code": "2000", "reason": "没找到"}, ensure_ascii=False).encode("gbk")
    with pytest.raises(Exception, match="没找到") as caught:
        decode_item_get_video(body, IDS[0])
    assert caught.value.code == "2000"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [(200, "<html>welcome to nginx</html>", "text/html"), (200, '{"ok": true}', "application/json"),
     (301, "<html>moved</html>", "text/html"), (403, "<html>forbidden</html>", "text/html"),
     (410, "gone", "text/plain")],
    ids=["html-200", "json-200", "redirect", "forbidden", "gone"],
)
async def test_a_host_that_never_sends_an_envelope_stops_the_batch_after_its_first_wave(
        status: int, body: str, content_type: str) -> None:
    sent: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        sent.append(request.path)
        headers = {"Location": "https://elsewhere.example/"} if status == 301 else None
        return web.Response(status=status, text=body, content_type=content_type, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with client_for(base) as client:
            results = await client.get_videos(IDS)
    finally:
        await runner.cleanup()
    stopped = [r.error for r in results if isinstance(r.error, EndpointNotFoundError)]
    assert 1 <= len(stopped) <= 4 and base in str(stopped[0]) and "base URL" in str(stopped[0])
    assert len(sent) <= 4 + 2 * 2  # the first wave, and the retries of its first two calls at most
    assert sum(isinstance(r.error, BatchAbortedError) for r in results) >= len(IDS) - 4
    assert sum(r.billed for r in results) == 0


async def test_one_odd_answer_from_a_real_gateway_is_retried_not_fatal() -> None:
    """A proxy's page on the very first call of a client is retried: only several calls say the address is wrong."""
    async with Emulator(fast=True, keys={KEY: SECRET}, found_ratio=1.0) as emu, client_for(emu.base_url) as client:
        emu.script(IDS[0], ["wrong_type"])
        emu.script(IDS[1], ["empty"])
        results = await client.get_videos(IDS[:6])
    assert all(r.ok for r in results), [r.error for r in results]
