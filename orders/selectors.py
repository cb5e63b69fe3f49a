"""Reads for orders."""
from django.shortcuts import get_object_or_404

from orders.models import Order

FINAL_STATUSES = frozenset(
    {
        Order.Status.PAYMENT_FAILED,
        Order.Status.FULFILLED,
        Order.Status.OUT_OF_STOCK,
        Order.Status.FULFILLMENT_FAILED,
    }
)

STATUS_MESSAGES = {
    Order.Status.AWAITING_PAYMENT: "We are waiting for your payment to be confirmed.",
    Order.Status.PAYMENT_FAILED: "Your payment did not go through, so nothing was charged.",
    Order.Status.PAID: "Payment received. We are reserving your items and sending your confirmation.",
    Order.Status.FULFILLED: "Your order is confirmed. A confirmation email is on its way.",
    Order.Status.OUT_OF_STOCK: "An item sold out before we could reserve it. Your payment is being refunded.",
    Order.Status.FULFILLMENT_FAILED: "We could not complete your order. Our team has been notified and will contact you.",
}


def order_get_by_confirmation_id(*, confirmation_id: str) -> Order:
    return get_object_or_404(Order.objects.prefetch_related("lines"), confirmation_id=confirmation_id.upper())


def order_status_payload(*, order: Order) -> dict:
    """Return the public status of an order: nothing about the customer."""
    return {
        "confirmation_id": order.confirmation_id,
        "status": order.status,
        "status_label": order.get_status_display(),
        "message": STATUS_MESSAGES[order.status],
        "final": order.status in FINAL_STATUSES,
        "updated_at": order.updated_at.isoformat(),
    }


def email_mask(address: str) -> str:
    """Return an address with most of the local part hidden, such as j***@example.com."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
