"""The one seam between the SDK and HTTP: a request goes in; status, headers and body come out.

    Transport              what the API client, the downloader and the short-link resolver call
    ├── AiohttpTransport   the default: one aiohttp session, opened on the running loop
    └── MockTransport      answers from a function of yours, in memory, for tests
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import msgspec

from .._secrets import CREDENTIAL_PARAMS


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
