import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from shop.catalog import CATALOG_PATH
from shop.models import LOW_STOCK_THRESHOLD, Product

pytestmark = pytest.mark.django_db

SHIPPED = json.loads(CATALOG_PATH.read_text())

ENTRY = {
    "sku": "TST-001",
    "name": "Test Tea",
    "slug": "test-tea",
    "description": "A tea made for a test.",
    "price": 1200,
    "currency": "usd",
    "image": "shop/products/placeholder.svg",
    "stock": 20,
}


def load(*args: str) -> str:
    out = StringIO()
    call_command("load_catalog", *args, stdout=out)
    return out.getvalue()


def write_catalog(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_loads_shipped_catalog():
    output = load()

    assert Product.objects.count() == len(SHIPPED)
    assert f"{len(SHIPPED)} created, 0 updated, 0 unchanged" in output
    assert "Created GEAR-001 Trail Mug" in output


def test_shipped_catalog_has_low_and_sold_out_items():
    stocks = [entry["stock"] for entry in SHIPPED]

    assert 0 in stocks
    assert any(0 < stock <= LOW_STOCK_THRESHOLD for stock in stocks)


def test_second_run_changes_nothing():
    load()
    first = list(Product.objects.values_list("sku", "updated_at"))

    output = load()

    assert Product.objects.count() == len(SHIPPED)
    assert list(Product.objects.values_list("sku", "updated_at")) == first
    assert f"0 created, 0 updated, {len(SHIPPED)} unchanged" in output


def test_keeps_stock_of_existing_products():
    load()
    Product.objects.filter(sku="GEAR-001").update(stock=42, name="Renamed Mug", price=1)

    output = load()

    mug = Product.objects.get(sku="GEAR-001")
    assert mug.stock == 42
    assert mug.name == "Trail Mug"
    assert mug.price == 2400
    assert "Updated GEAR-001 Trail Mug" in output


def test_reset_stock_restores_catalog_levels():
    load()
    Product.objects.filter(sku="GEAR-001").update(stock=42)

    load("--reset-stock")

    assert Product.objects.get(sku="GEAR-001").stock == 3


def test_creates_missing_product_with_catalog_stock(tmp_path):
    load("--file", str(write_catalog(tmp_path / "catalog.json", [ENTRY])))

    product = Product.objects.get(sku="TST-001")
    assert product.stock == 20
    assert product.price_display == "$12.00"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[{", "is not valid JSON"),
        ({"products": []}, "must contain a JSON list of products"),
        (["TST-001"], "Product 1 in .* is invalid: expected a JSON object"),
        ([{k: v for k, v in ENTRY.items() if k != "price"}], "add the missing keys price"),
        ([dict(ENTRY, colour="green")], "remove the unknown keys colour"),
        (
            [dict(ENTRY, price=-5)],
            r"Product 1 \(TST-001\) in .* is invalid: price must be a whole number from 0 to 2147483647, not -5",
        ),
        ([dict(ENTRY, price="12.00")], "price must be a whole number from 0 to 2147483647, not '12.00'"),
        ([dict(ENTRY, stock=1.5)], "stock must be a whole number"),
        ([dict(ENTRY, name="")], "name must be a non-empty string"),
        ([dict(ENTRY, sku="X" * 33)], "sku has 33 characters, more than its maximum of 32"),
        ([dict(ENTRY, slug="test tea")], "slug 'test tea' may contain only letters"),
        ([dict(ENTRY, currency="USD")], "currency 'USD' must be an ISO 4217 code in lower case"),
        ([dict(ENTRY, image="shop/products/missing.svg")], "No static file is named 'shop/products/missing.svg'"),
        ([ENTRY, dict(ENTRY, slug="other")], "lists sku 'TST-001' twice"),
        ([ENTRY, dict(ENTRY, sku="TST-002")], "lists slug 'test-tea' twice"),
    ],
)
def test_bad_entry_raises_command_error(tmp_path, data, message):
    path = write_catalog(tmp_path / "catalog.json", data)

    with pytest.raises(CommandError, match=message):
        load("--file", str(path))

    assert Product.objects.count() == 0


def test_missing_file_raises_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read the catalog file"):
        load("--file", str(tmp_path / "absent.json"))


def test_slug_taken_by_other_sku_changes_nothing(tmp_path, product_factory):
    product_factory(sku="OLD-001", slug="test-tea")
    second = dict(ENTRY, sku="TST-000", slug="fresh-tea")
    path = write_catalog(tmp_path / "catalog.json", [second, ENTRY])

    with pytest.raises(CommandError, match="Slug 'test-tea' of TST-001 already belongs to product OLD-001"):
        load("--file", str(path))

    assert list(Product.objects.values_list("sku", flat=True)) == ["OLD-001"]
