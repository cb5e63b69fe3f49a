"""CSRF protection on every URL of the URLconf, so that a new form cannot be added without it."""
import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from tests.conftest import checkout_data, stored_rows

pytestmark = pytest.mark.django_db

# The only view that takes a POST without a CSRF token. Stripe signs each
# webhook with the endpoint's secret, and the view rejects a bad signature.
CSRF_EXEMPT = {"orders:stripe_webhook"}
CSRF_FAILURE = "This form has expired or was not sent from this shop."

# Values tried, in order, for each argument of a named URL until one reverses.
ARGUMENT_SAMPLES = ["1", "orders", "ABCDEFGHJKMNPQ", "trail-mug"]


def named_routes(patterns=None, namespace: str = "") -> list[tuple[str, object]]:
    """Return (view name, pattern) for every named URL, walking included URLconfs."""
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            routes.extend(named_routes(pattern.url_patterns, inner))
        elif isinstance(pattern, URLPattern) and pattern.name:
            routes.append((f"{namespace}{pattern.name}", pattern))
    return routes


def sample_url(name: str, pattern: URLPattern) -> str:
    """Return a URL for the route, with each argument filled in by the first sample that fits."""
    arguments = list(pattern.pattern.regex.groupindex)
    for sample in ARGUMENT_SAMPLES:
        try:
            return reverse(name, kwargs={argument: sample for argument in arguments})
        except NoReverseMatch:
            continue
    raise AssertionError(f"No sample value reverses {name} with arguments {arguments}; add one to ARGUMENT_SAMPLES.")


ROUTES = named_routes()


def test_every_route_is_found():
    # Guards the walk above: a walk that found nothing would let every form pass.
    names = {name for name, _ in ROUTES}

    assert {"shop:cart_add", "shop:cart_update", "shop:cart_remove", "orders:checkout"} <= names
    assert {"admin:login", "admin:orders_order_change", "orders:payment_complete"} <= names


PROTECTED_ROUTES = [(name, pattern) for name, pattern in ROUTES if name not in CSRF_EXEMPT]


@pytest.mark.parametrize(("name", "pattern"), PROTECTED_ROUTES, ids=[name for name, _ in PROTECTED_ROUTES])
def test_post_without_token_is_403(product, name, pattern):
    client = Client(enforce_csrf_checks=True)
    before = stored_rows()

    response = client.post(sample_url(name, pattern), {"product": product.pk, "quantity": "1"})

    assert response.status_code == 403
    assert CSRF_FAILURE in response.content.decode()
    assert stored_rows() == before


def test_exempt_view_is_only_webhook():
    exempt = {name for name, pattern in ROUTES if getattr(pattern.callback, "csrf_exempt", False)}

    assert exempt == CSRF_EXEMPT


def test_cart_add_without_token_keeps_cart(product):
    client = Client(enforce_csrf_checks=True)
    client.get(product.get_absolute_url())

    response = client.post("/cart/add/", {"product": product.pk, "quantity": "1"})

    assert response.status_code == 403
    assert "cart" not in client.session


def test_checkout_without_token_creates_no_order(product):
    client = Client(enforce_csrf_checks=True)
    client.get(product.get_absolute_url())
    token = client.cookies["csrftoken"].value
    client.post("/cart/add/", {"product": product.pk, "quantity": "1", "csrfmiddlewaretoken": token})
    assert client.session["cart"] == {str(product.pk): 1}
    before = stored_rows()

    response = client.post("/checkout/", checkout_data())

    assert response.status_code == 403
    assert stored_rows() == before


def test_checkout_with_wrong_token_is_403(product):
    client = Client(enforce_csrf_checks=True)
    client.get(product.get_absolute_url())
    before = stored_rows()

    response = client.post("/checkout/", {**checkout_data(), "csrfmiddlewaretoken": "x" * 64})

    assert response.status_code == 403
    assert CSRF_FAILURE in response.content.decode()
    assert stored_rows() == before


def test_cart_add_with_token_is_accepted(product):
    # The positive case, so the 403s above are known to come from the token.
    client = Client(enforce_csrf_checks=True)
    client.get(product.get_absolute_url())
    token = client.cookies["csrftoken"].value

    response = client.post("/cart/add/", {"product": product.pk, "quantity": "1", "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert client.session["cart"] == {str(product.pk): 1}
