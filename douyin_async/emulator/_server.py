"""The emulator's HTTP server: the gateway route, media, short links and live stats."""

from __future__ import annotations

import asyncio
import functools
import gzip
import html
import json
import random
import re
import time
import zlib
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from ..errors import CODES, SUCCESS
from . import _catalog as catalog
from ._config import PROXY_FAULTS, EmulatorConfig
from ._latency import REALISTIC, latency_rng
from ._limits import KeyState

_ITEM_ID = re.compile(r"[0-9]{1,32}")
_ERROR_SLUGS = {"2000": "item-not-found", "4008": "api-rate-limit", "4013": "call-limit"}
_RECENT_IDS = 65_536
_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head>"
    "<body><center><h1>{status} Error</h1></center><hr><center>nginx</center></body></html>"
)


_ENDLESS_CHUNK = b"a" * 65_536
_ENDLESS_LIMIT = 1 << 30
"""An 'endless' body stops after this many bytes, so that no client can keep the server busy forever."""
_DEEP_JSON = b'{"proxy": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"  # no envelope: the API never ran


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """About 2 MB of gzip that inflates to 2 GiB of zeros: 128 members of 16 MiB each."""
    return gzip.compress(bytes(16 << 20), compresslevel=9) * 128


def _reset_point(body: bytes) -> int:
    """How much of a body a 'reset' sends before dropping the connection."""
    return max(len(body) // 3, 1)


@dataclass
class EmulatorStats:
    """What the emulator saw since it started (or since ``Emulator.reset_stats``)."""

    requests: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    """Every 4008 answered, whatever refused it (scripts and faults included)."""
    limited: Counter[str] = field(default_factory=Counter)
    """4008s by the limit that refused them: ``concurrency`` (the cap) or ``rate`` (the window)."""
    charged: int = 0
    """Calls billed: every 0000 and 2000 the emulator decided, delivered whole or not."""
    charged_undelivered: Counter[str] = field(default_factory=Counter)
    """Billed answers the client cannot have read whole, by why: ``reset``, ``truncated`` (faults
    after the decision) or ``abandoned`` (the client had closed the connection, on its own timeout
    say, before the answer was ready)."""
    in_flight: int = 0
    max_in_flight: int = 0
    media_requests: int = 0
    media_bytes: int = 0
    short_link_requests: int = 0
    share_page_requests: int = 0
    credential_leaks: int = 0
    """Requests to media, short-link or share-page routes that carried a configured key or secret."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "codes": dict(self.codes),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "faults": dict(self.faults),
            "rate_limited": self.rate_limited,
            "limited": dict(self.limited),
            "charged": self.charged,
            "charged_undelivered": dict(self.charged_undelivered),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "media_requests": self.media_requests,
            "media_bytes": self.media_bytes,
            "short_link_requests": self.short_link_requests,
            "share_page_requests": self.share_page_requests,
            "credential_leaks": self.credential_leaks,
        }


class Emulator:
    """A local ``item_get_video`` gateway on 127.0.0.1, for tests, demos and benchmarks.

    It answers as slowly as the real gateway unless told ``fast=True`` (or a fixed ``latency``).

    >>> async with Emulator(rate_limit=10, concurrency=4, fast=True) as emu:   # doctest: +SKIP
    ...     async with DouyinClient("test-key", "test-secret", base_url=emu.base_url) as c:
    ...         await c.item_get_video("7092264344980868359")
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig(**options)
        if config is not None and options:
            raise TypeError("pass either config= or keyword options, not both")
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._rng = random.Random(self.config.seed)
        self._latency_rng = latency_rng(self.config.seed)
        self._keys: defaultdict[str, KeyState] = defaultdict(KeyState)
        self._scripts: dict[str, deque[str]] = {}
        self._media_scripts: dict[str, deque[str]] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._request_counter = 0
        self.stats = EmulatorStats()
        self.arrivals: deque[float] = deque(maxlen=100_000)
        """Arrival times (``time.monotonic``) of authenticated gateway requests, for tests."""

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
    def port(self) -> int:
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: where media and short links live."""
        return f"http://{self._host}:{self._port}"

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

    def expected_item(self, item_id: str, lang: str = catalog.DEFAULT_LANG) -> dict[str, Any] | None:
        """The item this emulator returns for ``item_id`` and ``lang``, or None where it answers 2000."""
        if not catalog.exists(item_id, self.config.found_ratio):
            return None
        found = catalog.item(item_id, self.origin, lang)
        return catalog.rehosted(found, self.origin) if self.config.self_contained else found

    def media_bytes(self, kind: str, item_id: str, watermark: bool = False) -> bytes:
        """The exact bytes the media route serves for one file."""
        return catalog.media_bytes(kind, item_id, self._media_size(kind), watermark)

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

    # -- the gateway route --------------------------------------------------------------------

    async def _item_get_video(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        self.stats.requests += 1
        query = await self._params(request)
        key, secret = query.get("key", ""), query.get("secret", "")
        jsonu = query.get("result_type") == "jsonu"
        refusal = self._refuse_account(key, secret) or self._refuse_params(query)
        if refusal is not None:
            return self._error(refusal, key, started, jsonu)
        self.arrivals.append(started)
        item_id = query["item_id"]
        state = self._keys[key]
        refused = state.admit(started, self.config)
        if refused is not None:
            code, reason = refused
            if code == "4008":
                self.stats.limited[reason] += 1
            return self._error(code, key, started, jsonu)
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            return await self._answer(request, query, item_id, key, state, started)
        finally:
            state.in_flight -= 1
            self.stats.in_flight -= 1

    def _refuse_account(self, key: str, secret: str) -> str | None:
        """The account checks, which come first on every API."""
        if key not in self.config.keys:
            return "4004"
        if secret != self.config.keys[key]:
            return "4005"
        if key in self.config.stopped:
            return self.config.stopped[key]
        if self.config.maintenance:
            return "4009"
        return None

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        """The call's parameters: the query string, then a form body's fields over it (POST).

        A repeated name takes its first value; a form field overrides the query's, as PHP's
        ``$_REQUEST`` does. A body of another content type (JSON, say) is ignored, as PHP does.
        """
        params = {name: request.query[name] for name in request.query}
        if request.method == "POST":
            form = await request.post()
            for name in form:
                value = form[name]
                if isinstance(value, str):
                    params[name] = value
        return params

    @staticmethod
    def _refuse_params(query: Mapping[str, str]) -> str | None:
        """The item_get_video parameter checks, after the account's."""
        if "pageToken" in query or "page_token" in query:
            return "4015"
        item_id = query.get("item_id")
        if not item_id:
            return "4014"
        if not _ITEM_ID.fullmatch(item_id):
            return "4003"
        if not catalog.valid_lang(query.get("lang") or catalog.DEFAULT_LANG):
            return "4003"
        return None

    async def _answer(
        self,
        request: web.Request,
        query: Mapping[str, str],
        item_id: str,
        key: str,
        state: KeyState,
        started: float,
    ) -> web.StreamResponse:
        jsonu = query.get("result_type") == "jsonu"
        outcome = self._next_outcome(item_id)
        if outcome is not None:
            self.stats.faults[outcome] += 1
        cached = query.get("cache", "yes") != "no" and item_id in self._recent
        delay = self._latency(cached)
        if delay > 0:
            await asyncio.sleep(delay)
        if outcome in ("http500", "http502", "http503"):
            return self._html(int(outcome[4:]))
        if outcome == "timeout":
            await asyncio.sleep(self.config.timeout_delay)
            return self._error("4017", key, started, jsonu)
        if outcome in PROXY_FAULTS:
            return await self._proxy_fault(request, outcome)
        if outcome == "slow_headers":
            await asyncio.sleep(self.config.timeout_delay)
        delivered = ("reset", "truncated", "wrong_type", "gbk", "slow_headers", "slow_body", SUCCESS, "2000")
        if outcome is not None and outcome not in delivered:
            return self._error(outcome, key, started, jsonu)
        # The gateway has decided: 0000 or 2000, both charged, whatever happens to the answer next.
        lang = query.get("lang") or catalog.DEFAULT_LANG
        found = self.expected_item(item_id, lang)
        state.charged += 1
        self.stats.charged += 1
        if found is None or outcome == "2000":
            body = self._error_body("2000", key, started, jsonu)
        else:
            self._remember(item_id)
            body = self._encode(self._success(found, key, started, cached, lang), jsonu)
            self.stats.codes[SUCCESS] += 1
            self.stats.statuses[200] += 1
        undelivered = outcome if outcome in ("reset", "truncated") else None
        if request.transport is None or request.transport.is_closing():
            undelivered = "abandoned"
        if undelivered is not None:
            self.stats.charged_undelivered[undelivered] += 1
        if outcome == "reset":
            return await self._reset(request, body, "application/json")
        if outcome == "truncated":
            body = body[: len(body) // 2]
        if outcome == "gbk":  # labelled UTF-8, as public code calling the gateway has seen
            body = body.decode().encode("gb18030")
            return web.Response(body=body, headers={"Content-Type": "application/json; charset=utf-8"})
        content_type = "text/html" if outcome == "wrong_type" else "application/json"
        slow = self.config.timeout_delay if outcome == "slow_body" else self.config.slow_body
        return await self._send(request, body, content_type, 200, slow=slow)

    def _latency(self, cached: bool) -> float:
        """Seconds this answer takes: the configured latency, or the realistic model's draw."""
        latency = self.config.latency
        if latency is None:
            latency = 0.0 if self.config.fast else REALISTIC.draw(self._latency_rng, cached)
        return latency + self._rng.uniform(0, self.config.jitter)

    def _next_outcome(self, item_id: str) -> str | None:
        script = self._scripts.get(item_id)
        if script:
            return script.popleft()
        return self._draw(self.config.faults)

    def _draw(self, probabilities: dict[str, float]) -> str | None:
        """One seeded draw among named outcomes; None (the normal answer) for the rest."""
        draw, cumulative = self._rng.random(), 0.0
        for name, probability in probabilities.items():
            cumulative += probability
            if draw < cumulative:
                return name
        return None

    def _remember(self, item_id: str) -> None:
        self._recent[item_id] = None
        self._recent.move_to_end(item_id)
        if len(self._recent) > _RECENT_IDS:
            self._recent.popitem(last=False)

    def _envelope_common(self, key: str) -> dict[str, Any]:
        self._request_counter += 1
        return {
            "api_info": self._keys[key].api_info(self.config) if key in self.config.keys else "today:0 max:0",
            "server_time": time.strftime("Beijing/%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 8 * 3600)),
            "call_args": [],
            "api_type": "douyin",
            "request_id": f"{self._request_counter}.{self._rng.getrandbits(48):012x}",
        }

    def _success(self, item: dict[str, Any], key: str, started: float, cached: bool, lang: str) -> dict[str, Any]:
        common = self._envelope_common(key)
        return {
            "item": item,
            "error": "",
            "reason": "",
            "error_code": SUCCESS,
            "cache": int(cached),
            "api_info": common["api_info"],
            "execution_time": f"{time.monotonic() - started:.3f}",
            "server_time": common["server_time"],
            "client_ip": "127.0.0.1",
            "call_args": [],
            "api_type": "douyin",
            "translate_language": "zh-CN" if lang == catalog.DEFAULT_LANG else lang,
            "translate_engine": "google_new",
            "server_memory": "3.04MB",
            "request_id": common["request_id"],
            "last_id": str(self._request_counter),
        }

    def _error(self, code: str, key: str, started: float, jsonu: bool) -> web.Response:
        body = self._error_body(code, key, started, jsonu)
        return web.Response(body=body, content_type="application/json")

    def _error_body(self, code: str, key: str, started: float, jsonu: bool) -> bytes:
        """An error envelope, counted in ``stats`` as answered."""
        if code == "4008":
            self.stats.rate_limited += 1
        self.stats.codes[code] += 1
        self.stats.statuses[200] += 1
        info = CODES[code]
        common = self._envelope_common(key)
        envelope = {
            "error": _ERROR_SLUGS.get(code, info.message.lower().replace(" ", "-")),
            "reason": info.reason,
            "error_code": code,
            "success": 0,
            "cache": 0,
            "api_info": common["api_info"],
            "execution_time": round(time.monotonic() - started, 3),
            "server_time": common["server_time"],
            "call_args": [],
            "api_type": "douyin",
            "request_id": common["request_id"],
        }
        return self._encode(envelope, jsonu)

    @staticmethod
    def _encode(payload: dict[str, Any], jsonu: bool) -> bytes:
        return json.dumps(payload, ensure_ascii=not jsonu, separators=(",", ":")).encode()

    def _html(self, status: int) -> web.Response:
        self.stats.statuses[status] += 1
        return web.Response(status=status, text=_HTML_PAGE.format(status=status), content_type="text/html")

    async def _proxy_fault(self, request: web.Request, outcome: str) -> web.StreamResponse:
        """What a broken proxy sends in place of the gateway's answer; the API never ran."""
        if outcome in ("redirect_other", "redirect_loop"):
            self.stats.statuses[302] += 1
            # localhost is another host name for the same server: a client that followed would
            # hand it the query string, credentials and all.
            target = (f"http://localhost:{self._port}{request.rel_url.path_qs}" if outcome == "redirect_other"
                      else str(request.rel_url.path_qs))
            return web.Response(status=302, headers={"Location": target},
                                text=_HTML_PAGE.format(status=302), content_type="text/html")
        self.stats.statuses[200] += 1
        if outcome == "empty":
            return web.Response(body=b"", content_type="application/json")
        if outcome == "deep_json":
            return web.Response(body=_DEEP_JSON, content_type="application/json")
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

    async def _send(self, request: web.Request, body: bytes, content_type: str, status: int,
                    headers: dict[str, str] | None = None, slow: float | None = None) -> web.StreamResponse:
        slow = self.config.slow_body if slow is None else slow
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

    @staticmethod
    async def _reset(request: web.Request, body: bytes, content_type: str,
                     status: int = 200, headers: dict[str, str] | None = None) -> web.StreamResponse:
        """Announce the whole body, send part of it, then drop the connection."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type = content_type
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[:_reset_point(body)])
        if request.transport is not None:
            request.transport.abort()
        return response

    async def _unknown_api(self, request: web.Request) -> web.Response:
        self.stats.requests += 1
        query = await self._params(request)
        jsonu = query.get("result_type") == "jsonu"
        key = query.get("key", "")
        refusal = self._refuse_account(key, query.get("secret", ""))
        return self._error(refusal or "4010", key, time.monotonic(), jsonu)

    async def _method_not_allowed(self, request: web.Request) -> web.Response:
        """HEAD and the rest: 405, never an answer, never charged (``statuses[405]`` counts them)."""
        self.stats.statuses[405] += 1
        return web.Response(status=405, headers={"Allow": "GET, POST"},
                            text=_HTML_PAGE.format(status=405), content_type="text/html")

    # -- media and short links ---------------------------------------------------------------------

    def _media_size(self, kind: str) -> int:
        if kind == "video":
            return self.config.video_size
        return self.config.audio_size if kind == "music" else self.config.image_size

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
                or not _ITEM_ID.fullmatch(item_id) or not catalog.exists(item_id, self.config.found_ratio):
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
            return web.Response(text=_HTML_PAGE.format(status=200), content_type="text/html")
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
            self.stats.media_bytes += _reset_point(body)
            return await self._reset(request, body, content_type, status, headers)
        if fault == "trickle":
            return await self._trickle(request, body, content_type, status, headers)
        self.stats.media_bytes += len(body)
        return await self._send(request, body, content_type, status, headers)

    async def _trickle(self, request: web.Request, body: bytes, content_type: str, status: int,
                       headers: dict[str, str]) -> web.StreamResponse:
        """The body one byte every tenth of a second: never silent long enough for a read timeout."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type = content_type
        response.content_length = len(body)
        await response.prepare(request)
        try:
            for start in range(len(body)):
                await response.write(body[start:start + 1])
                self.stats.media_bytes += 1
                await asyncio.sleep(0.1)
            await response.write_eof()
        except ConnectionError:
            pass
        return response

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
        found = self.expected_item(item_id) if _ITEM_ID.fullmatch(item_id) else None
        if found is None:
            return self._html(404)
        title = html.escape(found["title"])
        video, cover = (html.escape(found["video"][name]) for name in ("url", "pic_url"))
        page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
                f'<body><h1>{title}</h1><video src="{video}" poster="{cover}" controls></video></body></html>')
        return web.Response(text=page, content_type="text/html")

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.to_dict())
