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
        OUT_OF_STOCK = "out_of_stock", "Out of stock and refunded"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        # A transient error; the email task retries it with backoff.
        RETRYING = "retrying", "Retrying"
        # The ESP rejected the message for good; staff can resend once the cause is fixed.
        FAILED = "failed", "Failed"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    esp_name = models.CharField("ESP", max_length=64, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    to = models.EmailField()
    from_email = models.EmailField("from", blank=True)
    subject = models.CharField(max_length=255, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Id of the task that claimed the row for sending. A redelivery of that task may take the claim over.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
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


class FaultFlag(models.Model):
    """A workshop fault switched on or off. Web and worker read the table on every use, so a change needs no restart."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({'on' if self.enabled else 'off'})"


class TaskAttempt(models.Model):
    """One run of a Celery task for an order: the attempts log that staff read in the admin."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        RETRYING = "retrying", "Failed, retry scheduled"
        FAILED = "failed", "Failed"
        # The worker child died mid-attempt, for example killed by the OOM
        # killer, and the broker redelivered the task.
        LOST = "lost", "Lost with its worker, redelivered"

    order = models.ForeignKey(
        "orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="attempts"
    )
    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, db_index=True)
    attempt = models.PositiveIntegerField()
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING, db_index=True)
    exception_type = models.CharField(max_length=200, blank=True)
    # With email addresses removed, like span events and log lines.
    exception_message = models.TextField(blank=True)
    retry_countdown = models.FloatField(null=True, blank=True, help_text="Seconds until the retry.")
    trace_id = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.task_name} attempt {self.attempt} ({self.outcome})"
