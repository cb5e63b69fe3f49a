"""From an order to its trace: the stored trace id, the traceresponse header, the admin links, the log lines."""
import re

import pytest

from orders.models import Order
from orders.tracing_links import jaeger_order_search_url, jaeger_trace_url
from tests.conftest import checkout_data, wait_for

TRACERESPONSE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def test_jaeger_links(settings):
    settings.JAEGER_UI_URL = "http://localhost:16686/"

    assert jaeger_trace_url("ab" * 16) == "http://localhost:16686/trace/" + "ab" * 16
    assert jaeger_order_search_url(42) == (
        "http://localhost:16686/search?service=shop-worker&tags=%7B%22order.id%22%3A+%2242%22%7D"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fulfillment_worker")
class TestOrderTrace:
    def place_order(self, shopper) -> Order:
        response = shopper.post("/checkout/", checkout_data())
        assert response.status_code == 302
        order = Order.objects.get()
        wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED, message="fulfillment")
        return order

    def test_order_stores_checkout_trace(self, shopper):
        order = self.place_order(shopper)

        assert re.fullmatch(r"[0-9a-f]{32}", order.trace_id)
        assert order.trace_id != "0" * 32
        assert order.trace_parent.startswith(f"00-{order.trace_id}-")

    def test_checkout_response_carries_traceresponse(self, shopper):
        response = shopper.post("/checkout/", checkout_data())

        order = Order.objects.get()
        match = TRACERESPONSE.match(response["traceresponse"])
        assert match, response["traceresponse"]
        assert match.group(1) == order.trace_id
        wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED, message="fulfillment")

    def test_confirmation_page_carries_traceresponse(self, shopper):
        order = self.place_order(shopper)

        response = shopper.get(f"/orders/{order.confirmation_id}/")

        assert TRACERESPONSE.match(response["traceresponse"])

    def test_admin_links_order_to_jaeger(self, shopper, admin_client, settings):
        settings.JAEGER_UI_URL = "http://localhost:16686"
        order = self.place_order(shopper)

        response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")

        html = response.content.decode()
        assert f'href="http://localhost:16686/trace/{order.trace_id}" target="_blank"' in html
        assert "search?service=shop-worker&amp;tags=" in html
        assert "/admin/traces/" not in html

    def test_admin_links_order_to_trace_view(self, shopper, admin_client, settings):
        settings.JAEGER_UI_URL = ""
        order = self.place_order(shopper)

        response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")

        html = response.content.decode()
        assert f'href="/admin/traces/{order.trace_id}/"' in html
        assert f'href="/admin/traces/order/{order.confirmation_id}/"' in html
        assert "16686" not in html

    def test_admin_finds_order_by_trace_id(self, shopper, admin_client):
        order = self.place_order(shopper)

        response = admin_client.get("/admin/orders/order/", {"q": order.trace_id})

        assert order.confirmation_id in response.content.decode()

    def test_worker_log_lines_carry_order_trace(self, shopper, fulfillment_worker):
        order = self.place_order(shopper)

        line = next(
            line for line in fulfillment_worker.log_text().splitlines() if f"Fulfilling order {order.pk}, attempt 1 " in line
        )
        assert f"trace_id={order.trace_id}" in line
        assert re.search(r"span_id=[0-9a-f]{16}", line)
        assert "span_id=0000000000000000" not in line
