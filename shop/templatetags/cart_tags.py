"""Template tags that place cart form errors next to the field they concern.

The cart views tag an error about a product's quantity with
shop.forms.field_error_tags(). The page that has that product's quantity
field shows it there with ``quantity_errors``, and base.html shows the other
messages with ``page_messages``.
"""
from django import template

from shop.forms import FIELD_ERROR_TAG

register = template.Library()


def _tags(message) -> set[str]:
    return set((message.extra_tags or "").split())


@register.simple_tag
def page_messages(messages) -> list:
    """Return the messages that are not about a form field.

    Usage: ``{% page_messages messages as notices %}``.
    """
    return [message for message in messages if FIELD_ERROR_TAG not in _tags(message)]


@register.simple_tag
def quantity_errors(messages, product) -> list[str]:
    """Return the texts of the error messages about the product's quantity field.

    Usage: ``{% quantity_errors messages product as errors %}``.
    """
    required_tags = {FIELD_ERROR_TAG, f"quantity-{product.pk}"}
    return [str(message) for message in messages if required_tags <= _tags(message)]
