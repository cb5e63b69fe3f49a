from django.db import models
from django.db.models import Q


class StockReservation(models.Model):
    """Stock taken for one order line.

    The row is written in the same transaction as the stock UPDATE, and the
    unique constraint makes a second reservation for the same line fail, so
    a retried or redelivered task cannot take stock twice.
    """

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="reservations")
    product = models.ForeignKey("shop.Product", on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="stock_reservation_once_per_line"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="stock_reservation_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of product {self.product_id} for order {self.order_id}"


class EmailDelivery(models.Model):
    """One email the shop sent, or tried to send, about an order; a readable copy for staff."""

    class Kind(models.TextChoices):
        ORDER_CONFIRMATION = "order_confirmation", "Order confirmation"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    esp_name = models.CharField("ESP", max_length=64, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    to = models.EmailField()
    subject = models.CharField(max_length=255, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "email deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="email_delivery_once_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for order {self.order_id}"
