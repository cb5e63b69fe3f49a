import pytest

from fulfillment.errors import InsufficientStock
from fulfillment.models import StockReservation
from fulfillment.stock import stock_reserve
from orders import services
from tests.conftest import CUSTOMER


def order_for(*lines):
    return services.order_create(
        lines=[services.CheckoutLine(product=product, quantity=quantity) for product, quantity in lines],
        customer=CUSTOMER,
    )


@pytest.mark.django_db
def test_reserve_takes_each_line_once(product_factory):
    mug, tea = product_factory(stock=5), product_factory(stock=5)
    order = order_for((mug, 2), (tea, 1))

    assert stock_reserve(order=order) == 2
    assert stock_reserve(order=order) == 0

    mug.refresh_from_db()
    tea.refresh_from_db()
    assert (mug.stock, tea.stock) == (3, 4)
    assert StockReservation.objects.filter(order=order).count() == 2


@pytest.mark.django_db
def test_reserve_is_all_or_nothing(product_factory):
    plenty, scarce = product_factory(stock=5), product_factory(stock=2)
    order = order_for((plenty, 1), (scarce, 2))
    scarce.stock = 1
    scarce.save()

    with pytest.raises(InsufficientStock) as raised:
        stock_reserve(order=order)

    assert raised.value.sku == scarce.sku
    assert raised.value.available == 1
    plenty.refresh_from_db()
    assert plenty.stock == 5
    assert not StockReservation.objects.filter(order=order).exists()


@pytest.mark.django_db
def test_reserve_exact_stock_leaves_zero(product_factory):
    last = product_factory(stock=2)
    order = order_for((last, 2))

    stock_reserve(order=order)

    last.refresh_from_db()
    assert last.stock == 0
