"""Retries of the fulfillment task in a real worker whose email endpoint does not answer."""
import re

import pytest
from django.conf import settings

from embedded.ports import find_free_port
from embedded.pytest_plugin import worker_running
from fulfillment.models import EmailDelivery, StockReservation
from fulfillment.tasks import fulfill_order
from orders.models import Order
from tests.conftest import wait_for
from tests.fulfillment.test_services import paid_order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def worker_without_email(django_db_setup, django_db_blocker):
    """A worker whose SES endpoint is a closed loopback port, so every send fails to connect."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-no-email"
    extra_env = {
        "AWS_SES_ENDPOINT_URL": f"http://127.0.0.1:{find_free_port()}",
        # botocore would otherwise retry the connection itself before the task sees the error.
        "AWS_MAX_ATTEMPTS": "1",
        "FULFILLMENT_MAX_ATTEMPTS": "3",
    }
    with django_db_blocker.unblock(), worker_running(name="worker-no-email", queue=queue, extra_env=extra_env) as worker:
        yield worker


def test_transient_errors_retry_three_attempts(product, worker_without_email):
    order = paid_order(product, 2)

    fulfill_order.apply_async(args=[order.pk], queue=worker_without_email.queue)

    wait_for(
        lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLMENT_FAILED,
        timeout=60,
        message="the last attempt to give up",
    )
    log = worker_without_email.log_text()
    attempts = re.findall(rf"Fulfilling order {order.pk}, attempt (\d+) ", log)
    assert attempts == ["1", "2", "3"]
    assert log.count(f"Fulfillment of order {order.pk} failed on attempt") == 2
    assert f"Fulfillment of order {order.pk} failed on its last attempt 3" in log

    order.refresh_from_db()
    assert order.failure_reason
    product.refresh_from_db()
    assert product.stock == 8
    assert StockReservation.objects.filter(order=order).count() == 1
    delivery = EmailDelivery.objects.get(order=order)
    assert delivery.status == EmailDelivery.Status.FAILED
    assert "AnymailAPIError" in delivery.error
