import re

import pytest
from django.urls import reverse

from shop.cart import SESSION_KEY
from shop.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def mug(product_factory) -> Product:
    return product_factory(name="Trail Mug", slug="trail-mug", price=2400, stock=3)


@pytest.fixture
def beans(product_factory) -> Product:
    return product_factory(name="Colombia Huila", slug="colombia-huila", price=1650, stock=50)


@pytest.fixture
def decaf(product_factory) -> Product:
    return product_factory(name="Swiss Water Decaf", slug="swiss-water-decaf", price=1700, stock=0)


def add_to_cart(client, product: Product, quantity: int) -> None:
    """Add through the view and follow the redirect, so that its message is shown and gone."""
    response = client.post(reverse("shop:cart_add"), {"product": product.pk, "quantity": str(quantity)}, follow=True)
    assert response.status_code == 200


def cart_of(client) -> dict:
    return client.session.get(SESSION_KEY, {})


def field_error(html: str, element_id: str) -> str:
    """Return the text of the error paragraph with the given id, or "" if there is none."""
    match = re.search(rf'<p class="field-error" id="{element_id}">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def page_messages(html: str) -> list[str]:
    return [text.strip() for text in re.findall(r'<li class="message[^"]*">(.*?)</li>', html, re.S)]


def test_catalog_lists_products(client, mug, beans, decaf):
    response = client.get(reverse("shop:catalog"))

    html = response.content.decode()
    assert response.status_code == 200
    assert list(response.context["products"]) == [beans, decaf, mug]
    assert "Trail Mug" in html
    assert "$24.00" in html
    assert "$16.50" in html
    assert 'href="/products/trail-mug/"' in html
    assert 'src="/static/shop/products/placeholder.svg"' in html


def test_catalog_shows_availability(client, mug, beans, decaf):
    html = client.get(reverse("shop:catalog")).content.decode()

    assert "3 left" in html
    assert "Out of stock" in html
    assert "In stock" in html


def test_product_page_shows_stock_left(client, mug):
    response = client.get(mug.get_absolute_url())

    html = response.content.decode()
    assert response.status_code == 200
    assert "3 left" in html
    assert "$24.00" in html
    assert "Add to cart" in html
    assert 'max="3"' in html


def test_product_page_disables_out_of_stock(client, decaf):
    html = client.get(decaf.get_absolute_url()).content.decode()

    assert "Out of stock" in html
    assert re.search(r'<button[^>]*type="submit"[^>]*disabled>Add to cart</button>', html)


def test_product_page_unknown_slug_is_404(client):
    assert client.get("/products/no-such-thing/").status_code == 404


def test_add_redirects_to_product_page(client, mug):
    response = client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": "2"})

    assert response.status_code == 302
    assert response["Location"] == mug.get_absolute_url()
    assert cart_of(client) == {str(mug.pk): 2}


def test_add_shows_confirmation_after_redirect(client, mug):
    response = client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": "2"}, follow=True)

    html = response.content.decode()
    assert page_messages(html) == ["Added 2 × Trail Mug to your cart."]
    assert "Your cart has 2 of these." in html


def test_add_rejects_get(client):
    assert client.get(reverse("shop:cart_add")).status_code == 405


@pytest.mark.parametrize(
    ("quantity", "status", "message"),
    [
        ("abc", 400, "Enter a whole number from 1 to 10 as the quantity, not &quot;abc&quot;."),
        ("0", 400, "Enter a quantity from 1 to 10, not 0."),
        ("-2", 400, "Enter a quantity from 1 to 10, not -2."),
        ("1000000", 400, "Enter a quantity from 1 to 10, not &quot;1000000&quot;."),
        ("11", 400, "Enter a quantity from 1 to 10, not 11."),
        ("", 400, "Enter a quantity from 1 to 10."),
        ("4", 409, "Only 3 left of Trail Mug."),
    ],
)
def test_add_invalid_quantity_error_at_field(client, mug, quantity, status, message):
    response = client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": quantity})

    html = response.content.decode()
    assert response.status_code == status
    assert field_error(html, "quantity-error") == message
    assert 'aria-invalid="true"' in html
    assert page_messages(html) == []
    assert cart_of(client) == {}


def test_add_out_of_stock_shows_error(client, decaf):
    response = client.post(reverse("shop:cart_add"), {"product": decaf.pk, "quantity": "1"})

    assert response.status_code == 409
    assert field_error(response.content.decode(), "quantity-error") == "Swiss Water Decaf is out of stock."
    assert cart_of(client) == {}


@pytest.mark.parametrize("product", ["999999", "abc", "", "-1", "0", "1.5", "99999999999999999999999"])
def test_add_unknown_product_is_404(client, product):
    response = client.post(reverse("shop:cart_add"), {"product": product, "quantity": "1"})

    assert response.status_code == 404
    assert cart_of(client) == {}


def test_add_without_product_is_404(client):
    assert client.post(reverse("shop:cart_add"), {"quantity": "1"}).status_code == 404


def test_header_counts_units_in_cart(client, mug, beans):
    add_to_cart(client, mug, 2)
    add_to_cart(client, beans, 3)

    response = client.get(reverse("shop:catalog"))

    assert response.context["cart_item_count"] == 5
    assert '<span class="cart-link__count">5</span>' in response.content.decode()


def test_cart_page_lists_lines_and_total(client, mug, beans):
    add_to_cart(client, mug, 2)
    add_to_cart(client, beans, 1)

    response = client.get(reverse("shop:cart"))

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["total"] == 6450
    assert "$48.00" in html
    assert "$64.50" in html
    assert 'href="/checkout/"' in html


def test_cart_page_shows_current_price(client, mug):
    add_to_cart(client, mug, 2)
    Product.objects.filter(pk=mug.pk).update(price=3000)

    response = client.get(reverse("shop:cart"))

    html = response.content.decode()
    assert response.context["total"] == 6000
    assert "$60.00" in html
    assert "$48.00" not in html


def test_empty_cart_page(client):
    html = client.get(reverse("shop:cart")).content.decode()

    assert "Your cart is empty." in html
    assert 'href="/checkout/"' not in html


def test_update_changes_quantity(client, beans):
    add_to_cart(client, beans, 2)

    response = client.post(reverse("shop:cart_update"), {"product": beans.pk, "quantity": "5"})

    assert response.status_code == 302
    assert response["Location"] == reverse("shop:cart")
    assert cart_of(client) == {str(beans.pk): 5}


def test_update_to_zero_removes(client, beans):
    add_to_cart(client, beans, 2)

    response = client.post(reverse("shop:cart_update"), {"product": beans.pk, "quantity": "0"}, follow=True)

    assert cart_of(client) == {}
    assert page_messages(response.content.decode()) == ["Removed Colombia Huila from your cart."]


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("x", "Enter a whole number from 0 to 10 as the quantity, not &quot;x&quot;."),
        ("-1", "Enter a quantity from 0 to 10, not -1."),
        ("12", "Enter a quantity from 0 to 10, not 12."),
    ],
)
def test_update_invalid_quantity_error_at_line(client, beans, quantity, message):
    add_to_cart(client, beans, 2)

    response = client.post(reverse("shop:cart_update"), {"product": beans.pk, "quantity": quantity})

    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, f"quantity-error-{beans.pk}") == message
    assert page_messages(html) == []
    assert cart_of(client) == {str(beans.pk): 2}


def test_update_missing_line_shows_page_message(client, mug, beans):
    add_to_cart(client, beans, 1)

    response = client.post(reverse("shop:cart_update"), {"product": mug.pk, "quantity": "9"})

    assert response.status_code == 409
    assert page_messages(response.content.decode()) == [
        "Trail Mug is not in your cart. Add it from its product page first."
    ]
    assert cart_of(client) == {str(beans.pk): 1}


def test_update_unknown_product_is_404(client):
    assert client.post(reverse("shop:cart_update"), {"product": "424242", "quantity": "1"}).status_code == 404


def test_remove_deletes_line(client, mug, beans):
    add_to_cart(client, mug, 1)
    add_to_cart(client, beans, 1)

    response = client.post(reverse("shop:cart_remove"), {"product": mug.pk})

    assert response.status_code == 302
    assert response["Location"] == reverse("shop:cart")
    assert cart_of(client) == {str(beans.pk): 1}


def test_remove_unknown_product_is_404(client):
    assert client.post(reverse("shop:cart_remove"), {"product": "abc"}).status_code == 404


def test_cart_page_warns_when_stock_fell(client, beans):
    add_to_cart(client, beans, 6)
    Product.objects.filter(pk=beans.pk).update(stock=4)

    html = client.get(reverse("shop:cart")).content.decode()

    assert "Only 4 left. Lower the quantity to check out." in html


def test_mixed_currencies_hide_checkout(client, mug, beans):
    add_to_cart(client, mug, 1)
    add_to_cart(client, beans, 1)
    Product.objects.filter(pk=beans.pk).update(currency="eur")

    html = client.get(reverse("shop:cart")).content.decode()

    assert page_messages(html) == [
        "Your cart mixes prices in EUR and USD, so remove the items in one currency before checking out."
    ]
    assert 'href="/checkout/"' not in html


@pytest.mark.django_db
def test_cart_hides_checkout_when_line_exceeds_stock(client, product_factory):
    dripper = product_factory(stock=10)
    client.post("/cart/add/", {"product": dripper.pk, "quantity": 10})
    dripper.stock = 5
    dripper.save()

    response = client.get("/cart/")

    html = response.content.decode()
    assert response.context["can_checkout"] is False
    assert 'href="/checkout/"' not in html
    assert "Lower the quantities marked above to check out." in html

