import json

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.test import override_settings

from shop.models import LOW_STOCK_THRESHOLD, PLACEHOLDER_IMAGE, Product


@pytest.mark.parametrize(
    ("stock", "expected"),
    [
        (0, "Out of stock"),
        (1, "1 left"),
        (3, "3 left"),
        (LOW_STOCK_THRESHOLD, f"{LOW_STOCK_THRESHOLD} left"),
        (LOW_STOCK_THRESHOLD + 1, "In stock"),
        (80, "In stock"),
    ],
)
def test_availability_text(stock, expected):
    assert Product(stock=stock).availability == expected


@pytest.mark.parametrize(("stock", "expected"), [(0, False), (1, True), (50, True)])
def test_is_in_stock(stock, expected):
    assert Product(stock=stock).is_in_stock is expected


def test_price_display_uses_currency():
    assert Product(price=2400, currency="usd").price_display == "$24.00"
    assert Product(price=2400, currency="eur").price_display == "€24.00"


def test_absolute_url_uses_slug():
    assert Product(slug="trail-mug").get_absolute_url() == "/products/trail-mug/"


@pytest.mark.django_db
def test_stock_decrement_below_zero_raises(product_factory):
    product = product_factory(stock=2)

    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(stock=F("stock") - 3)

    product.refresh_from_db()
    assert product.stock == 2


@pytest.mark.django_db
def test_stock_decrement_to_zero_is_allowed(product_factory):
    product = product_factory(stock=2)

    Product.objects.filter(pk=product.pk).update(stock=F("stock") - 2)

    product.refresh_from_db()
    assert product.stock == 0


@pytest.mark.django_db
def test_negative_stock_cannot_be_saved(product_factory):
    with pytest.raises(IntegrityError), transaction.atomic():
        product_factory(stock=-1)


def test_full_clean_rejects_missing_image_file():
    product = Product(
        name="Trail Mug",
        slug="trail-mug",
        sku="GEAR-001",
        description="A mug.",
        price=2400,
        image="shop/products/no-such-file.svg",
        stock=3,
    )

    with pytest.raises(ValidationError) as caught:
        product.full_clean(validate_unique=False, validate_constraints=False)

    assert list(caught.value.message_dict) == ["image"]
    assert "no-such-file.svg" in caught.value.message_dict["image"][0]


def test_image_url_missing_file_uses_placeholder(tmp_path):
    manifest = {"version": "1.1", "paths": {PLACEHOLDER_IMAGE: "shop/products/placeholder.0123abcd.svg"}}
    (tmp_path / "staticfiles.json").write_text(json.dumps(manifest))
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

    with override_settings(STORAGES=storages, STATIC_ROOT=tmp_path, DEBUG=False):
        url = Product(image="shop/products/missing-from-manifest.svg").image_url

    assert url == "/static/shop/products/placeholder.0123abcd.svg"


def test_image_url_uses_static_url():
    assert Product(image="shop/products/trail-mug.svg").image_url == "/static/shop/products/trail-mug.svg"
