import pytest
from django.template import Context, Template
from django.test import override_settings

from shop.money import format_money


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (2400, "usd", "$24.00"),
        (2400, "USD", "$24.00"),
        (1250, "eur", "€12.50"),
        (999, "gbp", "£9.99"),
        (5, "usd", "$0.05"),
        (0, "usd", "$0.00"),
        (123456789, "usd", "$1,234,567.89"),
        (2400, "chf", "24.00 CHF"),
        (500, "jpy", "¥500"),
        (1500, "kwd", "1.500 KWD"),
        (-2400, "usd", "-$24.00"),
        (-2400, "chf", "-24.00 CHF"),
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize("amount", [24.0, "2400", True, None])
def test_format_money_rejects_non_integer(amount):
    with pytest.raises(TypeError, match="integer amount in minor units"):
        format_money(amount, "usd")


def render(template: str, **context) -> str:
    return Template("{% load money %}" + template).render(Context(context))


def test_money_filter_uses_given_currency():
    assert render("{{ amount|money:'eur' }}", amount=2400) == "€24.00"


@override_settings(STRIPE_CURRENCY="gbp")
def test_money_filter_defaults_to_shop_currency():
    assert render("{{ amount|money }}", amount=2400) == "£24.00"


@pytest.mark.parametrize("amount", [None, "", "24"])
def test_money_filter_renders_nothing_for_non_integer(amount):
    assert render("{{ amount|money:'usd' }}", amount=amount) == ""
