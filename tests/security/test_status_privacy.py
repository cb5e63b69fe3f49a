"""The status endpoint and the order page reveal nothing about the customer or the payment."""
import pytest
from django.test import Client

from orders.models import Order
from tests.conftest import cart_add, checkout_data

pytestmark = pytest.mark.django_db

STATUS_KEYS = {"confirmation_id", "status", "status_label", "message", "final", "email", "updated_at"}

# Distinct values that cannot appear in a page by chance.
PRIVATE_CUSTOMER = {
    "email": "grace.hopper.private@example.net",
    "full_name": "Grace Brewster Hopper",
    "address_line1": "41 Compiler Lane",
    "address_line2": "Suite Cobol",
    "city": "Arlington Heights",
    "postal_code": "VA 22201",
    "country": "US",
}


@pytest.fixture
def paid_order(product) -> Order:
    client = Client()
    cart_add(client, product, 1)
    response = client.post("/checkout/", checkout_data(**PRIVATE_CUSTOMER))
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.payment_intent_id.startswith("pi_")
    return order


def private_values(order: Order) -> dict[str, str]:
    return {
        **{field: getattr(order, field) for field in PRIVATE_CUSTOMER if field != "country"},
        "payment_intent_id": order.payment_intent_id,
        "checkout_token": order.checkout_token,
        "trace_id": order.trace_id,
    }


def test_status_json_has_only_public_keys(paid_order):
    response = Client().get(f"/orders/{paid_order.confirmation_id}/status/")

    assert response.status_code == 200
    assert set(response.json()) == STATUS_KEYS
    assert response.json()["status"] == Order.Status.PAID


def test_status_json_has_no_customer_values(paid_order):
    body = Client().get(f"/orders/{paid_order.confirmation_id}/status/").content.decode()

    for field, value in private_values(paid_order).items():
        if value:
            assert value not in body, field
    assert "Grace" not in body
    assert "Hopper" not in body


def test_order_page_has_no_private_values(paid_order):
    body = Client().get(f"/orders/{paid_order.confirmation_id}/").content.decode()

    for field, value in private_values(paid_order).items():
        if value:
            assert value not in body, field
    assert "g***@example.net" in body
