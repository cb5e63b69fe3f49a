"""A request whose path is not ASCII is traced with its path as sent, and is not turned into a 500 by the instrumentation."""
import pytest
from django.test import Client

from embedded.otlp_receiver import OTLPReceiver
from traces.spans import SpanRecord

PATH = "/orders/%C4%80%E6%B3%A8/status/"


def server_span_of(response, receiver: OTLPReceiver, telemetry) -> SpanRecord:
    telemetry.telemetry_flush()
    trace_id = response["traceresponse"].split("-")[1]
    [server] = receiver.wait_for_spans(
        lambda spans: [span for span in spans if span.trace_id == trace_id and span.kind == "SERVER"] or None
    )
    return server


@pytest.mark.django_db
def test_path_beyond_latin1_is_traced(receiver: OTLPReceiver, telemetry):
    response = Client(raise_request_exception=True).get(PATH)

    server = server_span_of(response, receiver, telemetry)
    assert response.status_code == 404
    assert server.attributes["http.status_code"] == 404
    assert server.attributes["http.target"] == PATH


@pytest.mark.django_db
def test_latin1_path_recorded_as_sent(receiver: OTLPReceiver, telemetry):
    server = server_span_of(Client().get("/orders/%C3%A9/status/"), receiver, telemetry)

    assert server.attributes["http.target"] == "/orders/%C3%A9/status/"
    assert "http.url" not in server.attributes


@pytest.mark.django_db
def test_ascii_path_keeps_http_url(receiver: OTLPReceiver, telemetry):
    server = server_span_of(Client().get("/orders/NOT-AN-ORDER/status/"), receiver, telemetry)

    assert server.attributes["http.url"] == "http://testserver/orders/NOT-AN-ORDER/status/"
