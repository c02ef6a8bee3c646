"""Short links (``https://v.douyin.com/CODE/``) to video ids, by following their redirects.

The lookup goes to the short-link host, never to the gateway, so it carries no key or secret; it
has its own small concurrency, a bounded number of hops and a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from urllib.parse import urljoin

import aiohttp

from ._parse import find_short_link, id_from_location, parse_item_id
from ._redact import Redactor
from .errors import InvalidParamError, RequestTimeoutError, TransportError

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ShortLinkResolver:
    """Turns any input with an id or a short link into the id; shared by one client."""

    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        redact: Redactor,
        *,
        hosts: Collection[str],
        max_hops: int = 5,
        timeout: float = 10.0,
        concurrency: int = 4,
    ) -> None:
        self._session = session
        self._redact = redact
        self.hosts = frozenset(host.lower() for host in hosts)
        self._max_hops = max_hops
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._slots = asyncio.Semaphore(concurrency)
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
        async with self._slots:
            return await self._follow(link)

    async def _follow(self, url: str) -> str:
        for _ in range(self._max_hops):
            location = await self._location(url)
            if location is None:
                message = f"short link {self._redact(url)} did not lead to a video"
                raise InvalidParamError(message, code="4003")
            url = urljoin(url, location)
            if (item_id := id_from_location(url)) is not None:
                return item_id
        raise InvalidParamError(f"short link took more than {self._max_hops} redirects", code="4003")

    async def _location(self, url: str) -> str | None:
        """The redirect target of ``url`` (HEAD, or GET where HEAD is refused), or None."""
        failure: TransportError
        try:
            for method in ("HEAD", "GET"):
                async with self._session().request(
                    method, url, allow_redirects=False, timeout=self._timeout, headers=self._headers
                ) as resp:
                    if resp.status in _REDIRECTS:
                        return resp.headers.get("Location")
                    if resp.status not in (405, 501):
                        return None
            return None
        except TimeoutError:
            failure = RequestTimeoutError(f"short link lookup timed out: {self._redact(url)}")
        except aiohttp.ClientError as exc:
            reason = f"{type(exc).__name__}: {self._redact(str(exc))}"
            failure = TransportError(f"short link lookup failed: {reason}")
        raise failure
