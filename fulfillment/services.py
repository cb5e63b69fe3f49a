"""Fulfillment of a paid order: reserve stock, send the confirmation, record the outcome."""
import datetime
import logging

from django.db import transaction
from django.utils import timezone

from fulfillment import emails, stock
from fulfillment.errors import InsufficientStock
from fulfillment.models import EmailDelivery
from orders import payments
from orders.models import Order

logger = logging.getLogger(__name__)

# A delivery claimed longer ago than this belongs to an attempt that died
# mid-send (its worker was killed), so a later attempt may take it over.
EMAIL_CLAIM_TIMEOUT = datetime.timedelta(minutes=5)

OUT_OF_STOCK_REASON = "{sku} sold out before we could reserve it, so your payment has been refunded in full."
FAILED_REASON = "We could not complete your order after several attempts. Our team will contact you."


def order_fulfill(*, order_id: int) -> Order | None:
    """Run every fulfillment step that has not yet succeeded for the order.

    Safe to call again for the same order: each step records what it did,
    and an order that is no longer waiting for fulfillment is left alone.
    """
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        logger.warning("Order %s does not exist; its fulfillment task is dropped", order_id)
        return None
    if order.status != Order.Status.PAID:
        logger.info("Order %s is %s, not waiting for fulfillment; nothing to do", order.pk, order.status)
        return order

    try:
        stock.stock_reserve(order=order)
    except InsufficientStock as exc:
        order_mark_out_of_stock(order=order, exc=exc)
        return order

    confirmation_email_send(order=order)
    return order_mark_fulfilled(order=order)


def confirmation_email_send(*, order: Order) -> EmailDelivery:
    """Send the order's confirmation email unless it was already sent.

    A delivery row is claimed with a conditional UPDATE before sending, so
    two attempts running at once send one email, not two.
    """
    delivery, _ = EmailDelivery.objects.get_or_create(
        order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION, defaults={"to": order.email}
    )
    if delivery.status == EmailDelivery.Status.SENT:
        return delivery

    now = timezone.now()
    claimable = EmailDelivery.objects.filter(pk=delivery.pk).exclude(status=EmailDelivery.Status.SENT)
    claimable = claimable.exclude(status=EmailDelivery.Status.SENDING, claimed_at__gt=now - EMAIL_CLAIM_TIMEOUT)
    if not claimable.update(status=EmailDelivery.Status.SENDING, claimed_at=now):
        logger.info("Confirmation email for order %s is being sent by another attempt", order.pk)
        return delivery

    rendered = emails.confirmation_email_render(order=order)
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        subject=rendered.subject, text_body=rendered.text_body, html_body=rendered.html_body, to=rendered.to
    )
    try:
        sent = emails.email_send(email=rendered, order_id=order.pk)
    except Exception as exc:
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            status=EmailDelivery.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], claimed_at=None
        )
        raise

    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=EmailDelivery.Status.SENT,
        esp_name=sent.esp_name,
        message_id=sent.message_id,
        error="",
        sent_at=timezone.now(),
    )
    delivery.refresh_from_db()
    return delivery


def order_mark_fulfilled(*, order: Order) -> Order:
    Order.objects.filter(pk=order.pk, status=Order.Status.PAID).update(
        status=Order.Status.FULFILLED, fulfilled_at=timezone.now(), updated_at=timezone.now()
    )
    order.refresh_from_db()
    logger.info("Order %s fulfilled", order.pk)
    return order


def order_mark_out_of_stock(*, order: Order, exc: InsufficientStock) -> Order:
    """Record that an item ran out, and refund the payment."""
    with transaction.atomic():
        updated = Order.objects.filter(pk=order.pk, status=Order.Status.PAID).update(
            status=Order.Status.OUT_OF_STOCK,
            failure_reason=OUT_OF_STOCK_REASON.format(sku=exc.sku),
            updated_at=timezone.now(),
        )
    logger.warning("Order %s could not be fulfilled: %s", order.pk, exc)
    if updated and order.payment_intent_id:
        # The idempotency key makes a repeated refund request harmless.
        refund_id = payments.payment_refund(
            payment_intent_id=order.payment_intent_id, confirmation_id=order.confirmation_id
        )
        logger.info("Refunded order %s: %s", order.pk, refund_id)
    order.refresh_from_db()
    return order


def order_mark_fulfillment_failed(*, order_id: int, exc: BaseException) -> None:
    """Record that fulfillment gave up after its last attempt."""
    Order.objects.filter(pk=order_id, status=Order.Status.PAID).update(
        status=Order.Status.FULFILLMENT_FAILED, failure_reason=FAILED_REASON, updated_at=timezone.now()
    )
    logger.error("Fulfillment of order %s failed for good: %s", order_id, type(exc).__name__)
