"""Bodies past ``ResponseOptions.max_body_size`` and JSON nested without end become typed errors."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest

from douyin_async import (
    ApiError,
    DouyinClient,
    InvalidSettingError,
    MalformedItemError,
    MalformedResponseError,
    MockTransport,
    Request,
    Response,
    ResponseOptions,
    ResponseTooLargeError,
    decode_item_get_video,
)
from douyin_async.emulator import Emulator
from douyin_async.emulator._replies import gzip_bomb

from .conftest import KEY, SECRET, SEED_ID

MiB = 1024 * 1024


def client_for(emu: Emulator, **options: object) -> DouyinClient:
    settings: dict[str, object] = {"base_url": emu.base_url, "rate_limit": None, "max_concurrency": None,
                                   "max_retries": 2, "backoff_initial": 0.0, "backoff_max": 0.0}
    settings.update(options)
    return DouyinClient(KEY, SECRET, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", ["gzip_bomb", "endless"])
async def test_bomb_and_endless_body_stop_at_the_limit_with_bounded_memory(fault: str) -> None:
    gzip_bomb()  # built once, before memory is traced: the emulator's, not the client's
    async with Emulator(fast=True) as emu, client_for(emu) as client:
        emu.script(SEED_ID, [fault] * 3)
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(ResponseTooLargeError) as caught:
                await asyncio.wait_for(client.item_get_video(SEED_ID), 20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert time.monotonic() - started < 20
    # Never more than the limit and a chunk, on any aiohttp: the bomb inflates to 2 GiB.
    assert peak < 12 * MiB
    error = caught.value
    assert error.limit == 4 * MiB and not error.retryable
    assert error.attempts == 1 and error.possibly_billed == 1  # sent, answer unread: counted like a cut body
    assert emu.stats.faults[fault] == 1  # not retried at full size


async def test_declared_length_past_the_limit_is_refused_before_reading() -> None:
    async with Emulator(fast=True) as emu, client_for(emu, response=ResponseOptions(max_body_size=1024)) as client:
        with pytest.raises(ResponseTooLargeError, match="1024 bytes"):
            await client.item_get_video(SEED_ID)  # the seed's answer is about 1.7 KB
        assert emu.stats.requests == 1


async def test_a_transport_of_the_callers_is_held_to_the_limit_too() -> None:
    transport = MockTransport(lambda request: Response(200, {}, b" " * 5000))
    async with DouyinClient(KEY, SECRET, base_url="https://gw.example/douyin", transport=transport,
                            response=ResponseOptions(max_body_size=4096)) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.item_get_video(SEED_ID)


async def test_deep_json_from_the_server_is_malformed_not_recursion() -> None:
    async with Emulator(fast=True) as emu, client_for(emu, max_retries=1) as client:
        emu.script(SEED_ID, ["deep_json", "deep_json"])
        with pytest.raises(MalformedResponseError, match=r"recursion|depth"):
            await client.item_get_video(SEED_ID)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"proxy": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        ("[" * 200_000 + "]" * 200_000).encode("utf-16"),
    ],
    ids=["bare", "no-code", "utf-16"],
)
def test_deep_json_is_a_typed_error_in_every_decode_path(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        decode_item_get_video(body, SEED_ID)


@pytest.mark.parametrize(
    ("body", "kind", "charged"),
    [
        (b'{"error_code": "0000", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "MalformedItemError", True),
        (b'{"error_code": "2000", "reason": ' + b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000 + b"}",
         "NotFoundError", True),
        (b'{"error_code": 4000, "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "ServerError", False),
    ],
    ids=["success", "not-found", "server-error"],
)
def test_deep_json_that_names_its_code_is_that_code(body: bytes, kind: str, charged: bool) -> None:
    """A whole answer too deep to read whose one code is visible: what that code says, billed or not.
    A billed answer read as malformed would be asked again, and billed again."""
    with pytest.raises(ApiError) as caught:
        decode_item_get_video(body, SEED_ID)
    assert type(caught.value).__name__ == kind and caught.value.charged is charged


async def test_a_deep_success_is_billed_once_and_not_asked_again() -> None:
    body = b'{"error_code": "0000", "item": {"num_iid": "%s", "title": ' % SEED_ID.encode()
    body += b"[" * 200_000 + b"]" * 200_000 + b"}}"
    sent: list[str] = []

    def handler(request: Request) -> Response:
        sent.append(request.url)
        return Response(200, {"Content-Type": "application/json"}, body)

    async with DouyinClient(KEY, SECRET, transport=MockTransport(handler), max_retries=3) as client:
        with pytest.raises(MalformedItemError) as caught:
            await client.item_get_video(SEED_ID)
    assert len(sent) == 1 and caught.value.billed == 1 and not caught.value.retryable


async def test_deflate_and_multi_member_gzip_are_inflated_within_the_limit() -> None:
    import gzip
    import zlib

    from aiohttp import web

    body = b'{"error_code": "2000", "reason": "' + "没找到".encode() + b'"}'
    encodings = {"gzip": gzip.compress(body[:10]) + gzip.compress(body[10:]), "deflate": zlib.compress(body),
                 "raw": zlib.compress(body)[2:-4], "bogus": b"not compressed at all"}

    async def handler(request: web.Request) -> web.Response:
        name = request.query["item_id"]
        kind = {"1": "gzip", "2": "deflate", "3": "raw", "4": "bogus"}[name]
        encoding = "deflate" if kind == "raw" else "gzip" if kind == "bogus" else kind
        return web.Response(body=encodings[kind], headers={"Content-Encoding": encoding,
                                                           "Content-Type": "application/json"})

    from douyin_async import NotFoundError, TransportError

    app = web.Application()
    app.router.add_get("/douyin/item_get_video/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with DouyinClient(KEY, SECRET, base_url=f"http://127.0.0.1:{runner.addresses[0][1]}/douyin",
                                max_retries=0) as client:
            for item_id in ("1", "2", "3"):
                with pytest.raises(NotFoundError):
                    await client.item_get_video(item_id)
            with pytest.raises(TransportError, match="corrupt compressed body"):
                await client.item_get_video("4")
    finally:
        await runner.cleanup()


def test_deep_json_inside_a_success_item_keeps_it_charged() -> None:
    body = b'{"error_code": "0000", "item": {"num_iid": "1", "title": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    with pytest.raises(MalformedItemError):
        decode_item_get_video(body, "1")


@pytest.mark.parametrize("value", [0, 1023, -1, 1.5, None, True])
def test_max_body_size_is_checked(value: object) -> None:
    with pytest.raises(InvalidSettingError, match="max_body_size"):
        ResponseOptions(max_body_size=value)  # type: ignore[arg-type]
