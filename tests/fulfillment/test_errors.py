import pickle
import socket

import pytest
from anymail.exceptions import AnymailAPIError
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from django.db import IntegrityError, OperationalError

from fulfillment.errors import ConditionalUpdateFailed, InsufficientStock, is_transient
from fulfillment.tasks import retry_countdown


def ses_error(code: str, status: int) -> AnymailAPIError:
    cause = ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")
    return anymail_error_from(cause)


def anymail_error_from(cause: Exception) -> AnymailAPIError:
    """Return the AnymailAPIError that anymail raises for a botocore error."""
    try:
        raise AnymailAPIError(str(cause)) from cause
    except AnymailAPIError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (OperationalError("database is locked"), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (socket.timeout("timed out"), True),
        (ConnectionResetError("reset"), True),
        (ses_error("Throttling", 400), True),
        (ses_error("ServiceUnavailable", 503), True),
        (ses_error("TooManyRequestsException", 429), True),
        (anymail_error_from(ConnectionClosedError(endpoint_url="http://127.0.0.1:1")), True),
        (anymail_error_from(ReadTimeoutError(endpoint_url="http://127.0.0.1:1")), True),
        (ses_error("MessageRejected", 400), False),
        (ses_error("MailFromDomainNotVerifiedException", 400), False),
        (IntegrityError("constraint failed"), False),
        (InsufficientStock(sku="MUG-001", requested=2, available=1), False),
        (ValueError("bad value"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_error_classification(exc, transient):
    assert is_transient(exc) is transient


def test_insufficient_stock_message_names_the_product():
    exc = InsufficientStock(sku="MUG-001", requested=2, available=1)

    assert str(exc) == "Product MUG-001 has 1 in stock, fewer than the 2 ordered."


def test_retry_countdown_grows_and_is_capped(settings):
    settings.FULFILLMENT_RETRY_BACKOFF = 2.0
    settings.FULFILLMENT_RETRY_BACKOFF_MAX = 10.0

    for retries, ceiling in [(0, 2.0), (1, 4.0), (2, 8.0), (3, 10.0), (10, 10.0)]:
        samples = [retry_countdown(retries) for _ in range(200)]
        assert all(0 <= sample <= ceiling for sample in samples)
        assert max(samples) > ceiling / 2


def test_retry_countdown_is_jittered(settings):
    settings.FULFILLMENT_RETRY_BACKOFF = 2.0
    settings.FULFILLMENT_RETRY_BACKOFF_MAX = 60.0

    samples = {round(retry_countdown(2), 3) for _ in range(50)}

    assert len(samples) > 10


@pytest.mark.parametrize(
    "exc",
    [
        InsufficientStock(sku="MUG-001", requested=2, available=1, name="Trail Mug"),
        ConditionalUpdateFailed(sku="MUG-001", expected=10, actual=8),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_error_keeps_type_through_celery(exc):
    from celery.utils.serialization import get_pickleable_exception

    assert get_pickleable_exception(exc) is exc
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert str(copy) == str(exc)
    assert copy.sku == "MUG-001"


def test_conditional_update_without_checkout_level():
    exc = ConditionalUpdateFailed(sku="MUG-001", expected=None, actual=None)

    assert "carries no stock level read at checkout" in str(exc)
    assert "None" not in str(exc)
