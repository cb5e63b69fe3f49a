"""A worker child killed with SIGKILL in the middle of a task.

A real worker runs with the test-only pause points (fulfillment/pause_points.py).
The test arms one point, the first child to reach it writes its pid and
sleeps, and the test kills that child. `acks_late` with
`task_reject_on_worker_lost` makes the worker put the message back on the
queue, and a fresh child runs it to the end.
"""
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from embedded.pytest_plugin import FulfillmentWorker
from fulfillment.models import EmailDelivery, StockReservation, TaskAttempt
from fulfillment.pause_points import EMAIL_CLAIMED, STOCK_COMMITTED, STOCK_UNCOMMITTED
from fulfillment.tasks import fulfill_order
from orders import payments
from orders.models import Order
from tests.conftest import wait_for, worker_on_own_queue_running
from tests.fulfillment.test_services import paid_order
from tests.orders.test_checkout_flow import order_in_status
from tests.tracing.conftest import EMAIL_TASK, FULFILL_TASK, wait_for_consumers
from tests.tracing.test_privacy import LogWindow, assert_nothing_leaked, forbidden_values

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class PausingWorker:
    """A worker whose children pause at a point the test arms in `pause_dir`."""

    worker: FulfillmentWorker
    pause_dir: Path

    def arm(self, point: str) -> None:
        (self.pause_dir / f"{point}.armed").touch()

    def kill_paused_child(self, point: str) -> int:
        """Wait for a child to pause at `point`, SIGKILL it and return its pid."""
        pid_file = self.pause_dir / f"{point}.pid"
        wait_for(pid_file.exists, timeout=30, message=f"a worker child to pause at {point}")
        pid = int(pid_file.read_text())
        # Only ever kill a child of the worker this test started.
        assert parent_pid(pid) == self.worker.process.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: parent_pid(pid) != self.worker.process.pid, message=f"child {pid} to die")
        return pid


def parent_pid(pid: int) -> int | None:
    """Return the parent of a live process, or None once it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[1])


@pytest.fixture(scope="module")
def pausing_worker(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[PausingWorker]:
    pause_dir = tmp_path_factory.mktemp("pause-points")
    extra_env = {"FULFILLMENT_PAUSE_DIR": str(pause_dir)}
    with django_db_blocker.unblock(), worker_on_own_queue_running("worker-crash", extra_env) as worker:
        yield PausingWorker(worker, pause_dir)


def fulfilled_with_one_email(order: Order, product, worker_log: LogWindow, *, stock: int) -> str:
    """Wait until the order is fulfilled and its email sent, check both happened once, and return the worker's log."""
    order_in_status(order, Order.Status.FULFILLED)
    delivery = wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).first(),
        message="the confirmation email to be sent",
    )
    assert delivery.message_id
    product.refresh_from_db()
    assert product.stock == stock
    assert StockReservation.objects.filter(order=order).count() == 1
    log = worker_log.text()
    assert len(re.findall(rf"Sent email for order {order.pk} ", log)) == 1
    return log


def attempts_of(order: Order, task_name: str) -> list[tuple[int, str]]:
    rows = TaskAttempt.objects.filter(order=order, task_name=task_name).order_by("started_at")
    return [(row.attempt, row.outcome) for row in rows]


def assert_spans_and_logs_clean(
    order, receiver, telemetry, names, info_logs, worker_log: LogWindow, *, tasks_after_kill: tuple[str, ...]
) -> None:
    client_secret = payments.stripe_client().v1.payment_intents.retrieve(order.payment_intent_id).client_secret
    telemetry.telemetry_flush()
    # Spans the killed child had not exported yet died with it, so only the tasks run after the kill are awaited.
    counts = {task: 1 for task in tasks_after_kill}
    wait_for_consumers(receiver, order_id=order.pk, order_id_key=names.ORDER_ID, counts=counts)
    assert_nothing_leaked(receiver, info_logs, forbidden_values(client_secret=client_secret), ("worker", worker_log))


@pytest.mark.parametrize("point", [STOCK_UNCOMMITTED, STOCK_COMMITTED])
def test_kill_mid_fulfillment_takes_stock_once(point, product, pausing_worker, receiver, telemetry, names, info_logs):
    worker_log = LogWindow.open(pausing_worker.worker)
    order = paid_order(product, 2)
    pausing_worker.arm(point)

    fulfill_order.apply_async(args=[order.pk], queue=pausing_worker.worker.queue)
    pausing_worker.kill_paused_child(point)

    log = fulfilled_with_one_email(order, product, worker_log, stock=8)
    assert re.findall(rf"Fulfilling order {order.pk}, attempt (\d+) ", log) == ["1", "1"]
    assert attempts_of(order, FULFILL_TASK) == [(1, TaskAttempt.Outcome.LOST), (1, TaskAttempt.Outcome.SUCCEEDED)]
    assert attempts_of(order, EMAIL_TASK) == [(1, TaskAttempt.Outcome.SUCCEEDED)]
    assert_spans_and_logs_clean(
        order, receiver, telemetry, names, info_logs, worker_log, tasks_after_kill=(FULFILL_TASK, EMAIL_TASK)
    )


def test_kill_mid_email_sends_once(product, pausing_worker, receiver, telemetry, names, info_logs):
    worker_log = LogWindow.open(pausing_worker.worker)
    order = paid_order(product, 1)
    pausing_worker.arm(EMAIL_CLAIMED)

    fulfill_order.apply_async(args=[order.pk], queue=pausing_worker.worker.queue)
    pausing_worker.kill_paused_child(EMAIL_CLAIMED)

    log = fulfilled_with_one_email(order, product, worker_log, stock=9)
    assert re.findall(rf"Sending order_confirmation email for order {order.pk}, attempt (\d+) ", log) == ["1", "1"]
    assert attempts_of(order, EMAIL_TASK) == [(1, TaskAttempt.Outcome.LOST), (1, TaskAttempt.Outcome.SUCCEEDED)]
    assert_spans_and_logs_clean(order, receiver, telemetry, names, info_logs, worker_log, tasks_after_kill=(EMAIL_TASK,))


def test_short_visibility_timeout_is_rejected():
    environ = {**os.environ, "CELERY_VISIBILITY_TIMEOUT": "90", "FULFILLMENT_RETRY_BACKOFF_MAX": "120"}

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=environ, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: CELERY_VISIBILITY_TIMEOUT is 90 s, not above FULFILLMENT_RETRY_BACKOFF_MAX of 120 s" in result.stderr
