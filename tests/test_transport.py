"""The transport seam: the in-memory transport, and the one mapping of aiohttp's exceptions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from douyin_async import (
    AiohttpTransport,
    DouyinClient,
    MockTransport,
    NotFoundError,
    Request,
    RequestTimeoutError,
    Response,
    RetryOptions,
    ServerError,
    TransportError,
)
from douyin_async._http._errors import transport_error
from douyin_async.emulator import SEED_ITEM, SEED_SUCCESS

from .conftest import SEED_ID, SleepRecorder

KEY, SECRET = "mock-key", "mock-secret-77"


def mock_client(transport: MockTransport, sleeps: SleepRecorder, **options: object) -> DouyinClient:
    return DouyinClient(KEY, SECRET, base_url="https://gw.example/douyin", transport=transport,
                        rate_limit=None, max_concurrency=None, retry=RetryOptions(sleep=sleeps),
                        **options)  # type: ignore[arg-type]


async def test_mock_transport_answers_the_client_without_a_server(sleeps: SleepRecorder) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        if request.params["item_id"] == SEED_ID:
            return Response.json(SEED_SUCCESS)
        return Response.json({"error_code": "2000", "reason": "没找到", "request_id": "r2"})

    async with mock_client(MockTransport(handler), sleeps) as client:
        response = await client.item_get_video(SEED_ID)
        with pytest.raises(NotFoundError) as caught:
            await client.item_get_video("123")
    assert response.item.title == SEED_ITEM["title"]
    assert caught.value.request_id == "r2" and caught.value.charged
    assert [r.params["item_id"] for r in seen] == [SEED_ID, "123"]
    assert seen[0].params["key"] == KEY and seen[0].method == "GET"
    assert SECRET not in repr(seen[0])


async def test_mock_transport_failures_are_retried_like_real_ones(sleeps: SleepRecorder) -> None:
    answers = iter([TransportError("connection reset"), Response.json({"error_code": "4001"})] * 2)

    async def handler(request: Request) -> Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with mock_client(MockTransport(handler), sleeps, max_retries=3) as client:
        with pytest.raises(ServerError) as caught:
            await client.item_get_video(SEED_ID)
    assert caught.value.attempts == 4 and len(sleeps.delays) == 3


async def test_mock_transport_headers_are_case_insensitive() -> None:
    transport = MockTransport(lambda request: Response(200, {"content-type": "video/mp4"}, b"x"))
    async with transport.stream(Request("GET", "https://media.example/v.mp4")) as answer:
        assert answer.headers.get("Content-Type") == "video/mp4"
        assert [chunk async for chunk in answer.iter_chunks(1)] == [b"x"]


@pytest.mark.parametrize(
    ("exc", "kind", "retryable"),
    [
        (TimeoutError(), RequestTimeoutError, True),
        (asyncio.TimeoutError(), RequestTimeoutError, True),  # not TimeoutError on Python 3.10
        (aiohttp.ServerDisconnectedError(), TransportError, True),
        (aiohttp.ClientPayloadError("Response payload is not completed"), TransportError, True),
        (aiohttp.InvalidURL(f"http://gw/?key={KEY}&secret={SECRET}"), TransportError, False),
    ],
    ids=["TimeoutError", "asyncio.TimeoutError", "disconnected", "payload", "invalid-url"],
)
def test_one_mapping_for_every_aiohttp_failure(exc: BaseException, kind: type, retryable: bool) -> None:
    request = Request("GET", f"http://gw/?key={KEY}&secret={SECRET}&item_id=1", timeout=3.0)
    error = transport_error(exc, request, lambda text: text.replace(KEY, "***").replace(SECRET, "***"))
    assert type(error) is kind and error.retryable is retryable
    assert SECRET not in str(error) and KEY not in str(error)


@pytest.fixture
async def stalling_server() -> AsyncIterator[str]:
    """A server that sends headers and half a body, then stalls; and one that never answers."""

    async def half(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "100"})
        await resp.prepare(request)
        await resp.write(b"x" * 50)
        await asyncio.sleep(10)
        return resp

    async def never(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response()

    app = web.Application()
    app.router.add_get("/half", half)
    app.router.add_get("/never", never)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def read_all(transport: AiohttpTransport, request: Request) -> bytes:
    async with transport.stream(request) as answer:
        return b"".join([chunk async for chunk in answer.iter_chunks(1024)])


async def test_real_timeouts_are_typed_for_send_and_stream(stalling_server: str) -> None:
    transport = AiohttpTransport()
    try:
        with pytest.raises(RequestTimeoutError) as caught:
            await transport.send(Request("GET", f"{stalling_server}/never?secret={SECRET}", timeout=0.2))
        chain: list[BaseException] = []
        link: BaseException | None = caught.value
        while link is not None:
            chain.append(link)
            link = link.__cause__ or link.__context__
        assert not any(SECRET in str(e) or isinstance(e, aiohttp.ClientError) for e in chain), chain
        with pytest.raises(RequestTimeoutError):
            await read_all(transport, Request("GET", f"{stalling_server}/half", read_timeout=0.2))
    finally:
        await transport.aclose()


async def test_a_closed_session_of_the_callers_is_a_typed_error() -> None:
    session = aiohttp.ClientSession()
    await session.close()
    async with DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", session=session) as client:
        with pytest.raises(TransportError, match="session given to the client is closed") as caught:
            await client.item_get_video(SEED_ID)
    assert not caught.value.retryable and caught.value.attempts == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/douyin/item_get_video/?key=k&secret=a%2Bb+c&item_id=1",
        "https://gw.example/douyin/item_get_video/?key=%E4%B8%AD&item_id=1",
        "http://u:p@h:81/p/?a=b",
        "http://[::1]:8080/p/?a=1",
        "http://h:80/p/?x=1",
        "HTTP://H.example/p/?x=1",
        "http://h/p%20q/?x=1",
        "http://h/p/",
        "http://h/p?x=1#frag",
        "http://h/p/?a=%zz",
        "http://h/p/?a=%2",
        "http://h/a b/?x=1&y=中",
        "http://h/?",
        "http://h/p/?key=a%2Fb&x=%41&y=%7E&z=%2b",
        "http://h/p/?key=a/b:c@d!$'()*,;",
    ],
)
def test_the_fast_url_path_sends_what_yarl_would(url: str) -> None:
    from yarl import URL

    from douyin_async._http._aiohttp import _yarl_url

    assert _yarl_url(url) == URL(url)
    assert str(_yarl_url(url)) == str(URL(url))


async def test_an_invalid_url_is_a_typed_error_without_the_secret() -> None:
    transport = AiohttpTransport()
    try:
        with pytest.raises(TransportError) as caught:
            await transport.send(Request("GET", f"http://127.0.0.1:99999/x/?secret={SECRET}", timeout=1))
    finally:
        await transport.aclose()
    assert not caught.value.retryable and SECRET not in str(caught.value)


def test_a_client_open_on_one_loop_is_refused_on_another_with_a_typed_error() -> None:
    import asyncio as aio

    client = DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", max_retries=0)

    async def first() -> None:
        with pytest.raises(TransportError):  # connection refused, but the session is now open here
            await client.item_get_video(SEED_ID)

    async def second() -> None:  # the first loop could still close its connections: it says how
        with pytest.raises(TransportError, match=r"another event loop, stopped .*run_until_complete") as caught:
            await client.item_get_video(SEED_ID)
        assert not caught.value.retryable

    loop = aio.new_event_loop()
    try:
        loop.run_until_complete(first())
        aio.run(second())
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


def test_a_client_left_open_by_an_ended_asyncio_run_reopens_on_the_next() -> None:
    import asyncio as aio

    client = DouyinClient(KEY, SECRET, base_url="http://127.0.0.1:9/douyin", max_retries=0)
    transport = client._transport
    assert isinstance(transport, AiohttpTransport)
    sessions = []

    async def call() -> None:
        with pytest.raises(TransportError, match="Connect"):  # refused: it reached the network
            await client.item_get_video(SEED_ID)
        sessions.append(transport._own.value)

    aio.run(call())  # the client is not closed, and the loop it opened its session on is gone
    aio.run(call())
    aio.run(client.aclose())
    first, second = sessions
    assert first is not second and first is not None and first.closed
    assert second is not None and second.closed


@pytest.mark.parametrize(
    ("status", "body", "kind", "attempts"),
    [
        (502, b'{"message": "Bad Gateway"}', "HTTPStatusError", 3),
        (503, b"{}", "HTTPStatusError", 3),
        (200, b"{}", "MalformedResponseError", 3),
        (200, b'{"error_code": null, "reason": "x"}', "MalformedResponseError", 3),
        (404, b'{"detail": "not here"}', "EndpointNotFoundError", 1),
    ],
)
async def test_json_without_an_error_code_is_no_envelope(
    status: int, body: bytes, kind: str, attempts: int, sleeps: SleepRecorder
) -> None:
    """A proxy's JSON error page is not the gateway's answer: retried like any 5xx, never an ApiError."""
    transport = MockTransport(lambda request: Response(status, {"Content-Type": "application/json"}, body))
    async with mock_client(transport, sleeps, max_retries=2) as client:
        with pytest.raises(TransportError) as caught:
            await client.item_get_video(SEED_ID)
    assert type(caught.value).__name__ == kind and caught.value.attempts == attempts


async def test_a_mock_transports_headers_are_looked_up_in_any_case_and_keep_repeats() -> None:
    def handler(request: Request) -> Response:
        headers = CIMultiDict([("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return Response(200, headers, b"{}")

    response = await MockTransport(handler).send(Request("GET", "http://127.0.0.1/"))
    assert response.headers["content-type"] == response.headers["CONTENT-TYPE"] == "application/json"
    assert response.headers.getall("set-cookie") == ["a=1", "b=2"]  # type: ignore[attr-defined]
