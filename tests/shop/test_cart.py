import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import override_settings

from shop.cart import MAX_QUANTITY_PER_LINE, SESSION_KEY, Cart, CartError, validate_quantity
from shop.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def session() -> SessionStore:
    return SessionStore()


@pytest.fixture
def cart(session) -> Cart:
    return Cart(session)


@pytest.fixture
def mug(product_factory) -> Product:
    return product_factory(name="Trail Mug", price=2400, stock=3)


@pytest.fixture
def beans(product_factory) -> Product:
    return product_factory(name="Colombia Huila", price=1650, stock=50)


def test_add_stores_only_id_and_quantity(cart, session, mug):
    cart.add(product=mug, quantity=2)

    assert session[SESSION_KEY] == {str(mug.pk): 2}


def test_add_twice_adds_up(cart, beans):
    cart.add(product=beans, quantity=2)
    new_quantity = cart.add(product=beans, quantity=3)

    assert new_quantity == 5
    assert cart.quantity_of(product=beans) == 5


def test_add_accepts_form_text(cart, beans):
    cart.add(product=beans, quantity=" 4 ")

    assert cart.quantity_of(product=beans) == 4


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (0, "Enter a quantity from 1 to 10, not 0."),
        (-1, "Enter a quantity from 1 to 10, not -1."),
        (MAX_QUANTITY_PER_LINE + 1, "Enter a quantity from 1 to 10, not 11."),
        ("abc", 'Enter a whole number from 1 to 10 as the quantity, not "abc".'),
        ("1.5", 'Enter a whole number from 1 to 10 as the quantity, not "1.5".'),
        ("", 'Enter a whole number from 1 to 10 as the quantity, not "".'),
        ("99999999999999999999", 'Enter a quantity from 1 to 10, not "999999999999…".'),
        (2.0, 'Enter a whole number from 1 to 10 as the quantity, not "2.0".'),
        (True, 'Enter a whole number from 1 to 10 as the quantity, not "True".'),
    ],
)
def test_add_rejects_invalid_quantity(cart, beans, quantity, message):
    with pytest.raises(CartError) as caught:
        cart.add(product=beans, quantity=quantity)

    assert str(caught.value) == message
    assert cart.is_empty


def test_add_rejects_more_than_stock(cart, mug):
    with pytest.raises(CartError, match=r"^Only 3 left of Trail Mug\.$"):
        cart.add(product=mug, quantity=4)

    assert cart.is_empty


def test_add_counts_cart_against_stock(cart, mug):
    cart.add(product=mug, quantity=2)

    with pytest.raises(CartError, match=r"^Only 3 left of Trail Mug, and your cart already has 2\.$"):
        cart.add(product=mug, quantity=2)

    assert cart.quantity_of(product=mug) == 2


def test_add_rejects_out_of_stock_product(cart, product_factory):
    decaf = product_factory(name="Swiss Water Decaf", stock=0)

    with pytest.raises(CartError, match=r"^Swiss Water Decaf is out of stock\.$"):
        cart.add(product=decaf, quantity=1)


def test_add_caps_line_at_maximum(cart, beans):
    cart.add(product=beans, quantity=8)

    with pytest.raises(CartError, match="at most 10 of Colombia Huila"):
        cart.add(product=beans, quantity=3)

    assert cart.quantity_of(product=beans) == 8


def test_add_rejects_other_currency(cart, beans, product_factory):
    euro_tea = product_factory(name="Euro Tea", currency="eur")
    cart.add(product=beans, quantity=1)

    with pytest.raises(CartError, match="Euro Tea is priced in EUR but your cart is in USD"):
        cart.add(product=euro_tea, quantity=1)

    assert euro_tea not in cart


def test_set_quantity_replaces_quantity(cart, beans):
    cart.add(product=beans, quantity=5)

    cart.set_quantity(product=beans, quantity=2)

    assert cart.quantity_of(product=beans) == 2


def test_set_quantity_zero_removes(cart, beans):
    cart.add(product=beans, quantity=5)

    cart.set_quantity(product=beans, quantity=0)

    assert beans not in cart
    assert cart.is_empty


@pytest.mark.parametrize("quantity", [-1, MAX_QUANTITY_PER_LINE + 1, "two"])
def test_set_quantity_rejects_invalid_quantity(cart, beans, quantity):
    cart.add(product=beans, quantity=5)

    with pytest.raises(CartError, match="from 0 to 10"):
        cart.set_quantity(product=beans, quantity=quantity)

    assert cart.quantity_of(product=beans) == 5


def test_set_quantity_rejects_more_than_stock(cart, mug):
    cart.add(product=mug, quantity=1)

    with pytest.raises(CartError, match=r"^Only 3 left of Trail Mug\.$"):
        cart.set_quantity(product=mug, quantity=4)

    assert cart.quantity_of(product=mug) == 1


def test_remove_deletes_line(cart, mug, beans):
    cart.add(product=mug, quantity=1)
    cart.add(product=beans, quantity=2)

    cart.remove(product=mug)

    assert mug not in cart
    assert cart.quantity_of(product=beans) == 2


def test_remove_missing_product_does_nothing(cart, mug, beans):
    cart.add(product=beans, quantity=2)

    cart.remove(product=mug)

    assert cart.quantity_of(product=beans) == 2


def test_clear_empties_cart(cart, session, mug, beans):
    cart.add(product=mug, quantity=1)
    cart.add(product=beans, quantity=2)

    cart.clear()

    assert cart.is_empty
    assert SESSION_KEY not in session


def test_len_counts_units(cart, mug, beans):
    cart.add(product=mug, quantity=1)
    cart.add(product=beans, quantity=4)

    assert len(cart) == 5


def test_lines_keep_order_added(cart, mug, beans):
    cart.add(product=beans, quantity=2)
    cart.add(product=mug, quantity=1)

    lines = cart.lines()

    assert [line.product for line in lines] == [beans, mug]
    assert [line.quantity for line in lines] == [2, 1]
    assert [line.line_total for line in lines] == [3300, 2400]


def test_prices_come_from_database(cart, mug):
    cart.add(product=mug, quantity=2)

    Product.objects.filter(pk=mug.pk).update(price=3000)

    assert cart.lines()[0].line_total == 6000
    assert cart.total == 6000


def test_lines_drop_deleted_product(cart, session, mug, beans):
    cart.add(product=mug, quantity=1)
    cart.add(product=beans, quantity=2)
    beans_id = beans.pk
    beans.delete()

    lines = cart.lines()

    assert [line.product for line in lines] == [mug]
    assert session[SESSION_KEY] == {str(mug.pk): 1}
    assert str(beans_id) not in session[SESSION_KEY]


def test_line_flags_quantity_above_stock(cart, beans):
    cart.add(product=beans, quantity=6)
    Product.objects.filter(pk=beans.pk).update(stock=4)

    line = cart.lines()[0]

    assert line.exceeds_stock
    assert line.max_quantity == 4


def test_total_sums_lines(cart, mug, beans):
    cart.add(product=mug, quantity=2)
    cart.add(product=beans, quantity=1)

    assert cart.total == 2 * 2400 + 1650


def test_currency_of_lines(cart, product_factory):
    cart.add(product=product_factory(currency="eur"), quantity=1)

    assert cart.currency == "eur"


@override_settings(STRIPE_CURRENCY="gbp")
def test_empty_cart_uses_shop_currency(cart):
    assert cart.currency == "gbp"
    assert cart.total == 0


def test_total_rejects_mixed_currencies(cart, mug, beans):
    cart.add(product=mug, quantity=1)
    cart.add(product=beans, quantity=1)
    Product.objects.filter(pk=beans.pk).update(currency="eur")

    with pytest.raises(CartError, match="mixes prices in EUR and USD"):
        cart.total


def test_malformed_session_entries_are_ignored(session, beans):
    session[SESSION_KEY] = {"abc": 1, str(beans.pk): "two", "7": True, "8": 0, "9": -3}

    cart = Cart(session)

    assert cart.is_empty
    assert len(cart) == 0
    assert cart.lines() == []


def test_non_dict_session_value_ignored(session):
    session[SESSION_KEY] = ["not", "a", "dict"]

    assert Cart(session).is_empty


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("+3", 3), (" 10 ", 10), (1, 1)])
def test_validate_quantity_parses_whole_numbers(value, expected):
    assert validate_quantity(value) == expected


def test_validate_quantity_allows_zero_optionally():
    assert validate_quantity("0", allow_zero=True) == 0
