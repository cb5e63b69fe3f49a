"""Reads for the catalog."""
from collections.abc import Iterable

from django.db.models import QuerySet

from shop.models import Product


def product_list() -> QuerySet[Product]:
    """Return every product, ordered by name."""
    return Product.objects.all()


def product_get_many(*, product_ids: Iterable[int]) -> dict[int, Product]:
    """Return the products that exist among product_ids, keyed by id."""
    return Product.objects.in_bulk(list(product_ids))


def product_currencies(*, product_ids: Iterable[int]) -> set[str]:
    """Return the distinct currencies of the given products."""
    return set(Product.objects.filter(pk__in=list(product_ids)).values_list("currency", flat=True))
