"""Checkout requests that end before a payment is taken."""
import pytest

from orders.models import Order
from tests.conftest import CUSTOMER, cart_add, checkout_data


@pytest.mark.django_db
def test_empty_cart_redirects_to_cart(client):
    response = client.get("/checkout/")

    assert response.status_code == 302
    assert response["Location"] == "/cart/"


@pytest.mark.django_db
def test_checkout_page_loads_stripe_js(shopper, settings):
    response = shopper.get("/checkout/")

    assert response.status_code == 200
    assert settings.STRIPE_JS_URL.encode() in response.content
    assert settings.STRIPE_PUBLISHABLE_KEY.encode() in response.content
    assert settings.STRIPE_SECRET_KEY.encode() not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["email", "full_name", "address_line1", "city", "postal_code", "country"])
def test_invalid_field_shows_error_and_keeps_input(shopper, field):
    data = checkout_data(**{field: ""})

    response = shopper.post("/checkout/", data)

    assert response.status_code == 400
    assert response.context["form"].errors[field] == ["This field is required."]
    kept = [name for name in CUSTOMER if name != field]
    for name in kept:
        assert response.context["form"][name].value() == data[name]
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_error_is_shown_next_to_field(shopper):
    response = shopper.post("/checkout/", checkout_data(email="nope"))

    html = response.content.decode()
    assert 'id="id_email-error"' in html
    assert "Enter an email address like name@example.com." in html
    assert 'value="Ada Lovelace"' in html


@pytest.mark.django_db
def test_more_than_stock_is_rejected(client, product_factory):
    scarce = product_factory(stock=3)
    cart_add(client, scarce, 3)
    scarce.stock = 1
    scarce.save()

    response = client.post("/checkout/", checkout_data())

    assert response.status_code == 409
    assert f"Only 1 left of {scarce.name}." in response.content.decode()
    assert Order.objects.count() == 0
