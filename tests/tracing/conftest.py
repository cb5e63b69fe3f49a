"""Fixtures and span helpers for the tracing tests.

The pytest plugin points every process of the run at one OTLP receiver
(embedded.otlp_receiver), and the test process traces itself as the web
process `shop-web`. The tests read back what a collector such as Jaeger
would store.
"""
import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType

import pytest

from embedded.otlp_receiver import OTLPReceiver
from embedded.pytest_plugin import FulfillmentWorker
from tests.conftest import worker_without_email_running
from traces.spans import SpanRecord

WEB_SERVICE = "shop-web"
WORKER_SERVICE = "shop-worker"
FULFILL_TASK = "fulfillment.fulfill_order"
EMAIL_TASK = "fulfillment.send_order_email"
CHECKOUT_SERVER_SPAN = "POST checkout/"
SPAN_WAIT_TIMEOUT = 30.0
RETRY_WAIT_TIMEOUT = 60.0



def producer_span(task: str) -> str:
    """Return the name Celery's instrumentation gives the span that enqueues `task`."""
    return f"apply_async/{task}"


def consumer_span(task: str) -> str:
    """Return the name Celery's instrumentation gives the span of one attempt of `task`."""
    return f"run/{task}"


# The DB-API instrumentation names the statement `db.statement` under the old
# semantic conventions and `db.query.text` under the stable ones.
STATEMENT_ATTRIBUTES = ("db.statement", "db.query.text")
URL_ATTRIBUTES = ("http.url", "url.full")


@pytest.fixture(scope="session")
def telemetry() -> ModuleType:
    """Return config.telemetry, which the test process has already set up as `shop-web`."""
    try:
        module = importlib.import_module("config.telemetry")
    except ModuleNotFoundError as error:
        if error.name != "config.telemetry":
            raise
        pytest.fail("config/telemetry.py is missing, so no process records spans.")
    # telemetry_setup() returns the provider of its first call, or None when disabled.
    if module.telemetry_setup(service_name=WEB_SERVICE) is None:
        pytest.skip("OTEL_SDK_DISABLED is true, so no process records spans. Unset it to run the tracing tests.")
    return module


@pytest.fixture(scope="session")
def names() -> ModuleType:
    """Return config.telemetry_names, the shop's own span, event and attribute names."""
    try:
        return importlib.import_module("config.telemetry_names")
    except ModuleNotFoundError as error:
        if error.name != "config.telemetry_names":
            raise
        pytest.fail("config/telemetry_names.py is missing, so the shop's span names are unknown.")


@pytest.fixture
def receiver(otlp_receiver: OTLPReceiver, telemetry: ModuleType) -> OTLPReceiver:
    """Return the run's OTLP receiver, emptied of spans that earlier tests left."""
    telemetry.telemetry_flush()
    otlp_receiver.clear()
    return otlp_receiver


@pytest.fixture(scope="package")
def worker_without_email(django_db_setup, django_db_blocker) -> Iterator[FulfillmentWorker]:
    with django_db_blocker.unblock(), worker_without_email_running("worker-tracing-no-email") as worker:
        yield worker


@dataclass(frozen=True)
class Trace:
    """The spans of one trace, with lookups by name, kind and parent."""

    trace_id: str
    spans: tuple[SpanRecord, ...]

    @classmethod
    def from_spans(cls, trace_id: str, spans: Iterable[SpanRecord]) -> "Trace":
        return cls(trace_id, tuple(span for span in spans if span.trace_id == trace_id))

    def find(self, name: str | None = None, *, kind: str | None = None) -> list[SpanRecord]:
        return [
            span
            for span in self.spans
            if (name is None or span.name == name) and (kind is None or span.kind == kind)
        ]

    def one(self, name: str | None = None, *, kind: str | None = None) -> SpanRecord:
        """Return the only span with this name and kind, or fail with the names the trace has."""
        found = self.find(name, kind=kind)
        assert len(found) == 1, (
            f"expected one span named {name!r} of kind {kind!r} in trace {self.trace_id}, "
            f"found {len(found)} among: {self.describe()}"
        )
        return found[0]

    def by_id(self, span_id: str) -> SpanRecord | None:
        return next((span for span in self.spans if span.span_id == span_id), None)

    def children(self, parent: SpanRecord, *, kind: str | None = None) -> list[SpanRecord]:
        return [
            span
            for span in self.spans
            if span.parent_span_id == parent.span_id and (kind is None or span.kind == kind)
        ]

    def ancestor_ids(self, span: SpanRecord) -> list[str]:
        """Return the span ids from the span's parent up to the root, as far as they arrived."""
        ancestors = []
        parent = self.by_id(span.parent_span_id)
        while parent is not None and parent.span_id not in ancestors:
            ancestors.append(parent.span_id)
            parent = self.by_id(parent.parent_span_id)
        return ancestors

    def roots(self) -> list[SpanRecord]:
        return [span for span in self.spans if not span.parent_span_id]

    def describe(self) -> str:
        return ", ".join(f"{span.service_name}:{span.kind}:{span.name}" for span in self.spans) or "no spans"


def first_attribute(span: SpanRecord, keys: Iterable[str]) -> object:
    """Return the value of the first of `keys` that the span has, or None."""
    return next((span.attributes[key] for key in keys if key in span.attributes), None)


def spans_with_attribute(spans: Iterable[SpanRecord], key: str, value: object) -> list[SpanRecord]:
    return [span for span in spans if span.attributes.get(key) == value]


def wait_for_trace_of(
    receiver: OTLPReceiver, find: Callable[[list[SpanRecord]], SpanRecord | None], *, timeout: float = SPAN_WAIT_TIMEOUT
) -> str:
    """Wait for the span that `find` picks out and return its trace id."""

    def trace_id_of_found(spans: list[SpanRecord]) -> str | None:
        span = find(spans)
        return span.trace_id if span is not None else None

    trace_id_of_found.__name__ = getattr(find, "__name__", "the span")
    return receiver.wait_for_spans(trace_id_of_found, timeout=timeout)


def wait_for_consumers(
    receiver: OTLPReceiver,
    *,
    order_id: int,
    order_id_key: str,
    counts: dict[str, int],
    timeout: float = SPAN_WAIT_TIMEOUT,
) -> dict[str, list[SpanRecord]]:
    """Wait until the order has `counts[task]` CONSUMER spans of each task, and return them by task.

    A worker child's batch span processor exports spans in the order they
    end, and a CONSUMER span ends after every span inside it. So once the
    CONSUMER spans have arrived, the spans inside them have too, whichever
    child ran each task.
    """

    def consumers_arrived(spans: list[SpanRecord]) -> dict[str, list[SpanRecord]] | None:
        tagged = spans_with_attribute(spans, order_id_key, order_id)
        by_task = {
            task: [span for span in tagged if span.kind == "CONSUMER" and span.name == consumer_span(task)]
            for task in counts
        }
        return by_task if all(len(by_task[task]) >= count for task, count in counts.items()) else None

    consumers_arrived.__name__ = f"CONSUMER spans {counts} for order {order_id}"
    return receiver.wait_for_spans(consumers_arrived, timeout=timeout)
