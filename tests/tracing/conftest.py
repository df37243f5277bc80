"""The OpenTelemetry SDK as an application configures it, with in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Otel:
    """The process's OpenTelemetry SDK: finished spans and metric points, in memory."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        """Return the spans finished so far."""
        return list(self.exporter.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, object], float]]:
        """Return the attributes and value of each point of metric ``name`` (sums as
        values, histograms as their counts)."""
        found: list[tuple[dict[str, object], float]] = []
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None)
                            count = getattr(point, "count", 0)
                            found.append((dict(point.attributes or {}), value or count))
        return found


_SDK: Otel | None = None


@pytest.fixture
def otel() -> Otel:
    """The OpenTelemetry SDK, set as the global tracer and meter providers once per process
    (OpenTelemetry allows no second one); its spans are cleared before each test."""
    global _SDK
    if _SDK is None:
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        reader = InMemoryMetricReader()
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _SDK = Otel(exporter, reader, tracer_provider)
    _SDK.exporter.clear()
    return _SDK


@pytest.fixture
def instrumented_requests(otel: Otel) -> Iterator[None]:
    """OpenTelemetry's requests instrumentation, for the test only."""
    RequestsInstrumentor().instrument(tracer_provider=otel.tracer_provider)
    yield
    RequestsInstrumentor().uninstrument()
