"""Outcomes that are not faults, the webhook's link to the checkout, and recycled worker children."""
import json

import pytest
from django.conf import settings

from embedded.pytest_plugin import worker_running
from fulfillment.tasks import fulfill_order
from orders import services
from orders.models import Order
from tests.conftest import (
    CUSTOMER,
    checkout_data,
    order_pay_at_stripe,
    payment_succeeded_event,
    stripe_signature,
    wait_for,
)
from tests.tracing.conftest import CHECKOUT_SERVER_SPAN, SPAN_WAIT_TIMEOUT, consumer_span

pytestmark = pytest.mark.django_db(transaction=True)


def server_spans(receiver, name: str) -> list:
    return [span for span in receiver.spans() if span.kind == "SERVER" and span.name == name]


def test_declined_card_is_not_a_server_error(shopper, receiver, telemetry, names):
    response = shopper.post("/checkout/", checkout_data(payment_method="pm_card_visa_chargeDeclined"))
    assert response.status_code == 402
    telemetry.telemetry_flush()

    root = receiver.wait_for_spans(lambda spans: server_spans(receiver, CHECKOUT_SERVER_SPAN), SPAN_WAIT_TIMEOUT)[0]
    payment = next(
        span for span in receiver.spans() if span.trace_id == root.trace_id and span.name == names.SPAN_PAYMENT_CONFIRM
    )
    assert root.status_code != "ERROR"
    assert payment.status_code != "ERROR"
    assert payment.attributes[names.PAYMENT_OUTCOME] == "declined"
    assert [event.name for event in payment.events] == [names.EVENT_PAYMENT_DECLINED]


def test_out_of_stock_span_not_error(product, receiver, telemetry, names, fulfillment_worker):
    order = services.order_create(lines=[services.CheckoutLine(product=product, quantity=2)], customer=CUSTOMER)
    result = order_pay_at_stripe(order)
    Order.objects.filter(pk=order.pk).update(payment_intent_id=result.payment_intent_id)
    product.stock = 1
    product.save()

    services.order_mark_paid(order_id=order.pk)

    wait_for(lambda: Order.objects.get(pk=order.pk).refund_id, message="the refund")
    reserve = receiver.wait_for_spans(
        lambda spans: [
            span for span in spans
            if span.name == names.SPAN_STOCK_RESERVE and span.attributes.get(names.ORDER_ID) == order.pk
        ],
        SPAN_WAIT_TIMEOUT,
    )[0]
    attempt = receiver.wait_for_spans(
        lambda spans: [span for span in spans if span.span_id == reserve.parent_span_id], SPAN_WAIT_TIMEOUT
    )[0]
    assert reserve.status_code != "ERROR"
    assert attempt.status_code != "ERROR"
    assert [event.name for event in reserve.events] == [names.EVENT_STOCK_INSUFFICIENT]
    assert reserve.events[0].attributes[names.STOCK_AVAILABLE] == 1


def test_webhook_fulfillment_links_to_checkout(client, product, receiver, telemetry, names, fulfillment_worker):
    from config.telemetry import tracer

    with tracer().start_as_current_span("POST checkout/ (browser left)") as checkout_span:
        order = services.order_create(lines=[services.CheckoutLine(product=product, quantity=1)], customer=CUSTOMER)
    checkout_trace = format(checkout_span.get_span_context().trace_id, "032x")
    payload = payment_succeeded_event(payment_intent_id="pi_webhook_link", order_id=order.pk)

    response = client.post(
        "/stripe/webhook/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(payload)
    )

    assert response.status_code == 200
    telemetry.telemetry_flush()
    mark_paid = receiver.wait_for_spans(
        lambda spans: [span for span in spans if span.name == names.SPAN_ORDER_MARK_PAID], SPAN_WAIT_TIMEOUT
    )[0]
    assert mark_paid.trace_id != checkout_trace
    assert [link.trace_id for link in mark_paid.links] == [checkout_trace]
    # The attempt runs in the webhook's trace.
    attempt = receiver.wait_for_spans(
        lambda spans: [
            span for span in spans
            if span.name == consumer_span("fulfillment.fulfill_order") and span.attributes.get(names.ORDER_ID) == order.pk
        ],
        SPAN_WAIT_TIMEOUT,
    )[0]
    assert attempt.trace_id == mark_paid.trace_id


def test_recycled_worker_children_export_every_span(product_factory, receiver, names, django_db_blocker):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-recycled"
    extra_env = {"CELERY_WORKER_MAX_TASKS_PER_CHILD": "1", "CELERY_TASK_DEFAULT_QUEUE": queue}
    orders = []
    for _ in range(3):
        product = product_factory(stock=5)
        order = services.order_create(lines=[services.CheckoutLine(product=product, quantity=1)], customer=CUSTOMER)
        Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
        orders.append(order)

    with worker_running(name="worker-recycled", queue=queue, extra_env=extra_env) as worker:
        for order in orders:
            fulfill_order.apply_async(args=[order.pk], queue=queue)
        wait_for(
            lambda: Order.objects.filter(pk__in=[order.pk for order in orders], status=Order.Status.FULFILLED).count()
            == len(orders),
            timeout=60,
            message="three orders fulfilled by recycled children",
        )
        order_ids = {order.pk for order in orders}

        def attempts_received(spans):
            return [
                span for span in spans
                if span.name == consumer_span("fulfillment.fulfill_order")
                and span.attributes.get(names.ORDER_ID) in order_ids
            ]

        # Each child exits after one task, so its spans arrive only if it
        # flushed them on the way out.
        attempts = receiver.wait_for_spans(
            lambda spans: len(attempts_received(spans)) >= len(orders) and attempts_received(spans), SPAN_WAIT_TIMEOUT
        )

    assert {span.attributes[names.ORDER_ID] for span in attempts} == order_ids
    assert "maximum number of tasks" not in json.dumps([span.status_message for span in attempts])
    assert worker.log_text().count("Fulfilling order") >= len(orders)
