"""The secrets boundary holds for what is not ours: a caller's transport, echoed bodies, short links.

Whatever a transport of the caller's raises (our errors with the URL in their text or args, or
anything else), and whatever a gateway echoes back in its body, leaves the client with the key
and secret masked everywhere an error tracker or a log looks: message, args, repr, the chain,
the locals of every frame in its traceback, and a successful response's fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest

from douyin_async import (
    DouyinClient,
    DouyinError,
    InvalidParamError,
    MockTransport,
    NotFoundError,
    Request,
    RequestTimeoutError,
    Response,
    Stream,
    TransportError,
)

from .test_secrets_frames import frame_texts

KEY = "K3Y-boundary+/=7d"
SECRET = "S3CRET-boundary&x=1"
ITEM = "7092264344980868359"
FORMS = (KEY, SECRET, "K3Y-boundary%2B%2F%3D7d", "S3CRET-boundary%26x%3D1")


def leaks(texts: list[str]) -> list[str]:
    return [text for text in texts if any(form in text for form in FORMS)]


def assert_clean(exc: BaseException) -> None:
    found = leaks(frame_texts(exc))
    assert not found, found[0][:300]


class LeakyTransport:
    """A transport of a caller's that puts the URL everywhere: its errors, their chain, its locals."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.sent = 0

    async def send(self, request: Request) -> Response:
        self.sent += 1
        url = request.url  # a local an error tracker would record
        try:
            raise KeyError(url)
        except KeyError as inner:
            raise self.make(url) from inner

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[Stream]:
        url = request.url
        raise self.make(url)
        yield  # pragma: no cover

    async def aclose(self) -> None:
        pass


RAISED = {
    "our TransportError": (lambda url: TransportError(f"cannot reach {url}"), TransportError, True),
    "TimeoutError": (lambda url: TimeoutError(f"timed out: {url}"), RequestTimeoutError, True),
    "OSError": (lambda url: ConnectionResetError(f"reset by peer: {url}"), TransportError, True),
    "ValueError": (lambda url: ValueError(f"bad url {url}"), TransportError, False),
}


@pytest.mark.parametrize("raised", RAISED)
async def test_a_callers_transport_leaks_nothing_through_any_exit(raised: str) -> None:
    make, kind, retried = RAISED[raised]
    transport = LeakyTransport(make)
    async with DouyinClient(KEY, SECRET, transport=transport, max_retries=1, backoff_initial=0,
                            backoff_max=0) as client:
        with pytest.raises(DouyinError) as caught:
            await client.item_get_video(ITEM)
        results = await client.get_videos([ITEM])
    error = caught.value
    assert isinstance(error, kind), repr(error)
    assert transport.sent == (4 if retried else 2)  # one call and one batch, each retried once or not
    assert error.possibly_billed == (2 if retried else 1)  # the request may have gone out
    assert_clean(error)
    assert isinstance(results[0].error, kind)
    assert_clean(results[0].error)
    assert not leaks([repr(results[0]), repr(results), str(results[0].error.args)])


async def test_a_callers_short_link_lookup_leaks_nothing() -> None:
    transport = LeakyTransport(lambda url: ValueError(f"no route to {url}?key={KEY}&secret={SECRET}"))
    async with DouyinClient(KEY, SECRET, transport=transport) as client:
        with pytest.raises(TransportError) as caught:
            await client.resolve_item_id("https://v.douyin.com/AbC123/")
        results = await client.get_videos(["https://v.douyin.com/AbC123/"])
    assert_clean(caught.value)
    assert_clean(results[0].error)  # type: ignore[arg-type]
    assert not leaks([repr(results)])


def echoing(code: str) -> MockTransport:
    """A gateway that echoes the query it was sent into every text field of its answer."""

    def answer(request: Request) -> Response:
        query = request.url.partition("?")[2]
        envelope: dict[str, Any] = {
            "error_code": code, "reason": f"echo {query}", "error": query,
            "request_id": f"{KEY}.{SECRET}", "api_info": f"today:1 max:10 {query}",
            "call_args": {"key": KEY, "secret": SECRET}, "execution_time": "0.1",
        }
        if code == "0000":
            envelope["item"] = {"num_iid": ITEM, "title": f"a title with {SECRET}", "nick": KEY}
        return Response(200, {"Content-Type": "application/json"}, msgspec.json.encode(envelope))

    return MockTransport(answer)


async def test_an_echoed_success_shows_no_credential_in_any_field() -> None:
    async with DouyinClient(KEY, SECRET, transport=echoing("0000")) as client:
        response = await client.item_get_video(ITEM)
    texts = [repr(response), response.request_id, response.api_info, response.raw.decode(),
             response.raw_item.decode(), repr(msgspec.structs.asdict(response.item))]
    assert response.item.num_iid == ITEM
    assert not leaks(texts), leaks(texts)


@pytest.mark.parametrize("code", ["2000", "4003", "4005", "5000"])
async def test_an_echoed_error_shows_no_credential_in_any_frame(code: str) -> None:
    async with DouyinClient(KEY, SECRET, transport=echoing(code), max_retries=0) as client:
        with pytest.raises(DouyinError) as caught:
            await client.item_get_video(ITEM)
    assert caught.value.code == code
    assert_clean(caught.value)


async def test_an_echoed_malformed_body_shows_no_credential_in_any_frame() -> None:
    transport = MockTransport(lambda request: Response(200, {}, f"<html>{request.url}</html>".encode()))
    async with DouyinClient(KEY, SECRET, transport=transport, max_retries=0) as client:
        with pytest.raises(TransportError) as caught:
            await client.item_get_video(ITEM)
    assert_clean(caught.value)


def test_the_redactor_masks_encoded_forms_and_bodies() -> None:
    from douyin_async import Redactor

    redact = Redactor([KEY, SECRET])
    for form in FORMS:
        assert form not in redact(f"x {form} y")
        assert form.encode() not in redact.body(f'{{"a": "{form}"}}'.encode())
    assert redact.body(b'{"a": 1}') == b'{"a": 1}'


async def test_our_own_errors_keep_their_type_and_code() -> None:
    """Sealing changes no meaning: a not-found is still a billed NotFoundError with its reason."""
    async with DouyinClient(KEY, SECRET, transport=echoing("2000"), max_retries=0) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.item_get_video(ITEM)
        with pytest.raises(InvalidParamError):
            await client.item_get_video("not an id")
    assert caught.value.billed == 1 and caught.value.request_id == "***.***"


def escaped_echo(spell: str, charset: str = "utf-8") -> MockTransport:
    """A gateway that echoes the key and secret inside a success, spelled as ``spell`` says."""

    def encode(text: str) -> str:
        if spell == "unicode-escapes":
            return "".join(f"\\u{ord(char):04x}" for char in text)
        return text.replace("/", "\\/") if spell == "slashes" else text

    def answer(request: Request) -> Response:
        body = (f'{{"error_code":"0000","request_id":"{encode(KEY)}","api_info":"today:1 max:9 {encode(SECRET)}",'
                f'"item":{{"num_iid":"{ITEM}","title":"{encode(SECRET)}","extra":"{encode(KEY)}"}}}}')
        return Response(200, {"Content-Type": f"application/json; charset={charset}"}, body.encode(charset))

    return MockTransport(answer)


@pytest.mark.parametrize(("spell", "charset"), [("unicode-escapes", "utf-8"), ("slashes", "utf-8"),
                                                ("plain", "utf-16"), ("plain", "gb18030")])
async def test_an_escaped_echo_reaches_no_field(spell: str, charset: str) -> None:
    async with DouyinClient(KEY, SECRET, transport=escaped_echo(spell, charset)) as client:
        response = await client.item_get_video(ITEM)
    texts = [repr(response), response.request_id, response.api_info, response.raw.decode("utf-8", "replace"),
             response.raw_item.decode(), repr(msgspec.structs.asdict(response.item)),
             msgspec.json.decode(response.raw_item).__repr__()]
    assert response.item.num_iid == ITEM
    assert not leaks(texts), leaks(texts)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


class OwnError(TransportError):
    """A caller's own error type, holding the URL in containers and a note."""

    def __init__(self, url: str) -> None:
        super().__init__(f"failed: {url}")
        self.urls = [url, {"where": url}]
        self.add_note(f"while fetching {url}")


@pytest.mark.parametrize("make", [lambda url: Unprintable(url), lambda url: OwnError(url)],
                         ids=["unprintable", "own-error-with-containers-and-a-note"])
async def test_odd_errors_of_a_callers_transport_are_typed_and_masked(make: Any) -> None:
    async with DouyinClient(KEY, SECRET, transport=LeakyTransport(make), max_retries=0) as client:
        with pytest.raises(TransportError) as caught:
            await client.item_get_video(ITEM)
    assert_clean(caught.value)
    assert not leaks([repr(caught.value.__dict__), repr(getattr(caught.value, "__notes__", None))])


def answer_with_media_urls() -> Any:
    from douyin_async import ItemGetVideoResponse, Video, VideoStreams

    video = Video(num_iid=ITEM, video=VideoStreams(url="http://m/v.mp4", url_raw="http://m/r.mp4"))
    return ItemGetVideoResponse(video, "0000", "", 0.0, "", 0)


async def test_a_download_through_a_callers_leaky_transport_is_typed_and_masked(tmp_path: Any) -> None:
    """A caller's transport that names the key and secret in what it raises for a media file."""
    from douyin_async import DownloadError

    transport = LeakyTransport(lambda url: ValueError(f"cannot fetch {url} (key={KEY} secret {SECRET})"))
    async with DouyinClient(KEY, SECRET, transport=transport, max_retries=0) as client:
        with pytest.raises(DownloadError) as caught:
            await client.download(answer_with_media_urls(), tmp_path, kinds="video")
    assert "ValueError" in str(caught.value)
    assert_clean(caught.value)


async def test_a_callers_timeout_chains_no_frame_that_holds_the_credentials() -> None:
    """``wait_for`` (or ``asyncio.timeout``) around a call: the cancellation its TimeoutError chains
    never passed through a frame whose locals hold the URL."""
    import asyncio

    from douyin_async.emulator import Emulator

    async with Emulator(keys={KEY: SECRET}, latency=2.0, jitter=0.0) as emu, DouyinClient(
            KEY, SECRET, base_url=emu.base_url, max_retries=0) as client:
        for _ in range(2):
            with pytest.raises((TimeoutError, asyncio.TimeoutError)) as caught:  # not one class on 3.10
                await asyncio.wait_for(client.item_get_video(ITEM), 0.2)
            assert_clean(caught.value)


class OddHolder(TransportError):
    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        from yarl import URL

        super().__init__("failed")
        self.raw = url.encode()
        self.buffer = bytearray(url.encode())
        self.parsed = urlsplit(url)
        self.yarl = URL(url)
        deep: Any = url
        for _ in range(12):
            deep = [deep]
        self.deep = deep


async def test_a_callers_error_holding_the_url_in_any_shape_is_masked() -> None:
    async with DouyinClient(KEY, SECRET, transport=LeakyTransport(OddHolder), max_retries=0) as client:
        with pytest.raises(TransportError) as caught:
            await client.item_get_video(ITEM)
    assert_clean(caught.value)
