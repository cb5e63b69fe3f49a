import pytest

from orders import services
from orders.models import CONFIRMATION_ID_ALPHABET, CONFIRMATION_ID_LENGTH, Order, new_confirmation_id
from tests.conftest import CUSTOMER


@pytest.fixture
def order(product) -> Order:
    return services.order_create(lines=[services.CheckoutLine(product=product, quantity=1)], customer=CUSTOMER)


def test_confirmation_id_is_short_and_unambiguous():
    identifiers = {new_confirmation_id() for _ in range(1000)}

    assert len(identifiers) == 1000
    for identifier in identifiers:
        assert len(identifier) == CONFIRMATION_ID_LENGTH
        assert set(identifier) <= set(CONFIRMATION_ID_ALPHABET)


@pytest.mark.django_db
def test_confirmation_id_is_not_primary_key(order):
    assert order.confirmation_id != str(order.pk)


@pytest.mark.django_db
def test_status_json_has_no_customer_data(client, order):
    response = client.get(f"/orders/{order.confirmation_id}/status/")

    assert response.status_code == 200
    payload = response.json()
    assert payload["confirmation_id"] == order.confirmation_id
    assert payload["status"] == "awaiting_payment"
    assert payload["final"] is False
    assert response["Cache-Control"] == "no-store"
    # The random confirmation ID can contain a short value such as the country code "GB", so it is left out.
    body = response.content.decode().replace(order.confirmation_id, "")
    for value in CUSTOMER.values():
        if value:
            assert value not in body


@pytest.mark.django_db
def test_status_lookup_ignores_case(client, order):
    response = client.get(f"/orders/{order.confirmation_id.lower()}/status/")

    assert response.status_code == 200


@pytest.mark.django_db
def test_unknown_order_is_not_found(client):
    assert client.get("/orders/ZZZZZZZZZZ/").status_code == 404
    assert client.get("/orders/ZZZZZZZZZZ/status/").status_code == 404


@pytest.mark.django_db
def test_order_page_masks_email(client, order):
    response = client.get(f"/orders/{order.confirmation_id}/")

    html = response.content.decode()
    assert order.confirmation_id in html
    assert "a***@example.org" in html
    assert CUSTOMER["email"] not in html
    assert CUSTOMER["address_line1"] not in html


@pytest.mark.django_db
def test_order_page_polls_until_final(client, order):
    response = client.get(f"/orders/{order.confirmation_id}/")

    html = response.content.decode()
    assert f'data-status-url="/orders/{order.confirmation_id}/status/"' in html
    assert 'data-final="false"' in html
