from django import forms
from django.contrib import admin, messages
from django.db.models import F, QuerySet
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


class ProductAdminForm(forms.ModelForm):
    """Product form that edits stock as a change relative to what the staff member saw.

    The worker takes stock while the page is open. Saving the absolute
    number would undo those sales, so the form carries the stock it was
    rendered with and the admin applies only the difference.
    """

    stock_seen = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Product
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["stock_seen"].initial = self.instance.stock

    def clean_stock(self) -> int:
        stock = self.cleaned_data["stock"]
        if stock < 0:
            raise forms.ValidationError("Stock cannot be negative. Enter 0 or more units.")
        return stock

    def has_changed(self) -> bool:
        # The list page saves only forms that changed. Compare stock with what
        # was shown, not with the database, which sales may have moved since.
        seen = self.data.get(self.add_prefix("stock_seen"))
        if self.instance.pk is not None and seen not in (None, ""):
            other_fields = [name for name in self.changed_data if name not in {"stock", "stock_seen"}]
            submitted = self.data.get(self.add_prefix("stock"), seen)
            return bool(other_fields) or str(submitted).strip() != str(seen).strip()
        return super().has_changed()


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
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

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=ProductAdminForm, **kwargs)

    def save_model(self, request, obj: Product, form: ProductAdminForm, change: bool) -> None:
        seen = form.cleaned_data.get("stock_seen")
        if not change or seen is None:
            super().save_model(request, obj, form, change)
            return

        delta = obj.stock - seen
        other_fields = [field.name for field in Product._meta.concrete_fields if field.name not in {"id", "stock"}]
        obj.save(update_fields=other_fields)
        if delta:
            applied = Product.objects.filter(pk=obj.pk, stock__gte=-delta).update(stock=F("stock") + delta)
            if not applied:
                messages.error(
                    request,
                    f"The stock of {obj.name} was not changed: sales since you opened the page left too few "
                    f"units to take {abs(delta)} away. Reload and try again.",
                )
        obj.refresh_from_db(fields=["stock"])

    @admin.display(description="price", ordering="price")
    def price_display(self, product: Product) -> str:
        return product.price_display

    @admin.display(description="availability", ordering="stock")
    def availability(self, product: Product) -> str:
        return product.availability
