"""The emulator's HTTP server: its routes on 127.0.0.1, its lifecycle, and the helpers tests use.

    _state           what every route shares (settings, randomness, limits, statistics)
    _gateway_route   /douyin/item_get_video, and 4010 / 405 for the rest of /douyin/
    _media_routes    media, short links and share pages
    _replies         HTTP-level replies: error pages, slow, reset and trickled bodies, proxy faults
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

from aiohttp import web

from . import _catalog as catalog
from ._gateway_route import GatewayRoute
from ._media_routes import MediaRoutes
from ._stats import EmulatorStats


class Emulator(GatewayRoute, MediaRoutes):
    """A local ``item_get_video`` gateway on 127.0.0.1, for tests, demos and benchmarks.

    It answers as slowly as the real gateway unless told ``fast=True`` (or a fixed ``latency``).

    >>> async with Emulator(rate_limit=10, concurrency=4, fast=True) as emu:   # doctest: +SKIP
    ...     async with DouyinClient("test-key", "test-secret", base_url=emu.base_url) as c:
    ...         await c.item_get_video("7092264344980868359")
    """

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        # GET and POST (a form body, as the vendor's PHP SDK sends) with or without the slash;
        # every other method, HEAD included, is refused before anything is charged.
        for path, handler in (
            ("/douyin/item_get_video", self._item_get_video),
            ("/douyin/item_get_video/", self._item_get_video),
            ("/douyin/{api_name}", self._unknown_api),
            ("/douyin/{api_name}/", self._unknown_api),
        ):
            app.router.add_get(path, handler, allow_head=False)
            app.router.add_post(path, handler)
            app.router.add_route("*", path, self._method_not_allowed)
        app.router.add_get("/media/{kind}/{name}", self._media)
        for path in catalog.SEED_MEDIA:
            app.router.add_get(path, self._seed_media)
        app.router.add_get("/share/video/{item_id}", self._share_page)
        app.router.add_get("/share/video/{item_id}/", self._share_page)
        app.router.add_get("/s/{code}", self._short_link)
        app.router.add_get("/s/{code}/", self._short_link)
        app.router.add_get("/_emulator/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.25)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """What ``DouyinClient(base_url=...)`` takes."""
        return f"{self.origin}/douyin"

    # -- helpers for tests -------------------------------------------------------------------

    def script(self, item_id: str, outcomes: list[str]) -> None:
        """The next requests for ``item_id`` answer these outcomes (codes or fault names) in order."""
        self._scripts[item_id] = deque(outcomes)

    def script_media(self, url: str, outcomes: list[str]) -> None:
        """The next requests for this media URL answer these outcomes in order: ``reset``,
        ``httpNNN`` (an HTML page with that status), ``html`` (one with 200) or ``ok``."""
        path = url[len(self.origin):] if url.startswith(self.origin) else url
        self._media_scripts[path] = deque(outcomes)

    def short_link(self, item_id: str) -> str:
        """A short link for ``item_id`` on this emulator (it redirects to the video's share URL)."""
        return f"{self.origin}/s/{catalog.short_code(item_id)}/"

    @property
    def short_link_host(self) -> str:
        """``127.0.0.1:PORT``, for ``ShortLinkOptions(hosts=...)`` so a client resolves its short links."""
        return f"{self._host}:{self._port}"

    def max_in_window(self, window: float = 1.0) -> int:
        """The most requests that arrived within any ``window`` seconds (from ``arrivals``)."""
        times, best, start = list(self.arrivals), 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def reset_stats(self) -> None:
        self.stats = EmulatorStats()
        self.arrivals.clear()

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.to_dict())
