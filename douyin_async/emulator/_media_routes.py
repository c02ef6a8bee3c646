"""The media host, short links and share pages: what a client fetches after the gateway answered.
None of them takes credentials; a request that carries them is counted as a leak."""

from __future__ import annotations

import html
import zlib

from aiohttp import web

from . import _catalog as catalog
from ._gateway_route import ITEM_ID
from ._replies import HTML_PAGE, reset, reset_point, trickle
from ._state import EmulatorState


class MediaRoutes(EmulatorState):
    """``/media/...``, the seed's own media paths, ``/s/CODE`` and ``/share/video/ID``."""

    def _note_credentials(self, request: web.Request) -> None:
        text = str(request.rel_url) + " " + " ".join(request.headers.values())
        secrets = [s for pair in self.config.keys.items() for s in pair]
        if any(s and s in text for s in secrets) or "key" in request.query or "secret" in request.query:
            self.stats.credential_leaks += 1

    async def _media(self, request: web.Request) -> web.StreamResponse:
        self.stats.media_requests += 1
        self._note_credentials(request)
        kind, name = request.match_info["kind"], request.match_info["name"]
        item_id, _, ext = name.partition(".")
        if kind not in catalog.MEDIA_TYPES or catalog.MEDIA_TYPES[kind][0] != ext \
                or not ITEM_ID.fullmatch(item_id) or not catalog.exists(item_id, self.config.found_ratio):
            return self._html(404)
        return await self._serve_media(request, kind, item_id, request.query.get("watermark") == "1")

    async def _seed_media(self, request: web.Request) -> web.StreamResponse:
        """The seed's media under its own paths (``/aweme/v1/play/`` ...), for self-contained items."""
        self.stats.media_requests += 1
        self._note_credentials(request)
        kind, watermark = catalog.SEED_MEDIA[request.path]
        return await self._serve_media(request, kind, catalog.SEED_ITEM_ID, watermark)

    async def _serve_media(self, request: web.Request, kind: str, item_id: str,
                           watermark: bool) -> web.StreamResponse:
        script = self._media_scripts.get(request.rel_url.path_qs)
        fault = script.popleft() if script else self._draw(self.config.media_faults)
        if fault is not None and fault.startswith("http"):
            return self._html(int(fault[4:]))
        if fault == "html":
            return web.Response(text=HTML_PAGE.format(status=200), content_type="text/html")
        body = self.media_bytes(kind, item_id, watermark)
        content_type = catalog.MEDIA_TYPES[kind][1]
        etag = f'"{zlib.crc32(body):08x}-{len(body)}"'
        status, headers = 200, {"Accept-Ranges": "bytes" if self.config.media_range else "none", "ETag": etag}
        # If-Range: the range only while the file is still the one the client started (else 200).
        same = request.headers.get("If-Range", etag) == etag
        if self.config.media_range and "Range" in request.headers and same:
            try:
                window = request.http_range
            except ValueError:
                window = slice(None)
            start, stop, _ = window.indices(len(body))
            if start >= len(body):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(body)}"})
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(body)}"
            body, status = body[start:stop], 206
        if fault == "reset":
            self.stats.media_bytes += reset_point(body)
            return await reset(request, body, content_type, status, headers)
        if fault == "trickle":
            return await trickle(request, body, content_type, status, headers, self._count_media_byte)
        self.stats.media_bytes += len(body)
        return await self._send(request, body, content_type, status, headers)

    async def _short_link(self, request: web.Request) -> web.Response:
        self.stats.short_link_requests += 1
        self._note_credentials(request)
        item_id = catalog.item_id_from_short_code(request.match_info["code"])
        if item_id is None:
            return self._html(404)
        location = f"https://www.iesdouyin.com/share/video/{item_id}/?region=CN&mid=0&u_code=0"
        raise web.HTTPFound(location)

    async def _share_page(self, request: web.Request) -> web.Response:
        """The video's share page (a self-contained item's ``detail_url``): a small HTML page."""
        self.stats.share_page_requests += 1
        self._note_credentials(request)
        item_id = request.match_info["item_id"]
        found = self.expected_item(item_id) if ITEM_ID.fullmatch(item_id) else None
        if found is None:
            return self._html(404)
        title = html.escape(found["title"])
        video, cover = (html.escape(found["video"][name]) for name in ("url", "pic_url"))
        page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
                f'<body><h1>{title}</h1><video src="{video}" poster="{cover}" controls></video></body></html>')
        return web.Response(text=page, content_type="text/html")

    def _count_media_byte(self) -> None:
        self.stats.media_bytes += 1
