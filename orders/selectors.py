"""Reads for orders."""
from django.http import Http404
from django.shortcuts import get_object_or_404

from fulfillment.faults import CONFIRM_BEFORE_FULFILLMENT, fault_enabled
from fulfillment.models import EmailDelivery
from orders.models import Order, confirmation_id_is_well_formed

FINAL_STATUSES = frozenset(
    {
        Order.Status.PAYMENT_FAILED,
        Order.Status.FULFILLED,
        Order.Status.OUT_OF_STOCK,
        Order.Status.FULFILLMENT_FAILED,
    }
)
SETTLED_EMAIL_STATUSES = frozenset({EmailDelivery.Status.SENT, EmailDelivery.Status.FAILED})

STATUS_MESSAGES = {
    Order.Status.AWAITING_PAYMENT: "We are waiting for your payment to be confirmed.",
    Order.Status.PAYMENT_FAILED: "Your payment did not go through, so nothing was charged.",
    Order.Status.PAID: "Payment received. We are reserving your items.",
    Order.Status.FULFILLED: "Your order is confirmed and your items are reserved.",
    Order.Status.OUT_OF_STOCK: "An item sold out before we could reserve it, so we are refunding your payment in full.",
    Order.Status.FULFILLMENT_FAILED: (
        "We could not complete your order. Nothing has shipped; our team has been notified and will contact you."
    ),
}

EMAIL_MESSAGES = {
    EmailDelivery.Status.PENDING: "We are sending you an email about it.",
    EmailDelivery.Status.SENDING: "We are sending you an email about it.",
    EmailDelivery.Status.RETRYING: "The email service is slow to answer; we keep trying to send your email.",
    EmailDelivery.Status.SENT: "We have sent you an email about it.",
    EmailDelivery.Status.FAILED: (
        "We could not send you an email about it. Keep your confirmation ID; our team will resend the email."
    ),
}

# The workshop's success message, shown as soon as the payment passed.
WORKSHOP_CONFIRMATION = {
    "status": Order.Status.FULFILLED,
    "status_label": "Confirmed",
    "message": "Thank you! Your order is confirmed.",
    "final": True,
}
PAID_OR_LATER = frozenset(
    {Order.Status.PAID, Order.Status.FULFILLED, Order.Status.OUT_OF_STOCK, Order.Status.FULFILLMENT_FAILED}
)


def order_get_by_confirmation_id(*, confirmation_id: str) -> Order:
    """Return the order with this confirmation ID, in any letter case, or raise Http404.

    Text that cannot be an ID is not looked up, so it never reaches the database.
    """
    # ASCII only, because str.upper() maps some other letters onto the
    # alphabet, such as the long s onto S.
    normalized = confirmation_id.upper() if confirmation_id.isascii() else ""
    if not confirmation_id_is_well_formed(normalized):
        raise Http404("No order has this confirmation ID.")
    return get_object_or_404(Order.objects.prefetch_related("lines"), confirmation_id=normalized)


def order_get_by_checkout_token(*, checkout_token: str) -> Order | None:
    return Order.objects.filter(checkout_token=checkout_token).first() if checkout_token else None


def order_payment_retryable(*, order: Order) -> bool:
    """Return whether the order's payment may be tried again: Stripe never replied with a PaymentIntent for it."""
    return order.status == Order.Status.AWAITING_PAYMENT and not order.payment_intent_id


def _customer_email(order: Order) -> EmailDelivery | None:
    """Return the email about how the order ended, if fulfillment got that far."""
    kind = EmailDelivery.Kind.OUT_OF_STOCK if order.status == Order.Status.OUT_OF_STOCK else EmailDelivery.Kind.ORDER_CONFIRMATION
    return EmailDelivery.objects.filter(order=order, kind=kind).first()


def order_status_payload(*, order: Order) -> dict:
    """Return the public status of an order, as the confirmation page shows it: nothing about the customer."""
    payload = {
        "confirmation_id": order.confirmation_id,
        "status": order.status,
        "status_label": order.get_status_display(),
        "message": STATUS_MESSAGES[order.status],
        "final": order.status in FINAL_STATUSES,
        "email": None,
        "updated_at": order.updated_at.isoformat(),
    }
    if order.status in PAID_OR_LATER and fault_enabled(CONFIRM_BEFORE_FULFILLMENT):
        return {**payload, **WORKSHOP_CONFIRMATION}

    if order.status == Order.Status.OUT_OF_STOCK and order.refund_id:
        payload["message"] = "An item sold out before we could reserve it, so your payment has been refunded in full."

    email = _customer_email(order) if order.status in FINAL_STATUSES else None
    if email is not None:
        payload["email"] = {"status": email.status, "message": EMAIL_MESSAGES[email.status]}
        payload["message"] = f"{payload['message']} {EMAIL_MESSAGES[email.status]}"
        # The page keeps polling until the email is sent or has failed for good.
        payload["final"] = email.status in SETTLED_EMAIL_STATUSES
    return payload


def email_mask(address: str) -> str:
    """Return an address with most of the local part hidden, such as j***@example.com."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
