"""The payment_intent.succeeded webhook, from Stripe's signature to the fulfillment task."""
import json

import pytest
import requests
from django.conf import settings

from fulfillment.models import StockReservation
from orders import payments, services
from orders.models import Order
from tests.conftest import CUSTOMER, order_pay_at_stripe, payment_succeeded_event, stripe_signature, wait_for

WEBHOOK_URL = "/stripe/webhook/"


def post_event(client, payload: bytes, signature: str):
    return client.post(WEBHOOK_URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def awaiting_order(product, quantity: int = 1) -> Order:
    line = services.CheckoutLine(product=product, quantity=quantity)
    return services.order_create(lines=[line], customer=CUSTOMER)


@pytest.mark.django_db
def test_missing_signature_is_rejected(client):
    response = client.post(WEBHOOK_URL, b"{}", content_type="application/json")

    assert response.status_code == 400
    assert b"Stripe-Signature" in response.content


@pytest.mark.django_db
def test_wrong_secret_is_rejected(client, product):
    order = awaiting_order(product)
    payload = payment_succeeded_event(payment_intent_id="pi_forged", order_id=order.pk)

    response = post_event(client, payload, stripe_signature(payload, secret="whsec_wrong"))

    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT


@pytest.mark.django_db
def test_malformed_payload_is_rejected(client):
    payload = b"not json"

    response = post_event(client, payload, stripe_signature(payload))

    assert response.status_code == 400


@pytest.mark.django_db
def test_unknown_payment_intent_is_ignored(client):
    payload = payment_succeeded_event(payment_intent_id="pi_unknown", order_id=999_999)

    response = post_event(client, payload, stripe_signature(payload))

    assert response.status_code == 200
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_other_event_types_are_acknowledged(client):
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "charge.refunded", "data": {"object": {}}}).encode()

    response = post_event(client, payload, stripe_signature(payload))

    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_same_event_twice_enqueues_once(client, product, fulfillment_worker):
    order = awaiting_order(product, quantity=3)
    payload = payment_succeeded_event(payment_intent_id="pi_twice", order_id=order.pk)

    first = post_event(client, payload, stripe_signature(payload))
    second = post_event(client, payload, stripe_signature(payload))

    assert first.status_code == second.status_code == 200
    wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED, message="fulfillment")
    order.refresh_from_db()
    assert order.payment_intent_id == "pi_twice"
    product.refresh_from_db()
    assert product.stock == 7
    assert StockReservation.objects.filter(order=order).count() == 1
    assert fulfillment_worker.log_text().count(f"Fulfilling order {order.pk}, attempt 1 ") == 1


@pytest.mark.django_db(transaction=True)
def test_stripe_webhook_fulfills_when_browser_never_returns(live_server, product, fulfillment_worker):
    if not settings.STRIPE_SECRET_KEY.startswith("sk_test_localstripe"):
        pytest.skip("Registering a webhook endpoint at runtime needs localstripe; set no STRIPE_SECRET_KEY.")
    requests.post(
        f"{settings.STRIPE_API_BASE}/_config/webhooks/tests",
        data={"url": f"{live_server.url}{WEBHOOK_URL}", "secret": settings.STRIPE_WEBHOOK_SECRET},
        timeout=10,
    ).raise_for_status()
    order = awaiting_order(product, quantity=2)

    # The browser pays and then disappears, so the shop gets no result from it.
    result = order_pay_at_stripe(order)
    assert result.outcome is payments.PaymentOutcome.SUCCEEDED

    wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED, message="fulfillment")
    order.refresh_from_db()
    assert order.payment_intent_id == result.payment_intent_id
    product.refresh_from_db()
    assert product.stock == 8
