"""A person's checkout in Chromium: catalog, product, cart, card, confirmation."""
import os
import re
import shutil

import pytest
from django.db import connections

from orders.models import Order
from tests.conftest import CUSTOMER, wait_for

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
        reason=f"Chromium not found at {CHROMIUM}. Install it with `apt-get install chromium`, "
        "or set CHROMIUM_PATH to a Chromium binary.",
    ),
]


@pytest.fixture
def page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread, and Django raises
    # on ORM calls from a thread with a running loop unless this variable is set.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(20_000)
        yield page
        context.close()
        browser.close()

    # ORM calls made while Playwright's loop runs use their own connection,
    # which would otherwise stay open and block dropping the test database.
    connections.close_all()


def test_person_orders_with_test_card(page, live_server, product_factory, fulfillment_worker):
    product = product_factory(name="Summit Thermos", slug="summit-thermos", sku="THR-001", price=3400, stock=4)

    page.goto(live_server.url + "/")
    page.get_by_role("link", name=re.compile("Summit Thermos")).first.click()
    page.wait_for_url(re.compile(r"/products/summit-thermos/$"))
    assert "4 left" in page.content()
    page.get_by_role("button", name="Add to cart").click()

    page.goto(live_server.url + "/cart/")
    page.get_by_role("link", name=re.compile("Checkout", re.IGNORECASE)).click()
    page.wait_for_url(re.compile(r"/checkout/$"))

    page.get_by_label("Email").fill(CUSTOMER["email"])
    page.get_by_label("Full name").fill(CUSTOMER["full_name"])
    page.get_by_label("Address", exact=True).fill(CUSTOMER["address_line1"])
    page.get_by_label("City").fill(CUSTOMER["city"])
    page.get_by_label("Postal code").fill(CUSTOMER["postal_code"])
    page.get_by_label("Country").select_option(CUSTOMER["country"])

    card = page.locator("#card-element")
    card.get_by_placeholder("number").press_sequentially("4242 4242 4242 4242")
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("10001")
    page.locator("#pay-button").click()

    page.wait_for_url(re.compile(r"/orders/[0-9A-Z]+/$"))
    confirmation_id = page.locator("#confirmation-id").inner_text().strip()
    order = Order.objects.get(confirmation_id=confirmation_id)
    assert order.payment_intent_id.startswith("pi_")

    # The page polls the status endpoint and shows what the worker did.
    page.wait_for_function(
        "document.getElementById('order-status-label').textContent.trim() === 'Confirmed'", timeout=30_000
    )
    wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED, message="fulfillment")
    product.refresh_from_db()
    assert product.stock == 3
