"""Retries in a real worker whose email endpoint refuses connections."""
import re

import pytest

from fulfillment.models import EmailDelivery, StockReservation, TaskAttempt
from fulfillment.tasks import fulfill_order
from orders.models import Order
from tests.conftest import EMAIL_ATTEMPTS, wait_for, worker_without_email_running
from tests.fulfillment.test_services import paid_order

pytestmark = pytest.mark.django_db(transaction=True)

@pytest.fixture(scope="module")
def worker_without_email(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), worker_without_email_running("worker-no-email") as worker:
        yield worker


def test_email_retries_apart_from_stock(product, worker_without_email):
    order = paid_order(product, 2)

    fulfill_order.apply_async(args=[order.pk], queue=worker_without_email.queue)

    wait_for(
        lambda: EmailDelivery.objects.filter(order_id=order.pk, status=EmailDelivery.Status.FAILED).exists()
        and TaskAttempt.objects.filter(order_id=order.pk, outcome=TaskAttempt.Outcome.FAILED).exists(),
        timeout=60,
        message="the email task to give up",
    )
    log = worker_without_email.log_text()
    assert re.findall(rf"Fulfilling order {order.pk}, attempt (\d+) ", log) == ["1"]
    email_attempts = re.findall(rf"Sending order_confirmation email for order {order.pk}, attempt (\d+) ", log)
    assert email_attempts == [str(number) for number in range(1, EMAIL_ATTEMPTS + 1)]

    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    product.refresh_from_db()
    assert product.stock == 8
    assert StockReservation.objects.filter(order=order).count() == 1
    delivery = EmailDelivery.objects.get(order=order)
    assert "AnymailAPIError" in delivery.error


def test_attempts_log_records_each_try(product, worker_without_email):
    order = paid_order(product, 1)

    fulfill_order.apply_async(args=[order.pk], queue=worker_without_email.queue)

    wait_for(
        lambda: TaskAttempt.objects.filter(order_id=order.pk, outcome=TaskAttempt.Outcome.FAILED).exists(),
        timeout=60,
        message="the email task to give up",
    )
    rows = list(TaskAttempt.objects.filter(order=order).order_by("started_at"))
    summary = [(row.task_name, row.attempt, row.outcome) for row in rows]
    assert summary == [
        ("fulfillment.fulfill_order", 1, TaskAttempt.Outcome.SUCCEEDED),
        ("fulfillment.send_order_email", 1, TaskAttempt.Outcome.RETRYING),
        ("fulfillment.send_order_email", 2, TaskAttempt.Outcome.RETRYING),
        ("fulfillment.send_order_email", 3, TaskAttempt.Outcome.FAILED),
    ]
    for row in rows[1:]:
        assert row.exception_type == "anymail.exceptions.AnymailAPIError"
        assert "Could not connect to the endpoint URL" in row.exception_message
        assert row.duration_ms is not None
        assert re.fullmatch(r"[0-9a-f]{32}", row.trace_id)
    assert rows[1].retry_countdown is not None
    assert rows[3].retry_countdown is None
    assert len({row.task_id for row in rows[1:]}) == 1
