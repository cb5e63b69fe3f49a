"""Build the OpenTelemetry tracer provider once per process and instrument the libraries the shop uses.

The web process calls telemetry_setup() from config/wsgi.py, before Django
builds the WSGI application; runserver and gunicorn both import that module.
Each Celery worker child calls it from `worker_process_init` (config/celery.py)
and flushes from `worker_process_shutdown`, so a recycled child loses no span.

The SDK reads the standard variables itself: OTEL_EXPORTER_OTLP_ENDPOINT and
OTEL_EXPORTER_OTLP_TRACES_* for the exporter, OTEL_TRACES_SAMPLER and
OTEL_TRACES_SAMPLER_ARG for sampling, OTEL_BSP_* for batching, and
OTEL_SDK_DISABLED to turn everything off.
"""
import logging
import os
import re
import secrets
import socket
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider, sampling
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from config import request_uri
from config.redaction import span_redacted

logger = logging.getLogger(__name__)

SUPPORTED_PROTOCOLS = ("http/protobuf",)
FLUSH_TIMEOUT_MILLIS = 5_000
PROBE_TIMEOUT_SECONDS = 0.5
# A span name made only of Redis command words, as the Redis instrumentation
# names a command or a pipeline ("BRPOP", "LLEN LLEN LLEN").
REDIS_COMMANDS = re.compile(r"[A-Z]+(?: [A-Z]+)*")
# HTTP client spans are named after the method, which looks the same.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Comma-separated regular expressions, searched for in each request's URL.
DJANGO_EXCLUDED_URLS = "/admin/traces/"

_setup_lock = threading.Lock()
_provider: TracerProvider | None = None


class QuietExporter(SpanExporter):
    """Wrap an exporter so that a failing destination costs one warning, not a traceback per batch.

    It also removes email addresses from every span before export (see
    config.redaction).

    The first failed export logs a warning with `hint`. Later failures are
    silent until an export succeeds again, which is logged too. With
    `probe_address`, until the destination has accepted a batch, each export
    first checks that the address accepts a TCP connection. Without that
    check, the OTLP exporter retries a refused connection for up to its
    timeout, which stalls every flush, including the one at worker shutdown.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        destination: str,
        hint: str = "",
        probe_address: tuple[str, int] | None = None,
    ) -> None:
        self._exporter = exporter
        self._destination = destination
        self._hint = hint
        self._probe_address = probe_address
        self._failing = False
        self._reachable_once = False

    @classmethod
    def for_collector(cls, exporter: SpanExporter, *, endpoint: str) -> "QuietExporter":
        parts = urllib.parse.urlsplit(endpoint)
        address = (parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80))
        return cls(
            exporter,
            destination=endpoint,
            hint="Is a collector such as Jaeger listening?",
            probe_address=address,
        )

    def _destination_listens(self) -> bool:
        try:
            with socket.create_connection(self._probe_address, timeout=PROBE_TIMEOUT_SECONDS):
                return True
        except OSError:
            return False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        probing = self._probe_address is not None and (self._failing or not self._reachable_once)
        if probing and not self._destination_listens():
            return self._record(SpanExportResult.FAILURE, "nothing listens on that port")
        try:
            result = self._exporter.export([span_redacted(span) for span in spans])
        except Exception as exc:  # noqa: BLE001 - the exporter thread must not die
            result = SpanExportResult.FAILURE
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "the export request failed"
        return self._record(result, reason)

    def _record(self, result: SpanExportResult, reason: str) -> SpanExportResult:
        if result is SpanExportResult.SUCCESS:
            self._reachable_once = True
        if result is SpanExportResult.FAILURE and not self._failing:
            self._failing = True
            logger.warning(
                "Could not export spans to %s (%s). %s"
                "The shop keeps working; this warning is not repeated until an export succeeds.",
                self._destination,
                reason,
                f"{self._hint} " if self._hint else "",
            )
        elif result is SpanExportResult.SUCCESS and self._failing:
            self._failing = False
            logger.info("Exporting spans to %s works again", self._destination)
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class SystemRandomIdGenerator(IdGenerator):
    """Draw trace and span ids from the operating system's random source.

    The SDK's default generator draws from the `random` module's global
    state. Code that seeds that state, as Hypothesis does for every example
    it runs, would make a process repeat trace ids, and the local trace
    store keeps only the first span of each id.
    """

    def generate_span_id(self) -> int:
        span_id = secrets.randbits(64)
        while span_id == trace.INVALID_SPAN_ID:
            span_id = secrets.randbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = secrets.randbits(128)
        while trace_id == trace.INVALID_TRACE_ID:
            trace_id = secrets.randbits(128)
        return trace_id

    def is_trace_id_random(self) -> bool:
        return True


class BrokerPollingFilter(Sampler):
    """Drop root spans of bare Redis commands, and defer everything else to the configured sampler.

    A Celery worker polls Redis several times a second outside any task, and
    each poll (`BRPOP`, `LLEN LLEN`, `PING`) would otherwise be a trace of its
    own that buries the orders in Jaeger's search. Redis commands made inside
    a request or a task have a parent and are kept.
    """

    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        parent = trace.get_current_span(parent_context).get_span_context()
        polling = REDIS_COMMANDS.fullmatch(name) and name not in HTTP_METHODS
        if not parent.is_valid and kind is SpanKind.CLIENT and polling:
            return SamplingResult(Decision.DROP)
        return self.delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"BrokerPollingFilter{{{self.delegate.get_description()}}}"


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def endpoint_configured(environ: Mapping[str, str] = os.environ) -> str:
    """Return the OTLP endpoint set in `environ`, or "" when none is."""
    return environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or ""


def trace_store_wanted(mode: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Return whether the processes write the local trace store, for TRACE_STORE set to `mode`."""
    return mode == "on" or (mode == "auto" and not endpoint_configured(environ))


def _traces_endpoint() -> str:
    explicit = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if explicit:
        return explicit
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return f"{base.rstrip('/')}/v1/traces"


def _trace_store_processor() -> BatchSpanProcessor | None:
    """Return a processor that writes to the local trace store, or None when TRACE_STORE turns it off."""
    from django.conf import settings

    from traces.exporter import TraceStoreExporter
    from traces.sources import local_trace_store

    if not trace_store_wanted(settings.TRACE_STORE):
        return None
    store = local_trace_store()
    # The store's own error messages name the fix, so the warning needs no hint.
    exporter = QuietExporter(TraceStoreExporter(store), destination=str(store))
    return BatchSpanProcessor(exporter)


def _check_protocol() -> None:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol not in SUPPORTED_PROTOCOLS:
        raise ImproperlyConfigured(
            f"OTEL_EXPORTER_OTLP_PROTOCOL is {protocol!r}, which the shop does not export. "
            f"Use one of: {', '.join(SUPPORTED_PROTOCOLS)} (port 4318 on Jaeger)."
        )


def _resource(service_name: str) -> Resource:
    try:
        version = metadata.version("tracing-shop")
    except metadata.PackageNotFoundError:
        version = "unknown"
    attributes = {
        # OTEL_SERVICE_NAME wins over the process's default name, as the
        # specification requires, but Resource.create would let ours win.
        "service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name,
        "service.version": version,
    }
    # Likewise, deployment.environment in OTEL_RESOURCE_ATTRIBUTES wins over
    # DEPLOYMENT_ENVIRONMENT and its default.
    if "deployment.environment=" not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["deployment.environment"] = os.environ.get("DEPLOYMENT_ENVIRONMENT", "development")
    return Resource.create(attributes)


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.logging import LoggingInstrumentor
    from opentelemetry.instrumentation.propagators import (
        TraceResponsePropagator,
        set_global_response_propagator,
    )
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    # Adds the W3C `traceresponse` header, so a browser or curl user can
    # read the trace id of any response.
    set_global_response_propagator(TraceResponsePropagator())
    # The admin's trace pages read traces; tracing them would bury the
    # orders in the trace list. OTEL_PYTHON_DJANGO_EXCLUDED_URLS overrides this.
    DjangoInstrumentor().instrument(
        excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") or DJANGO_EXCLUDED_URLS
    )
    _middleware_put_first(request_uri.MIDDLEWARE_PATH)
    CeleryInstrumentor().instrument()
    RedisInstrumentor().instrument()
    # The DB-API instrumentations record statements with their placeholders,
    # never the parameter values.
    SQLite3Instrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False)
    BotocoreInstrumentor().instrument()
    # stripe-python sends its requests through the requests library.
    RequestsInstrumentor().instrument()
    LoggingInstrumentor().instrument(set_logging_format=False)


def _middleware_put_first(path: str) -> None:
    """Put a middleware ahead of the one that DjangoInstrumentor just inserted first, as it does itself."""
    from django.conf import settings

    middleware = [entry for entry in settings.MIDDLEWARE if entry != path]
    settings.MIDDLEWARE = [path, *middleware]


def telemetry_setup(*, service_name: str) -> TracerProvider | None:
    """Install the tracer provider and instrumentation for this process, once.

    Return the provider, or None when OTEL_SDK_DISABLED is true. Calling it
    again returns the provider of the first call.
    """
    global _provider

    with _setup_lock:
        if _provider is not None:
            return _provider
        if _sdk_disabled():
            logger.info("OpenTelemetry is disabled by OTEL_SDK_DISABLED; no spans are recorded")
            return None

        _check_protocol()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = _traces_endpoint()
        provider = TracerProvider(
            resource=_resource(service_name),
            id_generator=SystemRandomIdGenerator(),
            sampler=BrokerPollingFilter(sampling._get_from_env_or_default()),
        )
        provider.add_span_processor(
            BatchSpanProcessor(QuietExporter.for_collector(OTLPSpanExporter(), endpoint=endpoint))
        )
        store_processor = _trace_store_processor()
        if store_processor is not None:
            provider.add_span_processor(store_processor)
        trace.set_tracer_provider(provider)
        _instrument_libraries()
        _provider = provider

    logger.info(
        "Tracing as %s, exporting to %s%s",
        provider.resource.attributes["service.name"],
        endpoint,
        " and to the local trace store" if store_processor is not None else "",
    )
    return provider


def telemetry_flush(timeout_millis: int = FLUSH_TIMEOUT_MILLIS) -> bool:
    """Export every finished span now. Return False if the timeout ran out first."""
    if _provider is None:
        return True
    return _provider.force_flush(timeout_millis)


def tracer() -> trace.Tracer:
    return trace.get_tracer("shop")


def current_traceparent() -> str:
    """Return the W3C traceparent of the current span, or "" outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return ""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def span_context_from_traceparent(traceparent: str) -> trace.SpanContext | None:
    """Parse a traceparent stored earlier, for a span link. Return None if it is empty or malformed."""
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        context = trace.SpanContext(
            trace_id=int(parts[1], 16),
            span_id=int(parts[2], 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(int(parts[3], 16)),
        )
    except ValueError:
        return None
    return context if context.is_valid else None


def on_commit_in_current_trace(callback: Callable[[], None]) -> None:
    """Run `callback` after the current transaction commits, inside the span that is current now.

    Celery's PRODUCER span, and so every attempt of the task, then belongs to
    the caller's trace even when the commit happens after that span ended.
    """
    context = otel_context.get_current()

    def run_in_context() -> None:
        token = otel_context.attach(context)
        try:
            callback()
        finally:
            otel_context.detach(token)

    transaction.on_commit(run_in_context)
