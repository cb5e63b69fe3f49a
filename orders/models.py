import re
import secrets

from django.db import models
from django.db.models import Q

# Crockford-style alphabet without 0/O, 1/I/L and U, so an ID read aloud or
# copied from an email is not mistyped.
CONFIRMATION_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
# The ID is the only key to an order's pages, so it must not be guessable:
# 14 symbols drawn by the secrets module give 14 * log2(30), about 68.7 bits.
CONFIRMATION_ID_LENGTH = 14
# Orders placed before IDs grew to 14 symbols keep their 10-symbol IDs, which
# still open their pages.
LEGACY_CONFIRMATION_ID_LENGTH = 10
_CONFIRMATION_ID = re.compile(
    f"[{CONFIRMATION_ID_ALPHABET}]{{{CONFIRMATION_ID_LENGTH}}}"
    f"|[{CONFIRMATION_ID_ALPHABET}]{{{LEGACY_CONFIRMATION_ID_LENGTH}}}"
)


def new_confirmation_id() -> str:
    return "".join(secrets.choice(CONFIRMATION_ID_ALPHABET) for _ in range(CONFIRMATION_ID_LENGTH))


def confirmation_id_is_well_formed(confirmation_id: str) -> bool:
    """Return whether the text has the form of a current or legacy confirmation ID, in upper case."""
    return _CONFIRMATION_ID.fullmatch(confirmation_id) is not None


class Order(models.Model):
    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        PAID = "paid", "Processing"
        FULFILLED = "fulfilled", "Confirmed"
        OUT_OF_STOCK = "out_of_stock", "Out of stock"
        FULFILLMENT_FAILED = "fulfillment_failed", "Fulfillment failed"

    confirmation_id = models.CharField(
        max_length=CONFIRMATION_ID_LENGTH, unique=True, default=new_confirmation_id, editable=False
    )
    status = models.CharField(
        max_length=32, choices=Status.choices, default=Status.AWAITING_PAYMENT, db_index=True
    )

    email = models.EmailField()
    full_name = models.CharField(max_length=200)
    address_line1 = models.CharField("address line 1", max_length=200)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code")

    currency = models.CharField(max_length=3)
    total = models.PositiveIntegerField(help_text="Minor units, for example cents.")

    # A random value that the checkout page puts in its form. A second POST of
    # the same form (a double click, a resubmitted page) finds this order
    # instead of creating and charging another one.
    checkout_token = models.CharField(max_length=64, blank=True, default="", editable=False)
    payment_intent_id = models.CharField(max_length=255, blank=True, default="")
    # The Stripe PaymentMethod of the first payment attempt. A retry after
    # Stripe did not reply sends it again, so that the idempotency key meets
    # the same parameters and Stripe replays the first result.
    payment_method_id = models.CharField(max_length=255, blank=True, default="", editable=False)
    payment_error = models.CharField(
        max_length=500, blank=True, default="", help_text="What the customer was told about a failed payment."
    )
    failure_reason = models.TextField(
        blank=True, default="", help_text="Why fulfillment failed, in words fit for the customer."
    )

    # The checkout request's trace: the id finds it in Jaeger, and the
    # traceparent lets a later trace, such as the Stripe webhook's, link to it.
    trace_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    trace_parent = models.CharField(max_length=55, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    refund_id = models.CharField(
        max_length=255, blank=True, default="", help_text="Stripe refund, once an out-of-stock order is refunded."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_intent_id"],
                condition=~Q(payment_intent_id=""),
                name="order_payment_intent_unique",
            ),
            models.UniqueConstraint(
                fields=["checkout_token"],
                condition=~Q(checkout_token=""),
                name="order_checkout_token_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.confirmation_id}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("shop.Product", on_delete=models.PROTECT, related_name="+")
    # Snapshots: what the customer saw and paid, even if the product changes later.
    sku = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    unit_price = models.PositiveIntegerField(help_text="Minor units at the time of the order.")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="order_line_product_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity
