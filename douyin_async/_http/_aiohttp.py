"""The default transport: one aiohttp session, opened on the running loop.

aiohttp's exceptions are mapped by ``transport_error`` and raised outside the ``except`` block,
so no chained exception carries a URL with credentials.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._lifecycle import LoopBound
from .._secrets import CREDENTIAL_PARAMS
from ..errors import TransportError
from ._body import ACCEPT_ENCODING, read_limited
from ._errors import FAILURES, Redact, too_large, transport_error
from ._messages import Request, Response, Stream

# Characters yarl sends in a query exactly as given: no percent-escapes to normalise, nothing to quote.
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9._~&=+\-]*")

_LIMITED_READ = CIMultiDictProxy(CIMultiDict({"Accept-Encoding": ACCEPT_ENCODING}))
"""The headers a read within a limit needs: the default of a session of ours, so that its requests
pass none (aiohttp merges headers given per request into a new multidict every time)."""


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
        self._given = session
        self._own = LoopBound(self._new_session, "the client's connections", close=_close_session)
        self._connection_limit = connection_limit
        self._redact = redact
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _current_session(self) -> aiohttp.ClientSession | None:
        """The session for the running loop, or None when one must be opened first."""
        if self._given is not None:
            return None if self._given.closed else self._given
        session = self._own.value
        if session is None or session.closed or self._own.loop is not asyncio.get_running_loop():
            return None
        return session

    async def _open_session(self) -> aiohttp.ClientSession:
        """A session on the running loop: ours, made again if closed or if its loop is closed."""
        if self._given is not None:
            raise TransportError("the aiohttp session given to the client is closed", retryable=False, sent=False)
        if self._own.value is not None and self._own.value.closed:
            self._own.drop()
        return await self._own.aget()

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._connection_limit, ttl_dns_cache=300)
        return aiohttp.ClientSession(connector=connector, headers=_LIMITED_READ)

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
            headers: Mapping[str, str] | None = {**_LIMITED_READ, **request.headers} if request.headers else (
                None if self._given is None else _LIMITED_READ  # a session of ours sends it by default
            )
            async with session.request(
                request.method, _yarl_url(request.url), headers=headers, timeout=self._timeout(request),
                allow_redirects=request.follow_redirects, auto_decompress=False,
            ) as resp:
                body = await read_limited(resp, limit)
                return too_large(limit) if body is None else Response(resp.status, resp.headers, body)
        except FAILURES as exc:
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
        except FAILURES as exc:
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
        session = self._own.value
        if session is not None and not session.closed:
            await session.close()


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
            except FAILURES as exc:
                failure = transport_error(exc, self._request, self._redact)
            else:
                yield chunk
                continue
            raise failure


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()
