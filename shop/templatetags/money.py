"""Template filter ``money``: ``{{ amount|money:currency }}`` renders "$24.00"."""
from django import template
from django.conf import settings

from shop.money import format_money

register = template.Library()


@register.filter(name="money")
def money(amount_minor: int, currency: str | None = None) -> str:
    """Format an amount in minor units, in the shop's currency unless one is given.

    Like Django's built-in filters, return an empty string for a value that is
    not an integer, such as a missing context variable, instead of raising.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        return ""
    return format_money(amount_minor, currency or settings.STRIPE_CURRENCY)
