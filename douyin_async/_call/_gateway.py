"""One ``item_get_video`` call, end to end: throttle, send, decode, feedback, retries, quota.

Each attempt takes a throttle slot, sends through the transport, decodes while it still holds
the slot (so the throttle learns what came back), releases it, and only then raises or returns;
backoff sleeps happen outside the throttle, in the retry policy.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

import msgspec

from .._http._errors import foreign_error, too_large
from .._http._messages import Request, Response, Transport
from .._input._ids import normalize_item_id
from .._ledger import Ledger
from .._lifecycle import Lifecycle
from .._secrets import Credentials, Redactor, seal, without_userinfo
from .._throttle._protocol import Outcome, Throttle, ThrottleLimits
from .._wire._decode import decode_item_get_video
from .._wire._models import ItemGetVideoResponse
from .._wire._quota import Quota, QuotaTracker
from ..errors import (
    ApiError,
    ClientClosedError,
    DouyinError,
    EndpointNotFoundError,
    HTTPStatusError,
    InvalidParamError,
    MalformedResponseError,
    RateLimitError,
    TransportError,
)
from ..events import AttemptEnded, AttemptStarted, CallEnded, LimitsChanged
from ._billing import Charge, charge_of
from ._retry import RetryPolicy, retry_after_seconds

log = logging.getLogger("douyin_async")

# The gateway's language codes: cn, en, ru in its document; ko, ja, zh-CN and the like in real use.
_LANG = re.compile(r"[a-z]{2,3}(?:-[A-Za-z]{2,4})?")
LANG_ALLOWED = "a language code such as cn, en, ru, ko or zh-CN"

_STRANGERS = 3
"""Calls answered without an envelope by a mirror never seen to send one, after which it is not the gateway."""
_NO_API = frozenset({404, 405})
"""Statuses that, without an envelope, say the request never reached the API: a wrong base URL."""

BeforeSend = Callable[[], None]
AfterSend = Callable[[Charge], None]


class _Call:
    """One call's state across its attempts: what was asked, and what it has cost so far.

    A plain object rather than a closure: one allocation per call instead of a function and a
    cell for every variable it closes over.
    """

    __slots__ = (
        "after_send",
        "before_send",
        "billed",
        "cache",
        "heard",
        "item_id",
        "lang",
        "ledger",
        "possibly_billed",
        "refetch",
        "sent",
        "started",
        "timed",
        "unvouched",
    )

    def __init__(
        self, item_id: str, cache: bool | None, lang: str | None,
        before_send: BeforeSend | None, after_send: AfterSend | None, ledger: Ledger, refetch: bool,
    ) -> None:
        self.item_id, self.cache, self.lang = item_id, cache, lang
        self.before_send, self.after_send = before_send, after_send
        self.ledger, self.refetch = ledger, refetch
        self.sent = self.billed = self.possibly_billed = 0
        self.heard = ledger.heard
        """The kinds of event anyone listens for: asked once, not at every step."""
        self.timed = bool(self.heard) or log.isEnabledFor(logging.DEBUG)
        """Whether an event or a debug line will say how long things took: else no clock is read."""
        self.started = time.monotonic() if self.timed else 0.0
        self.unvouched = False
        """Whether an answer to this call came without an envelope from a mirror never seen to send one."""

    def charged(self, charge: Charge, refused: bool) -> None:
        """An attempt was sent: the one record of what it cost, for the call, its batch and the client."""
        if charge is Charge.BILLED:
            self.billed += 1
        elif charge is Charge.POSSIBLY_BILLED:
            self.possibly_billed += 1
        self.ledger.attempt(charge, refused=refused, retry=self.sent > 1, refetch=self.refetch)
        if self.after_send is not None:
            self.after_send(charge)

    def ended(self, error: BaseException | None) -> None:
        """The call is over: its event, for whoever listens."""
        if CallEnded in self.heard:
            duration = time.monotonic() - self.started
            self.ledger.emit(CallEnded, lambda: CallEnded(
                self.item_id, self.sent, self.billed, self.possibly_billed, error is None,
                None if error is None else type(error).__name__, time.time() - duration, duration,
            ))

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        """The call is over, however it ended. A close turns its cancellation into
        ``ClientClosedError`` as it leaves: stamp what it cost on that too."""
        if isinstance(error, ClientClosedError):
            error.attempts, error.billed, error.possibly_billed = self.sent, self.billed, self.possibly_billed
        self.ended(error)

    def seal(self, error: DouyinError, redact: Redactor) -> DouyinError:
        """Stamp the call's attempts and costs on the error it ends with (so far), and seal it: it
        leaves the client masked, with no traceback into our frames and no foreign link."""
        error.attempts, error.billed, error.possibly_billed = self.sent, self.billed, self.possibly_billed
        return seal(error, redact)


class Gateway:
    """``item_get_video`` for one key; what the client and its batches fetch with.

    With several base URLs (mirror hosts of the same gateway), a connection failure, a timeout or
    an HTTP 5xx page moves the next attempt to the next mirror, and the mirror that last answered is
    kept; a gateway code never moves it. The credentials go to these hosts only.
    """

    def __init__(
        self,
        *,
        base_urls: Sequence[str],
        credentials: Credentials,
        cache: bool | None,
        lang: str | None,
        transport: Transport,
        throttle: Throttle,
        policy: RetryPolicy,
        timeout: float,
        redact: Redactor,
        max_body_size: int | None = None,
        lifecycle: Lifecycle | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.ledger = ledger if ledger is not None else Ledger()
        """The client's record of every attempt: what ``usage`` reads."""
        self.transport = transport
        self.lifecycle = lifecycle if lifecycle is not None else Lifecycle()
        self.throttle = throttle
        self.redact = redact
        self._quota = QuotaTracker()
        self._vouched = [False] * len(base_urls)
        """Per mirror: whether it has answered with the gateway's envelope at least once."""
        self._unvouched = [0] * len(base_urls)
        """Per mirror, before it vouched: the calls it answered without an envelope."""
        self.base_urls = tuple(base_urls)
        self.hosts = tuple(map(without_userinfo, self.base_urls))
        """The base URLs as events and log lines name them: without the ``user:password@`` of a proxy."""
        self.mirror = 0
        """Index in ``base_urls`` of the mirror in use: the first, or the last one that answered."""
        self._credentials = credentials
        self._cache, self._lang = cache, lang
        self._policy = policy
        self._timeout = timeout
        self._max_body = max_body_size
        self._retry_unknown = policy.options.retry_unknown_errors
        self._prefixes: dict[tuple[int, bool | None, str | None], str] = {}
        self._default_prefixes = [self.url_prefix(mirror, None, None) for mirror in range(len(self.base_urls))]

    @property
    def limits(self) -> ThrottleLimits:
        return self.throttle.limits

    def __repr__(self) -> str:
        return f"Gateway(base_urls={self.base_urls!r}, credentials={self._credentials!r})"

    def url_prefix(self, mirror: int, cache: bool | None, lang: str | None) -> str:
        """The URL up to the id, built once per mirror and parameters: a call only appends its id.

        Raises ``InvalidParamError`` for a ``lang`` that is no language code.
        """
        key = (mirror, cache, lang)
        prefix = self._prefixes.get(key)
        if prefix is None:
            # jsonu: the gateway sends Chinese unescaped, so bodies are smaller and archives readable.
            params = {"result_type": "jsonu"}
            cache = self._cache if cache is None else cache
            if cache is not None:
                params["cache"] = "yes" if cache else "no"
            lang = self._lang if lang is None else lang
            if lang is not None:
                if not is_lang(lang):
                    shown = self.redact(lang)[:40] if isinstance(lang, str) else type(lang).__name__
                    raise InvalidParamError(f"lang must be {LANG_ALLOWED}, not {shown!r}", code="4003")
                params["lang"] = lang
            prefix = self._prefixes[key] = (
                f"{self.base_urls[mirror]}/item_get_video/?{self._credentials.query()}&{urlencode(params)}&item_id="
            )
        return prefix

    def _next_mirror_after(self, mirror: int, failure: TransportError) -> None:
        """Move to the next mirror after a failure of the mirror itself (not of the request)."""
        if len(self.base_urls) < 2 or mirror != self.mirror:
            return
        if isinstance(failure, HTTPStatusError):
            moves = failure.status >= 500
        else:
            moves = not isinstance(failure, MalformedResponseError) and failure.retryable
        if moves:
            self.mirror = (mirror + 1) % len(self.base_urls)
            log.info("%s failed (%s); next attempts go to %s",
                     self.hosts[mirror], type(failure).__name__, self.hosts[self.mirror])

    async def fetch(
        self,
        item_id: object,
        cache: bool | None = None,
        lang: str | None = None,
        before_send: BeforeSend | None = None,
        after_send: AfterSend | None = None,
        ledger: Ledger | None = None,
        refetch: bool = False,
    ) -> ItemGetVideoResponse:
        """Fetch one id; ``cache`` and ``lang`` override the client's defaults for this call.

        The id and parameters are checked here, in the coroutine, so that a bad one is raised
        when the call is awaited. ``before_send`` runs after the throttle, before every attempt,
        and may raise to stop the call (batches use it to stop sending after a fatal error or at
        their budget); ``after_send`` is told the charge of every attempt that was sent. Each attempt
        is recorded in ``ledger`` (a batch's; the client's by default), ``refetch`` marking a call
        that refreshes media URLs.
        """
        call = _Call(normalize_item_id(item_id, self.redact), cache, lang, before_send, after_send,
                     ledger if ledger is not None else self.ledger, refetch)
        with call, self.lifecycle:  # a call in flight when the client closes ends in ClientClosedError
            if cache is not None or lang is not None:
                self.url_prefix(0, cache, lang)  # a bad lang is refused before anything is sent
            # Errors are raised inside the handler that caught them: raised after it, Python 3.10
            # chains the exception aiohttp raised, whose frames hold the URL, as their context.
            try:
                response = await self._policy.call(functools.partial(self._attempt, call), call.item_id)
            except DouyinError as exc:
                raise call.seal(exc, self.redact)  # noqa: B904 - sealed: its chain is ours alone
            if call.sent == 1:  # answered at once: the decoder's counts (one attempt, none lost) hold
                return response
            return msgspec.structs.replace(response, attempts=call.sent, possibly_billed=call.possibly_billed)

    async def _attempt(self, call: _Call) -> ItemGetVideoResponse:
        """One attempt: a throttle slot, the exchange, the decoded answer, and what it cost.

        Whatever the transport raises that is not ours (a transport of the caller's) becomes a
        typed, redacted error, raised outside the ``except`` block so that nothing chains to it.
        """
        mirror = self.mirror
        throttle = self.throttle
        timed = call.timed
        asked = time.monotonic() if timed else 0.0
        ticket = await throttle.acquire()
        outcome = Outcome.NO_ANSWER
        charge: Charge | None = None
        failure: TransportError | None = None
        answer: Response | None = None
        ended: ItemGetVideoResponse | DouyinError | None = None
        sent_at = asked
        # The URL is written straight into the Request, whose repr hides it: no local of any
        # frame an error passes through holds the credentials.
        request = Request(
            "GET",
            (self._default_prefixes[mirror] if call.cache is None and call.lang is None
             else self.url_prefix(mirror, call.cache, call.lang)) + call.item_id,
            timeout=self._timeout, max_body=self._max_body,
        )
        try:
            if call.before_send is not None:
                call.before_send()
            call.sent += 1
            charge = Charge.POSSIBLY_BILLED  # until an answer says otherwise
            if timed:
                sent_at = time.monotonic()
            if AttemptStarted in call.heard:
                waited = sent_at - asked
                call.ledger.emit(AttemptStarted,
                                 lambda: AttemptStarted(call.item_id, call.sent, self.hosts[mirror], waited))
            answer = await self.transport.send(request)
            if self._max_body is not None and len(answer.body) > self._max_body:
                raise too_large(self._max_body)  # a transport of the caller's that read it all anyway
            ended = response = self._read(answer, call, mirror)
            outcome, charge = Outcome.ANSWERED, Charge.BILLED
            return response
        except RateLimitError as exc:
            outcome, charge, ended = Outcome.LIMITED, Charge.NOT_BILLED, exc
            raise
        except ApiError as exc:
            outcome, charge, ended = Outcome.ANSWERED, charge_of(exc), exc
            raise
        except TransportError as exc:
            charge, ended = charge_of(exc), exc
            self._next_mirror_after(mirror, exc)
            raise
        except DouyinError:
            raise  # a batch's before_send stopping the call, or a closed client
        except Exception as exc:  # not ours: typed here, raised outside this block
            failure = foreign_error(exc, request, self.redact)
            charge, ended = charge_of(failure), failure
            self._next_mirror_after(mirror, failure)
        finally:
            before = throttle.limits if LimitsChanged in call.heard else None
            try:
                await throttle.release(ticket, outcome)
            finally:  # recorded even when the release fails (a shared throttle's store gone)
                if charge is not None:
                    call.charged(charge, outcome is Outcome.LIMITED)
                    if timed and (before is not None or AttemptEnded in call.heard or log.isEnabledFor(logging.DEBUG)):
                        self._record(call, mirror, charge, answer, ended, sent_at - asked,
                                     time.monotonic() - sent_at, before)
        raise failure

    def _record(
        self, call: _Call, mirror: int, charge: Charge, answer: Response | None,
        ended: ItemGetVideoResponse | DouyinError | None, waited: float, duration: float,
        before: ThrottleLimits | None,
    ) -> None:
        """An attempt's event and debug line, made only for a listener of it or a debug log; and the
        limits' event when the throttle moved them."""
        heard = call.heard
        if AttemptEnded in heard or log.isEnabledFor(logging.DEBUG):
            if isinstance(ended, ItemGetVideoResponse):
                code, error, request_id = "0000", None, ended.request_id or None
            elif isinstance(ended, ApiError):
                code, error, request_id = ended.code, type(ended).__name__, ended.request_id or None
            else:
                code, error, request_id = None, None if ended is None else type(ended).__name__, None
            if ended is None and charge is Charge.POSSIBLY_BILLED:
                error = "CancelledError"
            event = AttemptEnded(
                call.item_id, call.sent, self.hosts[mirror], None if answer is None else answer.status, code, error,
                charge.label, request_id, waited, duration, time.time() - duration,
            )
            log.debug("attempt %s", event)
            if AttemptEnded in heard:
                call.ledger.emit(AttemptEnded, lambda: event)
        if before is None:
            return
        after = self.throttle.limits
        if (after.rate, after.concurrency) != (before.rate, before.concurrency):
            moved_down = (after.concurrency or 0) < (before.concurrency or 0) or (after.rate or 0) < (before.rate or 0)
            call.ledger.emit(LimitsChanged, lambda: LimitsChanged(after.rate, after.concurrency,
                                                                  "refused" if moved_down else "probe"))

    def _read(self, answer: Response, call: _Call, mirror: int) -> ItemGetVideoResponse:
        """The decoded answer; a gateway error envelope raises its typed error.

        The body is read with the credentials masked in it: a gateway that echoes its query
        hands back nothing a response, an error or a frame could show.
        """
        body, charset = self.redact.answer(answer.body, _charset(answer.headers.get("Content-Type")))
        try:
            response = decode_item_get_video(
                body, call.item_id, redact=self.redact, retry_unknown=self._retry_unknown, charset=charset,
            )
        except ApiError as exc:
            self._vouched[mirror] = True
            if exc.quota is not None:
                self._quota.reported(exc.quota, billed=exc.charged)
            raise
        except MalformedResponseError as exc:
            self._not_the_gateway(answer, exc, call, mirror)
            if answer.status != 200:
                raise HTTPStatusError(
                    f"HTTP {answer.status} without a gateway envelope: {exc.excerpt!r}",
                    status=answer.status,
                    retry_after=retry_after_seconds(answer.headers.get("Retry-After")),
                ) from None
            raise
        self._vouched[mirror] = True
        if answer.status != 200:
            log.info("item %s: HTTP %d carried a success envelope", call.item_id, answer.status)
        self._quota.answered(response.api_info)
        return response

    def _not_the_gateway(self, answer: Response, failure: MalformedResponseError, call: _Call, mirror: int) -> None:
        """Raise ``EndpointNotFoundError`` when an answer without an envelope says the base URL is wrong.

        A 404 or 405 page says so at once (not billed: no API ran). Other answers without an
        envelope (an HTML 200, a redirect, a 403) say so once ``_STRANGERS`` calls got one from a
        mirror never seen to send an envelope: the first wave of a batch, not every id. 429 and 5xx
        are an outage, not an address, and are retried.
        """
        status = answer.status
        where = self.base_urls[mirror]
        advice = "Check the client's base URL: the gateway's ends with the API family, /douyin"
        if status in _NO_API:
            raise EndpointNotFoundError(
                f"HTTP {status} without a gateway envelope from {where}: no item_get_video API there. {advice}",
                status=status,
            ) from None
        if self._vouched[mirror] or call.unvouched or status == 429 or status >= 500:
            return
        call.unvouched = True
        self._unvouched[mirror] += 1
        if self._unvouched[mirror] >= _STRANGERS:
            raise EndpointNotFoundError(
                f"{self._unvouched[mirror]} calls got answers without the gateway's envelope from {where}, and none "
                f"an envelope (the last: HTTP {status}, {failure.excerpt[:80]!r}). {advice}",
                status=status, reached=True,
            ) from None

    @property
    def quota(self) -> Quota | None:
        """The key's quota as the latest answers report it."""
        return self._quota.quota


def is_lang(value: object) -> bool:
    """Whether ``value`` is a language code of the gateway's shape."""
    return isinstance(value, str) and _LANG.fullmatch(value) is not None


def _charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if it has one."""
    if not content_type or "charset=" not in content_type:
        return None
    return content_type.partition("charset=")[2].partition(";")[0].strip() or None
