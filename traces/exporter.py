"""The span exporter that writes to the local trace store."""
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from traces.spans import span_from_readable
from traces.store import TraceStore


class TraceStoreExporter(SpanExporter):
    """Write each batch of finished spans to a TraceStore.

    Wrap it in config.telemetry.QuietExporter, which removes customer data
    first and logs a failed write once instead of raising in the batch
    processor's thread.
    """

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.store.write([span_from_readable(span) for span in spans])
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.store.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        # Each export commits before it returns, so nothing waits to be flushed.
        return True
