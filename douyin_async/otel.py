"""OpenTelemetry spans and metrics from the client's events (the ``otel`` extra: the API only).

>>> from douyin_async.otel import OpenTelemetry
>>> client = DouyinClient(on_event=OpenTelemetry())   # doctest: +SKIP

The global tracer and meter providers are used unless others are given. It follows the HTTP client
semantic conventions: one CLIENT span per attempt, named ``GET``, under an INTERNAL span per call
(``item_get_video``), itself a child of the caller's span when there is one. Neither the key, the
secret, the query string nor a body is ever recorded; ``url.full`` carries the key and secret as
``REDACTED``, and no video id is a metric attribute (ids are unbounded).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from . import __version__
from .events import AttemptEnded, AttemptStarted, CallEnded, Event, LimitsChanged

__all__ = ["OpenTelemetry"]

_SCOPE = "douyin_async"
_NS = 1_000_000_000
_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60]


class OpenTelemetry:
    """A listener for ``on_event`` that records spans and metrics.

    Spans are made when a call ends, from its attempts' recorded times, so a call's span and its
    attempts' spans nest exactly as they ran, whichever task ran them.
    """

    def __init__(
        self, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
    ) -> None:
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._attempts = meter.create_counter(
            "douyin_async.attempts", unit="{request}", description="Requests sent to the gateway, by charge.",
        )
        self._wait = meter.create_histogram(
            "douyin_async.throttle.wait", unit="s", description="Time a request waited in the throttle.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._inflight = meter.create_up_down_counter(
            "douyin_async.inflight", unit="{request}", description="Requests in flight to the gateway.",
        )
        self._limits: tuple[float | None, int | None] = (None, None)
        meter.create_observable_gauge(
            "douyin_async.limit.concurrency", callbacks=[self._observe_concurrency], unit="{request}",
            description="The cap in flight the client holds itself to (learned from 4008s).",
        )
        meter.create_observable_gauge(
            "douyin_async.limit.rate", callbacks=[self._observe_rate], unit="{request}/s",
            description="The request rate the client holds itself to (learned from 4008s).",
        )
        self._pending: dict[tuple[int, str], list[AttemptEnded]] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, AttemptEnded):
            self._attempt_ended(event)
        elif isinstance(event, AttemptStarted):
            self._inflight.add(1, _server(event.host))
            self._wait.record(event.waited, _server(event.host))
        elif isinstance(event, CallEnded):
            self._call_ended(event)
        elif isinstance(event, LimitsChanged):
            self._limits = (event.rate_limit, event.max_concurrency)

    def _attempt_ended(self, event: AttemptEnded) -> None:
        server = _server(event.host)
        self._inflight.add(-1, server)
        attributes = {**server, "http.request.method": "GET"}
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        error = _error_type(event)
        if error is not None:
            attributes["error.type"] = error
        self._duration.record(event.duration, attributes)
        self._attempts.add(1, {"douyin_async.charge": event.charge, **({"error.type": error} if error else {})})
        self._pending.setdefault(_key(event.item_id), []).append(event)

    def _call_ended(self, event: CallEnded) -> None:
        attempts = self._pending.pop(_key(event.item_id), [])
        start = int(event.started_at * _NS)
        call = self._tracer.start_span(
            "item_get_video", kind=SpanKind.INTERNAL, start_time=start,
            attributes={"douyin_async.item_id": event.item_id, "douyin_async.attempts": event.attempts,
                        "douyin_async.billed": event.billed, "douyin_async.possibly_billed": event.possibly_billed},
        )
        if not event.ok:
            call.set_status(Status(StatusCode.ERROR))
            call.set_attribute("error.type", event.error or "error")
        context = trace.set_span_in_context(call)
        for attempt in attempts:
            self._attempt_span(attempt, context)
        call.end(end_time=start + int(event.duration * _NS))

    def _attempt_span(self, event: AttemptEnded, context: object) -> None:
        attributes: dict[str, str | int] = {
            "http.request.method": "GET",
            "url.full": f"{event.host}/item_get_video/?key=REDACTED&secret=REDACTED&item_id={event.item_id}",
            "douyin_async.item_id": event.item_id,
            "douyin_async.charge": event.charge,
            **_server(event.host),
        }
        if event.attempt > 1:
            attributes["http.request.resend_count"] = event.attempt - 1
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        if event.code is not None:
            attributes["douyin_async.gateway.code"] = event.code
        if event.request_id is not None:
            attributes["douyin_async.request_id"] = event.request_id
        error = _error_type(event)
        start = int(event.started_at * _NS)
        span = self._tracer.start_span("GET", context=context, kind=SpanKind.CLIENT,  # type: ignore[arg-type]
                                       start_time=start, attributes=attributes)
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start + int(event.duration * _NS))

    def _observe_concurrency(self, options: CallbackOptions) -> Iterable[Observation]:
        concurrency = self._limits[1]
        return [] if concurrency is None else [Observation(concurrency)]

    def _observe_rate(self, options: CallbackOptions) -> Iterable[Observation]:
        rate = self._limits[0]
        return [] if rate is None else [Observation(rate)]


def _key(item_id: str) -> tuple[int, str]:
    """A call's attempts are gathered per task and id: a batch runs many calls at once."""
    task = asyncio.current_task() if _loop_running() else None
    return (id(task), item_id)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _server(host: str) -> dict[str, str | int]:
    """``server.address`` and ``server.port`` (the scheme's default when the URL names none)."""
    parts = urlsplit(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname or "", "server.port": port}


def _error_type(event: AttemptEnded) -> str | None:
    """The gateway's code when it refused, else the error's class; None for a success."""
    if event.error is None:
        return None
    return event.code if event.code not in (None, "0000") else event.error
