from django.contrib import admin
from django.utils.html import format_html

from fulfillment.models import EmailDelivery, StockReservation


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    """Every email the shop sent, readable by staff without access to the ESP."""

    list_display = ["order", "kind", "status", "to", "esp_name", "sent_at"]
    list_filter = ["status", "kind", "esp_name"]
    search_fields = ["order__confirmation_id", "to", "message_id"]
    list_select_related = ["order"]
    fields = [
        "order",
        "kind",
        "status",
        "to",
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
        return False

    @admin.display(description="HTML body")
    def html_preview(self, delivery: EmailDelivery) -> str:
        # A sandboxed frame shows the email as the customer sees it, with
        # scripts and links disabled.
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width: 100%; min-height: 480px; border: 1px solid #ccc;"></iframe>',
            delivery.html_body,
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
