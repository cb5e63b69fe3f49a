"""The email service down while orders are fulfilled.

A real worker sends through a fault proxy in front of the embedded SES.
The email task retries with backoff, then marks the email failed, which
the status page and the admin show, and staff resend it once the service
is back. Stock is taken once, whatever the email does.
"""
from collections.abc import Iterator

import pytest
from django.conf import settings

from embedded.pytest_plugin import FulfillmentWorker
from fulfillment.models import EmailDelivery, StockReservation, TaskAttempt
from fulfillment.tasks import fulfill_order
from orders.models import Order
from tests.conftest import wait_for, worker_on_own_queue_running
from tests.fulfillment.test_services import paid_order
from tests.reliability.fault_proxy import FaultProxy, Mode, fault_proxy_running
from tests.tracing.conftest import EMAIL_TASK, FULFILL_TASK
from tests.tracing.test_privacy import LogWindow, assert_nothing_leaked, forbidden_values

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL_ATTEMPTS = 3


@pytest.fixture(scope="module")
def ses_proxy() -> Iterator[FaultProxy]:
    with fault_proxy_running(settings.AWS_SES_ENDPOINT_URL) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def worker_behind_proxy(ses_proxy, django_db_setup, django_db_blocker) -> Iterator[FulfillmentWorker]:
    extra_env = {
        "AWS_SES_ENDPOINT_URL": ses_proxy.url,
        # Otherwise botocore retries the request itself before the task gets the error.
        "AWS_MAX_ATTEMPTS": "1",
        "EMAIL_MAX_ATTEMPTS": str(EMAIL_ATTEMPTS),
    }
    with django_db_blocker.unblock(), worker_on_own_queue_running("worker-ses-proxy", extra_env) as worker:
        yield worker


@pytest.fixture
def proxy_forwarding(ses_proxy) -> Iterator[FaultProxy]:
    yield ses_proxy
    ses_proxy.set_mode(Mode.FORWARD)


def attempts_of(order: Order, task_name: str) -> list[TaskAttempt]:
    return list(TaskAttempt.objects.filter(order=order, task_name=task_name).order_by("started_at"))


@pytest.mark.parametrize("failure", [Mode.REFUSE, Mode.RESET, Mode.UNAVAILABLE], ids=lambda mode: mode.value)
def test_email_outage_ends_in_staff_resend(
    failure, proxy_forwarding, worker_behind_proxy, fulfillment_worker, product, client, admin_client,
    receiver, telemetry, info_logs,
):
    worker_log = LogWindow.open(worker_behind_proxy)
    proxy_forwarding.set_mode(failure)
    order = paid_order(product, 2)

    fulfill_order.apply_async(args=[order.pk], queue=worker_behind_proxy.queue)

    wait_for(
        lambda: TaskAttempt.objects.filter(order=order, task_name=EMAIL_TASK, outcome=TaskAttempt.Outcome.FAILED).exists(),
        timeout=60,
        message="the email task to give up",
    )
    email_attempts = attempts_of(order, EMAIL_TASK)
    assert [(row.attempt, row.outcome) for row in email_attempts] == [
        (1, TaskAttempt.Outcome.RETRYING),
        (2, TaskAttempt.Outcome.RETRYING),
        (3, TaskAttempt.Outcome.FAILED),
    ]
    for retry, row in enumerate(email_attempts[:-1]):
        assert 0 <= row.retry_countdown <= settings.FULFILLMENT_RETRY_BACKOFF * 2**retry
    delivery = EmailDelivery.objects.get(order=order)
    assert delivery.status == EmailDelivery.Status.FAILED
    assert "AnymailAPIError" in delivery.error
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    product.refresh_from_db()
    assert product.stock == 8
    assert StockReservation.objects.filter(order=order).count() == 1
    status = client.get(f"/orders/{order.confirmation_id}/status/").json()
    assert status["email"]["status"] == EmailDelivery.Status.FAILED
    assert "We could not send you an email about it." in status["message"]
    unnotified = admin_client.get("/admin/orders/order/", {"notified": "no"}).content.decode()
    assert order.confirmation_id in unnotified

    proxy_forwarding.set_mode(Mode.FORWARD)
    response = admin_client.post(
        "/admin/fulfillment/emaildelivery/", {"action": "resend", "_selected_action": [delivery.pk]}
    )

    assert response.status_code == 302
    wait_for(
        lambda: EmailDelivery.objects.get(pk=delivery.pk).status == EmailDelivery.Status.SENT,
        message="the email that staff resent",
    )
    product.refresh_from_db()
    assert product.stock == 8
    assert StockReservation.objects.filter(order=order).count() == 1
    assert [row.outcome for row in attempts_of(order, FULFILL_TASK)] == [TaskAttempt.Outcome.SUCCEEDED]
    telemetry.telemetry_flush()
    assert_nothing_leaked(
        receiver, info_logs, forbidden_values(client_secret=""), ("worker behind the proxy", worker_log)
    )


def test_email_recovers_within_its_attempts(proxy_forwarding, worker_behind_proxy, product):
    worker_log = LogWindow.open(worker_behind_proxy)
    proxy_forwarding.set_mode(Mode.RESET, connections=1)
    order = paid_order(product, 1)

    fulfill_order.apply_async(args=[order.pk], queue=worker_behind_proxy.queue)

    wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists(),
        timeout=60,
        message="the email to be sent on its second attempt",
    )
    wait_for(
        lambda: TaskAttempt.objects.filter(order=order, task_name=EMAIL_TASK, outcome=TaskAttempt.Outcome.SUCCEEDED).exists(),
        message="the email task to record its success",
    )
    assert [(row.attempt, row.outcome) for row in attempts_of(order, EMAIL_TASK)] == [
        (1, TaskAttempt.Outcome.RETRYING),
        (2, TaskAttempt.Outcome.SUCCEEDED),
    ]
    assert worker_log.text().count(f"Sent email for order {order.pk} ") == 1
    product.refresh_from_db()
    assert product.stock == 9
