"""OpenTelemetry: spans and metrics after the HTTP client conventions, checked with the SDK's in-memory exporters."""

from __future__ import annotations

import contextlib

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from douyin_async import DouyinClient, NotFoundError, RetryOptions
from douyin_async.emulator import Emulator
from douyin_async.otel import OpenTelemetry

from .conftest import SEED_ID

KEY, SECRET = "otel-sentinel-key-5b1", "otel-sentinel-secret-c3d"


async def _no_sleep(seconds: float) -> None:
    return None


def providers() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    return tracer_provider, spans, MeterProvider(metric_readers=[reader]), reader


async def run(listener: OpenTelemetry, emu: Emulator, ids: list[str], tracer: TracerProvider | None = None) -> None:
    async with DouyinClient(KEY, SECRET, base_url=emu.base_url, rate_limit=None, max_concurrency=4,
                            retry=RetryOptions(sleep=_no_sleep), on_event=listener) as client:
        if tracer is None:
            await client.get_videos(ids)
            return
        with tracer.get_tracer("app").start_as_current_span("handler"):
            for item_id in ids:
                with contextlib.suppress(NotFoundError):
                    await client.item_get_video(item_id)


async def test_a_span_per_attempt_under_a_span_per_call() -> None:
    tracer_provider, spans, meter_provider, _ = providers()
    listener = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    async with Emulator(fast=True, keys={KEY: SECRET}) as emu:
        emu.script(SEED_ID, ["4008", "0000"])
        await run(listener, emu, [SEED_ID])
    finished = spans.get_finished_spans()
    calls = [s for s in finished if s.name == "item_get_video"]
    attempts = [s for s in finished if s.name == "GET"]
    assert len(calls) == 1 and len(attempts) == 2
    call = calls[0]
    assert call.kind is SpanKind.INTERNAL and call.parent is None
    assert all(a.kind is SpanKind.CLIENT and a.parent is not None and a.parent.span_id == call.context.span_id
               for a in attempts)
    refused, ok = sorted(attempts, key=lambda s: s.start_time or 0)
    assert refused.attributes is not None and ok.attributes is not None
    assert refused.attributes["error.type"] == "4008"
    assert refused.attributes["douyin_async.charge"] == "not_billed"
    assert refused.status.status_code is StatusCode.ERROR
    assert ok.attributes["http.request.resend_count"] == 1
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.attributes["douyin_async.gateway.code"] == "0000"
    assert ok.attributes["server.address"] == "127.0.0.1" and ok.attributes["server.port"] == emu.port
    url = str(ok.attributes["url.full"])
    assert "key=REDACTED" in url and "secret=REDACTED" in url
    assert (call.start_time or 0) <= (refused.start_time or 0) and (ok.end_time or 0) <= (call.end_time or 0)


async def test_a_callers_span_is_the_parent() -> None:
    tracer_provider, spans, meter_provider, _ = providers()
    listener = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    async with Emulator(fast=True, keys={KEY: SECRET}) as emu:
        missing = next(str(i) for i in range(10**15, 10**15 + 50) if emu.expected_item(str(i)) is None)
        await run(listener, emu, [SEED_ID, missing], tracer=tracer_provider)
    finished = spans.get_finished_spans()
    handler = next(s for s in finished if s.name == "handler")
    calls = [s for s in finished if s.name == "item_get_video"]
    assert len(calls) == 2
    assert all(c.parent is not None and c.parent.span_id == handler.context.span_id for c in calls)
    failed = next(c for c in calls if c.status.status_code is StatusCode.ERROR)
    assert failed.attributes is not None and failed.attributes["error.type"] == "NotFoundError"


async def test_metrics_and_no_credential_or_id_anywhere() -> None:
    tracer_provider, spans, meter_provider, reader = providers()
    listener = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    ids = [str(10**15 + i) for i in range(30)]
    async with Emulator(fast=True, keys={KEY: SECRET}, concurrency=2) as emu:
        await run(listener, emu, ids)
    data = reader.get_metrics_data()
    assert data is not None
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"http.client.request.duration", "douyin_async.attempts", "douyin_async.throttle.wait",
            "douyin_async.inflight", "douyin_async.limit.concurrency"} <= set(metrics)
    attempts = metrics["douyin_async.attempts"].data.data_points  # type: ignore[union-attr]
    by_charge: dict[str, int] = {}
    for point in attempts:
        charge = str(point.attributes["douyin_async.charge"])
        by_charge[charge] = by_charge.get(charge, 0) + int(point.value)
    assert by_charge.get("billed", 0) == emu.stats.charged == len(ids)
    assert by_charge.get("not_billed", 0) == emu.stats.rate_limited
    inflight = metrics["douyin_async.inflight"].data.data_points  # type: ignore[union-attr]
    assert sum(int(p.value) for p in inflight) == 0
    for metric in metrics.values():
        for point in metric.data.data_points:  # type: ignore[union-attr]
            shown = repr(dict(point.attributes or {}))
            assert KEY not in shown and SECRET not in shown
            assert not any(item_id in shown for item_id in ids), "an id is no metric attribute"
    everything = repr([(s.name, dict(s.attributes or {})) for s in spans.get_finished_spans()])
    assert KEY not in everything and SECRET not in everything


def test_the_global_providers_by_default() -> None:
    listener = OpenTelemetry()
    assert listener._tracer is not None and trace.get_tracer_provider() is not None
