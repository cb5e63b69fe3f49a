import logging
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from config.redaction import REDACTED, RedactEmailFilter, redact_text, span_redacted


def test_text_loses_email_addresses():
    text = "The following identities failed the check in region US-EAST-1: ada.lovelace+shop@example.org"

    assert redact_text(text) == f"The following identities failed the check in region US-EAST-1: {REDACTED}"


def test_text_without_address_is_unchanged():
    assert redact_text("Throttling: rate exceeded") == "Throttling: rate exceeded"


def finished_span(exception_message: str):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("email.send") as span:
        span.set_attribute("note", exception_message)
        span.record_exception(ValueError(exception_message))
    return exporter.get_finished_spans()[0]


def test_span_events_and_attributes_are_redacted():
    span = span_redacted(finished_span("rejected ada@example.org"))

    assert span.attributes["note"] == f"rejected {REDACTED}"
    assert span.events[0].attributes["exception.message"] == f"rejected {REDACTED}"
    assert "ada@example.org" not in span.events[0].attributes["exception.stacktrace"]
    assert span.events[0].attributes["exception.type"] == "ValueError"


def test_clean_span_is_passed_through():
    original = finished_span("no address here")

    assert span_redacted(original) is original


def test_log_record_message_and_traceback_are_redacted():
    try:
        raise ValueError("bad recipient ada@example.org")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sending to %s failed", ("ada@example.org",), None)
        record.exc_info = sys.exc_info()

    RedactEmailFilter().filter(record)

    assert record.getMessage() == f"sending to {REDACTED} failed"
    assert "ada@example.org" not in record.exc_text
    assert REDACTED in record.exc_text


def test_url_encoded_address_is_redacted():
    line = '"GET /admin/orders/order/?q=happy.buyer%40example.org HTTP/1.1" 200'

    assert redact_text(line) == f'"GET /admin/orders/order/?q={REDACTED} HTTP/1.1" 200'


def test_client_address_and_browser_are_dropped():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("GET orders/<str:confirmation_id>/") as span:
        span.set_attribute("net.peer.ip", "203.0.113.7")
        span.set_attribute("http.user_agent", "Mozilla/5.0")
        span.set_attribute("http.method", "GET")

    exported = span_redacted(exporter.get_finished_spans()[0])

    assert "net.peer.ip" not in exported.attributes
    assert "http.user_agent" not in exported.attributes
    assert exported.attributes["http.method"] == "GET"


def test_url_credentials_host_kept():
    from config.redaction import redact_text

    text = "Cannot connect to redis://:**@127.0.0.1:8822/0: Connection refused. Customer ada@example.org."

    assert redact_text(text) == "Cannot connect to redis://:**@127.0.0.1:8822/0: Connection refused. Customer [email redacted]."
