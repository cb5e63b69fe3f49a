"""The checkout form under invalid, overlong, Unicode and hostile input.

An invalid form must come back as a 400 page with the error at its field,
create no order, take no stock and never reach Stripe.
"""
import html
import re

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders import payments
from orders.forms import CheckoutForm
from orders.models import Order
from tests.conftest import cart_add, checkout_data, stored_rows
from tests.fuzz import strategies

pytestmark = pytest.mark.django_db

MAX_LENGTHS = {"email": 254, "full_name": 200, "address_line1": 200, "address_line2": 200, "city": 100, "postal_code": 20}
# Django's message for a NUL character, which no keyboard can type.
LAYOUT_MESSAGE = "Enter this on one line, without tabs, control characters or text-direction marks."
NULL_CHARACTERS = "Null characters are not allowed."
REQUIRED_FIELDS = ["email", "full_name", "address_line1", "city", "postal_code", "country", "payment_method"]


@pytest.fixture
def stripe_calls(monkeypatch) -> list:
    """Record every attempt to build a Stripe client, and fail it, so an invalid form that reaches Stripe shows."""
    calls = []

    def refuse_stripe():
        calls.append("stripe_client")
        raise AssertionError("An invalid checkout form reached Stripe.")

    monkeypatch.setattr(payments, "stripe_client", refuse_stripe)
    return calls


def shopper_with_cart(product) -> Client:
    client = Client()
    cart_add(client, product, 2)
    return client


def field_errors(response, field: str) -> list[str]:
    """Return the unescaped error texts shown under the field, as the customer reads them."""
    element_id = "payment-method-error" if field == "payment_method" else f"id_{field}-error"
    found = re.findall(rf'<p class="field-error" id="{element_id}">(.*?)</p>', response.content.decode(), re.S)
    return [html.unescape(text.strip()) for text in found]


def post_checkout(client: Client, data: dict):
    return client.post("/checkout/", data)


@given(email=strategies.invalid_emails)
def test_invalid_email_is_400_at_field(product, stripe_calls, email):
    client = shopper_with_cart(product)
    before = stored_rows()

    response = post_checkout(client, checkout_data(email=email))

    assert response.status_code == 400
    errors = field_errors(response, "email")
    assert errors
    for error in errors:
        assert error in {"Enter an email address like name@example.com.", NULL_CHARACTERS} or error.startswith(
            "Ensure this value has at most 254 characters"
        ), error
    assert stored_rows() == before
    assert stripe_calls == []


@given(field=st.sampled_from(sorted(MAX_LENGTHS)), value=strategies.overlong_text)
def test_overlong_field_is_400_at_field(product, stripe_calls, field, value):
    client = shopper_with_cart(product)
    before = stored_rows()

    response = post_checkout(client, checkout_data(**{field: value}))

    assert response.status_code == 400
    expected = f"Ensure this value has at most {MAX_LENGTHS[field]} characters (it has {len(value)})."
    assert expected in field_errors(response, field)
    assert stored_rows() == before
    assert stripe_calls == []


@given(missing=st.sets(st.sampled_from(REQUIRED_FIELDS), min_size=1))
def test_missing_fields_are_400_at_each_field(product, stripe_calls, missing):
    client = shopper_with_cart(product)
    data = {name: value for name, value in checkout_data().items() if name not in missing}
    before = stored_rows()

    response = post_checkout(client, data)

    assert response.status_code == 400
    for field in missing:
        expected = "Enter your card details." if field == "payment_method" else "This field is required."
        assert field_errors(response, field) == [expected]
    assert stored_rows() == before
    assert stripe_calls == []


@given(payment_method=strategies.any_text.filter(lambda text: not re.fullmatch(r"\s*pm_[A-Za-z0-9_]+\s*", text)))
def test_bad_payment_method_is_400(product, stripe_calls, payment_method):
    client = shopper_with_cart(product)
    before = stored_rows()

    response = post_checkout(client, checkout_data(payment_method=payment_method))

    assert response.status_code == 400
    [error] = field_errors(response, "payment_method")
    assert error in {
        "Enter your card details.",
        "The payment method is not a Stripe PaymentMethod id (pm_...). Enter your card again.",
        NULL_CHARACTERS,
        "Ensure this value has at most 255 characters (it has %d)." % len(payment_method),
    }
    assert stored_rows() == before
    assert stripe_calls == []


@given(country=strategies.any_text.filter(lambda text: text.strip() not in {"", "US", "CA", "GB", "IE", "DE", "FR", "NL", "BE", "ES", "IT", "SE", "AU"}))
def test_unknown_country_is_400(product, stripe_calls, country):
    client = shopper_with_cart(product)
    before = stored_rows()

    response = post_checkout(client, checkout_data(country=country))

    assert response.status_code == 400
    [error] = field_errors(response, "country")
    assert error.startswith("Select a valid choice.") or error == NULL_CHARACTERS, error
    assert stored_rows() == before
    assert stripe_calls == []


@given(
    full_name=strategies.any_text,
    address_line1=strategies.any_text,
    city=strategies.any_text,
    postal_code=strategies.any_text.filter(lambda text: not text.isascii()),
)
def test_unicode_fields_render_without_error(product, stripe_calls, full_name, address_line1, city, postal_code):
    # A postal code outside ASCII is always invalid, so the page is rendered
    # again with every other value in it, and nothing reaches Stripe.
    client = shopper_with_cart(product)
    data = checkout_data(full_name=full_name, address_line1=address_line1, city=city, postal_code=postal_code)
    before = stored_rows()

    response = post_checkout(client, data)

    assert response.status_code == 400
    assert field_errors(response, "postal_code") in (
        ["Enter a postal code of 3 to 20 letters, digits, spaces or hyphens."],
        [NULL_CHARACTERS],
        [f"Ensure this value has at most 20 characters (it has {len(postal_code.strip())})."],
    )
    assert stored_rows() == before
    assert stripe_calls == []


@given(
    token=st.one_of(
        st.integers(min_value=65, max_value=500).map(lambda length: "a" * length),
        strategies.any_text.filter(lambda text: text and not re.fullmatch(r"[A-Za-z0-9_-]+", text)),
    )
)
def test_malformed_checkout_token_is_400(product, stripe_calls, token):
    client = shopper_with_cart(product)
    before = stored_rows()

    response = post_checkout(client, checkout_data(checkout_token=token))

    assert response.status_code == 400
    assert (
        "This checkout form is damaged or out of date, and you were not charged. Reload the page and submit it again."
        in html.unescape(response.content.decode())
    )
    assert stored_rows() == before
    assert stripe_calls == []


@given(
    full_name=strategies.any_text,
    address_line1=strategies.any_text,
    address_line2=strategies.any_text,
    city=strategies.any_text,
)
def test_form_keeps_valid_unicode_exactly(full_name, address_line1, address_line2, city):
    form = CheckoutForm(
        checkout_data(full_name=full_name, address_line1=address_line1, address_line2=address_line2, city=city)
    )

    if form.is_valid():
        assert form.cleaned_data["full_name"] == full_name.strip()
        assert form.cleaned_data["address_line1"] == address_line1.strip()
        assert form.cleaned_data["city"] == city.strip()
    else:
        for field, errors in form.errors.items():
            assert field in {"full_name", "address_line1", "address_line2", "city"}, field
            for error in errors:
                assert error in {
                    "This field is required.",
                    NULL_CHARACTERS,
                    "Enter your full name as it should appear on the parcel.",
                    "Ensure this value has at least 2 characters (it has 1).",
                    LAYOUT_MESSAGE,
                }, error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", "Eve\nBcc: someone@example.net"),
        ("address_line1", "1 Main\r\nSt"),
        ("address_line2", "Flat\t2"),
        ("city", "\u202eLondon"),
        ("full_name", "Ada \u2066Lovelace\u2069"),
    ],
)
def test_layout_characters_are_400_at_field(product, stripe_calls, field, value):
    client = shopper_with_cart(product)
    before = stored_rows()

    response = post_checkout(client, checkout_data(**{field: value}))

    assert response.status_code == 400
    assert field_errors(response, field) == [LAYOUT_MESSAGE]
    assert stored_rows() == before
    assert stripe_calls == []


@hypothesis_settings(max_examples=4)
@given(extra=strategies.price_fields)
def test_price_fields_are_ignored(product, extra):
    # Stripe is real here (localstripe by default), so the amount it was
    # asked to charge can be read back.
    client = shopper_with_cart(product)

    response = post_checkout(client, {**checkout_data(), **extra})

    assert response.status_code == 302, response.content[:300]
    order = Order.objects.get(confirmation_id=response["Location"].split("/")[2])
    assert order.total == 2 * 1800
    assert order.currency == "usd"
    assert [(line.unit_price, line.quantity) for line in order.lines.all()] == [(1800, 2)]
    intent = payments.stripe_client().v1.payment_intents.retrieve(order.payment_intent_id)
    assert intent.amount == 2 * 1800
    assert intent.currency == "usd"


def test_unicode_customer_is_stored_exactly(product):
    client = shopper_with_cart(product)
    customer = {
        "full_name": "Zoë Łukasiewicz-Ørsted",
        "address_line1": "東京都千代田区 1-1",
        "address_line2": "שדרות 5 ‏",
        "city": "Zürich",
    }

    response = post_checkout(client, checkout_data(**customer))

    assert response.status_code == 302
    order = Order.objects.get()
    for field, value in customer.items():
        assert getattr(order, field) == value.strip()
