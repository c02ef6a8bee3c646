"""Short links (``https://v.douyin.com/CODE/``) to video ids, by following their redirects.

The lookup goes to the short-link host, never to the gateway, so it carries no key or secret; it
has its own small concurrency, a bounded number of hops and a timeout.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

from .._http._errors import foreign_error
from .._http._messages import Request, Transport
from .._options import ShortLinkOptions
from .._secrets import Redactor, seal
from ..errors import DouyinError, InvalidParamError, TransportError
from ._ids import find_short_link, id_from_location, parse_item_id

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ShortLinkResolver:
    """Turns any input with an id or a short link into the id; shared by one client."""

    def __init__(self, transport: Transport, redact: Redactor, options: ShortLinkOptions) -> None:
        self._transport = transport
        self._redact = redact
        self.hosts = frozenset(host.lower() for host in options.hosts)
        self._max_hops = options.max_hops
        self._timeout = options.timeout
        self._slots = asyncio.Semaphore(options.concurrency)
        self._headers = {"User-Agent": BROWSER_USER_AGENT}

    def short_link(self, text: object) -> str | None:
        return find_short_link(text, self.hosts) if isinstance(text, str) else None

    async def resolve(self, text: object) -> str:
        """The video id in ``text``, following a short link's redirects when that is all it has."""
        try:
            return parse_item_id(text, self._redact)
        except InvalidParamError:
            link = self.short_link(text)
            if link is None:
                raise
        try:
            async with self._slots:
                return await self._follow(link)
        except DouyinError as exc:
            raise seal(exc, self._redact)  # noqa: B904 - sealed: its chain is ours alone

    async def _follow(self, url: str) -> str:
        for _ in range(self._max_hops):
            location = await self._location(url)
            if location is None:
                message = f"short link {self._redact(url)} did not lead to a video"
                raise InvalidParamError(message, code="4003")
            try:
                url = urljoin(url, location)
            except ValueError:
                message = f"short link {self._redact(url)} led to an invalid address"
                raise InvalidParamError(message, code="4003") from None
            if (item_id := id_from_location(url)) is not None:
                return item_id
        raise InvalidParamError(f"short link took more than {self._max_hops} redirects", code="4003")

    async def _location(self, url: str) -> str | None:
        """The redirect target of ``url`` (HEAD, or GET where HEAD is refused), or None.

        The body is never read: only the status and the ``Location`` header matter.
        """
        for method in ("HEAD", "GET"):
            request = Request(method, url, headers=self._headers, timeout=self._timeout)
            try:
                async with self._transport.stream(request) as answer:
                    status, location = answer.status, answer.headers.get("Location")
            except TransportError as exc:
                failure = exc
            except Exception as exc:  # a transport of the caller's: typed here, raised outside this block
                failure = foreign_error(exc, request, self._redact)
            else:
                if status in _REDIRECTS:
                    return location
                if status not in (405, 501):
                    return None
                continue
            failure.message = f"short link lookup of {self._redact(url)} failed: {failure.message}"
            failure.args = (failure.message,)
            raise failure
        return None
