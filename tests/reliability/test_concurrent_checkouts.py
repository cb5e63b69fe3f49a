"""A hundred customers check out the last twenty units at once, through a real web server and worker.

gunicorn serves the checkouts with several processes and threads, and
sends the fulfillment tasks to a queue of their own. The worker for that
queue starts once every checkout has replied, so all hundred orders are
paid before any stock is reserved, and its children then race for the
twenty units. The test runs on whichever database the suite uses, SQLite
by default and PostgreSQL in the second CI pass.
"""
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db.models import Sum

from embedded.pytest_plugin import worker_running
from fulfillment.models import EmailDelivery, StockReservation
from orders import payments
from orders.models import Order
from shop.models import Product
from tests.conftest import wait_for
from tests.reliability.web_server import HttpShopper, confirmation_id_of, web_server_running
from tests.tracing.test_privacy import LogWindow, assert_nothing_leaked, forbidden_values

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = 100
STOCK = 20
# Enough threads that every checkout is in flight at once. gunicorn queues what its threads cannot take.
CLIENT_THREADS = CUSTOMERS
FULFILLMENT_TIMEOUT = 180
# localstripe returns at most this many objects per list call, far more than a run creates.
LIST_LIMIT = 10_000


def checkouts_at_once(shoppers: list[HttpShopper], product: Product) -> list:
    """Fill every cart, then send every checkout in the same instant. Return the responses in shopper order."""
    start = threading.Barrier(len(shoppers))

    def buy(shopper: HttpShopper):
        shopper.cart_add(product)
        start.wait(timeout=120)
        return shopper.checkout()

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        return list(pool.map(buy, shoppers))


def stock_watched(product: Product, stop: threading.Event, seen: list[int]) -> None:
    """Read the product's stock every few milliseconds until `stop` is set, appending each value to `seen`."""
    from django.db import connection

    try:
        while not stop.is_set():
            seen.append(Product.objects.values_list("stock", flat=True).get(pk=product.pk))
            stop.wait(0.005)
    finally:
        connection.close()


def test_hundred_checkouts_for_twenty_units(no_webhook, product_factory, receiver, telemetry, info_logs):
    product = product_factory(name="Last Mugs", slug="last-mugs", stock=STOCK)
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-concurrency"
    queue_env = {"CELERY_TASK_DEFAULT_QUEUE": queue}

    with web_server_running(name="web-concurrency", extra_env=queue_env, workers=2, threads=8) as web:
        web_log = LogWindow(web.process.log_path, 0)
        shoppers = [HttpShopper(web.url) for _ in range(CUSTOMERS)]
        responses = checkouts_at_once(shoppers, product)

    assert [response.status_code for response in responses] == [302] * CUSTOMERS
    confirmation_ids = [confirmation_id_of(response) for response in responses]
    assert len(set(confirmation_ids)) == CUSTOMERS
    assert Order.objects.filter(status=Order.Status.PAID).count() == CUSTOMERS
    product.refresh_from_db()
    assert product.stock == STOCK

    stop_watching, stock_seen = threading.Event(), []
    watcher = threading.Thread(target=stock_watched, args=(product, stop_watching, stock_seen))
    watcher.start()
    try:
        with worker_running(name="worker-concurrency", queue=queue, extra_env=queue_env, concurrency=4) as worker:
            worker_log = LogWindow(worker.log_path, 0)
            wait_for(
                lambda: not Order.objects.filter(status=Order.Status.PAID).exists()
                and not Order.objects.filter(status=Order.Status.OUT_OF_STOCK, refund_id="").exists()
                and EmailDelivery.objects.filter(status=EmailDelivery.Status.SENT).count() == CUSTOMERS,
                timeout=FULFILLMENT_TIMEOUT,
                interval=0.5,
                message="every order to be fulfilled or refunded and every customer emailed",
            )
    finally:
        stop_watching.set()
        watcher.join()

    orders = Order.objects.filter(confirmation_id__in=confirmation_ids)
    fulfilled = orders.filter(status=Order.Status.FULFILLED)
    out_of_stock = orders.filter(status=Order.Status.OUT_OF_STOCK)
    assert fulfilled.count() == STOCK
    assert out_of_stock.count() == CUSTOMERS - STOCK
    assert not out_of_stock.filter(refund_id="").exists()
    assert out_of_stock.exclude(reservations=None).count() == 0
    product.refresh_from_db()
    assert product.stock == 0
    assert StockReservation.objects.filter(product=product).aggregate(total=Sum("quantity"))["total"] == STOCK
    assert sorted(set(fulfilled.values_list("reservations__order_id", flat=True))) == sorted(
        fulfilled.values_list("pk", flat=True)
    )
    assert stock_seen, "the watcher read no stock level"
    assert min(stock_seen) >= 0
    kinds = sorted(EmailDelivery.objects.filter(order__in=orders).values_list("kind", flat=True))
    assert kinds.count(EmailDelivery.Kind.ORDER_CONFIRMATION) == STOCK
    assert kinds.count(EmailDelivery.Kind.OUT_OF_STOCK) == CUSTOMERS - STOCK

    refunds = payments.stripe_client().v1.refunds.list(params={"limit": LIST_LIMIT}).data
    refunded = Counter(refund.payment_intent for refund in refunds)
    for order in out_of_stock:
        assert refunded[order.payment_intent_id] == 1
    for order in fulfilled:
        assert refunded[order.payment_intent_id] == 0
    refund_amounts = {refund.id: refund.amount for refund in refunds}
    assert [refund_amounts[order.refund_id] for order in out_of_stock] == [order.total for order in out_of_stock]
    telemetry.telemetry_flush()
    assert_nothing_leaked(
        receiver, info_logs, forbidden_values(client_secret=""), ("web server", web_log), ("worker", worker_log)
    )
