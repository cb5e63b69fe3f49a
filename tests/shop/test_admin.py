import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def stock_levels(product_factory) -> dict:
    return {
        "out": product_factory(name="Sold Out", stock=0),
        "low": product_factory(name="Nearly Gone", stock=5),
        "in": product_factory(name="Plenty", stock=6),
    }


@pytest.mark.parametrize("level", ["out", "low", "in"])
def test_stock_level_filter(admin_client, stock_levels, level):
    response = admin_client.get(reverse("admin:shop_product_changelist"), {"stock_level": level})

    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [stock_levels[level]]


def test_changelist_shows_price_and_availability(admin_client, stock_levels):
    html = admin_client.get(reverse("admin:shop_product_changelist")).content.decode()

    assert "$25.00" in html
    assert "5 left" in html
    assert "Out of stock" in html


def test_search_matches_sku(admin_client, stock_levels):
    sku = stock_levels["low"].sku

    response = admin_client.get(reverse("admin:shop_product_changelist"), {"q": sku})

    assert list(response.context["cl"].queryset) == [stock_levels["low"]]
