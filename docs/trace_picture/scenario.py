"""Record the real trace of one workshop order and write its spans to workshop-trace.json.

Run it through pytest, which starts the embedded services, the OTLP
receiver and a real Celery worker (embedded.pytest_plugin):

    .venv/bin/python -m pytest docs/trace_picture/scenario.py -p no:cacheprovider -q

`make trace-picture` runs it and then render.py, which draws the SVG.

The order is placed with all four workshop faults on, so the fulfillment
task sends the email itself and is retried as a whole. Attempt 1 fails on
the email service's MessageRejected, attempts 2 and 3 on
ConditionalUpdateFailed, and the order ends as fulfillment_failed.

Besides the order's trace, the JSON keeps the SERVER spans of two requests
that have traces of their own: the confirmation page right after checkout
and the status endpoint after the last attempt. Both tell the customer that
the order is confirmed, which is the confirm_before_fulfillment fault.
"""
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from config import telemetry_names as names
from config.telemetry import telemetry_flush
from embedded.otlp_receiver import OTLPReceiver
from fulfillment.faults import FAULTS, faults_set
from orders.models import Order
from shop.models import Product
from tests.conftest import wait_for
from traces.spans import SpanRecord, span_to_dict

OUTPUT = Path(__file__).with_name("workshop-trace.json")

FULFILL_TASK = "fulfillment.fulfill_order"
FULFILL_CONSUMER_SPAN = f"run/{FULFILL_TASK}"
ORDER_FAILED_TIMEOUT = 60.0
SPAN_WAIT_TIMEOUT = 30.0

# Obviously invented, and checked below never to appear in the written JSON.
TEST_CUSTOMER = {
    "email": "test.customer@example.com",
    "full_name": "Test Customer",
    "address_line1": "1 Example Street",
    "address_line2": "",
    "city": "Exampletown",
    "postal_code": "EX1 2MP",
    "country": "GB",
}
ORDER_QUANTITY = 2
# The message that the confirmation page and the status endpoint show while
# the confirm_before_fulfillment fault is on (orders.selectors).
CONFIRMED_MESSAGE = "Thank you! Your order is confirmed."
RELATED_DESCRIPTIONS = {
    "confirmation_page": "GET of the confirmation page right after checkout, in a trace of its own",
    "status_after_failure": "GET of the status endpoint after the last attempt failed, in a trace of its own",
}

# Exception events keep their type and message. The stack trace is left out
# because it contains this machine's file paths and adds nothing to the picture.
OMITTED_EVENT_ATTRIBUTES = ("exception.stacktrace",)


def trace_id_of(response) -> str:
    """Return the trace id from a response's W3C traceresponse header (version-traceid-spanid-flags)."""
    return response["traceresponse"].split("-")[1]


def server_span_of(receiver: OTLPReceiver, trace_id: str) -> SpanRecord:
    def server_span(spans: list[SpanRecord]) -> SpanRecord | None:
        return next((span for span in spans if span.trace_id == trace_id and span.kind == "SERVER"), None)

    server_span.__name__ = f"the SERVER span of trace {trace_id}"
    return receiver.wait_for_spans(server_span, timeout=SPAN_WAIT_TIMEOUT)


def span_to_json(span: SpanRecord) -> dict:
    data = span_to_dict(span)
    for event in data["events"]:
        event["attributes"] = {
            key: value for key, value in event["attributes"].items() if key not in OMITTED_EVENT_ATTRIBUTES
        }
    return data


def secret_values() -> dict[str, str]:
    """Return, by a label safe to print, every value that must not reach the JSON file."""
    values = {f"customer {field}": value for field, value in TEST_CUSTOMER.items() if field != "country"}
    values["customer email local part"] = TEST_CUSTOMER["email"].partition("@")[0]
    values["STRIPE_SECRET_KEY"] = settings.STRIPE_SECRET_KEY
    values["STRIPE_WEBHOOK_SECRET"] = settings.STRIPE_WEBHOOK_SECRET
    values["DJANGO_SECRET_KEY"] = settings.SECRET_KEY
    return {label: value for label, value in values.items() if value}


@pytest.fixture
def workshop_product(db) -> Product:
    return Product.objects.create(
        name="Trail Mug",
        slug="trail-mug",
        sku="MUG-001",
        description="A product made for the trace picture.",
        price=1800,
        currency="usd",
        image="shop/products/placeholder.svg",
        stock=10,
    )


@pytest.mark.django_db(transaction=True)
def test_record_workshop_trace(client: Client, workshop_product: Product, fulfillment_worker, otlp_receiver: OTLPReceiver):
    faults_set(enabled=list(FAULTS))

    response = client.post("/cart/add/", {"product": workshop_product.pk, "quantity": ORDER_QUANTITY})
    assert response.status_code == 302, response.content[:300]
    checkout = client.post("/checkout/", dict(TEST_CUSTOMER, payment_method="pm_card_visa"))
    assert checkout.status_code == 302, checkout.content[:300]
    order = Order.objects.get()
    # The redirect to the confirmation page carries the checkout's trace id,
    # which the order stores and the worker's spans join.
    trace_id = trace_id_of(checkout)
    assert trace_id == order.trace_id

    page = client.get(f"/orders/{order.confirmation_id}/")
    assert CONFIRMED_MESSAGE in page.content.decode()

    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLMENT_FAILED,
        timeout=ORDER_FAILED_TIMEOUT,
        message=f"order {order.pk} to reach fulfillment_failed",
    )
    status = client.get(f"/orders/{order.confirmation_id}/status/")
    assert status.json()["message"] == CONFIRMED_MESSAGE
    telemetry_flush()

    related = {
        "confirmation_page": server_span_of(otlp_receiver, trace_id_of(page)),
        "status_after_failure": server_span_of(otlp_receiver, trace_id_of(status)),
    }

    max_attempts = settings.FULFILLMENT_MAX_ATTEMPTS

    def all_attempts_arrived(spans: list[SpanRecord]) -> list[SpanRecord] | None:
        # A CONSUMER span ends after every span inside it, and a worker child
        # exports spans in the order they end, so the attempts come last.
        attempts = [
            span
            for span in spans
            if span.trace_id == trace_id and span.kind == "CONSUMER" and span.name == FULFILL_CONSUMER_SPAN
        ]
        return attempts if len(attempts) >= max_attempts else None

    all_attempts_arrived.__name__ = f"{max_attempts} attempts of {FULFILL_TASK} in trace {trace_id}"
    attempts = otlp_receiver.wait_for_spans(all_attempts_arrived, timeout=SPAN_WAIT_TIMEOUT)
    assert sorted(span.attributes.get(names.FULFILLMENT_ATTEMPT) for span in attempts) == list(
        range(1, max_attempts + 1)
    )

    spans = sorted(
        (span for span in otlp_receiver.spans() if span.trace_id == trace_id), key=lambda span: span.start_ns
    )
    document = {
        "description": (
            "Spans of one order placed with every workshop fault on, as the OTLP receiver decoded them. "
            "Written by docs/trace_picture/scenario.py."
        ),
        "trace_id": trace_id,
        "order_id": order.pk,
        "omitted_event_attributes": list(OMITTED_EVENT_ATTRIBUTES),
        "fulfillment_retry_backoff_s": settings.FULFILLMENT_RETRY_BACKOFF,
        "spans": [span_to_json(span) for span in spans],
        "related_spans": {
            role: dict(span_to_json(span), description=RELATED_DESCRIPTIONS[role]) for role, span in related.items()
        },
    }
    text = json.dumps(document, indent=1, sort_keys=False, ensure_ascii=False)

    lowered = text.lower()
    leaked = [label for label, value in secret_values().items() if value.lower() in lowered]
    assert leaked == [], f"The trace JSON would contain: {', '.join(leaked)}"

    OUTPUT.write_text(text + "\n", encoding="utf-8")
