"""The README's scripted checkout, as curl runs it: over HTTP with cookies and a CSRF token."""
import re

import pytest
import requests

from orders.models import Order
from tests.conftest import CUSTOMER, wait_for


@pytest.mark.django_db(transaction=True)
def test_scripted_checkout_over_http(live_server, product_factory, fulfillment_worker):
    product = product_factory(name="Assam Breakfast Tea", slug="assam-breakfast-tea", stock=5)
    session = requests.Session()

    session.get(f"{live_server.url}/products/{product.slug}/", timeout=10).raise_for_status()
    token = session.cookies["csrftoken"]
    headers = {"X-CSRFToken": token, "Referer": live_server.url + "/"}
    added = session.post(
        f"{live_server.url}/cart/add/",
        data={"product": product.pk, "quantity": 1},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert added.status_code == 302
    checkout = session.post(
        f"{live_server.url}/checkout/",
        data={**CUSTOMER, "payment_method": "pm_card_visa"},
        headers=headers,
        allow_redirects=False,
        timeout=30,
    )

    assert checkout.status_code == 302
    confirmation_id = re.fullmatch(r"/orders/([0-9A-Z]+)/", checkout.headers["Location"]).group(1)
    status = wait_for(
        lambda: (payload := session.get(f"{live_server.url}/orders/{confirmation_id}/status/", timeout=10).json())
        and payload["status"] == "fulfilled"
        and payload,
        message="the order to be fulfilled",
    )
    assert set(status) >= {"confirmation_id", "status", "status_label", "message", "final", "updated_at"}
    assert Order.objects.get(confirmation_id=confirmation_id).total == product.price
