import pytest

from orders.forms import CheckoutForm
from tests.conftest import checkout_data


def test_valid_data_is_accepted():
    form = CheckoutForm(checkout_data())

    assert form.is_valid(), form.errors
    assert form.cleaned_data["postal_code"] == "NW1 6XE"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "", "This field is required."),
        ("email", "not-an-email", "Enter an email address like name@example.com."),
        ("full_name", "", "This field is required."),
        ("full_name", "A", "Ensure this value has at least 2 characters (it has 1)."),
        ("full_name", "12345", "Enter your full name as it should appear on the parcel."),
        ("full_name", "x" * 201, "Ensure this value has at most 200 characters (it has 201)."),
        ("address_line1", "", "This field is required."),
        ("city", "", "This field is required."),
        ("postal_code", "", "This field is required."),
        ("postal_code", "!!", "Enter a postal code of 3 to 20 letters, digits, spaces or hyphens."),
        ("country", "", "This field is required."),
        ("country", "XX", "Select a valid choice. XX is not one of the available choices."),
        ("payment_method", "", "Enter your card details."),
        ("payment_method", "4242424242424242", "The payment method is not a Stripe PaymentMethod id (pm_...). Enter your card again."),
    ],
)
def test_invalid_field_is_rejected(field, value, message):
    form = CheckoutForm(checkout_data(**{field: value}))

    assert not form.is_valid()
    assert form.errors[field] == [message]


def test_optional_second_address_line():
    form = CheckoutForm(checkout_data(address_line2=""))

    assert form.is_valid(), form.errors
