"""Writes for orders: creation, payment and the hand-off to fulfillment."""
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from opentelemetry import trace
from opentelemetry.trace import Link

from config import telemetry_names as names
from config.telemetry import current_traceparent, span_context_from_traceparent, tracer
from fulfillment.enqueue import task_send_on_commit
from fulfillment.tasks import fulfill_order
from orders import payments
from orders.models import Order, OrderLine
from orders.selectors import order_get_by_checkout_token
from shop.models import Product
from orders.payments import PaymentOutcome, PaymentResult, WebhookEvent

logger = logging.getLogger(__name__)

# Order primary key as Stripe metadata carries it: 1 to 18 ASCII digits.
ORDER_ID = re.compile(r"[0-9]{1,18}")

CUSTOMER_FIELDS = ("email", "full_name", "address_line1", "address_line2", "city", "postal_code", "country")


class CheckoutError(Exception):
    """The checkout cannot go ahead; the message is fit for the customer."""


class DuplicateCheckout(Exception):
    """The same checkout form was submitted again; `order` is the order the first submission created."""

    def __init__(self, order: Order) -> None:
        super().__init__(f"Checkout token already used by order {order.pk}")
        self.order = order


@dataclass(frozen=True)
class CheckoutLine:
    product: Product
    quantity: int


def order_create(*, lines: Sequence[CheckoutLine], customer: dict, checkout_token: str = "") -> Order:
    """Create an order awaiting payment, with prices read from the products.

    Raise DuplicateCheckout if an order already exists for `checkout_token`.
    """
    with tracer().start_as_current_span(names.SPAN_ORDER_CREATE) as span:
        span.set_attribute(names.ORDER_LINE_COUNT, len(lines))
        existing = order_get_by_checkout_token(checkout_token=checkout_token)
        if existing is not None:
            raise DuplicateCheckout(existing)
        try:
            order = _order_create(lines=lines, customer=customer, checkout_token=checkout_token)
        except IntegrityError:
            # Two submissions raced past the check above; the other one won.
            existing = order_get_by_checkout_token(checkout_token=checkout_token)
            if existing is None:
                raise
            raise DuplicateCheckout(existing) from None
        span.set_attribute(names.ORDER_ID, order.pk)
        span.set_attribute(names.ORDER_TOTAL, order.total)
        span.set_attribute(names.ORDER_CURRENCY, order.currency)
    return order


@transaction.atomic
def _order_create(*, lines: Sequence[CheckoutLine], customer: dict, checkout_token: str) -> Order:
    if not lines:
        raise CheckoutError("Your cart is empty. Add an item before checking out.")

    currencies = {line.product.currency for line in lines}
    if len(currencies) != 1:
        raise CheckoutError("Items priced in different currencies cannot be paid together.")

    for line in lines:
        if line.quantity > line.product.stock:
            raise CheckoutError(
                f"Only {line.product.stock} left of {line.product.name}. Change the quantity in your cart."
            )

    order = Order.objects.create(
        **{field: customer.get(field, "") for field in CUSTOMER_FIELDS},
        currency=currencies.pop(),
        total=sum(line.product.price * line.quantity for line in lines),
        trace_id=_current_trace_id(),
        trace_parent=current_traceparent(),
        checkout_token=checkout_token,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=line.product,
            sku=line.product.sku,
            name=line.product.name,
            unit_price=line.product.price,
            quantity=line.quantity,
        )
        for line in lines
    )
    logger.info("Order %s created with %s lines", order.pk, len(lines))
    return order


def order_pay(*, order: Order, payment_method_id: str, browser_can_authenticate: bool) -> PaymentResult:
    """Charge the order's total and move the order to paid or payment failed.

    A card that needs 3-D Secure is left to Stripe.js when the browser runs it.
    Otherwise the payment is cancelled, so no order waits for an authentication step that cannot happen.

    The first attempt's PaymentMethod is stored on the order, and a retry
    after Stripe did not reply sends it again instead of `payment_method_id`.
    The request then matches the first one, and Stripe replays the first
    result for its idempotency key, so the order is never charged twice.
    """
    if order.payment_method_id:
        # NOTE: a card the customer changed after Stripe did not reply is ignored.
        payment_method_id = order.payment_method_id
    else:
        Order.objects.filter(pk=order.pk).update(payment_method_id=payment_method_id)
        order.payment_method_id = payment_method_id

    with tracer().start_as_current_span(names.SPAN_PAYMENT_CONFIRM) as span:
        span.set_attribute(names.ORDER_ID, order.pk)
        span.set_attribute(names.ORDER_TOTAL, order.total)
        span.set_attribute(names.ORDER_CURRENCY, order.currency)
        result = payments.payment_intent_confirm(
            amount=order.total,
            currency=order.currency,
            payment_method_id=payment_method_id,
            order_id=order.pk,
            confirmation_id=order.confirmation_id,
        )
        _span_record_payment(span, result)
    if result.payment_intent_id:
        Order.objects.filter(pk=order.pk).update(payment_intent_id=result.payment_intent_id)
        order.payment_intent_id = result.payment_intent_id

    if result.outcome is PaymentOutcome.REQUIRES_ACTION and not browser_can_authenticate:
        payments.payment_intent_cancel(payment_intent_id=result.payment_intent_id)
        result = PaymentResult(
            PaymentOutcome.DECLINED,
            result.payment_intent_id,
            message=(
                "This card needs 3-D Secure authentication, which needs JavaScript in your browser. "
                "Enable JavaScript or use another card."
            ),
        )

    return _order_apply_payment_result(order=order, result=result)


def order_payment_sync(*, order: Order) -> PaymentResult:
    """Read the order's PaymentIntent from Stripe and apply its state, after 3-D Secure."""
    if not order.payment_intent_id:
        raise CheckoutError("This order has no payment to check. Place the order again.")
    with tracer().start_as_current_span(names.SPAN_PAYMENT_SYNC) as span:
        span.set_attribute(names.ORDER_ID, order.pk)
        result = payments.payment_intent_retrieve(payment_intent_id=order.payment_intent_id)
        _span_record_payment(span, result)
    if result.outcome is PaymentOutcome.REQUIRES_ACTION:
        # The customer left the authentication window without finishing it.
        payments.payment_intent_cancel(payment_intent_id=order.payment_intent_id)
        result = PaymentResult(
            PaymentOutcome.DECLINED,
            order.payment_intent_id,
            message="Card authentication was not completed. Try again or use another card.",
        )
    return _order_apply_payment_result(order=order, result=result)


def _current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def _span_record_payment(span: trace.Span, result: PaymentResult) -> None:
    """Describe a payment outcome on its span. A declined card is an outcome, not an error."""
    span.set_attribute(names.PAYMENT_OUTCOME, result.outcome.value)
    if result.payment_intent_id:
        span.set_attribute(names.PAYMENT_INTENT_ID, result.payment_intent_id)
    if result.outcome is PaymentOutcome.DECLINED:
        span.add_event(names.EVENT_PAYMENT_DECLINED, {names.PAYMENT_DECLINE_CODE: result.decline_code or "unknown"})
    elif result.outcome is PaymentOutcome.REQUIRES_ACTION:
        span.add_event(names.EVENT_PAYMENT_REQUIRES_ACTION)


def _order_apply_payment_result(*, order: Order, result: PaymentResult) -> PaymentResult:
    if result.outcome is PaymentOutcome.SUCCEEDED:
        order_mark_paid(order_id=order.pk)
    elif result.outcome is PaymentOutcome.DECLINED:
        order_mark_payment_failed(order_id=order.pk, message=result.message)
    order.refresh_from_db()
    return result


def order_mark_paid(*, order_id: int) -> bool:
    """Move an order from awaiting payment to paid and enqueue its fulfillment.

    Return True if this call made the change. The update is conditional on
    the current status, so the checkout view and the Stripe webhook can both
    report the same payment and fulfillment is still enqueued only once.
    """
    checkout_traceparent = Order.objects.filter(pk=order_id).values_list("trace_parent", flat=True).first() or ""
    with tracer().start_as_current_span(
        names.SPAN_ORDER_MARK_PAID, links=_links_to_other_trace(checkout_traceparent)
    ) as span:
        span.set_attribute(names.ORDER_ID, order_id)
        with transaction.atomic():
            updated = Order.objects.filter(
                pk=order_id,
                status__in=[Order.Status.AWAITING_PAYMENT, Order.Status.PAYMENT_FAILED],
            ).update(status=Order.Status.PAID, paid_at=timezone.now(), payment_error="", updated_at=timezone.now())
            if updated:
                fulfillment_enqueue(order_id=order_id)
        if not updated:
            span.add_event(names.EVENT_ORDER_ALREADY_PAID)
    if updated:
        logger.info("Order %s paid; fulfillment enqueued", order_id)
    else:
        logger.info("Order %s was already marked paid; fulfillment not enqueued again", order_id)
    return bool(updated)


def _links_to_other_trace(traceparent: str) -> list[Link]:
    """Link to the checkout's trace when this span belongs to another one, such as a webhook's."""
    checkout = span_context_from_traceparent(traceparent)
    current = trace.get_current_span().get_span_context()
    if checkout is None or (current.is_valid and current.trace_id == checkout.trace_id):
        return []
    return [Link(checkout, {"link.reason": "checkout"})]


def order_mark_payment_failed(*, order_id: int, message: str) -> None:
    Order.objects.filter(pk=order_id, status=Order.Status.AWAITING_PAYMENT).update(
        status=Order.Status.PAYMENT_FAILED, payment_error=message[:500], updated_at=timezone.now()
    )
    logger.info("Payment for order %s failed", order_id)


def fulfillment_enqueue(*, order_id: int) -> None:
    """Send the fulfillment task once the current transaction commits.

    The worker loads the order by id, so the message must not reach Redis
    before the row it names is visible to other connections. The callback
    runs in the span that enqueued it, so the task's PRODUCER span and every
    attempt belong to the caller's trace. If Redis is down, the failure is
    logged and the order stays paid until the order sweeper sends the task.
    """
    # The stock each product had when the order was paid travels with the
    # task; only the repeat_stock_update workshop fault reads it.
    stock_seen = {
        str(product_id): stock
        for product_id, stock in OrderLine.objects.filter(order_id=order_id).values_list("product_id", "product__stock")
    }
    task_send_on_commit(fulfill_order, order_id, stock_seen, order_id=order_id)


def webhook_event_handle(*, event: WebhookEvent) -> None:
    """Act on a verified Stripe event. Events of other types than payment_intent.succeeded are only logged."""
    if event.type == "payment_intent.succeeded":
        payment_succeeded_handle(payment_intent_id=event.payment_intent_id, order_id=event.order_id)
    else:
        logger.info("Ignored Stripe event of type %s", event.type)


def payment_succeeded_handle(*, payment_intent_id: str, order_id: str | None) -> Order | None:
    """Handle Stripe's `payment_intent.succeeded` event for one of our orders.

    Return the order, or None when the PaymentIntent is not one of ours.
    """
    orders = Order.objects.all()
    if payment_intent_id:
        order = orders.filter(payment_intent_id=payment_intent_id).first()
    else:
        order = None
    # ASCII digits only: str.isdigit() also accepts characters such as "²"
    # that int() rejects, and a longer number overflows a BigAutoField.
    if order is None and order_id and ORDER_ID.fullmatch(order_id):
        order = orders.filter(pk=int(order_id)).first()
        if order is not None and not order.payment_intent_id:
            Order.objects.filter(pk=order.pk, payment_intent_id="").update(payment_intent_id=payment_intent_id)
    if order is None:
        logger.warning("Stripe reported payment %s, which matches no order", payment_intent_id)
        return None

    order_mark_paid(order_id=order.pk)
    return order
