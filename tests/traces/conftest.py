"""Real orders placed through the web views and a real worker, and their traces read back from the local store.

The pytest plugin turns the local trace store on for the test process and
every worker (TRACE_STORE=on), so these tests read what `make run` would
write to var/traces.sqlite3.
"""
import io
import json
from dataclasses import dataclass

import pytest
from django.core.management import call_command
from django.test import Client

from config.telemetry import telemetry_flush
from fulfillment.faults import FAULTS, faults_set
from fulfillment.models import EmailDelivery, TaskAttempt
from orders.models import Order
from shop.models import Product
from tests.conftest import cart_add, checkout_data, wait_for
from traces.selectors import order_trace_ids
from traces.sources import local_trace_store
from traces.spans import SpanRecord

ORDER_QUANTITY = 2
ORDER_SETTLED_TIMEOUT = 60.0
SPANS_TIMEOUT = 30.0
SETTLED_EMAIL = (EmailDelivery.Status.SENT, EmailDelivery.Status.FAILED)


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    spans: list[SpanRecord]


def _settled(order: Order) -> bool:
    order.refresh_from_db()
    if order.status == Order.Status.FULFILLMENT_FAILED:
        return not TaskAttempt.objects.filter(order=order, outcome=TaskAttempt.Outcome.RUNNING).exists()
    if order.status != Order.Status.FULFILLED:
        return False
    email = EmailDelivery.objects.filter(order=order).first()
    return email is not None and email.status in SETTLED_EMAIL


def _attempt_spans_stored(order: Order) -> list[SpanRecord] | None:
    """Return the order's spans once the store has one CONSUMER span per attempt and the checkout's SERVER span.

    A worker child exports spans in the order they end, and a CONSUMER span
    ends after every span inside it, so the rest of each attempt is stored by then.
    """
    telemetry_flush()
    spans = local_trace_store().traces(order_trace_ids(order=order))
    consumers = [span for span in spans if span.kind == "CONSUMER"]
    servers = [span for span in spans if span.kind == "SERVER"]
    attempts = TaskAttempt.objects.filter(order=order).count()
    return spans if servers and attempts and len(consumers) >= attempts else None


def order_place(client: Client, product: Product, *, faults: list[str]) -> PlacedOrder:
    """Check out one order with exactly `faults` on, and wait until it settles and its spans are stored."""
    faults_set(enabled=faults, disabled=[name for name in FAULTS if name not in faults])
    cart_add(client, product, ORDER_QUANTITY)
    response = client.post("/checkout/", checkout_data())
    assert response.status_code == 302, response.content[:500]
    order = Order.objects.latest("pk")

    wait_for(lambda: _settled(order), timeout=ORDER_SETTLED_TIMEOUT, message=f"order {order.pk} to settle")
    spans = wait_for(
        lambda: _attempt_spans_stored(order), timeout=SPANS_TIMEOUT, message=f"the spans of order {order.pk} in the store"
    )
    return PlacedOrder(order=order, spans=spans)


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    output: str

    def json(self) -> dict:
        return json.loads(self.output)


def diagnose_command(*arguments: str) -> CommandResult:
    """Run `manage.py diagnose` in this process and return its exit status and output."""
    stdout = io.StringIO()
    try:
        call_command("diagnose", *arguments, stdout=stdout)
    except SystemExit as exit:
        return CommandResult(int(exit.code), stdout.getvalue())
    return CommandResult(0, stdout.getvalue())


@pytest.fixture
def stock_product(product_factory) -> Product:
    return product_factory(sku="DIAG-001", stock=10)
