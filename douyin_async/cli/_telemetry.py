"""``--audit FILE.jsonl`` and ``--otel``: the listeners the command line attaches to its client."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import msgspec

from ..events import AttemptEnded, Event, Listener
from ._checks import UsageError

OTEL_INSTALL = "pip install 'douyin-async[otel]' opentelemetry-sdk opentelemetry-exporter-otlp"


class AuditFile:
    """One JSON line per attempt (the ``AttemptEnded`` fields), appended as each attempt ends, for
    reconciling a run with the gateway's bill by ``request_id``."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close(); whole lines, unbuffered
        self._encode = msgspec.json.Encoder().encode

    def __call__(self, event: Event) -> None:
        if isinstance(event, AttemptEnded):
            self._file.write(self._encode(event) + b"\n")

    def close(self) -> None:
        self._file.close()


@contextlib.contextmanager
def listeners(audit: Path | None, otel: bool) -> Iterator[list[Listener]]:
    """The run's listeners; the audit file is closed and the telemetry flushed when the run ends."""
    with contextlib.ExitStack() as stack:
        found: list[Listener] = []
        if audit is not None:
            file = AuditFile(audit)
            stack.callback(file.close)
            found.append(file)
        if otel:
            found.append(stack.enter_context(_opentelemetry()))
        yield found


def check_otel() -> None:
    """Refuse ``--otel`` before a file is created or a request sent when the SDK or an exporter is missing."""
    with _sdk_needed():
        import opentelemetry.sdk.metrics.export
        import opentelemetry.sdk.trace.export  # noqa: F401

        from ..otel import OpenTelemetry  # noqa: F401
    _exporter("traces")
    _exporter("metrics")


@contextlib.contextmanager
def _sdk_needed() -> Iterator[None]:
    """An ImportError inside becomes the usage error that says what to install."""
    try:
        yield
    except ImportError:
        raise UsageError(f"--otel needs the OpenTelemetry SDK and an exporter: {OTEL_INSTALL}") from None


@contextlib.contextmanager
def _opentelemetry() -> Iterator[Listener]:
    """Spans and metrics exported as the standard ``OTEL_*`` variables say (OTLP unless told otherwise)."""
    with _sdk_needed():
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from ..otel import OpenTelemetry
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "douyin-async"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(_exporter("traces").load()()))
    meter_provider = MeterProvider(resource=resource,
                                   metric_readers=[PeriodicExportingMetricReader(_exporter("metrics").load()())])
    try:
        yield OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    finally:
        tracer_provider.shutdown()  # flushes what is left
        meter_provider.shutdown()


def _exporter(signal: str) -> Any:
    """The entry point of the exporter ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` names
    (``otlp`` by default), which the exporter packages register."""
    name = (os.environ.get(f"OTEL_{signal.upper()}_EXPORTER") or "otlp").split(",")[0].strip()
    found = entry_points(group=f"opentelemetry_{signal}_exporter", name=name)
    if not found:
        package = "opentelemetry-exporter-otlp" if name == "otlp" else f"the package of the {name!r} exporter"
        raise UsageError(f"--otel: no {signal} exporter named {name!r} is installed: pip install {package} "
                         f"(or set OTEL_{signal.upper()}_EXPORTER=console)")
    return next(iter(found))
