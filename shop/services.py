"""Writes for the catalog."""
from dataclasses import dataclass, field

from django.db import transaction

from shop.catalog import CatalogEntry, CatalogError
from shop.models import Product

# Fields that load_catalog keeps in step with the catalog file. Stock is
# left out because staff may have changed it since the last load.
CATALOG_FIELDS = ("name", "slug", "description", "price", "currency", "image")


@dataclass
class CatalogLoadResult:
    """SKUs of the products that a catalog load created, updated or left as they were."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@transaction.atomic
def catalog_load(
    *, entries: list[CatalogEntry], reset_stock: bool = False, missing_only: bool = False
) -> CatalogLoadResult:
    """Create missing products and update existing ones by SKU.

    Existing products keep their stock unless reset_stock is True, and are
    left entirely alone with missing_only, which keeps staff edits. Raise
    CatalogError, and change nothing, if an entry's slug belongs to a product
    with another SKU.
    """
    result = CatalogLoadResult()
    for entry in entries:
        _check_slug_free(entry)
        product = Product.objects.filter(sku=entry.sku).first()

        if product is None:
            Product.objects.create(
                sku=entry.sku,
                stock=entry.stock,
                **{name: getattr(entry, name) for name in CATALOG_FIELDS},
            )
            result.created.append(entry.sku)
            continue

        if missing_only:
            result.unchanged.append(entry.sku)
            continue

        changed = [name for name in CATALOG_FIELDS if getattr(product, name) != getattr(entry, name)]
        if reset_stock and product.stock != entry.stock:
            changed.append("stock")
        if not changed:
            result.unchanged.append(entry.sku)
            continue

        for name in changed:
            setattr(product, name, getattr(entry, name))
        product.save(update_fields=[*changed, "updated_at"])
        result.updated.append(entry.sku)
    return result


def _check_slug_free(entry: CatalogEntry) -> None:
    owner = Product.objects.filter(slug=entry.slug).exclude(sku=entry.sku).values_list("sku", flat=True).first()
    if owner is not None:
        raise CatalogError(
            f"Slug {entry.slug!r} of {entry.sku} already belongs to product {owner}. "
            "Choose another slug or change that product first."
        )
