"""The span source of the diagnosis and the trace view: Jaeger when JAEGER_QUERY_URL is set, else the local store."""
from django.conf import settings

from traces.jaeger import JaegerReader
from traces.store import TraceStore


def local_trace_store() -> TraceStore:
    return TraceStore(settings.TRACE_STORE_PATH, max_bytes=settings.TRACE_STORE_MAX_MB * 1024 * 1024)


def trace_source() -> JaegerReader | TraceStore:
    if settings.JAEGER_QUERY_URL:
        return JaegerReader(settings.JAEGER_QUERY_URL)
    return local_trace_store()
