"""One ``item_get_video`` call, end to end: throttle, send, decode, feedback, retries, quota.

Each attempt takes a throttle slot, sends through the transport, decodes while it still holds
the slot (so the throttle learns what came back), releases it, and only then raises or returns;
backoff sleeps happen outside the throttle, in the retry policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

import msgspec

from ._decode import decode_item_get_video
from ._models import ItemGetVideoResponse
from ._quota import Quota
from ._redact import Redactor
from ._retry import RetryPolicy, retry_after_seconds
from ._throttle import Outcome, Throttle, ThrottleLimits
from ._transport import Request, Transport
from .errors import ApiError, DouyinError, HTTPStatusError, MalformedResponseError, RateLimitError

log = logging.getLogger("douyin_async")

BeforeSend = Callable[[], None]


class Gateway:
    """``item_get_video`` for one key on one base URL; what the client and its batches fetch with."""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        defaults: Mapping[str, str],
        transport: Transport,
        throttle: Throttle,
        policy: RetryPolicy,
        timeout: float,
        redact: Redactor,
    ) -> None:
        self.transport = transport
        self.throttle = throttle
        self.redact = redact
        self.quota: Quota | None = None
        self._endpoint = f"{base_url}/item_get_video/?{urlencode(credentials)}"
        self._defaults = dict(defaults)
        self._policy = policy
        self._timeout = timeout
        self._retry_unknown = policy.options.retry_unknown_errors
        self._prefixes: dict[tuple[tuple[str, str], ...], str] = {}
        self._default_prefix = self._url_prefix({})

    @property
    def limits(self) -> ThrottleLimits:
        return self.throttle.limits

    def _url_prefix(self, overrides: Mapping[str, str]) -> str:
        """The URL up to the id, built once per set of parameters: a call only appends its id."""
        if not overrides and self._prefixes:
            return self._default_prefix
        params = {**self._defaults, **overrides}
        key = tuple(sorted(params.items()))
        prefix = self._prefixes.get(key)
        if prefix is None:
            query = urlencode(params)
            prefix = self._prefixes[key] = f"{self._endpoint}&{query + '&' if query else ''}item_id="
        return prefix

    async def fetch(
        self,
        item_id: str,
        params: Mapping[str, str],
        before_send: BeforeSend | None = None,
    ) -> ItemGetVideoResponse:
        """Fetch a normalised id; ``before_send`` runs after the throttle, before every attempt,
        and may raise to stop the call (batches use it to stop sending after a fatal error)."""
        url = self._url_prefix(params) + item_id
        sent = 0

        async def attempt() -> ItemGetVideoResponse:
            nonlocal sent
            throttle = self.throttle
            await throttle.acquire()
            outcome = Outcome.NO_ANSWER
            try:
                if before_send is not None:
                    before_send()
                sent += 1
                response = await self._exchange(url, item_id)
                outcome = Outcome.ANSWERED
                return response
            except RateLimitError:
                outcome = Outcome.LIMITED
                raise
            except ApiError:
                outcome = Outcome.ANSWERED
                raise
            finally:
                await throttle.release(outcome)

        try:
            response = await self._policy.call(attempt, item_id)
        except DouyinError as exc:
            exc.attempts = sent
            raise
        return response if sent == 1 else msgspec.structs.replace(response, attempts=sent)

    async def _exchange(self, url: str, item_id: str) -> ItemGetVideoResponse:
        """One request and its decoded answer; a gateway error envelope raises its typed error."""
        answer = await self.transport.send(Request("GET", url, timeout=self._timeout))
        try:
            response = decode_item_get_video(
                answer.body, item_id, redact=self.redact, retry_unknown=self._retry_unknown
            )
        except ApiError as exc:
            if exc.quota is not None:
                self.quota = exc.quota
            raise
        except MalformedResponseError as exc:
            if answer.status != 200:
                raise HTTPStatusError(
                    f"HTTP {answer.status} without a gateway envelope: {exc.excerpt!r}",
                    status=answer.status,
                    retry_after=retry_after_seconds(answer.headers.get("Retry-After")),
                ) from None
            raise
        if answer.status != 200:
            log.info("item %s: HTTP %d carried a success envelope", item_id, answer.status)
        if response.quota is not None:
            self.quota = response.quota
        return response
