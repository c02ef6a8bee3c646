"""A response body read within a size limit, decompressed here so that the limit holds too.

aiohttp before 3.13 inflates each network chunk whole: a few hundred KiB of gzip can become
hundreds of MiB in one piece before any limit is checked. So bodies with a limit are read raw,
and inflated with zlib's ``max_length``, never more than the limit (plus one byte) at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import aiohttp

ACCEPT_ENCODING = "gzip, deflate"
"""The encodings a limited read can inflate; asked for explicitly so a server sends no other."""
_CHUNK = 64 * 1024


class _Inflater:
    """gzip (members one after another, as the RFC allows) or deflate (zlib-wrapped or raw)."""

    __slots__ = ("_gzip", "_inflate", "_started")

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._inflate = zlib.decompressobj(wbits=31 if gzip else 15)
        self._started = False

    def feed(self, data: bytes, budget: int) -> bytes:
        """Up to ``budget`` bytes inflated from ``data``; the rest is never needed, as past the
        budget the body is refused."""
        out = []
        while data and budget > 0:
            try:
                piece = self._inflate.decompress(data, budget)
            except zlib.error:
                if self._gzip or self._started:
                    raise
                self._inflate = zlib.decompressobj(wbits=-15)  # deflate sent raw, as some servers do
                self._started = True
                continue
            self._started = True
            out.append(piece)
            budget -= len(piece)
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:  # the next gzip member, if any
                data = self._inflate.unused_data
                self._inflate = zlib.decompressobj(wbits=31 if self._gzip else 15)
        return b"".join(out)


def _inflater(headers: Mapping[str, str]) -> _Inflater | None:
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater(gzip=encoding != "deflate")
    raise aiohttp.ClientPayloadError(f"unsupported Content-Encoding {encoding[:40]!r}")


async def read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body of a response requested with ``auto_decompress=False``; None past ``limit``.

    A declared length past the limit is refused before reading; a body within it, neither
    compressed nor chunked, is read whole (aiohttp reads no more than the declared length); any
    other is read in chunks with a running total of the inflated bytes. Past the limit the
    connection is closed, not reused. Corrupt compressed data raises aiohttp's payload error,
    mapped like the others.
    """
    declared = resp.content_length
    if declared is not None and declared > limit:
        resp.close()
        return None
    try:
        inflater = _inflater(resp.headers)
    except aiohttp.ClientPayloadError:
        resp.close()
        raise
    if declared is not None and inflater is None and "Transfer-Encoding" not in resp.headers:
        return await resp.read()
    chunks, total = [], 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        if inflater is not None:
            try:
                chunk = inflater.feed(chunk, limit - total + 1)
            except zlib.error:
                resp.close()
                raise aiohttp.ClientPayloadError("corrupt compressed body") from None
        total += len(chunk)
        if total > limit:
            resp.close()
            return None
        chunks.append(chunk)
    return b"".join(chunks)
