"""The span source of the diagnosis and the trace view: Jaeger when JAEGER_QUERY_URL is set, else the local store."""
from django.conf import settings

from config.telemetry import trace_store_wanted

from traces.jaeger import JaegerReader
from traces.store import TraceStore


def local_trace_store() -> TraceStore:
    return TraceStore(settings.TRACE_STORE_PATH, max_bytes=settings.TRACE_STORE_MAX_MB * 1024 * 1024)


def trace_source() -> JaegerReader | TraceStore:
    if settings.JAEGER_QUERY_URL:
        return JaegerReader(settings.JAEGER_QUERY_URL)
    return local_trace_store()


def missing_trace_message(source: JaegerReader | TraceStore, trace_ids: tuple[str, ...]) -> str:
    """Return why `source` may hold no span of the traces, and what to do about it."""
    missing = f"No span of trace {', '.join(trace_ids)} is in {source}."
    if isinstance(source, JaegerReader):
        return (
            f"{missing} Spans reach Jaeger a few seconds after the work ends, and Jaeger keeps traces only as long "
            "as its storage does: the all-in-one image keeps them in memory until it restarts."
        )
    if settings.TRACE_STORE == "off":
        return f"{missing} TRACE_STORE is off, so the shop writes no local trace store. Set it to auto or on, or set JAEGER_QUERY_URL to read from Jaeger."
    if not source.exists:
        return (
            f"{missing} The file does not exist. Run diagnose with the same SHOP_VAR_DIR or TRACE_STORE_PATH "
            "as the shop, after the shop has handled a request."
        )
    if any(source.was_pruned(trace_id) for trace_id in trace_ids):
        return (
            f"{missing} The store deleted the trace to stay under TRACE_STORE_MAX_MB ({settings.TRACE_STORE_MAX_MB} MB). "
            "Raise it to keep more traces."
        )
    if not trace_store_wanted(settings.TRACE_STORE):
        return (
            f"{missing} With an OTLP endpoint set and TRACE_STORE=auto, the shop exports spans only to the endpoint. "
            "Set JAEGER_QUERY_URL to read from Jaeger, or TRACE_STORE=on to write the store as well."
        )
    return f"{missing} Spans arrive a few seconds after the work ends; try again shortly."
