"""DouyinClient: one aiohttp session, one throttle, one retry policy, typed responses."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import msgspec

from ._batch import BatchResult, BatchRun, Ids, ProgressCallback
from ._download import ByteCallback, Downloader
from ._ids import normalize_item_id
from ._models import ItemGetVideoResponse, Quota, Video, decode_item_get_video
from ._parse import DEFAULT_SHORT_LINK_HOSTS, parse_item_id
from ._redact import Redactor
from ._resolve import ShortLinkResolver
from ._retry import RetryPolicy, should_retry
from ._throttle import DEFAULT_MARGIN, Throttle, ThrottleLimits
from .errors import (
    ApiError,
    BatchAbortedError,
    DouyinError,
    HTTPStatusError,
    InvalidParamError,
    MalformedResponseError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
)

log = logging.getLogger("douyin_async")

DEFAULT_BASE_URL = "https://api-gw-4.cn/douyin"
ENV_KEY = "DOUYIN_API_KEY"
ENV_SECRET = "DOUYIN_API_SECRET"
_LANGS = frozenset({"cn", "en", "ru"})

Lang = Literal["cn", "en", "ru"]


class DouyinClient:
    """Async client for ``item_get_video``; open it with ``async with`` and share it widely.

    Every call on one client shares its connection pool, its throttle (``rate_limit`` requests per
    second, ``max_concurrency`` in flight) and its retry policy.

    >>> async with DouyinClient(key="...", secret="...") as client:   # doctest: +SKIP
    ...     resp = await client.item_get_video("7092264344980868359")
    ...     print(resp.item.title, resp.item.video.url_raw)
    """

    def __init__(
        self,
        key: str | None = None,
        secret: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit: float | None = 5.0,
        max_concurrency: int | None = 5,
        max_retries: int = 3,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        cache: bool | None = None,
        lang: Lang | None = None,
        adaptive: bool = True,
        rate_margin: float = DEFAULT_MARGIN,
        max_rate_limit_retries: int = 20,
        retry_unknown_errors: bool = False,
        short_link_hosts: Collection[str] = DEFAULT_SHORT_LINK_HOSTS,
        download_concurrency: int = 4,
        media_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        key = key if key is not None else os.environ.get(ENV_KEY)
        secret = secret if secret is not None else os.environ.get(ENV_SECRET)
        if not key or not secret:
            raise ValueError(
                f"missing credentials: pass key= and secret= or set {ENV_KEY} and {ENV_SECRET}"
            )
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        parsed = urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query:
            raise ValueError(f"base_url must be an http(s) URL without a query, not {base_url!r}")
        self._key = key
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self._url = f"{self.base_url}/item_get_video/"
        self._redact = Redactor([key, secret])
        self._rate_limit = rate_limit
        self._max_concurrency = max_concurrency
        self._adaptive = adaptive
        self._rate_margin = rate_margin
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._default_params = _common_params(cache, lang)
        self._retry_unknown = retry_unknown_errors
        self._policy = RetryPolicy(
            max_retries=max_retries,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            max_rate_limit_retries=max_rate_limit_retries,
            sleep=sleep,
        )
        self._short_link_hosts = short_link_hosts
        self._download_concurrency = download_concurrency
        self._media_headers = media_headers
        self._session = session
        self._owns_session = session is None
        self._quota: Quota | None = None
        # Built now so that a bad setting fails at construction; built again by open() after
        # aclose(), because their limiters and semaphores belong to one event loop.
        self._throttle: Throttle | None = None
        self._start_loop_resources()

    def _start_loop_resources(self) -> Throttle:
        self._throttle = Throttle(
            self._rate_limit, self._max_concurrency, margin=self._rate_margin, adaptive=self._adaptive
        )
        self._resolver = ShortLinkResolver(self._open_session, self._redact, hosts=self._short_link_hosts)
        self._downloader = Downloader(
            self._open_session, self._redact, self._policy,
            concurrency=self._download_concurrency, headers=self._media_headers,
        )
        return self._throttle

    def __repr__(self) -> str:
        return (
            f"DouyinClient(base_url={self.base_url!r}, key='***', secret='***', "
            f"rate_limit={self._rate_limit}, max_concurrency={self._max_concurrency})"
        )

    async def __aenter__(self) -> DouyinClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Create the session and throttle on the running loop (``async with`` does this)."""
        if self._throttle is None:
            self._start_loop_resources()
        if self._session is None or (self._owns_session and self._session.closed):
            connector = aiohttp.TCPConnector(
                limit=max(self._max_concurrency or 0, 100), ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(connector=connector)
            self._owns_session = True

    async def aclose(self) -> None:
        """Close the session if the client created it; a caller's session is left open."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._throttle = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("the client is not open: use 'async with DouyinClient(...)'")
        return self._session

    async def resolve_item_id(self, text: str | int) -> str:
        """The video id in an id, a video URL, a share text or a short link (one redirect lookup).

        The lookup goes to the short-link host only, without the gateway's key or secret.
        """
        if self._session is None or self._session.closed:
            await self.open()
        return await self._resolver.resolve(text)

    async def download(
        self,
        target: str | int | Video | ItemGetVideoResponse,
        dest: str | os.PathLike[str],
        *,
        kinds: Sequence[str] = ("video",),
        watermark: bool = False,
        overwrite: bool = False,
        refresh_urls: bool = True,
        on_bytes: ByteCallback | None = None,
    ) -> list[Path]:
        """Download a video's media; returns the paths written (or found complete already).

        ``target`` is an id, URL or share text (fetched first), a ``Video`` or a response. ``dest``
        is a directory (``{id}.mp4``, ``{id}.cover.jpg``, ``{id}.mp3``) or, for one kind, a file.
        ``kinds`` from ``video``, ``cover``, ``music``. The video comes without watermark
        (``url_raw``) unless ``watermark=True``; when the host refuses both of its URLs,
        ``refresh_urls`` fetches the item once more with ``cache=False`` for fresh ones (billed).

        >>> await client.download("7092264344980868359", "videos/")   # doctest: +SKIP
        [PosixPath('videos/7092264344980868359.mp4')]
        """
        if isinstance(target, ItemGetVideoResponse):
            video = target.item
        elif isinstance(target, Video):
            video = target
        else:
            video = (await self.item_get_video(await self.resolve_item_id(target))).item
        if self._session is None or self._session.closed:
            await self.open()

        async def refresh() -> Video:
            return (await self.item_get_video(video.num_iid, cache=False)).item

        return await self._downloader.download(
            video, Path(dest), kinds=(kinds,) if isinstance(kinds, str) else tuple(kinds),
            watermark=watermark, overwrite=overwrite, refresh=refresh if refresh_urls else None,
            on_bytes=on_bytes,
        )

    def _parse_input(self, value: Any) -> str | Callable[[Any], Awaitable[str]]:
        """A batch input's id now, or the resolver to call for it (short links need a lookup)."""
        try:
            return parse_item_id(value, self._redact)
        except InvalidParamError:
            if self._resolver.short_link(value) is None:
                raise
            return self.resolve_item_id

    @property
    def quota(self) -> Quota | None:
        """The key's quota from the last ``api_info`` the gateway sent, if any."""
        return self._quota

    @property
    def limits(self) -> ThrottleLimits:
        """The throttle's current rate and concurrency (lowered after 4008s, never above yours)."""
        return self._require_throttle().limits

    def _current_limits(self) -> tuple[float | None, int | None]:
        policy = self._require_throttle().policy
        return policy.rate, policy.concurrency

    @property
    def redactor(self) -> Redactor:
        """Masks this client's credentials in any text, for callers who log URLs themselves."""
        return self._redact

    def _require_throttle(self) -> Throttle:
        return self._throttle if self._throttle is not None else self._start_loop_resources()

    async def item_get_video(
        self,
        item_id: str | int,
        *,
        cache: bool | None = None,
        lang: Lang | None = None,
    ) -> ItemGetVideoResponse:
        """Fetch one video's details; raises a typed :class:`DouyinError` on failure.

        ``cache=False`` asks the gateway for a fresh fetch; ``lang`` translates text fields.
        """
        item_id = normalize_item_id(item_id, self._redact)
        return await self._fetch(item_id, cache=cache, lang=lang)

    def iter_videos(
        self,
        ids: Ids,
        *,
        ordered: bool = False,
        concurrency: int | None = None,
        max_charged_calls: int | None = None,
        respect_quota: bool = True,
        dedupe: int = 4096,
        progress: ProgressCallback | None = None,
        cache: bool | None = None,
        lang: Lang | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """Fetch many ids; yields exactly one :class:`BatchResult` per input, never raising per id.

        ``ids`` is any iterable or async iterable of ids, URLs or share texts (short links are
        resolved on the way), read lazily. Results come as completed, or in
        input order with ``ordered=True``. A fatal error (bad key, no balance, quota) stops the batch:
        nothing more is sent and every remaining input yields a ``BatchAbortedError``.
        ``max_charged_calls`` stops it before more calls than that could be billed;
        ``respect_quota`` before the key's daily quota (from ``api_info``) is exceeded.
        A repeated id is fetched once while it is in flight or among the last ``dedupe`` ids.

        >>> async for result in client.iter_videos(ids):   # doctest: +SKIP
        ...     print(result.item_id, result.ok and result.response.item.title)
        """
        run = BatchRun(
            self,
            ids,
            parse=self._parse_input,
            ordered=ordered,
            concurrency=concurrency,
            max_charged_calls=max_charged_calls,
            respect_quota=respect_quota,
            dedupe=dedupe,
            progress=progress,
            cache=cache,
            lang=lang,
        )
        return run.__aiter__()

    async def get_videos(self, ids: Ids, *, ordered: bool = True, **options: Any) -> list[BatchResult]:
        """:meth:`iter_videos` collected into a list (in input order by default)."""
        return [result async for result in self.iter_videos(ids, ordered=ordered, **options)]

    async def _fetch(
        self,
        item_id: str,
        *,
        cache: bool | None = None,
        lang: Lang | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> ItemGetVideoResponse:
        """Fetch a normalised id; ``before_send`` runs after the throttle, before every attempt,
        and may raise to stop the call (batches use it to stop sending after a fatal error)."""
        params = {"key": self._key, "secret": self._secret, "item_id": item_id}
        params.update(self._default_params)
        params.update(_common_params(cache, lang))
        if self._session is None or self._session.closed:
            await self.open()
        # Most calls succeed at once, and tenacity's per-call machinery costs more than the rest of
        # the client: the first attempt runs directly, and only a retryable failure enters tenacity,
        # which gets that failure as its attempt 1 and decides every wait and stop from there.
        try:
            return await self._numbered_attempt(item_id, params, 1, before_send)
        except DouyinError as exc:
            if not should_retry(exc):
                raise
            first_failure = exc
        async for attempt in self._policy.retrying(item_id):
            with attempt:
                number = attempt.retry_state.attempt_number
                if number == 1:
                    raise first_failure
                return await self._numbered_attempt(item_id, params, number, before_send)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _numbered_attempt(
        self, item_id: str, params: dict[str, str], number: int, before_send: Callable[[], None] | None
    ) -> ItemGetVideoResponse:
        try:
            return await self._attempt(item_id, params, number, before_send)
        except DouyinError as exc:
            # An abort raised by before_send stopped this attempt before it was sent.
            exc.attempts = number - 1 if isinstance(exc, BatchAbortedError) else number
            raise

    async def _attempt(
        self,
        item_id: str,
        params: dict[str, str],
        number: int,
        before_send: Callable[[], None] | None,
    ) -> ItemGetVideoResponse:
        throttle = self._require_throttle()
        session = self._session
        assert session is not None
        await throttle.acquire()
        try:
            if before_send is not None:
                before_send()
            status, retry_after, body, failure = await self._send(session, params)
        finally:
            throttle.release()
        if failure is not None:
            raise failure
        try:
            response = decode_item_get_video(
                body, item_id, self._redact, retry_unknown=self._retry_unknown
            )
        except RateLimitError as exc:
            throttle.on_rate_limited()
            self._note_quota(exc)
            log.info("rate limited (4008) on item %s; throttle now %s", item_id, throttle.limits)
            raise
        except ApiError as exc:
            throttle.on_success()
            self._note_quota(exc)
            raise
        except MalformedResponseError as exc:
            if status != 200:
                raise _status_error(status, retry_after, exc.excerpt) from None
            raise
        if status != 200:
            log.info("item %s: HTTP %d carried a success envelope", item_id, status)
        throttle.on_success()
        if response.quota is not None:
            self._quota = response.quota
        return response if number == 1 else _with_attempts(response, number)

    async def _send(
        self, session: aiohttp.ClientSession, params: dict[str, str]
    ) -> tuple[int, str | None, bytes, DouyinError | None]:
        """One HTTP exchange; failures come back as typed, redacted errors, never as aiohttp's."""
        failure: DouyinError
        try:
            async with session.get(self._url, params=params, timeout=self._timeout) as resp:
                body = await resp.read()
                retry_after = resp.headers.get("Retry-After") if resp.status != 200 else None
                return resp.status, retry_after, body, None
        except TimeoutError:
            failure = RequestTimeoutError(
                f"no complete response within {self._timeout.total}s"
            )
        except aiohttp.InvalidURL as exc:
            failure = TransportError(f"invalid URL: {self._redact(str(exc))}", retryable=False)
        except aiohttp.ClientError as exc:
            failure = TransportError(f"{type(exc).__name__}: {self._redact(str(exc))}")
        return 0, None, b"", failure

    def _note_quota(self, exc: ApiError) -> None:
        if exc.quota is not None:
            self._quota = exc.quota


def _common_params(cache: bool | None, lang: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if cache is not None:
        params["cache"] = "yes" if cache else "no"
    if lang is not None:
        if lang not in _LANGS:
            raise InvalidParamError(
                f"lang must be one of {sorted(_LANGS)}, not {lang!r}", code="4003"
            )
        params["lang"] = lang
    return params


def _with_attempts(response: ItemGetVideoResponse, attempts: int) -> ItemGetVideoResponse:
    return msgspec.structs.replace(response, attempts=attempts)


def _status_error(status: int, retry_after: str | None, excerpt: str) -> HTTPStatusError:
    return HTTPStatusError(
        f"HTTP {status} without a gateway envelope: {excerpt!r}",
        status=status,
        retry_after=_retry_after(retry_after),
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if parseable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - dt.datetime.now(dt.timezone.utc)).total_seconds(), 0.0)
