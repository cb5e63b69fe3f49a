"""Logging pieces shared by the web process and the worker."""
import logging

from opentelemetry import trace


class TraceContextFilter(logging.Filter):
    """Put the current trace id and span id on every record.

    OpenTelemetry's logging instrumentation sets otelTraceID and otelSpanID
    when it is active. This filter fills them in when it is not (for example
    with OTEL_SDK_DISABLED=true), so the log format never fails.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "otelTraceID"):
            context = trace.get_current_span().get_span_context()
            record.otelTraceID = format(context.trace_id, "032x")
            record.otelSpanID = format(context.span_id, "016x")
        return True
