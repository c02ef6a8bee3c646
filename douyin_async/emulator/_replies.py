"""Replies at the HTTP level, whatever route sends them: HTML error pages, bodies sent slowly,
cut by a reset, trickled, and what a broken proxy sends in the gateway's place."""

from __future__ import annotations

import asyncio
import functools
import gzip
from collections.abc import Callable

from aiohttp import web

HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head>"
    "<body><center><h1>{status} Error</h1></center><hr><center>nginx</center></body></html>"
)

_ENDLESS_CHUNK = b"a" * 65_536
_ENDLESS_LIMIT = 1 << 30
"""An 'endless' body stops after this many bytes, so that no client can keep the server busy forever."""
DEEP_JSON = b'{"proxy": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"  # no envelope: the API never ran


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """About 2 MB of gzip that inflates to 2 GiB of zeros: 128 members of 16 MiB each."""
    return gzip.compress(bytes(16 << 20), compresslevel=9) * 128


def reset_point(body: bytes) -> int:
    """How much of a body a 'reset' sends before dropping the connection."""
    return max(len(body) // 3, 1)


def html_page(status: int, **headers: str) -> web.Response:
    """The HTML error page a proxy in front of the gateway sends."""
    return web.Response(status=status, headers=headers, text=HTML_PAGE.format(status=status), content_type="text/html")


async def proxy_fault(request: web.Request, outcome: str, port: int) -> web.StreamResponse:
    """What a broken proxy sends in place of the gateway's answer (a 302 or a 200); the API never ran."""
    if outcome in ("redirect_other", "redirect_loop"):
        # localhost is another host name for the same server: a client that followed would
        # hand it the query string, credentials and all.
        target = (f"http://localhost:{port}{request.rel_url.path_qs}" if outcome == "redirect_other"
                  else str(request.rel_url.path_qs))
        return html_page(302, Location=target)
    if outcome == "empty":
        return web.Response(body=b"", content_type="application/json")
    if outcome == "deep_json":
        return web.Response(body=DEEP_JSON, content_type="application/json")
    if outcome == "gzip_bomb":
        return web.Response(body=gzip_bomb(), headers={"Content-Encoding": "gzip",
                                                       "Content-Type": "application/json"})
    response = web.StreamResponse()  # endless: chunked, until the client hangs up
    response.content_type = "application/json"
    await response.prepare(request)
    sent = 0
    try:
        await response.write(b'{"error_code": "0000", "item": "')
        while sent < _ENDLESS_LIMIT:
            await response.write(_ENDLESS_CHUNK)
            sent += len(_ENDLESS_CHUNK)
        await response.write_eof()
    except ConnectionError:
        pass
    return response


async def send(request: web.Request, body: bytes, content_type: str, status: int,
           headers: dict[str, str] | None = None, slow: float = 0.0) -> web.StreamResponse:
    """The body, whole, or in eight parts over ``slow`` seconds."""
    if slow <= 0:
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = content_type
    response.content_length = len(body)
    await response.prepare(request)
    chunks = 8
    step = max(len(body) // chunks, 1)
    try:
        for start in range(0, len(body), step):
            await response.write(body[start:start + step])
            await asyncio.sleep(slow / chunks)
        await response.write_eof()
    except ConnectionError:
        pass  # the client hung up mid-body, as clients may
    return response


async def reset(request: web.Request, body: bytes, content_type: str,
            status: int = 200, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Announce the whole body, send part of it, then drop the connection."""
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = content_type
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[:reset_point(body)])
    if request.transport is not None:
        request.transport.abort()
    return response


async def trickle(request: web.Request, body: bytes, content_type: str, status: int,
              headers: dict[str, str], on_byte: Callable[[], None]) -> web.StreamResponse:
    """The body one byte every tenth of a second: never silent long enough for a read timeout."""
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = content_type
    response.content_length = len(body)
    await response.prepare(request)
    try:
        for start in range(len(body)):
            await response.write(body[start:start + 1])
            on_byte()
            await asyncio.sleep(0.1)
        await response.write_eof()
    except ConnectionError:
        pass
    return response
