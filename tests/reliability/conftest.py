"""Fixtures shared by the fault-injection tests.

The span fixtures come from the tracing tests, so every fault test can scan
what its processes exported for customer data, card data and secrets.
"""
import pytest
from django.conf import settings

from embedded.ports import find_free_port
from embedded.stripe import register_webhook
from tests.orders.test_webhook import WEBHOOK_URL
from tests.tracing.conftest import names, receiver, telemetry  # noqa: F401
from tests.tracing.test_privacy import info_logs  # noqa: F401


def webhook_register(api_base: str, url: str) -> None:
    """Point localstripe's test webhook, the one tests/orders/test_webhook.py registers too, at `url`."""
    register_webhook(api_base, url, secret=settings.STRIPE_WEBHOOK_SECRET, webhook_id="tests")


@pytest.fixture
def no_webhook() -> None:
    """Send localstripe's events to a closed loopback port, so that no earlier test's server receives them.

    pytest-django's live server lives for the whole session, so a webhook
    that an earlier test pointed at it would still pay orders in this test.
    """
    webhook_register(settings.STRIPE_API_BASE, f"http://127.0.0.1:{find_free_port()}{WEBHOOK_URL}")
