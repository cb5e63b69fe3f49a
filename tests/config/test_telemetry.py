import logging
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from config import telemetry
from config.telemetry import QuietExporter, current_traceparent, span_context_from_traceparent


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_span():
    captured = []

    class Capture:
        def export(self, spans):
            captured.extend(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

        def force_flush(self, timeout_millis=0):
            return True

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Capture()))
    with provider.get_tracer("test").start_as_current_span("probe"):
        pass
    return captured


def test_absent_collector_logs_one_warning(caplog):
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    exporter = QuietExporter.for_collector(OTLPSpanExporter(endpoint=endpoint, timeout=1), endpoint=endpoint)

    with caplog.at_level(logging.WARNING, logger="config.telemetry"):
        results = [exporter.export(one_span()) for _ in range(5)]

    assert results == [SpanExportResult.FAILURE] * 5
    warnings = [record for record in caplog.records if record.name == "config.telemetry"]
    assert len(warnings) == 1
    assert endpoint in warnings[0].getMessage()
    assert warnings[0].exc_info is None


class AcceptingHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_recovered_collector_is_logged(caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), AcceptingHandler)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    exporter = QuietExporter.for_collector(OTLPSpanExporter(endpoint=endpoint, timeout=2), endpoint=endpoint)
    exporter._failing = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="config.telemetry"):
            result = exporter.export(one_span())
    finally:
        server.shutdown()

    assert result is SpanExportResult.SUCCESS
    assert any("works again" in record.getMessage() for record in caplog.records)


def test_grpc_protocol_is_rejected(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")

    with pytest.raises(ImproperlyConfigured, match="OTEL_EXPORTER_OTLP_PROTOCOL is 'grpc'"):
        telemetry._check_protocol()


def test_service_name_override(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout-canary")
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "staging")

    attributes = telemetry._resource("shop-web").attributes

    assert attributes["service.name"] == "checkout-canary"
    assert attributes["deployment.environment"] == "staging"
    assert attributes["service.version"]


def test_traceparent_round_trip():
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("checkout") as span:
        traceparent = current_traceparent()
        context = span.get_span_context()

    parsed = span_context_from_traceparent(traceparent)
    assert parsed.trace_id == context.trace_id
    assert parsed.span_id == context.span_id


@pytest.mark.parametrize("value", ["", "garbage", "00-zz-yy-01", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"])
def test_bad_traceparent_is_ignored(value):
    assert span_context_from_traceparent(value) is None


def test_traceparent_outside_trace_is_empty():
    assert current_traceparent() == ""


def run_setup_in_new_process(**environ) -> str:
    """Run telemetry_setup() in a fresh interpreter, as a web process would, and return what it prints."""
    import os
    import subprocess
    import sys

    script = (
        "import django; django.setup()\n"
        "from config.telemetry import telemetry_setup\n"
        "first = telemetry_setup(service_name='shop-web')\n"
        "second = telemetry_setup(service_name='shop-web')\n"
        "print('same' if first is second else 'different')\n"
        "print('none' if first is None else type(first.sampler.delegate).__name__)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **environ}
    completed = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return completed.stdout


def test_setup_runs_once_per_process():
    assert run_setup_in_new_process().splitlines()[0] == "same"


def test_sdk_disabled_records_nothing():
    assert run_setup_in_new_process(OTEL_SDK_DISABLED="true").splitlines()[1] == "none"


def test_sampler_comes_from_environment():
    output = run_setup_in_new_process(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.25")

    assert output.splitlines()[1] == "TraceIdRatioBased"


def sampled_names(*, parent: bool) -> list[str]:
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    from opentelemetry.trace import SpanKind

    finished = []

    class Capture:
        def export(self, spans):
            finished.extend(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

        def force_flush(self, timeout_millis=0):
            return True

    provider = TracerProvider(sampler=telemetry.BrokerPollingFilter(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(Capture()))
    tracer = provider.get_tracer("test")
    names = ["BRPOP", "LLEN LLEN LLEN", "POST", "order.create"]
    if parent:
        with tracer.start_as_current_span("run/fulfillment.fulfill_order", kind=SpanKind.CONSUMER):
            for name in names:
                with tracer.start_as_current_span(name, kind=SpanKind.CLIENT):
                    pass
    else:
        for name in names:
            with tracer.start_as_current_span(name, kind=SpanKind.CLIENT):
                pass
    return [span.name for span in finished]


def test_broker_polling_roots_are_dropped():
    assert sampled_names(parent=False) == ["POST", "order.create"]


def test_redis_commands_inside_a_task_are_kept():
    assert sampled_names(parent=True) == [
        "BRPOP",
        "LLEN LLEN LLEN",
        "POST",
        "order.create",
        "run/fulfillment.fulfill_order",
    ]


def test_resource_attributes_variable_sets_environment(monkeypatch):
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=canary")
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "staging")

    assert telemetry._resource("shop-web").attributes["deployment.environment"] == "canary"


@pytest.mark.parametrize(
    ("mode", "endpoint_variable", "store_written"),
    [
        ("auto", None, True),
        ("auto", "OTEL_EXPORTER_OTLP_ENDPOINT", False),
        ("auto", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", False),
        ("on", "OTEL_EXPORTER_OTLP_ENDPOINT", True),
        ("off", None, False),
    ],
)
def test_trace_store_follows_setting(settings, monkeypatch, tmp_path, mode, endpoint_variable, store_written):
    settings.TRACE_STORE = mode
    settings.TRACE_STORE_PATH = tmp_path / "traces.sqlite3"
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    if endpoint_variable:
        monkeypatch.setenv(endpoint_variable, "http://127.0.0.1:4318")

    processor = telemetry._trace_store_processor()

    assert (processor is not None) == store_written
    if processor is not None:
        processor.shutdown()


def test_trace_store_setting_rejects_unknown(monkeypatch):
    from config.env import env_choice

    monkeypatch.setenv("TRACE_STORE", "sometimes")

    with pytest.raises(ImproperlyConfigured, match="TRACE_STORE is 'sometimes', which is not a valid choice. Use one of: auto, on, off."):
        env_choice("TRACE_STORE", "auto", choices=("auto", "on", "off"))


def test_trace_ids_ignore_seeded_random():
    tracer = telemetry.telemetry_setup(service_name="shop-web").get_tracer("tests")

    trace_ids = []
    for _ in range(2):
        random.seed(7)
        with tracer.start_as_current_span("probe") as span:
            trace_ids.append(span.get_span_context().trace_id)

    assert trace_ids[0] != trace_ids[1]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_float_setting_must_be_finite(monkeypatch, value):
    from config.env import env_float

    monkeypatch.setenv("ORDER_SWEEP_DELAY", value)

    with pytest.raises(ImproperlyConfigured, match="which is not a finite number"):
        env_float("ORDER_SWEEP_DELAY", 600.0, minimum=0)
