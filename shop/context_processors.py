from django.http import HttpRequest

from shop.cart import Cart


def cart(request: HttpRequest) -> dict:
    """Add ``cart_item_count``, the number of units in the session's cart, for the header."""
    session = getattr(request, "session", None)
    if session is None:
        return {"cart_item_count": 0}
    return {"cart_item_count": len(Cart(session))}
