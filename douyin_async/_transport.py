"""The one seam between the SDK and HTTP: a request goes in; status, headers and body come out.

    Transport              what the API client, the downloader and the short-link resolver call
    ├── AiohttpTransport   the default: one aiohttp session, opened on the running loop
    └── MockTransport      answers from a function of yours, in memory, for tests

aiohttp's exceptions become our typed, redacted errors in one place, ``transport_error``, and
are raised outside the ``except`` block, so no chained exception carries a URL with credentials.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import msgspec
from yarl import URL

from ._body import ACCEPT_ENCODING, read_limited
from ._lifecycle import close_from_here, loop_moved
from ._redact import CREDENTIAL_PARAMS
from .errors import RequestTimeoutError, ResponseTooLargeError, TransportError

Redact = Callable[[str], str]
# Python 3.10's asyncio.TimeoutError is not the builtin TimeoutError (they merged in 3.11).
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
_FAILURES = (*_TIMEOUTS, aiohttp.ClientError)


@dataclass(slots=True)
class Request:
    """One HTTP request. ``timeout`` bounds the whole exchange, ``read_timeout`` each read,
    ``max_body`` the bytes of the (decompressed) body ``Transport.send`` reads.

    Treat it as read-only (it is not frozen only because a frozen dataclass costs more to make,
    and one is made for every attempt).
    """

    method: str
    url: str
    headers: Mapping[str, str] | None = None
    timeout: float | None = None
    read_timeout: float | None = None
    follow_redirects: bool = False
    max_body: int | None = None

    @property
    def params(self) -> dict[str, str]:
        """The query string as a dict (for handlers of a ``MockTransport``)."""
        return dict(parse_qsl(urlsplit(self.url).query))

    def __repr__(self) -> str:
        return f"Request({self.method} {CREDENTIAL_PARAMS(self.url)})"


@dataclass(slots=True)
class Response:
    """A whole response: status, headers (case-insensitive where the transport gives them) and body.

    Read-only by convention, like ``Request``. Its repr leaves the body out: a gateway may
    echo what it was sent.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON response, for ``MockTransport`` handlers."""
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, msgspec.json.encode(data))


class Stream(Protocol):
    """A response whose body is read in chunks (media)."""

    @property
    def status(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, looked up in any case."""
        ...

    def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body, in chunks of at most ``size`` bytes."""
        ...


class Transport(Protocol):
    """Sends requests; raises only ``TransportError`` (and its subclasses) for failures."""

    async def send(self, request: Request) -> Response:
        """One exchange, the body read whole; past ``request.max_body`` bytes, ``ResponseTooLargeError``."""
        ...

    def stream(self, request: Request) -> AbstractAsyncContextManager[Stream]:
        """One exchange whose body is read while the context is open."""
        ...

    async def aclose(self) -> None:
        """Release what the transport opened (not what it was given)."""
        ...


# Characters yarl sends in a query exactly as given: no percent-escapes to normalise, nothing to quote.
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9._~&=+\-]*")


@functools.lru_cache(maxsize=256)
def _parsed_base(base: str) -> URL:
    return URL(base)


def _yarl_url(url: str) -> URL:
    """``url`` for aiohttp, the part before ``?`` parsed once: a client sends thousands of URLs
    that differ only in the id, and parsing a whole URL string costs yarl about twice as much as
    joining a plain query to a parsed base. A query with anything yarl would rewrite (escapes,
    characters to quote) takes yarl's own path, so what is sent is always what yarl would send.
    """
    base, mark, query = url.partition("?")
    try:
        if not mark or not _PLAIN_QUERY.fullmatch(query):
            return URL(url)
        parsed = _parsed_base(base)
    except ValueError:  # yarl's word for an invalid URL: aiohttp's, so that it is mapped like others
        raise aiohttp.InvalidURL(url) from None
    return URL.build(
        scheme=parsed.scheme, authority=parsed.raw_authority, path=parsed.raw_path,
        query_string=query, encoded=True,
    )


def transport_error(exc: BaseException, request: Request, redact: Redact) -> TransportError:
    """aiohttp's exception for ``request`` as our typed error; every text in it is redacted."""
    if isinstance(exc, _TIMEOUTS):
        limit = request.timeout if request.timeout is not None else request.read_timeout
        return RequestTimeoutError(f"no complete response within {limit}s")
    if isinstance(exc, aiohttp.InvalidURL):
        return TransportError(f"invalid URL: {redact(str(exc))}", retryable=False, sent=False)
    # No connection, no request: nothing can have been billed.
    sent = not isinstance(exc, aiohttp.ClientConnectorError)
    return TransportError(f"{type(exc).__name__}: {redact(text_of(exc))}", sent=sent)


def foreign_error(exc: Exception, request: Request, redact: Redact) -> TransportError:
    """An exception not of ours from a transport of the caller's, as our typed, redacted error.

    Timeouts, connection failures and aiohttp's errors map as the default transport's do; anything
    else is that transport's bug: not retried, since the request may have gone out and been billed.
    """
    if isinstance(exc, _FAILURES):
        return transport_error(exc, request, redact)
    if isinstance(exc, OSError):
        return TransportError(f"{type(exc).__name__}: {redact(text_of(exc))}",
                              sent=not isinstance(exc, ConnectionRefusedError))
    return TransportError(f"the transport raised {type(exc).__name__}: {redact(text_of(exc))}", retryable=False)


def text_of(exc: BaseException) -> str:
    """``str(exc)``, or a word on why there is none: an exception of someone else's may fail even that."""
    try:
        return str(exc)
    except Exception:
        return "(its text cannot be read)"


class AiohttpTransport:
    """The default transport: an aiohttp session, created on first use unless one is given.

    A session passed in stays the caller's: it is neither closed nor replaced.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        connection_limit: int = 100,
        redact: Redact = CREDENTIAL_PARAMS,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection_limit = connection_limit
        self._redact = redact
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _current_session(self) -> aiohttp.ClientSession | None:
        """The session for the running loop, or None when one must be opened first."""
        session = self._session
        if session is None or session.closed:
            return None
        if self._loop is None or self._loop is asyncio.get_running_loop():  # (None: the caller's session)
            return session
        return None

    async def _open_session(self) -> aiohttp.ClientSession:
        """A session on the running loop: ours, made again if the loop it was made on is closed."""
        old = self._session
        if old is not None and not old.closed and loop_moved(self._loop, "the client's connections"):
            self._session = None
            await close_from_here(old.close)
        session = self._current_session()
        if session is not None:  # another call opened it meanwhile
            return session
        if not self._owns_session:
            raise TransportError("the aiohttp session given to the client is closed", retryable=False, sent=False)
        connector = aiohttp.TCPConnector(limit=self._connection_limit, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector)
        self._loop = asyncio.get_running_loop()
        return self._session

    def _timeout(self, request: Request) -> aiohttp.ClientTimeout:
        key = (request.timeout, request.read_timeout)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=request.timeout, sock_connect=request.read_timeout, sock_read=request.read_timeout
            )
        return timeout

    async def send(self, request: Request) -> Response:
        """One exchange through the session, the body read whole.

        The exchange returns its failure instead of raising it: this frame, which raises it, never
        handled aiohttp's exception and holds no aiohttp response, whose repr shows the URL.
        """
        answer = await self._exchange(self._current_session() or await self._open_session(), request)
        if isinstance(answer, Response):
            return answer
        if isinstance(answer, asyncio.CancelledError):
            # A cancellation goes on as a new one: the one delivered passed through aiohttp's
            # frames, whose locals hold the URL, and a caller's timeout chains it to its error.
            raise asyncio.CancelledError(*answer.args)
        raise answer

    async def _exchange(
        self, session: aiohttp.ClientSession, request: Request
    ) -> Response | TransportError | asyncio.CancelledError:
        """The answer to ``request``, or the typed error or cancellation it ended with (returned, not raised)."""
        limit = request.max_body
        try:
            if limit is None:
                async with session.request(
                    request.method, _yarl_url(request.url), headers=request.headers,
                    timeout=self._timeout(request), allow_redirects=request.follow_redirects,
                ) as resp:
                    return Response(resp.status, resp.headers, await resp.read())
            headers = {"Accept-Encoding": ACCEPT_ENCODING, **(request.headers or {})}
            async with session.request(
                request.method, _yarl_url(request.url), headers=headers, timeout=self._timeout(request),
                allow_redirects=request.follow_redirects, auto_decompress=False,
            ) as resp:
                body = await read_limited(resp, limit)
                return too_large(limit) if body is None else Response(resp.status, resp.headers, body)
        except _FAILURES as exc:
            return transport_error(exc, request, self._redact)
        except asyncio.CancelledError as exc:
            return exc

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[Stream]:
        """One exchange whose body is read in chunks while the context is open."""
        session = self._current_session() or await self._open_session()
        failure: TransportError
        try:
            resp = await session.request(
                request.method, _yarl_url(request.url), headers=request.headers,
                timeout=self._timeout(request), allow_redirects=request.follow_redirects,
            )
        except _FAILURES as exc:
            failure = transport_error(exc, request, self._redact)
        else:
            try:
                yield _AiohttpStream(resp, request, self._redact)
            finally:
                resp.release()
            return
        raise failure

    async def aclose(self) -> None:
        """Close the session if this transport made it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()


def too_large(limit: int) -> ResponseTooLargeError:
    """The error for a body past ``limit`` bytes (one wording for every transport)."""
    return ResponseTooLargeError(f"response body larger than {limit} bytes (max_body_size)", limit=limit)


class _AiohttpStream:
    __slots__ = ("_redact", "_request", "_resp")

    def __init__(self, resp: aiohttp.ClientResponse, request: Request, redact: Redact) -> None:
        self._resp, self._request, self._redact = resp, request, redact

    @property
    def status(self) -> int:
        return self._resp.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._resp.headers

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        chunks = self._resp.content.iter_chunked(size)
        while True:
            failure: TransportError
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except _FAILURES as exc:
                failure = transport_error(exc, self._request, self._redact)
            else:
                yield chunk
                continue
            raise failure


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """Answers every request from ``handler``, in memory: test your own code without a server.

    The handler returns a ``Response`` (or awaits one), or raises a ``TransportError``
    to act out a network failure.

    >>> def handler(request: Request) -> Response:
    ...     return Response.json({"error_code": "2000", "reason": "没找到"})
    >>> client = DouyinClient("k", "s", transport=MockTransport(handler))   # doctest: +SKIP
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def send(self, request: Request) -> Response:
        """The handler's answer to ``request``."""
        answer = self._handler(request)
        response = await answer if inspect.isawaitable(answer) else answer
        if request.max_body is not None and len(response.body) > request.max_body:
            raise too_large(request.max_body)
        return Response(response.status, _CaselessHeaders(response.headers), response.body)

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[Stream]:
        """The handler's answer, its body handed out in chunks."""
        yield _BytesStream(await self.send(request))

    async def aclose(self) -> None:
        """Nothing to close."""
        return None


class _CaselessHeaders(Mapping[str, str]):
    """Headers looked up in any case, as HTTP wants (aiohttp's already are)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = {name.lower(): value for name, value in headers.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class _BytesStream:
    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        body = self._response.body
        for start in range(0, len(body), size):
            yield body[start:start + size]
