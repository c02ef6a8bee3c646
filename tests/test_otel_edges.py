"""The OpenTelemetry listener at the edges: many calls at once, cut calls, odd base URLs."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from douyin_async import DouyinClient, DouyinError, RetryOptions
from douyin_async.emulator import Emulator
from douyin_async.otel import OpenTelemetry

from .conftest import SEED_ID

KEY, SECRET = "otel-edge-key-0c2", "otel-edge-secret-e71"
IDS = [str(10**15 + i) for i in range(60)]


async def _no_sleep(seconds: float) -> None:
    return None


def listener() -> tuple[OpenTelemetry, InMemorySpanExporter, InMemoryMetricReader]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    return OpenTelemetry(tracer_provider, MeterProvider(metric_readers=[reader])), spans, reader


def client_for(base_url: str, on_event: OpenTelemetry) -> DouyinClient:
    return DouyinClient(KEY, SECRET, base_url=base_url, rate_limit=None, max_concurrency=16, timeout=0.3,
                        retry=RetryOptions(sleep=_no_sleep), on_event=on_event)


async def test_nothing_is_kept_once_every_call_has_ended_cut_or_not() -> None:
    otel, spans, _ = listener()
    async with Emulator(fast=True, keys={KEY: SECRET}, seed=4, faults={"reset": 0.2, "timeout": 0.1},
                        timeout_delay=0.5) as emu, client_for(emu.base_url, otel) as client:
        await client.get_videos(IDS)
        for item_id in IDS[:5]:
            with contextlib.suppress(asyncio.TimeoutError, DouyinError):
                await asyncio.wait_for(client.item_get_video(item_id), 0.001)
    assert otel._pending == {}
    calls = [s for s in spans.get_finished_spans() if s.name == "item_get_video"]
    assert len(calls) >= len(IDS)


async def test_url_full_and_server_address_hold_no_userinfo_of_the_base_url() -> None:
    otel, spans, reader = listener()
    async with Emulator(fast=True, keys={KEY: SECRET}) as emu:
        base_url = emu.base_url.replace("http://", "http://proxyuser:proxy-pass-77@")
        async with client_for(base_url, otel) as client:
            await client.item_get_video(SEED_ID)
    shown = repr([dict(s.attributes or {}) for s in spans.get_finished_spans()]) + reader.get_metrics_data().to_json()
    assert "proxy-pass-77" not in shown and "proxyuser" not in shown
    assert KEY not in shown and SECRET not in shown
    attempt = next(s for s in spans.get_finished_spans() if s.name == "GET")
    assert attempt.attributes["server.address"] == "127.0.0.1"
