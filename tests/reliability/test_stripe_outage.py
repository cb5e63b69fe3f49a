"""Stripe down or slow while a customer checks out.

The checkout runs in this process against localstripe behind a fault
proxy, with a one-second Stripe timeout. localstripe's embedded server
replays requests by idempotency key, as Stripe does, so a retried request
that reached Stripe returns the first PaymentIntent instead of a second.
"""
from collections.abc import Iterator

import pytest
import stripe
from django.conf import settings

from orders.models import Order
from orders.views import PAYMENT_NOT_CONFIRMED
from tests.conftest import checkout_data
from tests.orders.test_checkout_flow import order_in_status
from tests.orders.test_webhook import WEBHOOK_URL
from tests.reliability.conftest import webhook_register
from tests.reliability.fault_proxy import FaultProxy, Mode, fault_proxy_running
from tests.tracing.test_privacy import assert_nothing_leaked, forbidden_values

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fulfillment_worker")]

STRIPE_TIMEOUT_SECONDS = 1.0
# Longer than the timeout, so each try of stripe-python times out while localstripe still does the work.
SLOW_REPLY_SECONDS = 2.5
# localstripe lists at most this many objects per page, and the run creates far fewer.
LIST_LIMIT = 10_000


@pytest.fixture(scope="module")
def stripe_proxy() -> Iterator[FaultProxy]:
    with fault_proxy_running(settings.STRIPE_API_BASE) as proxy:
        yield proxy


@pytest.fixture
def stripe_behind_proxy(stripe_proxy, settings) -> Iterator[FaultProxy]:
    settings.STRIPE_API_BASE = stripe_proxy.url
    settings.STRIPE_TIMEOUT_SECONDS = STRIPE_TIMEOUT_SECONDS
    yield stripe_proxy
    stripe_proxy.set_mode(Mode.FORWARD)


def payment_intents_of(order: Order, proxy: FaultProxy) -> list:
    """Return the PaymentIntents that localstripe holds for the order, read past the proxy."""
    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": proxy.upstream_url})
    listed = client.v1.payment_intents.list(params={"limit": LIST_LIMIT})
    return [intent for intent in listed.data if intent.metadata.to_dict().get("confirmation_id") == order.confirmation_id]


def checkout_unconfirmed(shopper, data: dict) -> Order:
    """Submit the checkout while Stripe fails, check the reply, and return the order it left."""
    response = shopper.post("/checkout/", data)

    assert response.status_code == 503
    html = response.content.decode()
    assert PAYMENT_NOT_CONFIRMED in html
    order = Order.objects.get()
    assert f'name="checkout_token" value="{order.checkout_token}"' in html
    assert len(shopper.get("/cart/").context["cart"]) == 2
    return order


def assert_awaiting_payment(order: Order) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert order.payment_intent_id == ""
    assert order.paid_at is None


def resubmit_until_fulfilled(shopper, data: dict, order: Order, product) -> None:
    response = shopper.post("/checkout/", {**data, "checkout_token": order.checkout_token})

    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.confirmation_id}/"
    assert Order.objects.count() == 1
    order_in_status(order, Order.Status.FULFILLED)
    product.refresh_from_db()
    assert product.stock == 8


def test_stripe_down_then_back(no_webhook, stripe_behind_proxy, shopper, product, receiver, telemetry, info_logs):
    stripe_behind_proxy.set_mode(Mode.REFUSE)
    data = checkout_data()

    order = checkout_unconfirmed(shopper, data)

    assert_awaiting_payment(order)
    assert payment_intents_of(order, stripe_behind_proxy) == []
    product.refresh_from_db()
    assert product.stock == 10
    mistyped = shopper.post("/checkout/", {**data, "email": "not-an-address", "checkout_token": order.checkout_token})
    assert mistyped.status_code == 400
    assert f'name="checkout_token" value="{order.checkout_token}"' in mistyped.content.decode()

    stripe_behind_proxy.set_mode(Mode.FORWARD)
    resubmit_until_fulfilled(shopper, data, order, product)

    assert [intent.status for intent in payment_intents_of(order, stripe_behind_proxy)] == ["succeeded"]
    telemetry.telemetry_flush()
    assert_nothing_leaked(receiver, info_logs, forbidden_values(client_secret=""))


def test_stripe_slow_charges_once(no_webhook, stripe_behind_proxy, shopper, product, receiver, telemetry, info_logs):
    stripe_behind_proxy.set_mode(Mode.SLOW, response_delay=SLOW_REPLY_SECONDS)
    data = checkout_data()

    order = checkout_unconfirmed(shopper, data)

    assert_awaiting_payment(order)
    # Every try reached localstripe, and the idempotency key made the retries replays.
    charged = payment_intents_of(order, stripe_behind_proxy)
    assert [intent.status for intent in charged] == ["succeeded"]

    stripe_behind_proxy.set_mode(Mode.FORWARD)
    # Stripe.js makes a new PaymentMethod for every submission of the form.
    resubmit_until_fulfilled(shopper, {**data, "payment_method": "pm_card_mastercard"}, order, product)

    assert [intent.id for intent in payment_intents_of(order, stripe_behind_proxy)] == [charged[0].id]
    order.refresh_from_db()
    assert order.payment_intent_id == charged[0].id
    telemetry.telemetry_flush()
    client_secret = charged[0].client_secret
    assert_nothing_leaked(receiver, info_logs, forbidden_values(client_secret=client_secret))


def test_webhook_settles_slow_payment(stripe_behind_proxy, live_server, shopper, product):
    webhook_register(stripe_behind_proxy.upstream_url, f"{live_server.url}{WEBHOOK_URL}")
    stripe_behind_proxy.set_mode(Mode.SLOW, response_delay=SLOW_REPLY_SECONDS)
    data = checkout_data()

    order = checkout_unconfirmed(shopper, data)

    # Stripe charged the card without replying in time, and its payment_intent.succeeded webhook reports the charge.
    order_in_status(order, Order.Status.FULFILLED)
    charged = payment_intents_of(order, stripe_behind_proxy)
    assert [intent.id for intent in charged] == [order.payment_intent_id]
    stripe_behind_proxy.set_mode(Mode.FORWARD)

    response = shopper.post("/checkout/", {**data, "checkout_token": order.checkout_token})

    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.confirmation_id}/"
    assert Order.objects.count() == 1
    assert [intent.id for intent in payment_intents_of(order, stripe_behind_proxy)] == [order.payment_intent_id]
    product.refresh_from_db()
    assert product.stock == 8


def test_one_slow_reply_is_retried_once(stripe_behind_proxy, shopper, product):
    stripe_behind_proxy.set_mode(Mode.SLOW, connections=1, response_delay=SLOW_REPLY_SECONDS)

    response = shopper.post("/checkout/", checkout_data())

    assert response.status_code == 302
    order = Order.objects.get()
    assert [intent.id for intent in payment_intents_of(order, stripe_behind_proxy)] == [order.payment_intent_id]
    order_in_status(order, Order.Status.FULFILLED)
    product.refresh_from_db()
    assert product.stock == 8


def test_stripe_unavailable_keeps_order_unpaid(stripe_behind_proxy, shopper, product):
    stripe_behind_proxy.set_mode(Mode.UNAVAILABLE)

    order = checkout_unconfirmed(shopper, checkout_data())

    assert_awaiting_payment(order)
    assert payment_intents_of(order, stripe_behind_proxy) == []
    product.refresh_from_db()
    assert product.stock == 10
