"""The admin's trace pages: staff only, the lookup form, and the waterfall with its findings."""
import re

import pytest

from embedded.ports import find_free_port
from fulfillment.faults import FAULTS, UNVERIFIED_SENDER
from fulfillment.models import TaskAttempt
from config.telemetry import telemetry_flush
from tests.conftest import wait_for
from tests.traces.conftest import order_place
from traces.sources import local_trace_store

TRACE_PAGES = ["/admin/traces/", f"/admin/traces/{'ab' * 16}/", "/admin/traces/order/7KQ2M9XH4P/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", TRACE_PAGES)
def test_trace_pages_need_staff_login(client, django_user_model, path):
    anonymous = client.get(path)
    django_user_model.objects.create_user(username="customer", password="not-staff-123")
    client.login(username="customer", password="not-staff-123")
    customer = client.get(path)

    for response in (anonymous, customer):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.django_db
def test_lookup_rejects_unknown_reference(admin_client):
    response = admin_client.get("/admin/traces/", {"reference": "NOT-AN-ORDER"})

    assert response.status_code == 400
    assert "is neither a trace id (32 hex digits) nor the confirmation ID of an order" in response.content.decode()


@pytest.mark.django_db
def test_lookup_trace_id_redirects(admin_client):
    response = admin_client.get("/admin/traces/", {"reference": "AB" * 16})

    assert response.status_code == 302
    assert response["Location"] == f"/admin/traces/{'ab' * 16}/"


@pytest.mark.django_db
def test_unknown_trace_explains_why(admin_client):
    response = admin_client.get(f"/admin/traces/{'ab' * 16}/")

    assert response.status_code == 404
    assert f"No span of trace {'ab' * 16} is in the local trace store" in response.content.decode()
    assert "Spans arrive a few seconds after the work ends" in response.content.decode()


@pytest.mark.django_db
def test_unknown_order_explained(admin_client):
    response = admin_client.get("/admin/traces/order/NOPE/")

    assert response.status_code == 404
    assert "No order has the confirmation ID &#x27;NOPE&#x27;." in response.content.decode()


@pytest.mark.django_db
def test_malformed_trace_id_is_404(admin_client):
    response = admin_client.get("/admin/traces/not-hex/")

    assert response.status_code == 404
    assert "is not a trace id: a trace id is 32 hex digits, not all zeros." in response.content.decode()


@pytest.mark.django_db(transaction=True)
class TestWorkshopOrderPage:
    @pytest.fixture
    def page(self, client, admin_client, stock_product, fulfillment_worker, settings):
        settings.JAEGER_UI_URL = ""
        placed = order_place(client, stock_product, faults=list(FAULTS))
        response = admin_client.get(f"/admin/traces/order/{placed.order.confirmation_id}/")
        assert response.status_code == 200
        return placed, response.content.decode()

    def test_lookup_confirmation_id_redirects(self, page, admin_client):
        placed, _ = page

        response = admin_client.get("/admin/traces/", {"reference": placed.order.confirmation_id.lower()})

        assert response["Location"] == f"/admin/traces/order/{placed.order.confirmation_id}/"

    def test_findings_above_waterfall(self, page):
        _, html = page

        findings = html.index('<ul class="trace-findings">')
        waterfall = html.index('<div class="waterfall">')
        assert findings < waterfall
        assert "The customer was told the order is fulfilled" in html[findings:waterfall]
        assert "MessageRejected in SESv2.SendEmail" in html[findings:waterfall]
        assert "Task fulfillment.fulfill_order ran 3 times" in html[findings:waterfall]

    def test_one_row_per_span(self, page):
        placed, html = page

        row_ids = re.findall(r'<details id="span-([0-9a-f]{16})"', html)
        assert sorted(row_ids) == sorted(span.span_id for span in placed.spans)

    def test_rows_show_service_and_duration(self, page):
        placed, html = page

        stock = next(span for span in placed.spans if span.name == "stock.reserve")
        row = html[html.index(f'<details id="span-{stock.span_id}"') :]
        row = row[: row.index("</details>")]
        assert "shop-worker" in row
        assert f"{stock.duration_ns / 1e6:.2f} ms" in row
        assert re.search(r'class="bar[^"]*" style="left: [0-9.]+%; width: [0-9.]+%', row)

    def test_error_spans_are_red(self, page):
        placed, html = page

        for span in placed.spans:
            row = html[html.index(f'<details id="span-{span.span_id}"') :]
            bar = re.search(r'<span class="(bar[^"]*)"', row).group(1)
            assert (bar == "bar error") == span.failed, span.name

    def test_retries_labelled_with_attempt(self, page):
        _, html = page

        assert html.count('<span class="badge">attempt ') == 3
        for attempt in (1, 2, 3):
            assert f'<span class="badge">attempt {attempt}</span>' in html

    def test_span_detail_has_attributes_events_and_stack(self, page):
        placed, html = page

        email = next(span for span in placed.spans if span.name == "email.send")
        row = html[html.index(f'<details id="span-{email.span_id}"') :]
        row = row[: row.index("</details>")]
        domain = placed.order.email.rpartition("@")[2]
        assert f"<td>email.recipient_domain</td><td>{domain}</td>" in row
        assert "Event exception" in row
        assert "<pre>Traceback (most recent call last):" in row

    def test_page_loads_nothing_from_other_sites(self, page):
        _, html = page

        assert not re.search(r'(?:src|href)="(?:https?:)?//', html)

    def test_no_customer_data_on_page(self, page):
        placed, html = page

        for value in (placed.order.email, placed.order.full_name, placed.order.address_line1):
            assert value not in html


@pytest.mark.django_db(transaction=True)
def test_attempt_admin_links_to_trace_view(client, admin_client, stock_product, fulfillment_worker, settings):
    settings.JAEGER_UI_URL = ""
    placed = order_place(client, stock_product, faults=[UNVERIFIED_SENDER])
    attempt = TaskAttempt.objects.filter(order=placed.order).first()

    response = admin_client.get("/admin/fulfillment/taskattempt/")

    assert f'<a href="/admin/traces/{attempt.trace_id}/"><code>{attempt.trace_id[:16]}</code></a>' in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_trace_view_links_to_jaeger_when_configured(client, admin_client, stock_product, fulfillment_worker, settings):
    settings.JAEGER_UI_URL = "http://localhost:16686"
    placed = order_place(client, stock_product, faults=[])

    response = admin_client.get(f"/admin/traces/{placed.order.trace_id}/")

    html = response.content.decode()
    assert f'href="http://localhost:16686/trace/{placed.order.trace_id}" target="_blank"' in html
    assert "No findings" in html


@pytest.mark.django_db(transaction=True)
def test_index_lists_recent_traces(client, admin_client, stock_product, fulfillment_worker):
    placed = order_place(client, stock_product, faults=[])
    status = client.get(f"/orders/{placed.order.confirmation_id}/status/")
    status_trace_id = status["traceresponse"].split("-")[1]
    telemetry_flush()
    wait_for(lambda: local_trace_store().trace(status_trace_id), message="the status request's spans in the store")

    orders_only = admin_client.get("/admin/traces/").content.decode()
    every_trace = admin_client.get("/admin/traces/", {"all": "1"}).content.decode()

    checkout_row = f'href="/admin/traces/{placed.order.trace_id}/">POST checkout/</a>'
    assert checkout_row in orders_only
    assert f'<a href="/admin/orders/order/{placed.order.pk}/change/">{placed.order.pk}</a>' in orders_only
    assert status_trace_id not in orders_only
    assert checkout_row in every_trace
    assert f'href="/admin/traces/{status_trace_id}/">GET orders/' in every_trace


@pytest.mark.django_db
def test_trace_pages_are_not_traced(admin_client):
    response = admin_client.get("/admin/traces/")

    assert response.status_code == 200
    assert "traceresponse" not in response
    assert "traceresponse" in admin_client.get("/admin/")


@pytest.mark.django_db
def test_admin_index_links_traces(admin_client):
    response = admin_client.get("/admin/")

    assert '<a href="/admin/traces/">Traces</a>' in response.content.decode()


@pytest.mark.django_db
def test_unreachable_jaeger_explained(admin_client, settings):
    settings.JAEGER_QUERY_URL = f"http://127.0.0.1:{find_free_port()}"

    response = admin_client.get(f"/admin/traces/{'ab' * 16}/")

    assert response.status_code == 502
    assert "Cannot reach Jaeger at http://127.0.0.1:" in response.content.decode()
    assert "Check JAEGER_QUERY_URL" in response.content.decode()
