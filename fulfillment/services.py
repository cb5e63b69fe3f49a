"""Fulfillment of a paid order: reserve stock, confirm the order, send its emails, record the outcome."""
import logging

from django.db import transaction
from django.utils import timezone

from fulfillment.enqueue import task_send_on_commit
from fulfillment import delivery, stock
from fulfillment.errors import InsufficientStock
from fulfillment.faults import REPEAT_STOCK_UPDATE, fault_enabled
from fulfillment.models import EmailDelivery
from fulfillment.pause_points import STOCK_COMMITTED, pause_point
from orders import payments
from orders.models import Order

logger = logging.getLogger(__name__)

OUT_OF_STOCK_REASON = "{name} sold out before we could reserve it, so we are refunding your payment in full."
FAILED_REASON = "We could not complete your order after several attempts. Our team will contact you."


def order_fulfill(*, order_id: int, stock_seen: dict[str, int] | None = None, send_email_inline: bool = False) -> Order | None:
    """Reserve the order's stock and confirm it; then send the confirmation email.

    By default the email is a task of its own, enqueued once the order is
    confirmed, so an email retry never runs the stock step again. With
    `send_email_inline` (the workshop's `retry_whole_task` fault) the email
    is sent here and any error fails the whole attempt.

    Safe to call again for the same order: an order that is no longer
    waiting for fulfillment is left alone, and stock reservations are
    recorded per line.
    """
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        logger.warning("Order %s does not exist; its fulfillment task is dropped", order_id)
        return None
    if order.status == Order.Status.OUT_OF_STOCK and not order.refund_id:
        # An earlier attempt recorded the shortage but could not refund.
        return order_refund(order=order)
    if order.status != Order.Status.PAID:
        logger.info("Order %s is %s, not waiting for fulfillment; nothing to do", order.pk, order.status)
        return order

    try:
        if fault_enabled(REPEAT_STOCK_UPDATE):
            stock.stock_update_against_seen(order=order, stock_seen=stock_seen or {})
        else:
            stock.stock_reserve(order=order)
    except InsufficientStock as exc:
        return order_mark_out_of_stock(order=order, exc=exc)
    pause_point(STOCK_COMMITTED)

    if send_email_inline:
        delivery.delivery_send(order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)
        return order_mark_fulfilled(order=order, enqueue_email=False)
    return order_mark_fulfilled(order=order, enqueue_email=True)


def order_email_send(*, order_id: int, kind: str, claimant: str = "", redelivered: bool = False) -> EmailDelivery | None:
    """Send one email about the order. Raise the ESP's error so the task can decide on a retry.

    `claimant` and `redelivered` describe the sending task (see delivery.delivery_send).
    """
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        logger.warning("Order %s does not exist; its %s email is dropped", order_id, kind)
        return None
    return delivery.delivery_send(order=order, kind=kind, claimant=claimant, redelivered=redelivered)


def email_enqueue(*, order_id: int, kind: str) -> None:
    """Send the email task once the current transaction commits, in the current trace.

    If Redis is down, the delivery row stays pending until the order sweeper sends the task.
    """
    from fulfillment.tasks import send_order_email

    task_send_on_commit(send_order_email, order_id, kind, order_id=order_id)


def email_mark_failed(*, order_id: int, kind: str, exc: BaseException, retrying: bool) -> None:
    """Record a failed send on the delivery row: RETRYING when the task retries, otherwise FAILED.

    A FAILED email is not retried; staff can resend it from the admin.
    """
    status = EmailDelivery.Status.RETRYING if retrying else EmailDelivery.Status.FAILED
    delivery_row = EmailDelivery.objects.filter(order_id=order_id, kind=kind).first()
    if delivery_row is not None and delivery_row.status != EmailDelivery.Status.SENT:
        delivery.delivery_record_failure(delivery_id=delivery_row.pk, exc=exc, status=status)
    if not retrying:
        logger.error("The %s email for order %s was not sent: %s", kind, order_id, type(exc).__name__)


def email_resend(*, delivery_row: EmailDelivery) -> bool:
    """Queue a failed email again. Return False if it was sent or is being sent."""
    with transaction.atomic():
        if not delivery.delivery_reset_for_resend(delivery=delivery_row):
            return False
        email_enqueue(order_id=delivery_row.order_id, kind=delivery_row.kind)
    logger.info("The %s email for order %s was queued again by staff", delivery_row.kind, delivery_row.order_id)
    return True


def order_mark_fulfilled(*, order: Order, enqueue_email: bool) -> Order:
    with transaction.atomic():
        updated = Order.objects.filter(pk=order.pk, status=Order.Status.PAID).update(
            status=Order.Status.FULFILLED, fulfilled_at=timezone.now(), updated_at=timezone.now()
        )
        if updated and enqueue_email:
            delivery.delivery_get(order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)
            email_enqueue(order_id=order.pk, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)
    order.refresh_from_db()
    logger.info("Order %s fulfilled", order.pk)
    return order


def order_mark_out_of_stock(*, order: Order, exc: InsufficientStock) -> Order:
    """Record that an item ran out, then refund the payment and tell the customer by email."""
    updated = Order.objects.filter(pk=order.pk, status=Order.Status.PAID).update(
        status=Order.Status.OUT_OF_STOCK,
        failure_reason=OUT_OF_STOCK_REASON.format(name=exc.name),
        updated_at=timezone.now(),
    )
    logger.warning("Order %s could not be fulfilled: %s", order.pk, exc)
    order.refresh_from_db()
    if not updated:
        return order
    return order_refund(order=order)


def order_refund(*, order: Order) -> Order:
    """Refund an out-of-stock order in full, then send the out-of-stock email.

    A Stripe failure raises PaymentServiceError, a transient error, so the
    task retries. The retry finds the order out of stock without a refund
    and calls this function again. Stripe's idempotency key keeps the retry from
    refunding twice.
    """
    if order.payment_intent_id and not order.refund_id:
        refund_id = payments.payment_refund(
            payment_intent_id=order.payment_intent_id, confirmation_id=order.confirmation_id, order_id=order.pk
        )
        Order.objects.filter(pk=order.pk).update(refund_id=refund_id, updated_at=timezone.now())
        logger.info("Refunded order %s: %s", order.pk, refund_id)

    with transaction.atomic():
        notice = delivery.delivery_get(order=order, kind=EmailDelivery.Kind.OUT_OF_STOCK)
        if notice.status == EmailDelivery.Status.PENDING:
            email_enqueue(order_id=order.pk, kind=EmailDelivery.Kind.OUT_OF_STOCK)
    order.refresh_from_db()
    return order


def order_mark_fulfillment_failed(*, order_id: int, exc: BaseException) -> None:
    """Record that fulfillment gave up after its last attempt."""
    Order.objects.filter(pk=order_id, status=Order.Status.PAID).update(
        status=Order.Status.FULFILLMENT_FAILED, failure_reason=FAILED_REASON, updated_at=timezone.now()
    )
    logger.error("Fulfillment of order %s failed for good: %s", order_id, type(exc).__name__)


def order_fulfillment_rerun(*, order: Order) -> str:
    """Run fulfillment again for an order whose fulfillment failed or whose confirmation email failed.

    Safe for any order: stock reservations and sent emails are recorded, so
    nothing is taken or sent twice. Return what was done, for staff.
    """
    from orders.services import fulfillment_enqueue

    if order.status in {Order.Status.FULFILLMENT_FAILED, Order.Status.PAID}:
        with transaction.atomic():
            Order.objects.filter(pk=order.pk, status=Order.Status.FULFILLMENT_FAILED).update(
                status=Order.Status.PAID, failure_reason="", updated_at=timezone.now()
            )
            fulfillment_enqueue(order_id=order.pk)
        return f"Order {order.confirmation_id}: fulfillment queued again."

    if order.status == Order.Status.FULFILLED:
        confirmation = EmailDelivery.objects.filter(order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION).first()
        if confirmation is None:
            with transaction.atomic():
                delivery.delivery_get(order=order, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)
                email_enqueue(order_id=order.pk, kind=EmailDelivery.Kind.ORDER_CONFIRMATION)
            return f"Order {order.confirmation_id}: confirmation email queued."
        if email_resend(delivery_row=confirmation):
            return f"Order {order.confirmation_id}: confirmation email queued again."
        return f"Order {order.confirmation_id} is fulfilled and its email is {confirmation.get_status_display().lower()}; nothing to do."

    return f"Order {order.confirmation_id} is {order.get_status_display().lower()}; fulfillment cannot run for it."
