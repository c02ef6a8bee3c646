"""Client overhead with the throttle off: requests per second and client CPU per request.

Every variant sends the same requests at the same concurrency to the same fast server, from this
process, interleaved A B C D, then D C B A, and so on, so that drift on a noisy machine hits all of
them alike and none always runs first; the table reports medians, and the range of the per-round
ratios, which shows how noisy the run was. The server runs in another process, so ``time.process_time`` is the
client's CPU alone, and a client at ~100% CPU is CPU-bound (the server is not the bottleneck).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import msgspec

from douyin_async import DouyinClient

SEED_ID = "7092264344980868359"
Variant = Callable[[str, int, int], Awaitable[None]]


class _Streams(msgspec.Struct):
    url: str = ""
    url_raw: str = ""


class _Item(msgspec.Struct):
    num_iid: str
    title: str = ""
    video: _Streams | None = None


class _Envelope(msgspec.Struct):
    item: _Item | None = None
    error_code: str | int = ""


_DECODE = msgspec.json.Decoder(_Envelope).decode


async def _drive(count: int, concurrency: int, call: Callable[[int], Awaitable[object]]) -> None:
    """``count`` calls from ``concurrency`` workers: the same driver for every variant."""
    counter = iter(range(count))

    async def worker() -> None:
        for n in counter:
            await call(n)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _params(n: int) -> dict[str, str]:
    return {"key": "bench-key", "secret": "bench-secret", "item_id": str(10**18 + n)}


async def sdk(base_url: str, count: int, concurrency: int) -> None:
    async with DouyinClient("bench-key", "bench-secret", base_url=base_url, rate_limit=None,
                            max_concurrency=None, max_retries=0) as client:
        await _drive(count, concurrency, lambda n: client.item_get_video(str(10**18 + n)))


async def sdk_otel(base_url: str, count: int, concurrency: int) -> None:
    """The single call with the OpenTelemetry listener on SDK providers (no exporter: the
    listener's own cost, spans and metrics recorded, none sent)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from douyin_async.otel import OpenTelemetry

    listener = OpenTelemetry(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    async with DouyinClient("bench-key", "bench-secret", base_url=base_url, rate_limit=None,
                            max_concurrency=None, max_retries=0, on_event=listener) as client:
        await _drive(count, concurrency, lambda n: client.item_get_video(str(10**18 + n)))


async def sdk_batch(base_url: str, count: int, concurrency: int) -> None:
    async with DouyinClient("bench-key", "bench-secret", base_url=base_url, rate_limit=None,
                            max_concurrency=None, max_retries=0) as client:
        async for result in client.iter_videos((str(10**18 + n) for n in range(count)), concurrency=concurrency):
            assert result.ok, result.error


async def aiohttp_msgspec(base_url: str, count: int, concurrency: int) -> None:
    url = f"{base_url}/item_get_video/"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        async def call(n: int) -> None:
            async with session.get(url, params=_params(n)) as resp:
                envelope = _DECODE(await resp.read())
            if envelope.item is None or envelope.item.video is None:
                raise ValueError("no item")
            _ = (envelope.item.title, envelope.item.video.url_raw)

        await _drive(count, concurrency, call)


async def aiohttp_prebuilt_url(base_url: str, count: int, concurrency: int) -> None:
    """The fastest client a person could write by hand: the URL built once, the id appended."""
    prefix = f"{base_url}/item_get_video/?key=bench-key&secret=bench-secret&item_id="
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        async def call(n: int) -> None:
            async with session.get(prefix + str(10**18 + n)) as resp:
                envelope = _DECODE(await resp.read())
            if envelope.item is None or envelope.item.video is None:
                raise ValueError("no item")
            _ = (envelope.item.title, envelope.item.video.url_raw)

        await _drive(count, concurrency, call)


async def aiohttp_json(base_url: str, count: int, concurrency: int) -> None:
    url = f"{base_url}/item_get_video/"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        async def call(n: int) -> None:
            async with session.get(url, params=_params(n)) as resp:
                envelope = json.loads(await resp.read())
            _ = (envelope["item"]["title"], envelope["item"]["video"]["url_raw"])

        await _drive(count, concurrency, call)


async def httpx_json(base_url: str, count: int, concurrency: int) -> None:
    import httpx

    url = f"{base_url}/item_get_video/"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        async def call(n: int) -> None:
            envelope = json.loads((await client.get(url, params=_params(n))).content)
            _ = (envelope["item"]["title"], envelope["item"]["video"]["url_raw"])

        await _drive(count, concurrency, call)


# httpx's pool is two orders of magnitude slower at this concurrency: it gets a tenth of the
# requests, which keeps the run short and its per-request numbers comparable.
SHARE = {"httpx + json": 0.1}

VARIANTS: dict[str, Variant] = {
    "douyin-async item_get_video": sdk,
    "douyin-async iter_videos": sdk_batch,
    "douyin-async item_get_video + OpenTelemetry": sdk_otel,
    "aiohttp, prebuilt URL + msgspec": aiohttp_prebuilt_url,
    "raw aiohttp + msgspec": aiohttp_msgspec,
    "aiohttp + json": aiohttp_json,
    "httpx + json": httpx_json,
}


@dataclass
class Measurement:
    rates: list[float] = field(default_factory=list)
    cpu_per_request: list[float] = field(default_factory=list)
    cpu_share: list[float] = field(default_factory=list)


CORE = ("douyin-async item_get_video", "douyin-async iter_videos", "aiohttp, prebuilt URL + msgspec",
        "raw aiohttp + msgspec")
"""The SDK's two calls and the two hand-written clients they are held to: a shorter run."""


def _available(core: bool = False) -> dict[str, Variant]:
    variants = {name: VARIANTS[name] for name in CORE} if core else dict(VARIANTS)
    try:
        import httpx  # noqa: F401
    except ImportError:
        variants.pop("httpx + json", None)
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        variants.pop("douyin-async item_get_video + OpenTelemetry", None)
    return variants


def run(
    base_url: str, *, count: int, concurrency: int, rounds: int, loop: str, core: bool = False
) -> dict[str, Measurement]:
    """Each variant (or only the ``CORE`` ones) ``rounds`` times, interleaved, on the named event loop."""
    variants = _available(core)
    results = {name: Measurement() for name in variants}
    runner = _runner(loop)
    for variant in variants.values():  # warm-up: imports, connections, caches
        runner(variant(base_url, min(count, 500), concurrency))
    for round_ in range(rounds):
        order = list(variants.items())
        for name, variant in order if round_ % 2 == 0 else reversed(order):
            n = max(int(count * SHARE.get(name, 1.0)), concurrency)
            wall, cpu = time.perf_counter(), time.process_time()
            runner(variant(base_url, n, concurrency))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            results[name].rates.append(n / wall)
            results[name].cpu_per_request.append(cpu / n)
            results[name].cpu_share.append(cpu / wall)
    return results


def _runner(loop: str) -> Callable[[Awaitable[None]], None]:
    if loop == "uvloop":
        import uvloop

        return lambda coroutine: uvloop.run(coroutine)  # type: ignore[arg-type]
    return lambda coroutine: asyncio.run(coroutine)  # type: ignore[arg-type]


STRICT = "aiohttp, prebuilt URL + msgspec"
PARAMS = "raw aiohttp + msgspec"


def _round_ratios(measured: Measurement, reference: Measurement) -> list[float]:
    """Throughput over the reference's, round by round: each round ran both close together, so drift cancels."""
    return [a / b for a, b in zip(measured.rates, reference.rates, strict=True)]


def _paired_ratio(measured: Measurement, reference: Measurement) -> float:
    """The median of per-round ratios."""
    return statistics.median(_round_ratios(measured, reference))


def rows(results: dict[str, Measurement], loop: str) -> list[list[str]]:
    table = []
    for name, measured in results.items():
        rate = statistics.median(measured.rates)
        ratios = _round_ratios(measured, results[STRICT])
        table.append([
            name, loop, f"{rate:,.0f}", f"{statistics.median(measured.cpu_per_request) * 1e6:,.0f} µs",
            f"{statistics.median(measured.cpu_per_request) * 10_000:.2f} s",
            f"{statistics.median(measured.cpu_share):.0%}",
            f"{_paired_ratio(measured, results[STRICT]):.2f}", f"{min(ratios):.2f}–{max(ratios):.2f}",
            f"{_paired_ratio(measured, results[PARAMS]):.2f}",
        ])
    return table


HEADER = ["client", "loop", "req/s (median)", "client CPU / request", "CPU s / 10k req",
          "client CPU busy", "vs prebuilt URL (strict)", "strict, range over rounds", "vs params dict"]
