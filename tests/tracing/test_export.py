"""What a collector such as Jaeger receives from the shop's OTLP exporters.

The receiver decodes each request with the OTLP protobuf messages that
Jaeger's OTLP/HTTP endpoint on port 4318 accepts, so these tests check the
wire format and the resource, not only the spans.
"""
import re
from importlib import metadata
from types import ModuleType

import pytest
from django.conf import settings

from embedded.otlp_receiver import PROTOBUF_CONTENT_TYPE, TRACES_PATH, OTLPReceiver
from embedded.pytest_plugin import worker_running
from fulfillment.models import EmailDelivery
from fulfillment.tasks import fulfill_order
from orders.models import Order
from tests.conftest import checkout_data, wait_for
from tests.fulfillment.test_services import paid_order
from tests.orders.test_checkout_flow import order_in_status
from tests.tracing.conftest import (
    EMAIL_TASK,
    FULFILL_TASK,
    WEB_SERVICE,
    WORKER_SERVICE,
    spans_with_attribute,
    wait_for_consumers,
)
from traces.spans import SpanRecord

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fulfillment_worker")]

SPAN_KINDS = {"SERVER", "CLIENT", "PRODUCER", "CONSUMER", "INTERNAL"}


def email_sent(order: Order) -> None:
    wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists(),
        message="the confirmation email to be sent",
    )


@pytest.fixture
def checkout_spans(shopper, receiver: OTLPReceiver, telemetry: ModuleType, names: ModuleType) -> list[SpanRecord]:
    """Check out, wait until the worker has sent the email, and return every span received."""
    response = shopper.post("/checkout/", checkout_data())
    assert response.status_code == 302
    order = order_in_status(Order.objects.get(), Order.Status.FULFILLED)
    email_sent(order)
    telemetry.telemetry_flush()
    wait_for_consumers(
        receiver, order_id=order.pk, order_id_key=names.ORDER_ID, counts={FULFILL_TASK: 1, EMAIL_TASK: 1}
    )
    return receiver.spans()


def test_exports_are_protobuf(checkout_spans: list[SpanRecord], receiver: OTLPReceiver):
    exports = [request for request in receiver.requests() if request.path == TRACES_PATH]

    assert exports, "no export request arrived"
    assert {request.content_type for request in exports} == {PROTOBUF_CONTENT_TYPE}
    assert {request.status for request in exports} == {200}
    assert min(request.span_count for request in exports) > 0
    services = {service for request in exports for service in request.service_names}
    assert services >= {WEB_SERVICE, WORKER_SERVICE}


@pytest.mark.parametrize("service", [WEB_SERVICE, WORKER_SERVICE])
def test_resource_attributes(checkout_spans: list[SpanRecord], service: str):
    resources = [span.resource for span in checkout_spans if span.service_name == service]

    assert resources, f"no span of {service} arrived"
    resource = resources[0]
    assert resource.get("service.name") == service
    assert resource.get("service.version") == metadata.version("tracing-shop")
    assert isinstance(resource.get("deployment.environment"), str)
    assert resource.get("deployment.environment")


def test_spans_decode_completely(checkout_spans: list[SpanRecord]):
    for span in checkout_spans:
        where = f"{span.service_name}:{span.name}"
        assert re.fullmatch(r"[0-9a-f]{32}", span.trace_id), where
        assert span.trace_id != "0" * 32, where
        assert re.fullmatch(r"[0-9a-f]{16}", span.span_id), where
        assert re.fullmatch(r"(|[0-9a-f]{16})", span.parent_span_id), where
        assert span.name, where
        assert span.kind in SPAN_KINDS, where
        assert span.status_code in {"UNSET", "OK", "ERROR"}, where
        assert 0 < span.start_ns <= span.end_ns, where


def test_gzip_export_is_decoded(product, receiver: OTLPReceiver, names: ModuleType):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-gzip"
    extra_env = {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "CELERY_TASK_DEFAULT_QUEUE": queue}
    order = paid_order(product, 1)

    with worker_running(name="worker-gzip", queue=queue, extra_env=extra_env):
        fulfill_order.apply_async(args=[order.pk], queue=queue)
        email_sent(order)
        consumers = wait_for_consumers(
            receiver, order_id=order.pk, order_id_key=names.ORDER_ID, counts={EMAIL_TASK: 1}
        )

    gzip_exports = [
        request
        for request in receiver.requests()
        if request.content_encoding == "gzip" and WORKER_SERVICE in request.service_names
    ]
    assert gzip_exports, receiver.requests()
    assert {request.status for request in gzip_exports} == {200}
    assert consumers[EMAIL_TASK][0].service_name == WORKER_SERVICE


def test_disabled_sdk_exports_nothing(product, receiver: OTLPReceiver, names: ModuleType):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-sdk-disabled"
    extra_env = {"OTEL_SDK_DISABLED": "true", "CELERY_TASK_DEFAULT_QUEUE": queue}
    order = paid_order(product, 1)

    with worker_running(name="worker-sdk-disabled", queue=queue, extra_env=extra_env):
        fulfill_order.apply_async(args=[order.pk], queue=queue)
        email_sent(order)
    # Stopping the worker runs worker_process_shutdown, which would flush any
    # span it had recorded, so nothing more can arrive from it after this.

    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    worker_spans = [
        span
        for span in spans_with_attribute(receiver.spans(), names.ORDER_ID, order.pk)
        if span.service_name == WORKER_SERVICE
    ]
    assert worker_spans == []
