from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from shop.models import LOW_STOCK_THRESHOLD, Product


class StockLevelFilter(admin.SimpleListFilter):
    title = "stock level"
    parameter_name = "stock_level"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("out", "Out of stock"),
            ("low", f"Low stock ({LOW_STOCK_THRESHOLD} or fewer)"),
            ("in", "In stock"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product] | None:
        if self.value() == "out":
            return queryset.filter(stock__lte=0)
        if self.value() == "low":
            return queryset.filter(stock__gt=0, stock__lte=LOW_STOCK_THRESHOLD)
        if self.value() == "in":
            return queryset.filter(stock__gt=LOW_STOCK_THRESHOLD)
        return None


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "price_display", "stock", "availability"]
    list_editable = ["stock"]
    list_filter = [StockLevelFilter]
    search_fields = ["name", "sku"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "sku", "description", "image"]}),
        ("Price and stock", {"fields": ["price", "currency", "stock"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="price", ordering="price")
    def price_display(self, product: Product) -> str:
        return product.price_display

    @admin.display(description="availability", ordering="stock")
    def availability(self, product: Product) -> str:
        return product.availability
