"""The same task message delivered twice, the same webhook delivered twice, and webhooks with bad signatures.

The tasks run in the session's real worker. The webhooks go through
pytest-django's live server, a threaded WSGI server on 127.0.0.1, so that
duplicates arrive at the same moment on separate connections.
"""
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from fulfillment.models import EmailDelivery, StockReservation, TaskAttempt
from fulfillment.tasks import fulfill_order, send_order_email
from orders.models import Order
from tests.conftest import payment_succeeded_event, stripe_signature, wait_for
from tests.fulfillment.test_services import paid_order
from tests.orders.test_checkout_flow import order_in_status
from tests.orders.test_webhook import WEBHOOK_URL, awaiting_order
from tests.tracing.test_privacy import LogWindow, assert_nothing_leaked, forbidden_values

pytestmark = [pytest.mark.django_db(transaction=True)]

DUPLICATES = 4


def email_sent(order: Order) -> EmailDelivery:
    return wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).first(),
        message="the confirmation email to be sent",
    )


def post_webhook(url: str, payload: bytes, signature: str) -> int:
    response = requests.post(
        url, data=payload, headers={"Content-Type": "application/json", "Stripe-Signature": signature}, timeout=30
    )
    return response.status_code


def post_webhooks_at_once(url: str, payload: bytes, count: int) -> list[int]:
    signature = stripe_signature(payload)
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: post_webhook(url, payload, signature), range(count)))


def test_same_task_message_twice_fulfills_once(product, fulfillment_worker, receiver, telemetry, info_logs):
    worker_log = LogWindow.open(fulfillment_worker)
    order = paid_order(product, 2)
    task_id = str(uuid.uuid4())

    # Two copies of one message, as a publisher retry after a lost broker reply sends them.
    for _ in range(2):
        fulfill_order.apply_async(args=[order.pk], task_id=task_id, queue=fulfillment_worker.queue)

    order_in_status(order, Order.Status.FULFILLED)
    email_sent(order)
    wait_for(
        lambda: TaskAttempt.objects.filter(task_id=task_id, outcome=TaskAttempt.Outcome.SUCCEEDED).count() == 2,
        message="both copies of the fulfillment message to finish",
    )
    product.refresh_from_db()
    assert product.stock == 8
    assert StockReservation.objects.filter(order=order).count() == 1
    assert EmailDelivery.objects.filter(order=order).count() == 1
    log = worker_log.text()
    assert re.findall(rf"Fulfilling order {order.pk}, attempt (\d+) \(task {task_id}\)", log) == ["1", "1"]
    assert len(re.findall(rf"Sent email for order {order.pk} ", log)) == 1
    telemetry.telemetry_flush()
    assert_nothing_leaked(receiver, info_logs, forbidden_values(client_secret=""), ("worker", worker_log))


def test_same_email_message_twice_sends_once(product, fulfillment_worker):
    worker_log = LogWindow.open(fulfillment_worker)
    order = paid_order(product, 1)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.FULFILLED)
    EmailDelivery.objects.create(order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION, to=order.email)
    task_id = str(uuid.uuid4())

    for _ in range(2):
        send_order_email.apply_async(
            args=[order.pk, EmailDelivery.Kind.ORDER_CONFIRMATION], task_id=task_id, queue=fulfillment_worker.queue
        )

    email_sent(order)
    wait_for(
        lambda: TaskAttempt.objects.filter(task_id=task_id, outcome=TaskAttempt.Outcome.SUCCEEDED).count() == 2,
        message="both copies of the email message to finish",
    )
    log = worker_log.text()
    assert len(re.findall(rf"Sending order_confirmation email for order {order.pk}, attempt 1 ", log)) == 2
    assert len(re.findall(rf"Sent email for order {order.pk} ", log)) == 1


def test_same_webhook_at_once_enqueues_once(live_server, product, fulfillment_worker, receiver, telemetry, info_logs):
    worker_log = LogWindow.open(fulfillment_worker)
    order = awaiting_order(product, quantity=3)
    payload = payment_succeeded_event(payment_intent_id=f"pi_at_once_{order.pk}", order_id=order.pk)

    statuses = post_webhooks_at_once(f"{live_server.url}{WEBHOOK_URL}", payload, DUPLICATES)

    assert statuses == [200] * DUPLICATES
    order_in_status(order, Order.Status.FULFILLED)
    email_sent(order)
    product.refresh_from_db()
    assert product.stock == 7
    assert StockReservation.objects.filter(order=order).count() == 1
    assert worker_log.text().count(f"Fulfilling order {order.pk}, attempt 1 ") == 1
    telemetry.telemetry_flush()
    assert_nothing_leaked(receiver, info_logs, forbidden_values(client_secret=""), ("worker", worker_log))


def test_webhook_replayed_after_fulfillment_changes_nothing(live_server, product, fulfillment_worker):
    worker_log = LogWindow.open(fulfillment_worker)
    order = awaiting_order(product, quantity=1)
    payload = payment_succeeded_event(payment_intent_id=f"pi_replayed_{order.pk}", order_id=order.pk)
    url = f"{live_server.url}{WEBHOOK_URL}"
    assert post_webhook(url, payload, stripe_signature(payload)) == 200
    order_in_status(order, Order.Status.FULFILLED)
    email_sent(order)
    fulfilled_at = Order.objects.get(pk=order.pk).fulfilled_at

    # Stripe resends an event when it did not see a 2xx reply, with a fresh signature.
    assert post_webhook(url, payload, stripe_signature(payload)) == 200

    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert order.fulfilled_at == fulfilled_at
    product.refresh_from_db()
    assert product.stock == 9
    assert StockReservation.objects.filter(order=order).count() == 1
    assert worker_log.text().count(f"Fulfilling order {order.pk}, attempt 1 ") == 1


@pytest.mark.parametrize(
    "case",
    ["stale timestamp", "signature of another payload", "wrong secret", "no v1 signature"],
)
def test_badly_signed_webhook_is_rejected(case, live_server, product, fulfillment_worker):
    order = awaiting_order(product, quantity=1)
    payload = payment_succeeded_event(payment_intent_id=f"pi_forged_{order.pk}", order_id=order.pk)
    signatures = {
        # Older than the 300 s tolerance of stripe-python's construct_event(), as a captured request replayed later.
        "stale timestamp": stripe_signature(payload, timestamp=int(time.time()) - 600),
        "signature of another payload": stripe_signature(payload.replace(b"succeeded", b"succeeded ")),
        "wrong secret": stripe_signature(payload, secret="whsec_not_the_shops"),
        "no v1 signature": f"t={int(time.time())}",
    }

    status = post_webhook(f"{live_server.url}{WEBHOOK_URL}", payload, signatures[case])

    assert status == 400
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert order.payment_intent_id == ""
    product.refresh_from_db()
    assert product.stock == 10
