"""Confirmation IDs are the only key to an order's pages, so they must be unguessable."""
import collections
import math
import random
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from orders import models, services
from orders.models import CONFIRMATION_ID_ALPHABET, CONFIRMATION_ID_LENGTH, Order, new_confirmation_id
from tests.conftest import CUSTOMER

MINIMUM_BITS = 64
SAMPLE_IDS = 3000


def create_order(product) -> Order:
    return services.order_create(lines=[services.CheckoutLine(product=product, quantity=1)], customer=CUSTOMER)


def test_id_space_has_64_bits():
    assert len(set(CONFIRMATION_ID_ALPHABET)) == len(CONFIRMATION_ID_ALPHABET)
    assert CONFIRMATION_ID_LENGTH * math.log2(len(CONFIRMATION_ID_ALPHABET)) >= MINIMUM_BITS


def test_every_symbol_comes_from_secrets(monkeypatch):
    draws = []

    def recording_choice(sequence):
        draws.append(sequence)
        return sequence[0]

    monkeypatch.setattr(models.secrets, "choice", recording_choice)

    assert new_confirmation_id() == CONFIRMATION_ID_ALPHABET[0] * CONFIRMATION_ID_LENGTH
    assert draws == [CONFIRMATION_ID_ALPHABET] * CONFIRMATION_ID_LENGTH


def test_seeding_random_does_not_repeat_ids():
    random.seed(1234)
    first = [new_confirmation_id() for _ in range(5)]
    random.seed(1234)
    second = [new_confirmation_id() for _ in range(5)]

    assert set(first).isdisjoint(second)


def test_measured_entropy_reaches_64_bits():
    identifiers = [new_confirmation_id() for _ in range(SAMPLE_IDS)]
    counts = collections.Counter("".join(identifiers))
    total = sum(counts.values())

    bits_per_symbol = -sum(count / total * math.log2(count / total) for count in counts.values())

    # With 42,000 symbols the estimate falls short of log2(30) by about
    # 0.0005 bits, far less than the margin allowed here.
    assert set(counts) == set(CONFIRMATION_ID_ALPHABET)
    assert bits_per_symbol > math.log2(len(CONFIRMATION_ID_ALPHABET)) - 0.01
    assert bits_per_symbol * CONFIRMATION_ID_LENGTH >= MINIMUM_BITS


@pytest.mark.django_db
def test_adjacent_orders_have_unrelated_ids(product):
    identifiers = [create_order(product).confirmation_id for _ in range(40)]

    assert len(set(identifiers)) == len(identifiers)
    assert identifiers != sorted(identifiers)
    for previous, current in zip(identifiers, identifiers[1:]):
        shared_positions = sum(a == b for a, b in zip(previous, current))
        # Two independent IDs agree in 14/30, about 0.5, positions on average,
        # and in 6 or more about 3 times in a million pairs.
        assert shared_positions < 6, (previous, current)
        assert not current.startswith(previous[:4])


@pytest.mark.django_db
def test_confirmation_id_is_not_primary_key(product):
    order = create_order(product)

    assert str(order.pk) not in order.confirmation_id


def near_miss(confirmation_id: str) -> str:
    """Return the ID with its last symbol replaced by the next one in the alphabet."""
    index = CONFIRMATION_ID_ALPHABET.index(confirmation_id[-1])
    return confirmation_id[:-1] + CONFIRMATION_ID_ALPHABET[(index + 1) % len(CONFIRMATION_ID_ALPHABET)]


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/orders/{}/", "/orders/{}/status/", "/orders/{}/payment/complete/"])
def test_near_miss_looks_like_any_unknown_id(product, page):
    order = create_order(product)
    candidates = {"near miss": near_miss(order.confirmation_id), "random": new_confirmation_id()}
    responses = {}
    queries = {}

    for label, candidate in candidates.items():
        with CaptureQueriesContext(connection) as captured:
            responses[label] = Client().get(page.format(candidate))
        queries[label] = [re.sub(candidate, "<id>", query["sql"]) for query in captured.captured_queries]

    assert responses["near miss"].status_code == responses["random"].status_code == 404
    assert responses["near miss"].content == responses["random"].content
    # The same single indexed equality lookup for both, so their timing does
    # not depend on how close a guess is to a real ID.
    assert queries["near miss"] == queries["random"]
    assert len([query for query in queries["random"] if "orders_order" in query]) == 1
    assert order.confirmation_id not in responses["near miss"].content.decode()
