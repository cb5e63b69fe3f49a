"""Order pages and the status endpoint under confirmation IDs that name no order."""
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from orders import services
from orders.models import CONFIRMATION_ID_ALPHABET, Order
from tests.conftest import CUSTOMER, stored_rows

pytestmark = pytest.mark.django_db

ORDER_PAGES = ["/orders/{}/", "/orders/{}/status/", "/orders/{}/payment/complete/"]

# Path segments that the URLconf routes to the order views: anything but "/".
unknown_ids = st.one_of(
    st.text(alphabet=CONFIRMATION_ID_ALPHABET, min_size=14, max_size=14),
    st.text(alphabet=CONFIRMATION_ID_ALPHABET, min_size=10, max_size=10),
    st.text(st.characters(exclude_characters="/"), min_size=1, max_size=60),
    st.integers(min_value=256, max_value=5000).map(lambda length: "é" * length),
    st.sampled_from(["%00", "..", "' OR '1'='1", "\x00", "1", "ZZZZZZZZZZ", "ZZZZZZZZZZZZZZ"]),
)


@pytest.fixture
def order(product) -> Order:
    return services.order_create(lines=[services.CheckoutLine(product=product, quantity=1)], customer=CUSTOMER)


@given(confirmation_id=unknown_ids, page=st.sampled_from(ORDER_PAGES), method=st.sampled_from(["get", "post"]))
def test_unknown_confirmation_id_is_404(order, confirmation_id, page, method):
    client = Client()
    before = stored_rows()

    response = getattr(client, method)(page.format(quote(confirmation_id, safe="")))

    if method == "post" and page != "/orders/{}/payment/complete/":
        assert response.status_code == 405
    else:
        assert response.status_code == 404
        assert "could not find" in response.content.decode()
    assert stored_rows() == before


@pytest.mark.parametrize("segment", ["ſ" * 10, "Ā", "注文", "🎉"])
def test_path_beyond_latin1_is_404(segment):
    client = Client(raise_request_exception=True)

    response = client.get(f"/orders/{quote(segment)}/status/")

    assert response.status_code == 404


def test_payment_complete_without_payment_is_explained(order):
    # An order whose payment never reached Stripe has no PaymentIntent to check.
    client = Client()

    response = client.get(f"/orders/{order.confirmation_id}/payment/complete/", follow=True)

    assert response.redirect_chain[-1][1] == 302
    assert "This order has no payment to check. Place the order again." in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT


def test_legacy_ten_symbol_id_still_opens(order):
    Order.objects.filter(pk=order.pk).update(confirmation_id="ABCDEFGHJK")

    assert Client().get("/orders/abcdefghjk/status/").status_code == 200
    assert Client().get("/orders/ABCDEFGHJK/").status_code == 200
