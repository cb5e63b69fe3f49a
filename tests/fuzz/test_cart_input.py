"""Cart forms under malformed, out-of-range and hostile input.

Each example uses a new Client, so its session starts empty or with exactly
the line the test put there, and checks that the database did not change.
"""
import re

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from shop.cart import SESSION_KEY
from tests.conftest import stored_rows
from tests.fuzz import strategies

pytestmark = pytest.mark.django_db

QUANTITY_MESSAGE = re.compile(
    r"Enter a (whole number from (0|1) to 10 as the quantity, not &quot;.*&quot;"
    r"|quantity from (0|1) to 10(, not (-?[0-9]+|&quot;.*&quot;))?)\.",
    re.S,
)


def field_error(html: str, element_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{element_id}">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def cart_of(client: Client) -> dict:
    return client.session.get(SESSION_KEY, {})


@pytest.fixture
def mug(product_factory):
    return product_factory(name="Trail Mug", slug="trail-mug", price=2400, stock=3)


@given(quantity=strategies.bad_quantities)
def test_add_bad_quantity_is_400_at_field(mug, quantity):
    client = Client()
    before = stored_rows()

    response = client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": quantity})

    assert response.status_code == 400
    message = field_error(response.content.decode(), "quantity-error")
    assert QUANTITY_MESSAGE.fullmatch(message), message
    assert cart_of(client) == {}
    assert stored_rows() == before


@given(product=strategies.unknown_product_ids, quantity=st.sampled_from(["1", "2"]))
def test_add_unknown_product_is_404(product, quantity):
    client = Client()
    before = stored_rows()

    response = client.post(reverse("shop:cart_add"), {"product": product, "quantity": quantity})

    assert response.status_code == 404
    assert "could not find" in response.content.decode()
    assert cart_of(client) == {}
    assert stored_rows() == before


@given(quantity=st.integers(min_value=4, max_value=10).map(str))
def test_add_beyond_stock_is_409_at_field(mug, quantity):
    client = Client()
    before = stored_rows()

    response = client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": quantity})

    assert response.status_code == 409
    assert field_error(response.content.decode(), "quantity-error") == "Only 3 left of Trail Mug."
    assert cart_of(client) == {}
    assert stored_rows() == before


@given(extra=strategies.price_fields, quantity=st.integers(min_value=1, max_value=3))
def test_add_ignores_price_fields(mug, extra, quantity):
    client = Client()
    before = stored_rows()

    response = client.post(reverse("shop:cart_add"), {**extra, "product": mug.pk, "quantity": str(quantity)})

    assert response.status_code == 302
    assert cart_of(client) == {str(mug.pk): quantity}
    cart_page = client.get(reverse("shop:cart"))
    assert cart_page.context["total"] == 2400 * quantity
    assert stored_rows() == before


@given(quantity=strategies.bad_quantities.filter(lambda text: text.strip() != "0"))
def test_update_bad_quantity_is_400_at_line(mug, quantity):
    client = Client()
    client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": "2"})
    before = stored_rows()

    response = client.post(reverse("shop:cart_update"), {"product": mug.pk, "quantity": quantity})

    assert response.status_code == 400
    message = field_error(response.content.decode(), f"quantity-error-{mug.pk}")
    assert QUANTITY_MESSAGE.fullmatch(message), message
    assert cart_of(client) == {str(mug.pk): 2}
    assert stored_rows() == before


@given(product=strategies.unknown_product_ids, quantity=st.sampled_from(["0", "1", "abc"]))
def test_update_unknown_product_is_404(mug, product, quantity):
    client = Client()
    client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": "1"})
    before = stored_rows()

    response = client.post(reverse("shop:cart_update"), {"product": product, "quantity": quantity})

    assert response.status_code == 404
    assert cart_of(client) == {str(mug.pk): 1}
    assert stored_rows() == before


def test_update_line_not_in_cart_is_409(mug, product_factory):
    beans = product_factory(name="Colombia Huila", stock=50)
    client = Client()
    client.post(reverse("shop:cart_add"), {"product": beans.pk, "quantity": "1"})

    response = client.post(reverse("shop:cart_update"), {"product": mug.pk, "quantity": "2"})

    assert response.status_code == 409
    assert "Trail Mug is not in your cart. Add it from its product page first." in response.content.decode()
    assert cart_of(client) == {str(beans.pk): 1}


@given(product=strategies.unknown_product_ids)
def test_remove_unknown_product_is_404(mug, product):
    client = Client()
    client.post(reverse("shop:cart_add"), {"product": mug.pk, "quantity": "1"})
    before = stored_rows()

    response = client.post(reverse("shop:cart_remove"), {"product": product})

    assert response.status_code == 404
    assert cart_of(client) == {str(mug.pk): 1}
    assert stored_rows() == before


@pytest.mark.parametrize("name", ["shop:cart_add", "shop:cart_update", "shop:cart_remove"])
def test_cart_form_as_json_is_404(client, mug, name):
    # A JSON body leaves request.POST empty, so the form names no product.
    response = client.post(reverse(name), b'{"product": 1, "quantity": 1}', content_type="application/json")

    assert response.status_code == 404
    assert cart_of(client) == {}


@pytest.mark.parametrize("name", ["shop:cart_add", "shop:cart_update", "shop:cart_remove"])
def test_cart_form_broken_multipart_is_400(client, mug, name):
    before = stored_rows()

    response = client.post(
        reverse(name), b"--nope\r\ngarbage", content_type="multipart/form-data; boundary=\"\""
    )

    assert response.status_code == 400
    assert cart_of(client) == {}
    assert stored_rows() == before
