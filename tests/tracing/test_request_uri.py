"""A request whose path is not ASCII is traced with its path as sent, and is not turned into a 500 by the instrumentation."""
import pytest
from django.test import Client

from embedded.otlp_receiver import OTLPReceiver

PATH = "/orders/%C4%80%E6%B3%A8/status/"


@pytest.mark.django_db
def test_path_beyond_latin1_is_traced(receiver: OTLPReceiver, telemetry):
    response = Client(raise_request_exception=True).get(PATH)
    telemetry.telemetry_flush()

    assert response.status_code == 404
    trace_id = response["traceresponse"].split("-")[1]
    [server] = receiver.wait_for_spans(
        lambda spans: [span for span in spans if span.trace_id == trace_id and span.kind == "SERVER"] or None
    )
    assert server.attributes["http.status_code"] == 404
    assert server.attributes["http.target"] == PATH


@pytest.mark.django_db
def test_latin1_path_recorded_as_sent(receiver: OTLPReceiver, telemetry):
    response = Client().get("/orders/%C3%A9/status/")
    telemetry.telemetry_flush()

    trace_id = response["traceresponse"].split("-")[1]
    [server] = receiver.wait_for_spans(
        lambda spans: [span for span in spans if span.trace_id == trace_id and span.kind == "SERVER"] or None
    )
    assert server.attributes["http.target"] == "/orders/%C3%A9/status/"
    assert "http.url" not in server.attributes


@pytest.mark.django_db
def test_ascii_path_keeps_http_url(receiver: OTLPReceiver, telemetry):
    response = Client().get("/orders/NOT-AN-ORDER/status/")
    telemetry.telemetry_flush()

    trace_id = response["traceresponse"].split("-")[1]
    [server] = receiver.wait_for_spans(
        lambda spans: [span for span in spans if span.trace_id == trace_id and span.kind == "SERVER"] or None
    )
    assert server.attributes["http.url"] == "http://testserver/orders/NOT-AN-ORDER/status/"
