"""DouyinClient: the public face over one transport, one throttle and one retry policy."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from ._call._billing import Charge, count_charges
from ._call._gateway import LANG_ALLOWED, Gateway, is_lang
from ._call._retry import RetryPolicy
from ._checks import check, check_count, check_positive, is_number
from ._download import MEDIA_KINDS, ByteCallback, Downloader, DownloadResult
from ._fanout import BatchIterator, BatchResult, BatchRun, Ids, ProgressCallback
from ._http._aiohttp import AiohttpTransport
from ._http._messages import Transport
from ._input._ids import parse_item_id
from ._input._resolve import ShortLinkResolver
from ._ledger import Ledger, Usage, listeners_of
from ._lifecycle import Lifecycle, LoopBound
from ._options import MediaOptions, ResponseOptions, RetryOptions, ShortLinkOptions
from ._secrets import CREDENTIAL_PARAMS, Credentials, Redactor, seal
from ._throttle._protocol import Throttle, ThrottleLimits
from ._throttle._sharing import shared_throttle
from ._wire._models import ItemGetVideoResponse, Video
from ._wire._quota import Quota
from .errors import DouyinError, InvalidParamError, InvalidSettingError
from .events import Listener, MediaFetched

DEFAULT_BASE_URL = "https://api-gw-4.cn/douyin"
"""The gateway's documented address; requests go to ``{base_url}/item_get_video/``."""
ENV_KEY = "DOUYIN_API_KEY"
"""The environment variable the key is read from when ``key=`` is not given."""
ENV_SECRET = "DOUYIN_API_SECRET"
"""The environment variable the secret is read from when ``secret=`` is not given."""
ENV_BASE_URL = "DOUYIN_API_BASE_URL"
"""The environment variable the gateway address is read from when ``base_url=`` is not given."""
"""Where clients that are not given a ``base_url`` send requests: a mirror, a proxy, an emulator."""
_DEFAULT_RATE_LIMIT = 5.0
_DEFAULT_MAX_CONCURRENCY = 5

Lang = str


class DouyinClient:
    """Async client for ``item_get_video``; open it with ``async with`` and share it widely.

    Every call on one client shares its connections, its throttle (``rate_limit`` requests per
    second, ``max_concurrency`` in flight) and its retry policy. Less common settings come in
    groups: ``retry=RetryOptions(...)``, ``media=MediaOptions(...)``,
    ``short_links=ShortLinkOptions(...)``, ``response=ResponseOptions(...)``; ``throttle=`` and
    ``transport=`` replace those parts. ``base_url`` (one URL, or several: mirrors) defaults to
    the ``DOUYIN_API_BASE_URL`` environment variable, else ``DEFAULT_BASE_URL``; one given wins.

    >>> async with DouyinClient(key="...", secret="...") as client:   # doctest: +SKIP
    ...     resp = await client.item_get_video("7092264344980868359")
    ...     print(resp.item.title, resp.item.video.url_raw)
    """

    def __init__(
        self,
        key: str | None = None,
        secret: str | None = None,
        *,
        base_url: str | Sequence[str] | None = None,
        rate_limit: float | None = _DEFAULT_RATE_LIMIT,
        max_concurrency: int | None = _DEFAULT_MAX_CONCURRENCY,
        max_retries: int = 3,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        cache: bool | None = None,
        lang: Lang | None = None,
        throttle: Throttle | None = None,
        transport: Transport | None = None,
        retry: RetryOptions | None = None,
        media: MediaOptions | None = None,
        short_links: ShortLinkOptions | None = None,
        response: ResponseOptions | None = None,
        on_event: Listener | Iterable[Listener] | None = None,
    ) -> None:
        try:
            credentials = _credentials(key, secret)
        finally:
            del key, secret  # no frame of an error raised from here on holds them
        if base_url is None:  # not given: the environment may point elsewhere
            base_url = os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        base_urls = (base_url,) if isinstance(base_url, str) else tuple(base_url)
        shown = [CREDENTIAL_PARAMS(url) if isinstance(url, str) else url for url in base_urls]
        check("base_url", shown[0] if isinstance(base_url, str) else shown,
              bool(base_urls) and all(map(_is_gateway_url, base_urls)),
              "an http(s) URL with a host, a valid port and no query, or a sequence of them (mirrors)")
        check_positive("timeout", timeout)
        check_count("max_retries", max_retries, minimum=0)
        check("backoff_initial", backoff_initial, is_number(backoff_initial) and backoff_initial >= 0,
              "a finite number of seconds >= 0")
        check("backoff_max", backoff_max, is_number(backoff_max) and backoff_max >= backoff_initial,
              f"a finite number of seconds >= backoff_initial ({backoff_initial})")
        check("lang", lang, lang is None or is_lang(lang), LANG_ALLOWED)
        check("cache", cache, cache is None or isinstance(cache, bool), "True, False or None")
        limits_given = (rate_limit, max_concurrency) != (_DEFAULT_RATE_LIMIT, _DEFAULT_MAX_CONCURRENCY)
        check("throttle", throttle, throttle is None or not limits_given,
              "a throttle brings its own limits: pass rate_limit and max_concurrency to it, not to the client")
        check("transport", transport, transport is None or session is None,
              "a transport or a session, not both (wrap the session: AiohttpTransport(session))")
        check("throttle", throttle, _implements(throttle, "acquire", "release", "limits"),
              "a Throttle (acquire, release, limits)")
        check("transport", transport, _implements(transport, "send", "stream", "aclose"),
              "a Transport (send, stream, aclose)")
        check("session", session, session is None or isinstance(session, aiohttp.ClientSession),
              "an aiohttp.ClientSession or None")
        for name, group, kind in (("retry", retry, RetryOptions), ("media", media, MediaOptions),
                                  ("short_links", short_links, ShortLinkOptions),
                                  ("response", response, ResponseOptions)):
            check(name, group, group is None or isinstance(group, kind), f"a {kind.__name__} or None")
        self._ledger = Ledger(listeners=listeners_of(on_event))
        self._redact = Redactor([credentials.key, credentials.secret])
        self._throttle = throttle if throttle is not None else shared_throttle(
            credentials.key, base_urls, rate_limit, max_concurrency
        )
        self._owns_transport = transport is None
        self._transport = transport if transport is not None else AiohttpTransport(
            session, connection_limit=max(max_concurrency or 0, 100), redact=self._redact
        )
        self._policy = RetryPolicy(
            max_retries=max_retries, backoff_initial=backoff_initial, backoff_max=backoff_max,
            options=retry or RetryOptions(),
        )
        self._lifecycle = Lifecycle()
        self._gateway = Gateway(
            base_urls=[url.rstrip("/") for url in base_urls],
            credentials=credentials,
            cache=cache,
            lang=lang,
            transport=self._transport,
            throttle=self._throttle,
            policy=self._policy,
            timeout=timeout,
            redact=self._redact,
            max_body_size=(response or ResponseOptions()).max_body_size,
            lifecycle=self._lifecycle,
            ledger=self._ledger,
        )
        self._media = media or MediaOptions()
        self._short_links = short_links or ShortLinkOptions()
        self._helpers = LoopBound(self._new_helpers, "the client's short-link and download queues")

    def _new_helpers(self) -> tuple[ShortLinkResolver, Downloader]:
        """The resolver and downloader hold semaphores of one event loop: made per loop."""
        return (ShortLinkResolver(self._transport, self._redact, self._short_links),
                Downloader(self._transport, self._redact, self._policy, self._media))

    @property
    def _resolver(self) -> ShortLinkResolver:
        return self._helpers.get()[0]

    @property
    def _downloader(self) -> Downloader:
        return self._helpers.get()[1]

    @property
    def base_url(self) -> str:
        """The gateway address in use: the first given, or the mirror that last answered."""
        return self._gateway.base_urls[self._gateway.mirror]

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every gateway address given, mirrors included, in the order they are tried."""
        return self._gateway.base_urls

    def __repr__(self) -> str:
        if not hasattr(self, "_gateway"):  # a traceback of a setting refused in __init__ shows it
            return "DouyinClient(<not constructed>, key='***', secret='***')"
        limits = self._throttle.limits
        return (
            f"DouyinClient(base_url={self.base_url!r}, key='***', secret='***', "
            f"rate_limit={limits.rate_ceiling}, max_concurrency={limits.concurrency_ceiling})"
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
        """Bind the client to the running event loop (``async with`` does this; so does a first call).

        A closed client is opened again only this way: calls never reopen it.
        """
        self._lifecycle.open()
        self._helpers.get()

    async def aclose(self) -> None:
        """Close what the client opened; a session or transport the caller gave is left open.

        Calls in flight (batches included) end with ``ClientClosedError``, and later calls
        raise it, until the client is opened again (``async with`` or ``open``).
        """
        await self._lifecycle.close()
        if self._owns_transport:  # ours closes only the session it made, not one given
            await self._transport.aclose()

    async def resolve_item_id(self, text: str | int) -> str:
        """The video id in an id, a video URL, a share text or a short link (one redirect lookup).

        The lookup goes to the short-link host only, without the gateway's key or secret.
        """
        with self._lifecycle:
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

        ``target`` is an id, URL or share text (fetched first, unless every file asked for is
        complete on disk already: then nothing is sent), a ``Video`` or a response. ``dest`` is a
        directory (``{id}.mp4``, ``{id}.cover.jpg``, ``{id}.mp3``), created if missing; for one
        kind, a name with that kind's suffix (``clip.mp4``) names the file itself. ``kinds`` from
        ``video``, ``cover``, ``music``. The video comes without watermark (``url_raw``) unless
        ``watermark=True``; when the host refuses every URL (expired), ``refresh_urls`` fetches the
        item once more with ``cache=False`` for fresh ones (billed). ``download_media`` does the
        same and also says which gateway calls it made and what they cost.

        >>> await client.download("7092264344980868359", "videos/")   # doctest: +SKIP
        [PosixPath('videos/7092264344980868359.mp4')]
        """
        result = await self.download_media(target, dest, kinds=kinds, watermark=watermark, overwrite=overwrite,
                                           refresh_urls=refresh_urls, on_bytes=on_bytes)
        return list(result.paths)

    async def download_media(
        self,
        target: str | int | Video | ItemGetVideoResponse,
        dest: str | os.PathLike[str],
        *,
        kinds: Sequence[str] = ("video",),
        watermark: bool = False,
        overwrite: bool = False,
        refresh_urls: bool = True,
        on_bytes: ByteCallback | None = None,
        on_charge: Callable[[Charge], None] | None = None,
    ) -> DownloadResult:
        """``download``, returning a ``DownloadResult``: the paths, those found complete, and the
        billing (``charges``, ``billed``, ``possibly_billed``) of every gateway request it sent.

        ``on_charge`` is called with the charge of each gateway request as soon as it is known
        (an interrupted request counts as possibly billed), for running totals. A ``DouyinError``
        raised here carries in ``billed`` and ``possibly_billed`` every request this download sent.

        >>> result = await client.download_media("7092264344980868359", "videos/")   # doctest: +SKIP
        >>> result.paths, result.billed   # doctest: +SKIP
        ((PosixPath('videos/7092264344980868359.mp4'),), 1)
        """
        charges: list[Charge] = []

        def charged(charge: Charge) -> None:
            charges.append(charge)
            if on_charge is not None:
                on_charge(charge)

        try:
            with self._lifecycle:
                kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
                unknown = [kind for kind in kinds if kind not in MEDIA_KINDS]
                if unknown or not kinds:  # before anything is fetched (and billed)
                    raise ValueError(f"unknown media kind {unknown or kinds!r}; kinds are {', '.join(MEDIA_KINDS)}")
                where = Path(dest)
                if isinstance(target, ItemGetVideoResponse):
                    video = target.item
                elif isinstance(target, Video):
                    video = target
                else:
                    item_id = await self.resolve_item_id(target)
                    paths = tuple(self._downloader.paths(item_id, where, kinds, overwrite).values())
                    if not overwrite and all(path.exists() for path in paths):
                        return DownloadResult(paths, paths)  # complete on disk: nothing to fetch, nothing billed
                    video = (await self._gateway.fetch(item_id, after_send=charged)).item

                refreshes: list[Charge] = []
                fresh: list[Video] = []

                async def refresh() -> Video:
                    if fresh:  # another kind's URLs expired too: the URLs fetched for the first serve it
                        return fresh[0]
                    count = len(charges)
                    try:
                        fresh.append((await self._gateway.fetch(video.num_iid, cache=False, after_send=charged,
                                                                refetch=True)).item)
                        return fresh[0]
                    finally:
                        refreshes.extend(charges[count:])

                def fetched(kind: str, path: Path, complete: bool) -> None:
                    size = 0 if complete else path.stat().st_size
                    refreshed, charge = bool(refreshes), (refreshes[-1].label if refreshes else None)
                    refreshes.clear()
                    self._ledger.emit(MediaFetched, lambda: MediaFetched(video.num_iid, kind, size, refreshed, charge))

                written, found = await self._downloader.download(
                    video, where, kinds=kinds,
                    watermark=watermark, overwrite=overwrite, refresh=refresh if refresh_urls else None,
                    on_bytes=on_bytes, on_file=fetched if MediaFetched in self._ledger.heard else None,
                )
                return DownloadResult(tuple(written), tuple(found), tuple(charges))
        except DouyinError as exc:
            exc.billed, exc.possibly_billed = count_charges(charges)
            raise seal(exc, self._redact)  # noqa: B904 - sealed: its chain is ours alone

    def _parse_input(self, value: Any) -> str | Callable[[Any], Awaitable[str]]:
        """A batch input's id now, or the resolver to call for it (short links need a lookup)."""
        try:
            return parse_item_id(value, self._redact)
        except InvalidParamError:
            if self._resolver.short_link(value) is None:
                raise
            return self.resolve_item_id

    @property
    def usage(self) -> Usage:
        """What this client has sent and what it cost so far: requests, billed, possibly billed,
        not billed, refused (4008), retries, and the media URL refreshes among them."""
        return self._ledger.usage()

    @property
    def quota(self) -> Quota | None:
        """The key's quota from the last ``api_info`` the gateway sent, if any."""
        return self._gateway.quota

    @property
    def limits(self) -> ThrottleLimits:
        """The throttle's current rate and concurrency (lowered after 4008s, never above yours)."""
        return self._throttle.limits

    @property
    def redactor(self) -> Redactor:
        """Masks this client's credentials in any text, for callers who log URLs themselves."""
        return self._redact

    def item_get_video(
        self,
        item_id: str | int,
        *,
        cache: bool | None = None,
        lang: Lang | None = None,
    ) -> Coroutine[Any, Any, ItemGetVideoResponse]:
        """Fetch one video's details; await it. Raises a typed ``DouyinError`` on failure.

        ``cache=False`` asks the gateway for a fresh fetch; ``lang`` translates text fields.
        The id and parameters are checked when the call is awaited, before anything is sent.
        (This returns the gateway's own coroutine: one frame less on every request.)
        """
        return self._gateway.fetch(item_id, cache, lang)

    def iter_videos(
        self,
        ids: Ids,
        *,
        ordered: bool = False,
        concurrency: int | None = None,
        max_billed_calls: int | None = None,
        respect_quota: bool = True,
        dedupe: int = 4096,
        progress: ProgressCallback | None = None,
        cache: bool | None = None,
        lang: Lang | None = None,
        stop: asyncio.Event | None = None,
        max_charged_calls: int | None = None,
        on_event: Listener | Iterable[Listener] | None = None,
        read_ahead: int | None = None,
    ) -> BatchIterator:
        """Fetch many ids; yields exactly one ``BatchResult`` per input, never raising per id.

        ``ids`` is any iterable or async iterable of ids, URLs or share texts (short links are
        resolved on the way), read lazily. Results come as completed, or in
        input order with ``ordered=True``. A fatal error (bad key, no balance, quota) stops the batch:
        nothing more is sent and every remaining input yields a ``BatchAbortedError``.
        ``max_billed_calls`` stops it before more calls than that could be billed (its older name,
        ``max_charged_calls``, still works);
        ``respect_quota`` before the key's daily quota (from ``api_info``) is exceeded.
        Setting ``stop`` stops it the same way (a graceful Ctrl-C): nothing more is sent or read
        from ``ids``, requests in flight finish, and inputs read but not sent yield ``BatchAbortedError``.
        A repeated id is fetched once while it is in flight or among the last ``dedupe`` ids.
        ``read_ahead`` bounds the inputs read and not yet yielded, those in flight included
        (default ``max(64, 8 × concurrency)``); a consumer that stores each result before it takes
        the next may set it to the concurrency, so that a killed process loses little more than
        the requests in flight.
        To leave early, leave ``async with``: the batch stops sending at once (a bare ``break``
        keeps it sending until the generator is collected).

        >>> async with client.iter_videos(ids) as results:   # doctest: +SKIP
        ...     async for result in results:
        ...         print(result.item_id, result.ok and result.response.item.title)
        """
        self._gateway.url_prefix(0, cache, lang)  # a bad lang is refused now, not once per id
        check_count("concurrency", concurrency, minimum=1, optional=True)
        check_count("read_ahead", read_ahead, minimum=1, optional=True)
        if max_charged_calls is not None:
            check("max_charged_calls", max_charged_calls, max_billed_calls in (None, max_charged_calls),
                  "the older name of max_billed_calls: give one of the two")
            max_billed_calls = max_charged_calls
        run = BatchRun(
            self._gateway,
            ids,
            parse=self._parse_input,
            cache=cache,
            lang=lang,
            ordered=ordered,
            concurrency=concurrency,
            max_billed_calls=max_billed_calls,
            respect_quota=respect_quota,
            dedupe=dedupe,
            progress=progress,
            stop=stop,
            on_event=on_event,
            read_ahead=read_ahead,
        )
        return BatchIterator(run.__aiter__())

    async def get_videos(self, ids: Ids, *, ordered: bool = True, **options: Any) -> list[BatchResult]:
        """``iter_videos`` collected into a list (in input order by default)."""
        return [result async for result in self.iter_videos(ids, ordered=ordered, **options)]


def _credentials(key: str | None, secret: str | None) -> Credentials:
    """The key and secret given, else from the environment; refused when either is missing."""
    key = key if key is not None else os.environ.get(ENV_KEY)
    secret = secret if secret is not None else os.environ.get(ENV_SECRET)
    check("key", "***", key is None or isinstance(key, str), "a str")
    check("secret", "***", secret is None or isinstance(secret, str), "a str")
    if key and secret:
        return Credentials(key, secret)
    del key, secret
    raise InvalidSettingError(f"missing credentials: pass key= and secret= or set {ENV_KEY} and {ENV_SECRET}")


def _implements(part: object, *names: str) -> bool:
    """None (the default part), or an object with every method of its protocol."""
    return part is None or all(hasattr(part, name) for name in names)


def _is_gateway_url(value: object) -> bool:
    if not isinstance(value, str) or "?" in value or "#" in value:
        return False
    try:
        parsed = urlsplit(value)
        parsed.port  # noqa: B018 (it raises for a port out of range)
        URL(value)  # what the transport will parse: it refuses hosts that urlsplit lets through
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)
