"""Forms for cart changes. Quantity rules live in shop.cart.validate_quantity."""
from django import forms
from django.core.exceptions import ValidationError

from shop.cart import MAX_QUANTITY_PER_LINE, CartError, validate_quantity
from shop.models import Product

# Extra tag of an error message about a product's quantity field. The page
# that has the field shows the message next to it, and base.html leaves it out
# of the message list. See shop.templatetags.cart_tags.
FIELD_ERROR_TAG = "field-error"

# Largest value of a BigAutoField. A larger id cannot exist, and some database
# drivers raise OverflowError instead of finding no row.
_MAX_PRODUCT_ID = 2**63 - 1


def field_error_tags(*, product: Product) -> str:
    """Return the message tags that place an error next to the product's quantity field."""
    return f"{FIELD_ERROR_TAG} quantity-{product.pk}"


class QuantityField(forms.Field):
    """Whole number from 1, or 0 if allow_zero, to MAX_QUANTITY_PER_LINE."""

    widget = forms.NumberInput

    def __init__(self, *, allow_zero: bool = False, **kwargs) -> None:
        self.allow_zero = allow_zero
        minimum = 0 if allow_zero else 1
        kwargs.setdefault(
            "error_messages",
            {"required": f"Enter a quantity from {minimum} to {MAX_QUANTITY_PER_LINE}."},
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return validate_quantity(value, allow_zero=self.allow_zero)
        except CartError as error:
            raise ValidationError(str(error), code="invalid") from None

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.update(
            {
                "min": 0 if self.allow_zero else 1,
                "max": MAX_QUANTITY_PER_LINE,
                "step": 1,
                "inputmode": "numeric",
            }
        )
        return attrs


class ProductField(forms.IntegerField):
    """Product id. Views respond with 404 when it is invalid, so its message is never shown."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", _MAX_PRODUCT_ID)
        super().__init__(**kwargs)


class CartAddForm(forms.Form):
    product = ProductField()
    quantity = QuantityField()


class CartUpdateForm(forms.Form):
    product = ProductField()
    quantity = QuantityField(allow_zero=True)


class CartRemoveForm(forms.Form):
    product = ProductField()
