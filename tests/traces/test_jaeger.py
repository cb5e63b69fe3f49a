"""Reading traces from Jaeger's /api/v3 API, served by a local HTTP server from the shop's own spans."""
import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from django.core.management.base import CommandError

from fulfillment.faults import FAULTS
from tests.traces.conftest import diagnose_command, order_place
from traces.diagnosis import diagnose
from traces.jaeger import JaegerError, JaegerReader
from traces.spans import SpanRecord
from embedded.ports import find_free_port

KINDS = {"UNSPECIFIED": 0, "INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}


def any_value(value) -> dict:
    """Encode a Python value as an OTLP/JSON AnyValue, with 64-bit integers as strings as OTLP/JSON does."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    return {"stringValue": str(value)}


def key_values(attributes: dict) -> list[dict]:
    return [{"key": key, "value": any_value(value)} for key, value in attributes.items()]


def otlp_json(spans: list[SpanRecord]) -> dict:
    """Build the body Jaeger 2 returns for GET /api/v3/traces/<id>: OTLP/JSON with hex ids, one resource per service."""
    by_service: dict[str, list[SpanRecord]] = {}
    for span in spans:
        by_service.setdefault(span.service_name, []).append(span)
    return {
        "result": {
            "resourceSpans": [
                {
                    "resource": {"attributes": key_values({"service.name": service})},
                    "scopeSpans": [
                        {
                            "scope": {"name": span.scope},
                            "spans": [
                                {
                                    "traceId": span.trace_id,
                                    "spanId": span.span_id,
                                    "parentSpanId": span.parent_span_id,
                                    "name": span.name,
                                    "kind": KINDS[span.kind],
                                    "startTimeUnixNano": str(span.start_ns),
                                    "endTimeUnixNano": str(span.end_ns),
                                    "attributes": key_values(span.attributes),
                                    "events": [
                                        {"timeUnixNano": str(event.time_ns), "name": event.name, "attributes": key_values(event.attributes)}
                                        for event in span.events
                                    ],
                                    "links": [
                                        {"traceId": link.trace_id, "spanId": link.span_id, "attributes": key_values(link.attributes)}
                                        for link in span.links
                                    ],
                                    "status": {"code": STATUS_CODES[span.status_code], "message": span.status_message},
                                }
                            ],
                        }
                        for span in service_spans
                    ],
                }
                for service, service_spans in by_service.items()
            ]
        }
    }


class FakeJaeger(http.server.ThreadingHTTPServer):
    """Jaeger's query API on 127.0.0.1: traces by id, 404 for others, or one fixed failure for every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _JaegerHandler)
        self.traces: dict[str, dict] = {}
        self.failure: tuple[int, bytes] | None = None
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _JaegerHandler(http.server.BaseHTTPRequestHandler):
    server: FakeJaeger

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self.server.paths.append(self.path)
        trace_id = self.path.removeprefix("/api/v3/traces/")
        if self.server.failure is not None:
            status, body = self.server.failure
        elif trace_id in self.server.traces:
            status, body = 200, json.dumps(self.server.traces[trace_id]).encode()
        else:
            status, body = 404, b'{"error":{"httpCode":404,"message":"trace not found"}}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the signature http.server calls
        pass


@pytest.fixture
def jaeger(settings) -> Iterator[FakeJaeger]:
    server = FakeJaeger()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.JAEGER_QUERY_URL = server.url
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_diagnose_reads_jaeger_like_the_store(client, stock_product, fulfillment_worker, jaeger):
    placed = order_place(client, stock_product, faults=list(FAULTS))
    jaeger.traces[placed.order.trace_id] = otlp_json(placed.spans)

    result = diagnose_command(placed.order.confirmation_id, "--json")

    assert jaeger.paths == [f"/api/v3/traces/{placed.order.trace_id}"]
    report = result.json()
    assert report["source"] == f"Jaeger at {jaeger.url}"
    assert report["span_count"] == len(placed.spans)
    expected = [finding.as_dict() for finding in diagnose(placed.spans)]
    assert report["findings"] == json.loads(json.dumps(expected, default=str))
    assert len(report["findings"]) >= 5
    assert result.exit_status == 1


def test_jaeger_spans_match_store_spans(jaeger):
    span = SpanRecord(
        service_name="shop-worker",
        scope="shop",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        parent_span_id="",
        name="stock.reserve",
        kind="INTERNAL",
        status_code="ERROR",
        status_message="ConditionalUpdateFailed: stale",
        attributes={"order.id": 7, "stock.sku": "MUG-001", "stock.rows_updated": 0, "flag": True, "ratio": 0.5, "tags": ["a", "b"]},
        events=(),
        links=(),
        start_ns=1_796_000_000_000_000_000,
        end_ns=1_796_000_000_000_500_000,
        resource={"service.name": "shop-worker"},
    )
    jaeger.traces[span.trace_id] = otlp_json([span])

    assert JaegerReader(jaeger.url).trace(span.trace_id) == [span]


def test_jaeger_unknown_trace_is_empty(jaeger):
    assert JaegerReader(jaeger.url).trace("ab" * 16) == []


@pytest.mark.django_db
def test_diagnose_unknown_trace_in_jaeger(jaeger):
    with pytest.raises(CommandError, match=f"No span of trace {'ab' * 16} is in Jaeger at {jaeger.url}"):
        diagnose_command("ab" * 16)


@pytest.mark.django_db
def test_jaeger_server_error(jaeger):
    jaeger.failure = (500, b"internal error")

    with pytest.raises(CommandError, match="Jaeger returned HTTP 500"):
        diagnose_command("ab" * 16)


def test_jaeger_body_not_json(jaeger):
    jaeger.failure = (200, b"<html>a login page</html>")

    with pytest.raises(JaegerError, match="not JSON"):
        JaegerReader(jaeger.url).trace("ab" * 16)


def test_jaeger_body_not_trace_data(jaeger):
    jaeger.failure = (200, b'{"result": {"resourceSpans": "nope"}}')

    with pytest.raises(JaegerError, match="not OTLP/JSON trace data"):
        JaegerReader(jaeger.url).trace("ab" * 16)


@pytest.mark.django_db
def test_jaeger_unreachable(settings):
    settings.JAEGER_QUERY_URL = f"http://127.0.0.1:{find_free_port()}"

    with pytest.raises(CommandError, match="Cannot reach Jaeger at http://127.0.0.1:"):
        diagnose_command("ab" * 16)


def test_jaeger_url_must_be_http():
    with pytest.raises(JaegerError, match="JAEGER_QUERY_URL is 'localhost:16686', which is not an http or https URL"):
        JaegerReader("localhost:16686")
