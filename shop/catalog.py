"""Read and validate the demo catalog data file, shop/catalog.json."""
import json
import re
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from shop.models import Product, validate_static_file

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.json"

REQUIRED_KEYS = ("sku", "name", "slug", "description", "price", "currency", "image", "stock")
# Largest value that the Django documentation calls safe for IntegerField and
# PositiveIntegerField on every database it supports.
_MAX_INTEGER = 2_147_483_647
_CURRENCY_CODE = re.compile(r"[a-z]{3}")


class CatalogError(ValueError):
    """The catalog file is missing, not JSON, or has an invalid entry."""


@dataclass(frozen=True)
class CatalogEntry:
    """One product as the catalog file defines it. price is in minor units."""

    sku: str
    name: str
    slug: str
    description: str
    price: int
    currency: str
    image: str
    stock: int


def catalog_read(*, path: Path = CATALOG_PATH) -> list[CatalogEntry]:
    """Parse the catalog file and return its entries, or raise CatalogError.

    The file is a JSON list of objects with exactly the keys in REQUIRED_KEYS.
    The error names the file, the entry and the field at fault.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError(f"Cannot read the catalog file {path}: {error.strerror}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(
            f"The catalog file {path} is not valid JSON: {error.msg} "
            f"at line {error.lineno}, column {error.colno}."
        ) from None

    if not isinstance(data, list):
        raise CatalogError(
            f"The catalog file {path} must contain a JSON list of products, not a {type(data).__name__}."
        )

    entries = []
    for index, item in enumerate(data, start=1):
        try:
            entries.append(_entry_from_json(item))
        except CatalogError as error:
            sku = item.get("sku") if isinstance(item, dict) else None
            label = f"Product {index} ({sku})" if isinstance(sku, str) else f"Product {index}"
            raise CatalogError(f"{label} in {path} is invalid: {error}") from None

    _check_unique(entries, "sku", path)
    _check_unique(entries, "slug", path)
    return entries


def _entry_from_json(item: object) -> CatalogEntry:
    if not isinstance(item, dict):
        raise CatalogError(f"expected a JSON object, not {item!r}.")
    missing = [key for key in REQUIRED_KEYS if key not in item]
    if missing:
        raise CatalogError(f"add the missing keys {', '.join(missing)}.")
    unknown = sorted(set(item) - set(REQUIRED_KEYS))
    if unknown:
        raise CatalogError(f"remove the unknown keys {', '.join(unknown)}, or correct their spelling.")

    sku = _string(item, "sku", max_length=_max_length("sku"))
    name = _string(item, "name", max_length=_max_length("name"))
    slug = _string(item, "slug", max_length=_max_length("slug"))
    try:
        validate_slug(slug)
    except ValidationError:
        raise CatalogError(
            f"slug {slug!r} may contain only letters, digits, hyphens and underscores."
        ) from None
    description = _string(item, "description")
    price = _integer(item, "price", maximum=_MAX_INTEGER)
    currency = _string(item, "currency", max_length=3)
    if not _CURRENCY_CODE.fullmatch(currency):
        raise CatalogError(f'currency {currency!r} must be an ISO 4217 code in lower case, such as "usd".')
    image = _string(item, "image", max_length=_max_length("image"))
    try:
        validate_static_file(image)
    except ValidationError as error:
        raise CatalogError(f"image: {error.messages[0]}") from None
    stock = _integer(item, "stock", maximum=_MAX_INTEGER)

    return CatalogEntry(
        sku=sku,
        name=name,
        slug=slug,
        description=description,
        price=price,
        currency=currency,
        image=image,
        stock=stock,
    )


def _max_length(field_name: str) -> int:
    return Product._meta.get_field(field_name).max_length


def _string(item: dict, key: str, *, max_length: int | None = None) -> str:
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{key} must be a non-empty string, not {value!r}.")
    if max_length is not None and len(value) > max_length:
        raise CatalogError(f"{key} has {len(value)} characters, more than its maximum of {max_length}.")
    return value.strip()


def _integer(item: dict, key: str, *, maximum: int) -> int:
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise CatalogError(f"{key} must be a whole number from 0 to {maximum}, not {value!r}.")
    return value


def _check_unique(entries: list[CatalogEntry], field_name: str, path: Path) -> None:
    seen = set()
    for entry in entries:
        value = getattr(entry, field_name)
        if value in seen:
            raise CatalogError(
                f"The catalog file {path} lists {field_name} {value!r} twice. Make each {field_name} unique."
            )
        seen.add(value)
