from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.templatetags.static import static
from django.urls import reverse

from shop.money import format_money

# A product with this many units or fewer shows "N left" instead of "In stock".
LOW_STOCK_THRESHOLD = 5

# Static file shown for a product whose image file is missing.
PLACEHOLDER_IMAGE = "shop/products/placeholder.svg"


def validate_static_file(path: str) -> None:
    """Raise ValidationError unless a static files finder can find the path."""
    if finders.find(path) is None:
        raise ValidationError(
            "No static file is named %(path)s. Add the file under a static folder or correct the path.",
            code="missing_static_file",
            params={"path": repr(path)},
        )


class Product(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    sku = models.CharField("SKU", max_length=32, unique=True)
    description = models.TextField()
    price = models.PositiveIntegerField(help_text="Minor units, for example cents.")
    currency = models.CharField(
        max_length=3, default="usd", help_text="ISO 4217 code in lower case, as Stripe uses it."
    )
    image = models.CharField(
        max_length=200,
        validators=[validate_static_file],
        help_text='Static file path, for example "shop/products/trail-mug.svg".',
    )
    stock = models.IntegerField(default=0, help_text="Units on hand.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Fulfillment decrements stock with a conditional UPDATE. This
            # constraint makes an overselling update fail instead of going below 0.
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("shop:product_detail", kwargs={"slug": self.slug})

    @property
    def image_url(self) -> str:
        """URL of the product's image, or of PLACEHOLDER_IMAGE if the file is missing."""
        try:
            return static(self.image)
        except ValueError:
            # Manifest storage, used in production, raises for a file that
            # collectstatic did not copy. One such product must not break
            # every page that lists it.
            return static(PLACEHOLDER_IMAGE)

    @property
    def is_in_stock(self) -> bool:
        return self.stock > 0

    @property
    def is_low_stock(self) -> bool:
        """Whether the product is in stock but at or below LOW_STOCK_THRESHOLD."""
        return 0 < self.stock <= LOW_STOCK_THRESHOLD

    @property
    def availability(self) -> str:
        """Stock level for customers: "Out of stock", "3 left" or "In stock"."""
        if not self.is_in_stock:
            return "Out of stock"
        if self.is_low_stock:
            return f"{self.stock} left"
        return "In stock"

    @property
    def price_display(self) -> str:
        """Price with its currency symbol, for example "$24.00"."""
        return format_money(self.price, self.currency)
