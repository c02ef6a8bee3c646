"""What every route of the emulator shares: its settings, seeded randomness, per-key limits,
scripts, statistics, and the items and media it serves."""

from __future__ import annotations

import random
from collections import OrderedDict, defaultdict, deque
from typing import Any

from aiohttp import web

from . import _catalog as catalog
from ._config import EmulatorConfig
from ._latency import latency_rng
from ._limits import KeyState
from ._replies import html_page, send
from ._stats import EmulatorStats


class EmulatorState:
    """The state behind the routes (``Emulator`` is this plus its routes and its server)."""

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


    @property
    def port(self) -> int:
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: where media and short links live."""
        return f"http://{self._host}:{self._port}"

    def expected_item(self, item_id: str, lang: str = catalog.DEFAULT_LANG) -> dict[str, Any] | None:
        """The item this emulator returns for ``item_id`` and ``lang``, or None where it answers 2000."""
        if not catalog.exists(item_id, self.config.found_ratio):
            return None
        found = catalog.item(item_id, self.origin, lang)
        return catalog.rehosted(found, self.origin) if self.config.self_contained else found

    def media_bytes(self, kind: str, item_id: str, watermark: bool = False) -> bytes:
        """The exact bytes the media route serves for one file."""
        return catalog.media_bytes(kind, item_id, self._media_size(kind), watermark)

    def _media_size(self, kind: str) -> int:
        if kind == "video":
            return self.config.video_size
        return self.config.audio_size if kind == "music" else self.config.image_size


    def _draw(self, probabilities: dict[str, float]) -> str | None:
        """One seeded draw among named outcomes; None (the normal answer) for the rest."""
        draw, cumulative = self._rng.random(), 0.0
        for name, probability in probabilities.items():
            cumulative += probability
            if draw < cumulative:
                return name
        return None


    def _html(self, status: int) -> web.Response:
        self.stats.statuses[status] += 1
        return html_page(status)

    async def _send(self, request: web.Request, body: bytes, content_type: str, status: int,
                    headers: dict[str, str] | None = None, slow: float | None = None) -> web.StreamResponse:
        return await send(request, body, content_type, status, headers,
                          self.config.slow_body if slow is None else slow)
