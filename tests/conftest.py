import contextlib
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from embedded.ports import find_free_port
from embedded.pytest_plugin import FulfillmentWorker, worker_running
from orders import payments

from shop.models import Product

# Property tests share the test database of a function-scoped fixture across
# examples. Each example makes a new Client and checks that it wrote nothing,
# so the examples cannot leak state into each other. HYPOTHESIS_PROFILE=thorough
# runs many more examples than the default profile, which keeps `make test` fast.
hypothesis_settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.register_profile("thorough", hypothesis_settings.get_profile("default"), max_examples=500)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

CUSTOMER = {
    "email": "ada.lovelace@example.org",
    "full_name": "Ada Lovelace",
    "address_line1": "12 Analytical Row",
    "address_line2": "Flat 3",
    "city": "London",
    "postal_code": "NW1 6XE",
    "country": "GB",
}


def wait_for(condition: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.1, message: str = ""):
    """Poll `condition` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for: {message or condition}")
        time.sleep(interval)


# Attempts of the email task in a worker whose email endpoint is down.
EMAIL_ATTEMPTS = 3


@contextlib.contextmanager
def worker_on_own_queue_running(name: str, extra_env: dict[str, str]) -> Iterator[FulfillmentWorker]:
    """Run a worker with `extra_env` that consumes a queue of its own, which the session's worker never reads."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-{name}"
    # The email task, which the worker enqueues itself, goes to this queue too.
    extra_env = {**extra_env, "CELERY_TASK_DEFAULT_QUEUE": queue}
    with worker_running(name=name, queue=queue, extra_env=extra_env) as worker:
        yield worker


@contextlib.contextmanager
def worker_without_email_running(name: str) -> Iterator[FulfillmentWorker]:
    """Run a worker on its own queue whose SES endpoint is a closed loopback port, so every send fails to connect."""
    extra_env = {
        "AWS_SES_ENDPOINT_URL": f"http://127.0.0.1:{find_free_port()}",
        # Otherwise botocore retries the connection itself before the task gets the error.
        "AWS_MAX_ATTEMPTS": "1",
        "EMAIL_MAX_ATTEMPTS": str(EMAIL_ATTEMPTS),
    }
    with worker_on_own_queue_running(name, extra_env) as worker:
        yield worker


def order_pay_at_stripe(order, payment_method_id: str = "pm_card_visa") -> payments.PaymentResult:
    """Confirm a PaymentIntent for the order at the embedded Stripe, as the checkout does, and return the result."""
    return payments.payment_intent_confirm(
        amount=order.total,
        currency=order.currency,
        payment_method_id=payment_method_id,
        order_id=order.pk,
        confirmation_id=order.confirmation_id,
    )


def three_d_secure_payment_method() -> str:
    """Create a PaymentMethod for Stripe's test card that always requires 3-D Secure."""
    method = payments.stripe_client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return method.id


def three_d_secure_authenticate(*, payment_intent_id: str, client_secret: str, success: bool) -> None:
    """Complete or fail the bank's step, as localstripe's Stripe.js does with the publishable key."""
    requests.post(
        f"{settings.STRIPE_API_BASE}/v1/payment_intents/{payment_intent_id}/_authenticate",
        params={"success": "true" if success else "false"},
        json={"key": settings.STRIPE_PUBLISHABLE_KEY, "client_secret": client_secret},
        timeout=10,
    ).raise_for_status()


def stripe_signature(payload: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    """Return a Stripe-Signature header for `payload`, as Stripe computes it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    secret = settings.STRIPE_WEBHOOK_SECRET if secret is None else secret
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def payment_succeeded_event(*, payment_intent_id: str, order_id: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{payment_intent_id}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": payment_intent_id,
                    "object": "payment_intent",
                    "status": "succeeded",
                    "metadata": {"order_id": str(order_id)},
                }
            },
        }
    ).encode()


def stored_rows() -> dict:
    """Return the rows and values that a rejected request must leave as they were."""
    from django.contrib.auth import get_user_model

    from fulfillment.models import EmailDelivery, StockReservation, TaskAttempt
    from orders.models import Order, OrderLine

    return {
        "orders": list(Order.objects.order_by("pk").values_list("pk", "status", "payment_intent_id", "updated_at")),
        "order lines": OrderLine.objects.count(),
        "products": list(Product.objects.order_by("pk").values_list("pk", "stock", "price", "currency")),
        "stock reservations": StockReservation.objects.count(),
        "email deliveries": EmailDelivery.objects.count(),
        "task attempts": TaskAttempt.objects.count(),
        "users": list(get_user_model().objects.order_by("pk").values_list("pk", "last_login")),
    }


@pytest.fixture(scope="session", autouse=True)
def stray_database_sessions_ended(django_db_setup, django_db_blocker) -> Iterator[None]:
    """End the database sessions that the run left open, so that PostgreSQL can drop the test database.

    The browser test's live server serves Chromium's kept-alive connection
    in a thread that keeps its database connection after the test. Session
    fixtures set up after this one, such as the Celery worker, are torn down
    before it, so only such leftovers remain here.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def configured_email_backend(settings):
    """Send through the configured ESP (the embedded SES), not the in-memory outbox Django's test setup installs."""
    from config.settings import base

    settings.EMAIL_BACKEND = base.EMAIL_BACKEND


@pytest.fixture
def product_factory(db):
    counter = iter(range(1, 10_000))

    def create(**overrides) -> Product:
        number = next(counter)
        values = {
            "name": f"Test Product {number}",
            "slug": f"test-product-{number}",
            "sku": f"TST-{number:03d}",
            "description": "A product made for a test.",
            "price": 2500,
            "currency": "usd",
            "image": "shop/products/placeholder.svg",
            "stock": 10,
        }
        values.update(overrides)
        return Product.objects.create(**values)

    return create


@pytest.fixture
def product(product_factory) -> Product:
    return product_factory(name="Trail Mug", sku="MUG-001", price=1800, stock=10)


def checkout_data(**overrides) -> dict:
    data = dict(CUSTOMER, payment_method="pm_card_visa")
    data.update(overrides)
    return data


def cart_add(client: Client, product: Product, quantity: int = 1) -> None:
    response = client.post("/cart/add/", {"product": product.pk, "quantity": quantity})
    assert response.status_code == 302, response.content[:500]


@pytest.fixture
def shopper(client, product) -> Client:
    """A client with one Trail Mug in its cart."""
    cart_add(client, product, 2)
    return client
