"""Checkout through Stripe (localstripe or the real test API) and a real Celery worker."""
import boto3
import pytest
from django.conf import settings

from fulfillment.models import EmailDelivery, StockReservation
from orders import payments
from orders.models import Order
from tests.conftest import (
    CUSTOMER,
    checkout_data,
    order_pay_at_stripe,
    three_d_secure_authenticate,
    three_d_secure_payment_method,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fulfillment_worker")]


def order_in_status(order: Order, *statuses: str, timeout: float = 30.0) -> Order:
    def reached():
        order.refresh_from_db()
        return order.status in statuses

    wait_for(reached, timeout=timeout, message=f"order {order.confirmation_id} to reach {statuses}")
    return order


def ses_sent_count() -> int:
    client = boto3.client("ses", endpoint_url=settings.AWS_SES_ENDPOINT_URL, region_name=settings.AWS_REGION)
    return int(client.get_send_quota()["SentLast24Hours"])


def test_happy_path_fulfills_once(shopper, product):
    sent_before = ses_sent_count()

    response = shopper.post("/checkout/", checkout_data())

    assert response.status_code == 302
    order = Order.objects.get()
    assert response["Location"] == f"/orders/{order.confirmation_id}/"
    assert order.status in {Order.Status.PAID, Order.Status.FULFILLED}
    assert order.payment_intent_id.startswith("pi_")
    assert order.total == 2 * 1800
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines.all()] == [("MUG-001", 2, 1800)]

    order_in_status(order, Order.Status.FULFILLED)
    product.refresh_from_db()
    assert product.stock == 8
    assert StockReservation.objects.filter(order=order).count() == 1

    delivery = wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).first(),
        message="the confirmation email to be sent",
    )
    assert delivery.esp_name == "Amazon SES"
    assert delivery.message_id
    assert order.confirmation_id in delivery.subject
    assert order.confirmation_id in delivery.text_body
    assert "<table" in delivery.html_body
    # moto counts each recipient once per header it appears in, so expect growth, not +1.
    assert ses_sent_count() > sent_before


def test_happy_path_empties_cart_and_shows_confirmation(shopper):
    response = shopper.post("/checkout/", checkout_data(), follow=True)

    order = Order.objects.get()
    assert response.status_code == 200
    assert order.confirmation_id in response.content.decode()
    assert "a***@example.org" in response.content.decode()
    assert shopper.get("/cart/").context["cart"].is_empty
    order_in_status(order, Order.Status.FULFILLED)


def test_payment_intent_has_order_metadata(shopper):
    shopper.post("/checkout/", checkout_data())

    order = Order.objects.get()
    intent = payments.stripe_client().v1.payment_intents.retrieve(order.payment_intent_id)
    assert intent.amount == order.total
    assert intent.currency == "usd"
    assert intent.metadata["order_id"] == str(order.pk)
    assert intent.metadata["confirmation_id"] == order.confirmation_id
    order_in_status(order, Order.Status.FULFILLED)


def test_declined_card_keeps_cart(shopper, product):
    response = shopper.post("/checkout/", checkout_data(payment_method="pm_card_visa_chargeDeclined"))

    assert response.status_code == 402
    html = response.content.decode()
    assert "Your card was declined." in html
    assert "Your cart is still here. Try another card." in html
    order = Order.objects.get()
    assert order.status == Order.Status.PAYMENT_FAILED
    assert order.payment_error
    assert len(shopper.get("/cart/").context["cart"]) == 2
    product.refresh_from_db()
    assert product.stock == 10


def test_unknown_payment_method_is_declined(shopper):
    response = shopper.post("/checkout/", checkout_data(payment_method="pm_does_not_exist"))

    assert response.status_code == 402
    assert "The card details could not be found. Enter your card again." in response.content.decode()
    assert Order.objects.get().status == Order.Status.PAYMENT_FAILED


def test_three_d_secure_without_javascript_is_refused(shopper, product):
    response = shopper.post("/checkout/", checkout_data(payment_method=three_d_secure_payment_method()))

    assert response.status_code == 402
    assert "needs 3-D Secure authentication" in response.content.decode()
    order = Order.objects.get()
    assert order.status == Order.Status.PAYMENT_FAILED
    intent = payments.stripe_client().v1.payment_intents.retrieve(order.payment_intent_id)
    assert intent.status == "canceled"


def test_three_d_secure_completed_with_stripe_js(shopper, product):
    response = shopper.post(
        "/checkout/", checkout_data(payment_method=three_d_secure_payment_method(), stripe_js="1")
    )

    assert response.status_code == 200
    assert "orders/authenticate.html" in [template.name for template in response.templates]
    order = Order.objects.get()
    assert order.status == Order.Status.AWAITING_PAYMENT
    client_secret = response.context["client_secret"]
    assert client_secret.startswith(order.payment_intent_id)

    three_d_secure_authenticate(payment_intent_id=order.payment_intent_id, client_secret=client_secret, success=True)

    complete = shopper.get(f"/orders/{order.confirmation_id}/payment/complete/")

    assert complete.status_code == 302
    assert complete["Location"] == f"/orders/{order.confirmation_id}/"
    order_in_status(order, Order.Status.FULFILLED)
    product.refresh_from_db()
    assert product.stock == 8


def test_three_d_secure_failed_authentication(shopper, product):
    response = shopper.post(
        "/checkout/", checkout_data(payment_method=three_d_secure_payment_method(), stripe_js="1")
    )
    order = Order.objects.get()
    three_d_secure_authenticate(
        payment_intent_id=order.payment_intent_id, client_secret=response.context["client_secret"], success=False
    )

    complete = shopper.get(f"/orders/{order.confirmation_id}/payment/complete/", follow=True)

    assert complete.status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PAYMENT_FAILED
    assert "Your cart is still here." in complete.content.decode()
    product.refresh_from_db()
    assert product.stock == 10


def test_declined_page_forgets_the_declined_card(shopper):
    response = shopper.post(
        "/checkout/", checkout_data(payment_method="pm_card_visa_chargeDeclined", checkout_token="first-try")
    )

    html = response.content.decode()
    assert 'name="payment_method" value=""' in html
    assert "pm_card_visa_chargeDeclined" not in html
    assert 'name="checkout_token" value="first-try"' not in html


def test_double_submit_creates_one_order(shopper, product):
    data = checkout_data(checkout_token="token-from-one-page")

    first = shopper.post("/checkout/", data)
    second = shopper.post("/checkout/", data)

    order = Order.objects.get()
    assert first["Location"] == second["Location"] == f"/orders/{order.confirmation_id}/"
    order_in_status(order, Order.Status.FULFILLED)
    product.refresh_from_db()
    assert product.stock == 8


def test_three_d_secure_abandoned_is_cancelled(shopper):
    shopper.post("/checkout/", checkout_data(payment_method=three_d_secure_payment_method(), stripe_js="1"))
    order = Order.objects.get()

    complete = shopper.get(f"/orders/{order.confirmation_id}/payment/complete/", follow=True)

    order.refresh_from_db()
    assert order.status == Order.Status.PAYMENT_FAILED
    assert "Card authentication was not completed." in complete.content.decode()
    assert len(shopper.get("/cart/").context["cart"]) == 2


def test_two_customers_race_for_last_units(product_factory):
    from orders import services

    scarce = product_factory(stock=3)
    # Both orders pass the checkout's stock check before either is fulfilled,
    # as two customers paying at the same moment would.
    orders = [
        services.order_create(lines=[services.CheckoutLine(product=scarce, quantity=2)], customer=CUSTOMER)
        for _ in range(2)
    ]
    for order in orders:
        result = order_pay_at_stripe(order)
        Order.objects.filter(pk=order.pk).update(payment_intent_id=result.payment_intent_id)
        services.order_mark_paid(order_id=order.pk)

    for order in orders:
        order_in_status(order, Order.Status.FULFILLED, Order.Status.OUT_OF_STOCK)
    assert sorted(order.status for order in orders) == [Order.Status.FULFILLED, Order.Status.OUT_OF_STOCK]
    scarce.refresh_from_db()
    assert scarce.stock == 1
    loser = next(order for order in orders if order.status == Order.Status.OUT_OF_STOCK)
    wait_for(lambda: Order.objects.get(pk=loser.pk).refund_id, message="the refund of the order that lost")