"""The client over real loopback HTTP against the emulator: success paths and failure mapping."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from douyin_async import (
    DouyinClient,
    HTTPStatusError,
    InvalidParamError,
    MalformedResponseError,
    MockTransport,
    NotFoundError,
    Request,
    RequestTimeoutError,
    Response,
    ShortLinkOptions,
    TransportError,
)
from douyin_async.emulator import Emulator

from .conftest import KEY, SECRET, SEED_ID, ClientFactory, SleepRecorder


async def test_seed_item_round_trip(emulator: Emulator, make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.item_get_video(SEED_ID)
    assert response.item.title == "修以美好,与君相遇#就算无人欣赏也要独自芬芳"
    assert response.item.video.url_raw.startswith("https://aweme.snssdk.com/aweme/v1/play/")
    assert response.request_id and response.attempts == 1
    assert client.quota is not None and client.quota.used == 1


async def test_int_ids_and_synthetic_items_match_the_emulator(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    item_id = next(str(i) for i in range(10**17, 10**17 + 50) if emulator.expected_item(str(i)))
    async with make_client() as client:
        response = await client.item_get_video(int(item_id))
    expected = emulator.expected_item(item_id)
    assert expected is not None
    assert response.item.title == expected["title"]
    assert response.item.video.url_raw == expected["video"]["url_raw"]


async def test_cache_and_lang_are_sent(emulator: Emulator, make_client: ClientFactory) -> None:
    async with make_client(lang="en") as client:
        first = await client.item_get_video("123456789012")
        again = await client.item_get_video("123456789012")
        fresh = await client.item_get_video("123456789012", cache=False)
        russian = await client.item_get_video("123456789012", lang="ru")
    assert (first.cache, again.cache, fresh.cache) == (0, 1, 0)
    assert first.item.title.isascii()
    assert any("\u0400" <= ch <= "\u04ff" for ch in russian.item.title)


@pytest.mark.parametrize(
    "bad", ["", " 123", "123 ", "12a", "1&key=x", "../1", "１２３", "1" * 33, -5, 1.5, None, True, b"123"]
)
async def test_bad_ids_rejected_before_any_request(
    bad: object, emulator: Emulator, make_client: ClientFactory
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidParamError) as caught:
            await client.item_get_video(bad)  # type: ignore[arg-type]
    assert caught.value.code == "4003" and not caught.value.charged
    assert emulator.stats.requests == 0


@pytest.mark.parametrize("bad", ["", "english", "e", "zh_CN", "cn&key=x", "ko-", 5])
async def test_bad_lang_rejected(bad: object, make_client: ClientFactory, emulator: Emulator) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidParamError, match="language code"):
            await client.item_get_video("1", lang=bad)  # type: ignore[arg-type]
    assert emulator.stats.requests == 0


async def test_any_language_code_of_the_gateways_shape_is_sent(make_client: ClientFactory) -> None:
    seen: list[str] = []

    def record(request: Request) -> Response:
        seen.append(request.params.get("lang", ""))
        return Response.json({"error_code": "2000", "reason": "没找到"})

    async with make_client(transport=MockTransport(record)) as client:
        for lang in ("cn", "en", "ru", "ko", "ja", "zh-CN", "pt-BR"):
            with pytest.raises(NotFoundError):
                await client.item_get_video("1", lang=lang)
    assert seen == ["cn", "en", "ru", "ko", "ja", "zh-CN", "pt-BR"]


async def test_jsonu_is_asked_for_by_default(make_client: ClientFactory) -> None:
    seen: list[dict[str, str]] = []

    def record(request: Request) -> Response:
        seen.append(request.params)
        return Response.json({"error_code": "2000"})

    async with make_client(transport=MockTransport(record), base_url="https://gw.example/douyin") as client:
        with pytest.raises(NotFoundError):
            await client.item_get_video("1")
    assert seen[0]["result_type"] == "jsonu"


@pytest.mark.parametrize("fault", ["http500", "http502", "http503"])
async def test_html_error_pages_map_to_status_errors(
    fault: str, emulator: Emulator, make_client: ClientFactory
) -> None:
    emulator.script("1234567890", [fault] * 5)
    async with make_client(max_retries=1) as client:
        with pytest.raises(HTTPStatusError) as caught:
            await client.item_get_video("1234567890")
    assert caught.value.status == int(fault[4:]) and caught.value.attempts == 2
    assert "nginx" in str(caught.value)


async def test_reset_and_truncated_bodies_are_retried(emulator: Emulator, make_client: ClientFactory) -> None:
    emulator.script("1234567890", ["reset", "truncated"])
    async with make_client(max_retries=2) as client:
        response = await client.item_get_video("1234567890")
    assert response.attempts == 3


async def test_truncated_json_is_malformed(emulator: Emulator, make_client: ClientFactory) -> None:
    emulator.script("1234567890", ["truncated"])
    async with make_client(max_retries=0) as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.item_get_video("1234567890")
    assert caught.value.excerpt.startswith('{"item"')


async def test_reset_is_a_transport_error(emulator: Emulator, make_client: ClientFactory) -> None:
    emulator.script("1234567890", ["reset"])
    async with make_client(max_retries=0) as client:
        with pytest.raises(TransportError) as caught:
            await client.item_get_video("1234567890")
    assert "Payload" in str(caught.value) or "payload" in str(caught.value)


async def test_timeout_per_attempt(emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder) -> None:
    emulator.config.latency = 2.0
    async with make_client(timeout=0.2, max_retries=1) as client:
        with pytest.raises(RequestTimeoutError) as caught:
            await client.item_get_video("1234567890")
    assert caught.value.attempts == 2 and caught.value.retryable


async def test_connection_refused_is_transport_error(make_client: ClientFactory) -> None:
    async with make_client(base_url="http://127.0.0.1:9/douyin", max_retries=1) as client:
        with pytest.raises(TransportError) as caught:
            await client.item_get_video("1")
    assert caught.value.attempts == 2


async def test_caller_session_is_used_and_left_open(emulator: Emulator, make_client: ClientFactory) -> None:
    async with aiohttp.ClientSession() as session:
        async with make_client(session=session) as client:
            await client.item_get_video(SEED_ID)
        assert not session.closed


async def test_client_without_context_manager_opens_lazily(emulator: Emulator) -> None:
    client = DouyinClient(KEY, SECRET, base_url=emulator.base_url)
    try:
        assert (await client.item_get_video(SEED_ID)).item.num_iid == SEED_ID
    finally:
        await client.aclose()


async def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    monkeypatch.setenv("DOUYIN_API_KEY", KEY)
    monkeypatch.setenv("DOUYIN_API_SECRET", SECRET)
    async with DouyinClient(base_url=emulator.base_url) as client:
        await client.item_get_video(SEED_ID)


def test_missing_credentials_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOUYIN_API_KEY", raising=False)
    monkeypatch.delenv("DOUYIN_API_SECRET", raising=False)
    with pytest.raises(ValueError, match="DOUYIN_API_KEY"):
        DouyinClient()


@pytest.mark.parametrize("url", ["ftp://x/douyin", "not a url", "http:///douyin", "http://h/douyin?key=1"])
def test_bad_base_url_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        DouyinClient(KEY, SECRET, base_url=url)


async def test_limits_are_exposed(make_client: ClientFactory) -> None:
    async with make_client(rate_limit=7, max_concurrency=2) as client:
        limits = client.limits
    assert (limits.rate, limits.concurrency, limits.in_flight) == (7, 2, 0)


async def test_many_concurrent_calls_on_one_client(emulator: Emulator, make_client: ClientFactory) -> None:
    async with make_client(max_concurrency=8) as client:
        results = await asyncio.gather(
            *(client.item_get_video(str(10**12 + i)) for i in range(200)), return_exceptions=True
        )
    found = [r for r in results if not isinstance(r, BaseException)]
    assert len(found) == sum(emulator.expected_item(str(10**12 + i)) is not None for i in range(200))
    assert emulator.stats.max_in_flight <= 8


def test_client_reopens_on_a_new_event_loop() -> None:
    """Limiters and semaphores belong to one loop: a client closed and reopened gets new ones."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = DouyinClient(KEY, SECRET, base_url=f"http://127.0.0.1:{port}/douyin", rate_limit=50,
                          max_concurrency=1, short_links=ShortLinkOptions(hosts=[f"127.0.0.1:{port}"]))

    async def use() -> list[str]:
        async with Emulator(fast=True, port=port) as emu, client:
            await asyncio.gather(*(client.item_get_video(SEED_ID) for _ in range(4)))
            # More short links than the resolver's four slots, so its semaphore is contended.
            return await asyncio.gather(*(client.resolve_item_id(emu.short_link(SEED_ID)) for _ in range(6)))

    assert asyncio.run(use()) == [SEED_ID] * 6
    assert asyncio.run(use()) == [SEED_ID] * 6
