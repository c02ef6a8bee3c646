"""A transport that answers from a function of yours, in memory: test your code without a server."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import too_large
from ._messages import Request, Response, Stream

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
        return Response(response.status, CIMultiDictProxy(CIMultiDict(response.headers)), response.body)

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[Stream]:
        """The handler's answer, its body handed out in chunks."""
        yield _BytesStream(await self.send(request))

    async def aclose(self) -> None:
        """Nothing to close."""
        return None


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
