from django.contrib import admin, messages
from django.utils.html import format_html

from fulfillment import services
from fulfillment.faults import FAULTS
from fulfillment.models import EmailDelivery, FaultFlag, StockReservation, TaskAttempt
from orders.tracing_links import trace_link_html, trace_url


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    """Every email the shop sent, readable by staff without access to the ESP."""

    list_display = ["order", "kind", "status", "to", "esp_name", "sent_at"]
    list_filter = ["status", "kind", "esp_name"]
    search_fields = ["order__confirmation_id", "to", "message_id"]
    list_select_related = ["order"]
    actions = ["resend"]
    fields = [
        "order",
        "kind",
        "status",
        "to",
        "from_email",
        "subject",
        "esp_name",
        "message_id",
        "sent_at",
        "error",
        "text_body",
        "html_preview",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # The action needs change permission on the list; the rows stay read-only.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A delivery row is the record of what the customer was sent, and its
        # claim is what keeps a resend from sending twice.
        return False

    @admin.display(description="HTML body")
    def html_preview(self, delivery: EmailDelivery) -> str:
        # A sandboxed frame renders the email as the customer's mail client would, with
        # scripts and links disabled.
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width: 100%; min-height: 480px; border: 1px solid #ccc;"></iframe>',
            delivery.html_body,
        )

    @admin.action(description="Resend selected emails that failed")
    def resend(self, request, queryset) -> None:
        queued = [delivery for delivery in queryset if services.email_resend(delivery_row=delivery)]
        skipped = queryset.count() - len(queued)
        if queued:
            self.message_user(request, f"Queued {len(queued)} email(s) again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} email(s) that were sent or are being sent.", messages.WARNING
            )


@admin.register(StockReservation)
class StockReservationAdmin(admin.ModelAdmin):
    list_display = ["order", "product", "quantity", "created_at"]
    search_fields = ["order__confirmation_id", "product__sku"]
    list_select_related = ["order", "product"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FaultFlag)
class FaultFlagAdmin(admin.ModelAdmin):
    """The workshop faults. A change applies at once in the web process and every worker."""

    list_display = ["name", "description", "enabled", "updated_at"]
    list_editable = ["enabled"]
    readonly_fields = ["name", "description", "updated_at"]
    fields = ["name", "description", "enabled", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(name__in=FAULTS)

    @admin.display(description="what it does")
    def description(self, flag: FaultFlag) -> str:
        return FAULTS.get(flag.name, "")


class FailureFilter(admin.SimpleListFilter):
    title = "failures"
    parameter_name = "failures"

    def lookups(self, request, model_admin):
        return [("yes", "Failed, retried or lost"), ("final", "Failed for good")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(
                outcome__in=[TaskAttempt.Outcome.FAILED, TaskAttempt.Outcome.RETRYING, TaskAttempt.Outcome.LOST]
            )
        if self.value() == "final":
            return queryset.filter(outcome=TaskAttempt.Outcome.FAILED)
        return queryset


def trace_link(attempt: TaskAttempt) -> str:
    if not attempt.trace_id:
        return "-"
    return trace_link_html(trace_url(attempt.trace_id), format_html("<code>{}</code>", attempt.trace_id[:16]))


@admin.register(TaskAttempt)
class TaskAttemptAdmin(admin.ModelAdmin):
    """The attempts log: filter on failures for the recent exceptions."""

    list_display = [
        "started_at",
        "task_name",
        "attempt",
        "outcome",
        "order",
        "exception_type",
        "duration_ms",
        "trace",
    ]
    list_filter = [FailureFilter, "outcome", "task_name", "exception_type"]
    search_fields = ["order__confirmation_id", "task_id", "trace_id", "exception_type", "exception_message"]
    list_select_related = ["order"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "order",
        "task_name",
        "task_id",
        "attempt",
        "started_at",
        "duration_ms",
        "outcome",
        "exception_type",
        "exception_message",
        "retry_countdown",
        "trace_id",
        "trace",
    ]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="trace")
    def trace(self, attempt: TaskAttempt) -> str:
        return trace_link(attempt)
