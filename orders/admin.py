from django.contrib import admin, messages
from django.utils.html import format_html

from fulfillment import services as fulfillment_services
from fulfillment.admin import trace_link
from fulfillment.models import EmailDelivery, StockReservation, TaskAttempt
from orders.models import Order, OrderLine
from orders.tracing_links import jaeger_configured, order_traces_url, trace_link_html, trace_url
from shop.money import format_money


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ["sku", "name", "quantity", "unit_price_display", "line_total_display"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="unit price")
    def unit_price_display(self, line: OrderLine) -> str:
        return format_money(line.unit_price, line.order.currency)

    @admin.display(description="line total")
    def line_total_display(self, line: OrderLine) -> str:
        return format_money(line.line_total, line.order.currency)


class StockReservationInline(admin.TabularInline):
    model = StockReservation
    extra = 0
    can_delete = False
    fields = ["product", "quantity", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class EmailDeliveryInline(admin.TabularInline):
    model = EmailDelivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["kind", "status", "esp_name", "message_id", "sent_at", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class TaskAttemptInline(admin.TabularInline):
    model = TaskAttempt
    extra = 0
    can_delete = False
    # The message is on each attempt's own page; here it would widen the table past the form.
    fields = ["started_at", "task_name", "attempt", "outcome", "exception_type", "duration_ms", "trace"]
    readonly_fields = fields
    ordering = ["started_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="trace")
    def trace(self, attempt: TaskAttempt) -> str:
        return trace_link(attempt)


class NotifiedFilter(admin.SimpleListFilter):
    """Orders by the state of the emails that tell the customer how the order ended."""

    title = "customer notified"
    parameter_name = "notified"

    def lookups(self, request, model_admin):
        return [
            ("no", "No, an email failed"),
            ("waiting", "Not yet, an email is on its way"),
            ("yes", "Yes"),
        ]

    def queryset(self, request, queryset):
        statuses = {
            "no": [EmailDelivery.Status.FAILED],
            "waiting": [EmailDelivery.Status.PENDING, EmailDelivery.Status.SENDING, EmailDelivery.Status.RETRYING],
            "yes": [EmailDelivery.Status.SENT],
        }.get(self.value())
        if statuses is None:
            return queryset
        return queryset.filter(emails__status__in=statuses).distinct()


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["confirmation_id", "status", "total_display", "email", "created_at", "paid_at", "fulfilled_at"]
    search_help_text = "Search by confirmation ID, email or trace id."
    list_filter = ["status", NotifiedFilter, "created_at"]
    search_fields = ["confirmation_id", "email", "=trace_id"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, StockReservationInline, EmailDeliveryInline, TaskAttemptInline]
    actions = ["rerun_fulfillment"]
    readonly_fields = [
        "confirmation_id",
        "status",
        "currency",
        "total_display",
        "payment_intent_id",
        "payment_error",
        "failure_reason",
        "created_at",
        "updated_at",
        "paid_at",
        "fulfilled_at",
        "trace",
    ]
    fieldsets = [
        (None, {"fields": ["confirmation_id", "status", "failure_reason"]}),
        ("Tracing", {"fields": ["trace"]}),
        ("Customer", {"fields": ["email", "full_name"]}),
        (
            "Shipping address",
            {"fields": ["address_line1", "address_line2", "city", "postal_code", "country"]},
        ),
        ("Payment", {"fields": ["currency", "total_display", "payment_intent_id", "payment_error"]}),
        ("Timestamps", {"fields": ["created_at", "updated_at", "paid_at", "fulfilled_at"]}),
    ]

    def has_add_permission(self, request) -> bool:
        # Orders come from the checkout, which takes the payment.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # An order is the record of a payment; deleting it would lose the
        # link between a charge and what was shipped or refunded.
        return False

    @admin.action(description="Re-run fulfillment for selected orders")
    def rerun_fulfillment(self, request, queryset) -> None:
        # Each order is handled by a service that checks its state, so
        # selecting a fulfilled or unpaid order does no harm.
        for order in queryset:
            self.message_user(request, fulfillment_services.order_fulfillment_rerun(order=order), messages.INFO)

    @admin.display(description="trace")
    def trace(self, order: Order) -> str:
        everything = order_traces_url(order_id=order.pk, confirmation_id=order.confirmation_id)
        if not order.trace_id:
            return format_html("No trace recorded. {}", trace_link_html(everything, "Look for this order's traces"))
        return format_html(
            "{} {} &middot; {}",
            trace_link_html(trace_url(order.trace_id), format_html("<code>{}</code>", order.trace_id)),
            "in Jaeger" if jaeger_configured() else "in the trace view",
            trace_link_html(everything, "all traces of this order, with a diagnosis"),
        )

    @admin.display(description="total", ordering="total")
    def total_display(self, order: Order) -> str:
        return format_money(order.total, order.currency)
