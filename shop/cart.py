"""Session cart that stores product ids and quantities, never prices.

Prices, names and stock are read from the database each time the cart is read,
so a price change in the admin reaches every cart at once.
"""
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from shop.models import Product
from shop.selectors import product_currencies, product_get_many

SESSION_KEY = "cart"
MAX_QUANTITY_PER_LINE = 10

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
# Maximum number of digits that is parsed. A longer number is far above
# MAX_QUANTITY_PER_LINE, and int() on thousands of digits is slow.
_MAX_QUANTITY_DIGITS = 6
# Maximum length of a rejected value when it is quoted in a message.
_MAX_SHOWN_CHARS = 12


class CartError(ValueError):
    """A cart change that is not allowed. The message is written for the customer."""


@dataclass(frozen=True)
class CartLine:
    """One product in the cart, priced from the database when the cart was read."""

    product: Product
    quantity: int
    line_total: int  # minor units

    @property
    def exceeds_stock(self) -> bool:
        """Whether the stock fell below the quantity after the product was added."""
        return self.quantity > self.product.stock

    @property
    def max_quantity(self) -> int:
        """Largest quantity this line may be changed to. See quantity_limit()."""
        return quantity_limit(product=self.product)


def quantity_limit(*, product: Product) -> int:
    """Return the largest quantity of the product that one cart line may have now."""
    return max(0, min(MAX_QUANTITY_PER_LINE, product.stock))


def validate_quantity(value: int | str, *, allow_zero: bool = False) -> int:
    """Return the quantity as an int, or raise CartError.

    A valid quantity is a whole number from 1 (or 0 if allow_zero) to
    MAX_QUANTITY_PER_LINE. Strings such as form input are parsed first.
    """
    minimum = 0 if allow_zero else 1
    allowed = f"from {minimum} to {MAX_QUANTITY_PER_LINE}"

    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE_NUMBER.fullmatch(text):
            raise CartError(f"Enter a whole number {allowed} as the quantity, not {_shown(text)}.")
        if len(text.lstrip("+-")) > _MAX_QUANTITY_DIGITS:
            raise CartError(f"Enter a quantity {allowed}, not {_shown(text)}.")
        number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise CartError(f"Enter a whole number {allowed} as the quantity, not {_shown(str(value))}.")

    if not minimum <= number <= MAX_QUANTITY_PER_LINE:
        raise CartError(f"Enter a quantity {allowed}, not {number}.")
    return number


def _shown(text: str) -> str:
    """Quote a rejected value for a message, cut short if it is long."""
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[:_MAX_SHOWN_CHARS] + "…"
    return f'"{text}"'


class Cart:
    """The cart of one session, stored as ``{str(product_id): quantity}``.

    Every read of lines, total or currency queries the database, so create one
    Cart per request and do not keep it across requests.
    """

    def __init__(self, session: SessionBase) -> None:
        self._session = session

    def __len__(self) -> int:
        """Return the number of units in the cart, as stored in the session.

        Products deleted since they were added still count here until
        lines() has dropped them.
        """
        return sum(self._quantities().values())

    def __contains__(self, product: Product) -> bool:
        return product.pk in self._quantities()

    @property
    def is_empty(self) -> bool:
        return not self._quantities()

    def quantity_of(self, *, product: Product) -> int:
        """Return how many units of the product the cart contains, 0 if none."""
        return self._quantities().get(product.pk, 0)

    def add(self, *, product: Product, quantity: int | str) -> int:
        """Add units of a product and return the product's new quantity in the cart.

        Raise CartError if the quantity is invalid, the product is out of
        stock or priced in another currency than the cart, or the new
        quantity would exceed the stock or MAX_QUANTITY_PER_LINE.
        """
        quantity = validate_quantity(quantity)
        quantities = self._quantities()
        in_cart = quantities.get(product.pk, 0)
        new_quantity = in_cart + quantity

        self._check_currency(product=product, quantities=quantities)
        if not product.is_in_stock:
            raise CartError(f"{product.name} is out of stock.")
        if new_quantity > product.stock:
            raise CartError(_stock_message(product=product, in_cart=in_cart))
        if new_quantity > MAX_QUANTITY_PER_LINE:
            raise CartError(
                f"You can have at most {MAX_QUANTITY_PER_LINE} of {product.name} in your cart, "
                f"and it already has {in_cart}."
            )

        quantities[product.pk] = new_quantity
        self._save(quantities)
        return new_quantity

    def set_quantity(self, *, product: Product, quantity: int | str) -> None:
        """Replace the product's quantity in the cart, removing it at 0.

        Raise CartError if the quantity is invalid or exceeds the stock, or if
        the product is priced in another currency than the cart.
        """
        quantity = validate_quantity(quantity, allow_zero=True)
        if quantity == 0:
            self.remove(product=product)
            return

        quantities = self._quantities()
        self._check_currency(product=product, quantities=quantities)
        if not product.is_in_stock:
            raise CartError(f"{product.name} is out of stock.")
        if quantity > product.stock:
            raise CartError(_stock_message(product=product, in_cart=0))

        quantities[product.pk] = quantity
        self._save(quantities)

    def remove(self, *, product: Product) -> None:
        """Remove the product from the cart. Removing a product not in the cart does nothing."""
        quantities = self._quantities()
        if quantities.pop(product.pk, None) is not None:
            self._save(quantities)

    def clear(self) -> None:
        """Remove every product, for example once an order is placed."""
        self._session.pop(SESSION_KEY, None)

    def lines(self) -> list[CartLine]:
        """Return the lines in the order they were added, priced from the database.

        Products that no longer exist are dropped from the session.
        """
        quantities = self._quantities()
        if not quantities:
            return []

        products = product_get_many(product_ids=quantities.keys())
        lines = []
        for product_id, quantity in quantities.items():
            product = products.get(product_id)
            if product is not None:
                lines.append(CartLine(product=product, quantity=quantity, line_total=product.price * quantity))

        if len(lines) != len(quantities):
            self._save({line.product.pk: line.quantity for line in lines})
        return lines

    @property
    def total(self) -> int:
        """Sum of the line totals in minor units of `currency`.

        Raise CartError if the lines mix currencies.
        """
        lines = self.lines()
        _lines_currency(lines)
        return sum(line.line_total for line in lines)

    @property
    def currency(self) -> str:
        """ISO 4217 code of the cart's prices, or the shop's currency when the cart is empty.

        Raise CartError if the lines mix currencies.
        """
        return _lines_currency(self.lines())

    def _quantities(self) -> dict[int, int]:
        """Return the stored quantities by product id, skipping malformed entries."""
        stored = self._session.get(SESSION_KEY)
        if not isinstance(stored, dict):
            return {}

        quantities = {}
        for key, quantity in stored.items():
            if not (isinstance(key, str) and key.isdecimal()):
                continue
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                continue
            quantities[int(key)] = quantity
        return quantities

    def _save(self, quantities: dict[int, int]) -> None:
        # Assigning a new dict, instead of changing the stored one, marks the
        # session as modified so that it is saved.
        self._session[SESSION_KEY] = {str(product_id): quantity for product_id, quantity in quantities.items()}

    def _check_currency(self, *, product: Product, quantities: dict[int, int]) -> None:
        other_ids = [product_id for product_id in quantities if product_id != product.pk]
        if not other_ids:
            return
        currencies = product_currencies(product_ids=other_ids)
        if currencies and product.currency not in currencies:
            cart_currency = ", ".join(sorted(code.upper() for code in currencies))
            raise CartError(
                f"{product.name} is priced in {product.currency.upper()} but your cart is in "
                f"{cart_currency}, so check out or empty your cart before adding it."
            )


def _stock_message(*, product: Product, in_cart: int) -> str:
    if in_cart:
        return f"Only {product.stock} left of {product.name}, and your cart already has {in_cart}."
    return f"Only {product.stock} left of {product.name}."


def _lines_currency(lines: list[CartLine]) -> str:
    """Return the one currency of the lines, or raise CartError if they mix currencies.

    add() keeps a cart to one currency, but a staff member can still change a
    product's currency in the admin after it was added.
    """
    currencies = {line.product.currency for line in lines}
    if not currencies:
        return settings.STRIPE_CURRENCY
    if len(currencies) > 1:
        listed = " and ".join(sorted(code.upper() for code in currencies))
        raise CartError(
            f"Your cart mixes prices in {listed}, so remove the items in one currency before checking out."
        )
    return currencies.pop()
