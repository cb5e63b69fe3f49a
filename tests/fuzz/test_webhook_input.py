"""The Stripe webhook under unsigned, badly signed and malformed bodies."""
import json

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from orders import services
from orders.models import Order
from tests.conftest import CUSTOMER, payment_succeeded_event, stored_rows, stripe_signature
from tests.fuzz import strategies

pytestmark = pytest.mark.django_db

WEBHOOK_URL = "/stripe/webhook/"
BAD_SIGNATURE = "The Stripe-Signature header is missing or does not match the signing secret."
NOT_JSON = "The webhook payload is not valid JSON."
NOT_UTF8 = "The webhook payload is not valid JSON: it is not UTF-8 text."


@pytest.fixture
def order(product) -> Order:
    return services.order_create(lines=[services.CheckoutLine(product=product, quantity=1)], customer=CUSTOMER)


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def post(body: bytes, **headers):
    return Client().post(WEBHOOK_URL, body, content_type="application/json", **headers)


@given(body=st.one_of(strategies.malformed_json, st.just(b"{}")), signature=st.one_of(st.none(), strategies.any_text))
def test_unsigned_body_is_400(order, body, signature):
    before = stored_rows()
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}

    response = post(body, **headers)

    assert response.status_code == 400
    assert response.content.decode() == (NOT_UTF8 if not is_utf8(body) else BAD_SIGNATURE)
    assert stored_rows() == before


@given(secret=st.text(min_size=1, max_size=40).filter(lambda text: text != "whsec_localstripe"))
def test_wrong_secret_is_400(order, secret):
    body = payment_succeeded_event(payment_intent_id="pi_forged", order_id=order.pk)
    before = stored_rows()

    response = post(body, HTTP_STRIPE_SIGNATURE=stripe_signature(body, secret=secret))

    assert response.status_code == 400
    assert response.content.decode() == BAD_SIGNATURE
    assert stored_rows() == before


def test_old_signature_is_400(order):
    # Stripe's default tolerance is five minutes, which stops a replay.
    body = payment_succeeded_event(payment_intent_id="pi_replayed", order_id=order.pk)

    response = post(body, HTTP_STRIPE_SIGNATURE=stripe_signature(body, timestamp=1_000_000_000))

    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT


@given(body=strategies.malformed_json)
def test_signed_malformed_json_is_400(order, body):
    before = stored_rows()

    response = post(body, HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    assert response.status_code == 400
    assert response.content.decode() == (NOT_JSON if is_utf8(body) else NOT_UTF8)
    assert stored_rows() == before


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
def test_signed_deeply_nested_json_is_400(order, depth):
    body = ('{"a":' * depth + "1" + "}" * depth).encode()
    before = stored_rows()

    response = post(body, HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    assert response.status_code == 400
    assert stored_rows() == before


@given(document=strategies.json_documents)
def test_signed_json_of_any_shape_is_never_500(order, document):
    body = json.dumps(document).encode()
    before = stored_rows()

    response = post(body, HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    assert response.status_code in {200, 400}
    if response.status_code == 400:
        assert response.content.decode() in {
            "The webhook payload is not a Stripe event: it has no type string.",
            "The payment_intent.succeeded event has no PaymentIntent id (pi_...) in data.object.id.",
        }
    # pi_fuzz matches no order, and no metadata names this order's id, so a
    # 200 must leave every row as it was too.
    assert stored_rows() == before


@pytest.mark.parametrize("order_id", ["²", "١", "99999999999999999999999", "-1", " 1", "1.0"])
def test_odd_order_id_metadata_matches_nothing(order, order_id):
    body = payment_succeeded_event(payment_intent_id="pi_nomatch", order_id=order.pk)
    document = json.loads(body)
    document["data"]["object"]["metadata"]["order_id"] = order_id
    body = json.dumps(document).encode()
    before = stored_rows()

    response = post(body, HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    assert response.status_code == 200
    assert stored_rows() == before


def test_body_over_upload_limit_is_400(settings, order):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"type": "payment_intent.succeeded", "padding": "x" * 2048}).encode()

    response = post(body, HTTP_STRIPE_SIGNATURE=stripe_signature(body))

    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT
