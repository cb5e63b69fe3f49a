import pytest

from fulfillment.models import EmailDelivery
from orders import services
from orders.models import Order
from tests.conftest import CUSTOMER


@pytest.fixture
def order(product) -> Order:
    order = services.order_create(lines=[services.CheckoutLine(product=product, quantity=2)], customer=CUSTOMER)
    EmailDelivery.objects.create(
        order=order,
        kind=EmailDelivery.Kind.ORDER_CONFIRMATION,
        to=order.email,
        status=EmailDelivery.Status.SENT,
        subject=f"Your order {order.confirmation_id} is confirmed",
        text_body="Thank you",
        html_body="<p>Thank you</p>",
        esp_name="Amazon SES",
        message_id="msg-1",
    )
    return order


@pytest.mark.django_db
def test_order_list_filters_by_status(admin_client, order):
    response = admin_client.get("/admin/orders/order/", {"status__exact": "awaiting_payment"})

    assert response.status_code == 200
    assert order.confirmation_id in response.content.decode()
    other = admin_client.get("/admin/orders/order/", {"status__exact": "fulfilled"})
    assert order.confirmation_id not in other.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("term", ["confirmation_id", "email"])
def test_order_search(admin_client, order, term):
    response = admin_client.get("/admin/orders/order/", {"q": getattr(order, term)})

    assert order.confirmation_id in response.content.decode()


@pytest.mark.django_db
def test_order_page_shows_lines_and_email(admin_client, order):
    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "MUG-001" in html
    assert "$36.00" in html
    assert "msg-1" in html


@pytest.mark.django_db
def test_payment_fields_are_read_only(admin_client, order):
    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")

    form = response.context["adminform"].form
    assert "payment_intent_id" not in form.fields
    assert "total_display" not in form.fields
    assert "status" not in form.fields


@pytest.mark.django_db
def test_email_delivery_is_readable(admin_client, order):
    delivery = order.emails.get()

    response = admin_client.get(f"/admin/fulfillment/emaildelivery/{delivery.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Thank you" in html
    assert "<iframe sandbox" in html


@pytest.mark.django_db
def test_email_delivery_cannot_be_deleted(admin_client, order):
    delivery = order.emails.get()

    listing = admin_client.get("/admin/fulfillment/emaildelivery/")
    delete = admin_client.post(f"/admin/fulfillment/emaildelivery/{delivery.pk}/delete/", {"post": "yes"})

    assert 'value="delete_selected"' not in listing.content.decode()
    assert delete.status_code == 403
    assert delivery.__class__.objects.filter(pk=delivery.pk).exists()
