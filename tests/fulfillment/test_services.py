"""Fulfillment steps called in this process, against the real Stripe and ESP endpoints."""
import pytest
from django.utils import timezone

from fulfillment import services
from fulfillment.delivery import EMAIL_CLAIM_TIMEOUT, delivery_send
from fulfillment.models import EmailDelivery, StockReservation
from orders import payments
from orders import services as order_services
from orders.models import Order
from tests.conftest import CUSTOMER, order_pay_at_stripe


def paid_order(product, quantity: int = 1) -> Order:
    """Create an order, pay it at Stripe and mark it paid without enqueueing a task."""
    order = order_services.order_create(
        lines=[order_services.CheckoutLine(product=product, quantity=quantity)], customer=CUSTOMER
    )
    result = order_pay_at_stripe(order)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID, payment_intent_id=result.payment_intent_id)
    order.refresh_from_db()
    return order


@pytest.mark.django_db
def test_fulfill_twice_reserves_once(product):
    order = paid_order(product, 2)

    services.order_fulfill(order_id=order.pk)
    services.order_fulfill(order_id=order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert order.fulfilled_at is not None
    product.refresh_from_db()
    assert product.stock == 8
    confirmation = EmailDelivery.objects.get(order=order)
    assert confirmation.kind == EmailDelivery.Kind.ORDER_CONFIRMATION
    assert confirmation.status == EmailDelivery.Status.PENDING


@pytest.mark.django_db
def test_email_sent_once(product):
    order = paid_order(product, 1)
    services.order_fulfill(order_id=order.pk)

    services.order_email_send(order_id=order.pk, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)
    services.order_email_send(order_id=order.pk, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)

    delivery = EmailDelivery.objects.get(order=order)
    assert delivery.status == EmailDelivery.Status.SENT
    assert delivery.message_id
    assert delivery.from_email == "orders@shop.example.com"


@pytest.mark.django_db
def test_inline_email_fulfills_in_one_step(product):
    order = paid_order(product, 1)

    services.order_fulfill(order_id=order.pk, send_email_inline=True)

    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert EmailDelivery.objects.get(order=order).status == EmailDelivery.Status.SENT


@pytest.mark.django_db
def test_stock_reserved_earlier_is_not_taken_again(product):
    order = paid_order(product, 2)
    services.stock.stock_reserve(order=order)

    services.order_fulfill(order_id=order.pk)

    product.refresh_from_db()
    assert product.stock == 8


@pytest.mark.django_db
def test_out_of_stock_refunds_payment(product):
    order = paid_order(product, 2)
    product.stock = 1
    product.save()

    services.order_fulfill(order_id=order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.OUT_OF_STOCK
    assert "sold out" in order.failure_reason
    assert product.name in order.failure_reason
    assert order.refund_id.startswith("re_")
    refunds = payments.stripe_client().v1.refunds.list(params={"payment_intent": order.payment_intent_id, "limit": 100})
    # localstripe 1.15 ignores the payment_intent filter, so filter here too.
    amounts = [refund.amount for refund in refunds.data if refund.payment_intent == order.payment_intent_id]
    assert amounts == [order.total]
    notice = EmailDelivery.objects.get(order=order)
    assert notice.kind == EmailDelivery.Kind.OUT_OF_STOCK
    assert not StockReservation.objects.filter(order=order).exists()


@pytest.mark.django_db
def test_unpaid_order_is_left_alone(product):
    order = order_services.order_create(
        lines=[order_services.CheckoutLine(product=product, quantity=1)], customer=CUSTOMER
    )

    services.order_fulfill(order_id=order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT
    product.refresh_from_db()
    assert product.stock == 10


@pytest.mark.django_db
def test_missing_order_is_dropped():
    assert services.order_fulfill(order_id=123_456) is None


@pytest.mark.django_db
def test_crashed_send_is_taken_over(product):
    order = paid_order(product, 1)
    delivery = EmailDelivery.objects.create(
        order=order,
        kind=EmailDelivery.Kind.ORDER_CONFIRMATION,
        to=order.email,
        status=EmailDelivery.Status.SENDING,
        claimed_at=timezone.now() - EMAIL_CLAIM_TIMEOUT * 2,
    )

    delivery_send(order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)

    delivery.refresh_from_db()
    assert delivery.status == EmailDelivery.Status.SENT


@pytest.mark.django_db
def test_fresh_claim_is_not_sent_twice(product):
    order = paid_order(product, 1)
    delivery = EmailDelivery.objects.create(
        order=order,
        kind=EmailDelivery.Kind.ORDER_CONFIRMATION,
        to=order.email,
        status=EmailDelivery.Status.SENDING,
        claimed_at=timezone.now(),
    )

    delivery_send(order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)

    delivery.refresh_from_db()
    assert delivery.status == EmailDelivery.Status.SENDING


@pytest.mark.django_db
def test_failed_refund_is_retried(product):
    order = paid_order(product, 2)
    real_intent = order.payment_intent_id
    Order.objects.filter(pk=order.pk).update(payment_intent_id="pi_unknown_to_stripe")
    product.stock = 1
    product.save()

    with pytest.raises(payments.PaymentServiceError):
        services.order_fulfill(order_id=order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.OUT_OF_STOCK
    assert order.refund_id == ""
    assert not EmailDelivery.objects.filter(order=order).exists()

    Order.objects.filter(pk=order.pk).update(payment_intent_id=real_intent)
    services.order_fulfill(order_id=order.pk)

    order.refresh_from_db()
    assert order.refund_id.startswith("re_")
    assert EmailDelivery.objects.get(order=order).kind == EmailDelivery.Kind.OUT_OF_STOCK
