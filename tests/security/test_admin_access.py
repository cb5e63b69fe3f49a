"""The admin lets in active staff users only, and its login form survives any input."""
import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import stored_rows
from tests.fuzz import strategies

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("admin:login")
LOGIN_FAILED = (
    "Please enter the correct username and password for a staff account. "
    "Note that both fields may be case-sensitive."
)


def admin_pages() -> list[str]:
    """Return the index, every app index and each registered model's list and add pages."""
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(reverse("admin:app_list", kwargs={"app_label": meta.app_label}))
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    return sorted(set(pages))


ADMIN_PAGES = admin_pages()


def logged_in_client(**user_fields) -> Client:
    user = get_user_model().objects.create_user(username="visitor", password="visitor-password-1", **user_fields)
    client = Client()
    client.force_login(user)
    return client


def test_every_model_page_is_listed():
    assert "/admin/orders/order/" in ADMIN_PAGES
    assert "/admin/shop/product/add/" in ADMIN_PAGES
    assert "/admin/fulfillment/taskattempt/" in ADMIN_PAGES


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_anonymous_is_sent_to_login(page):
    response = Client().get(page)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN_URL}?next=")


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_non_staff_user_is_sent_to_login(page):
    client = logged_in_client(is_staff=False)

    response = client.get(page)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN_URL}?next=")


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_inactive_staff_is_sent_to_login(page):
    client = logged_in_client(is_staff=True, is_active=False)

    response = client.get(page)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN_URL}?next=")


def test_staff_without_permissions_cannot_open_orders():
    client = logged_in_client(is_staff=True)

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/orders/order/").status_code == 403


def test_non_staff_login_is_refused():
    get_user_model().objects.create_user(username="customer", password="customer-password-1")
    client = Client()

    response = client.post(LOGIN_URL, {"username": "customer", "password": "customer-password-1"})

    assert response.status_code == 200
    assert LOGIN_FAILED in response.content.decode()
    assert "_auth_user_id" not in client.session


@given(
    username=st.one_of(strategies.any_text, strategies.overlong_text),
    password=st.one_of(strategies.any_text, strategies.overlong_text),
)
def test_login_with_any_credentials_fails_cleanly(username, password):
    get_user_model().objects.get_or_create(username="staff", defaults={"is_staff": True})
    client = Client()
    before = stored_rows()

    response = client.post(LOGIN_URL, {"username": username, "password": password})

    assert response.status_code == 200
    body = response.content.decode()
    assert LOGIN_FAILED in body or "This field is required." in body or "Null characters are not allowed." in body
    assert "_auth_user_id" not in client.session
    assert stored_rows() == before
