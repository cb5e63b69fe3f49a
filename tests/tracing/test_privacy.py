"""No customer data and no secret in any span or log line of a whole order flow.

Each test runs one flow end to end with the real worker, then scans every
span the receiver got (names, attributes, events, links and resource) and
every log line of the test process and of the worker.
"""
import logging
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from django.conf import settings

from embedded.otlp_receiver import OTLPReceiver
from embedded.pytest_plugin import FulfillmentWorker
from fulfillment.models import EmailDelivery
from fulfillment.tasks import fulfill_order
from orders import payments
from orders.models import Order
from tests.conftest import (
    CUSTOMER,
    EMAIL_ATTEMPTS,
    checkout_data,
    three_d_secure_authenticate,
    three_d_secure_payment_method,
    wait_for,
)
from tests.fulfillment.test_services import paid_order
from tests.orders.test_checkout_flow import order_in_status
from tests.tracing.conftest import EMAIL_TASK, FULFILL_TASK, RETRY_WAIT_TIMEOUT, wait_for_consumers
from traces.spans import SpanRecord

pytestmark = pytest.mark.django_db(transaction=True)

# Stripe's test cards: 4242... behind pm_card_visa, and the 3-D Secure card
# that three_d_secure_payment_method() creates.
CARD_NUMBERS = ("4242424242424242", "4000002500003155")


@dataclass(frozen=True)
class LogWindow:
    """The part of a worker's log file written after the window was opened."""

    path: Path
    offset: int

    @classmethod
    def open(cls, worker: FulfillmentWorker) -> "LogWindow":
        return cls(worker.log_path, worker.log_path.stat().st_size)

    def text(self) -> str:
        with self.path.open("rb") as log_file:
            log_file.seek(self.offset)
            return log_file.read().decode(errors="replace")


def forbidden_values(*, client_secret: str) -> dict[str, str]:
    """Return what must never leave the shop in telemetry or logs, by a label that is safe to print."""
    values = {
        "customer email": CUSTOMER["email"],
        "customer name": CUSTOMER["full_name"],
        "customer street": CUSTOMER["address_line1"],
        "customer postal code": CUSTOMER["postal_code"],
        "STRIPE_SECRET_KEY": settings.STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET,
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "PaymentIntent client secret": client_secret,
    }
    for number in CARD_NUMBERS:
        values[f"card number ending {number[-4:]}"] = number
    return values


def spellings(value: str) -> set[str]:
    """Return the ways a value can appear in a URL, a header or a grouped card number, lowercased."""
    forms = {value}
    if value.isdigit():
        forms.add(" ".join(value[start : start + 4] for start in range(0, len(value), 4)))
    found = set()
    for form in forms:
        found |= {form, urllib.parse.quote(form, safe=""), urllib.parse.quote_plus(form)}
    return {spelling.lower() for spelling in found}


def span_texts(span: SpanRecord) -> Iterator[tuple[str, str]]:
    """Yield (location, text) for every string a collector stores for the span."""
    where = f"span {span.service_name}:{span.name}"
    yield f"{where} name", span.name
    yield f"{where} status message", span.status_message
    for key, value in span.resource.items():
        yield f"{where} resource {key}", f"{key}={value}"
    for key, value in span.attributes.items():
        yield f"{where} attribute {key}", f"{key}={value}"
    for event in span.events:
        yield f"{where} event {event.name}", event.name
        for key, value in event.attributes.items():
            yield f"{where} event {event.name} {key}", f"{key}={value}"
    for link in span.links:
        for key, value in link.attributes.items():
            yield f"{where} link {key}", f"{key}={value}"


def leaks(texts: Iterator[tuple[str, str]], forbidden: dict[str, str]) -> list[str]:
    """Return "<label> in <location>" for every forbidden value found in the texts."""
    searched = {label: spellings(value) for label, value in forbidden.items() if value}
    found = []
    for location, text in texts:
        lowered = text.lower()
        for label, variants in searched.items():
            if any(variant in lowered for variant in variants):
                found.append(f"{label} in {location}")
    return found


def log_texts(caplog: pytest.LogCaptureFixture, *windows: tuple[str, LogWindow]) -> Iterator[tuple[str, str]]:
    for record in caplog.records:
        yield f"test process log record {record.name}", record.getMessage()
    # caplog.text also contains formatted tracebacks, which getMessage() leaves out.
    yield "test process log text", caplog.text
    for name, window in windows:
        yield f"{name} log file", window.text()


def assert_nothing_leaked(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture, forbidden: dict[str, str], *windows: tuple[str, LogWindow]
) -> None:
    spans = receiver.spans()
    assert spans, "the receiver got no spans, so the scan would prove nothing"

    span_leaks = leaks((text for span in spans for text in span_texts(span)), forbidden)
    log_leaks = leaks(log_texts(caplog, *windows), forbidden)

    assert span_leaks == []
    assert log_leaks == []


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture the test process's log records at LOG_LEVEL's default, INFO."""
    caplog.set_level(logging.INFO)
    return caplog


def email_sent(order: Order) -> None:
    wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists(),
        message="the confirmation email to be sent",
    )


def test_card_checkout_leaks_nothing(
    shopper, fulfillment_worker, receiver: OTLPReceiver, telemetry: ModuleType, names: ModuleType, info_logs
):
    worker_log = LogWindow.open(fulfillment_worker)

    response = shopper.post("/checkout/", checkout_data())

    assert response.status_code == 302
    order = order_in_status(Order.objects.get(), Order.Status.FULFILLED)
    email_sent(order)
    client_secret = payments.stripe_client().v1.payment_intents.retrieve(order.payment_intent_id).client_secret
    assert client_secret
    telemetry.telemetry_flush()
    wait_for_consumers(
        receiver, order_id=order.pk, order_id_key=names.ORDER_ID, counts={FULFILL_TASK: 1, EMAIL_TASK: 1}
    )

    assert_nothing_leaked(
        receiver, info_logs, forbidden_values(client_secret=client_secret), ("worker", worker_log)
    )


def test_three_d_secure_checkout_leaks_nothing(
    shopper, fulfillment_worker, receiver: OTLPReceiver, telemetry: ModuleType, names: ModuleType, info_logs
):
    worker_log = LogWindow.open(fulfillment_worker)
    response = shopper.post("/checkout/", checkout_data(payment_method=three_d_secure_payment_method(), stripe_js="1"))
    assert response.status_code == 200
    order = Order.objects.get()
    client_secret = response.context["client_secret"]
    three_d_secure_authenticate(payment_intent_id=order.payment_intent_id, client_secret=client_secret, success=True)

    complete = shopper.get(f"/orders/{order.confirmation_id}/payment/complete/")

    assert complete.status_code == 302
    order_in_status(order, Order.Status.FULFILLED)
    email_sent(order)
    telemetry.telemetry_flush()
    wait_for_consumers(
        receiver, order_id=order.pk, order_id_key=names.ORDER_ID, counts={FULFILL_TASK: 1, EMAIL_TASK: 1}
    )

    assert_nothing_leaked(
        receiver, info_logs, forbidden_values(client_secret=client_secret), ("worker", worker_log)
    )


def test_failed_email_leaks_nothing(
    product, worker_without_email, receiver: OTLPReceiver, telemetry: ModuleType, names: ModuleType, info_logs
):
    worker_log = LogWindow.open(worker_without_email)
    order = paid_order(product, 1)
    client_secret = payments.stripe_client().v1.payment_intents.retrieve(order.payment_intent_id).client_secret
    assert client_secret

    fulfill_order.apply_async(args=[order.pk], queue=worker_without_email.queue)

    wait_for_consumers(
        receiver,
        order_id=order.pk,
        order_id_key=names.ORDER_ID,
        counts={FULFILL_TASK: 1, EMAIL_TASK: EMAIL_ATTEMPTS},
        timeout=RETRY_WAIT_TIMEOUT,
    )
    telemetry.telemetry_flush()
    assert_nothing_leaked(
        receiver, info_logs, forbidden_values(client_secret=client_secret), ("worker without email", worker_log)
    )
