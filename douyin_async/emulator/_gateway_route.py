"""The gateway's route, ``/douyin/item_get_video``: the account and parameter checks, the limits,
scripted and drawn faults, and the envelopes of answers and errors, charged as the gateway charges."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..errors import CODES, SUCCESS
from . import _catalog as catalog
from ._config import PROXY_FAULTS
from ._latency import REALISTIC
from ._limits import KeyState
from ._replies import HTML_PAGE, proxy_fault, reset
from ._state import EmulatorState

ITEM_ID = re.compile(r"[0-9]{1,32}")
_ERROR_SLUGS = {"2000": "item-not-found", "4008": "api-rate-limit", "4013": "call-limit"}
_RECENT_IDS = 65_536


class GatewayRoute(EmulatorState):
    """``item_get_video`` as the gateway answers it, and 4010 / 405 for the rest of ``/douyin/``."""

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
        if not ITEM_ID.fullmatch(item_id):
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
            return await reset(request, body, "application/json")
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

    async def _proxy_fault(self, request: web.Request, outcome: str) -> web.StreamResponse:
        self.stats.statuses[302 if outcome.startswith("redirect") else 200] += 1
        return await proxy_fault(request, outcome, self._port)

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
                            text=HTML_PAGE.format(status=405), content_type="text/html")
