"""Errors raised during fulfillment, and which of them are worth a retry."""
import socket

from anymail.exceptions import AnymailAPIError, AnymailRequestsAPIError
from botocore.exceptions import ClientError, ConnectionError as BotocoreConnectionError, HTTPClientError
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from orders.payments import PaymentServiceError

# Error codes that Amazon SES (and the other ESPs through anymail) return
# when the request may succeed later.
TRANSIENT_ESP_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalFailure"}
)


class InsufficientStock(Exception):
    """A conditional stock UPDATE matched no row: fewer units are on hand than the line needs."""

    def __init__(self, sku: str, requested: int, available: int, name: str = "") -> None:
        super().__init__(f"Product {sku} has {available} in stock, fewer than the {requested} ordered.")
        self.sku = sku
        self.name = name or sku
        self.requested = requested
        self.available = available

    def __reduce__(self):
        # Celery pickles the exception of a retried or failed task. Without
        # this, unpickling calls __init__ with the message alone and Celery
        # substitutes an UnpickleableExceptionWrapper for the real type.
        return type(self), (self.sku, self.requested, self.available, self.name)


def _status_code(exc: BaseException) -> int | None:
    if isinstance(exc, AnymailRequestsAPIError) and exc.status_code is not None:
        return exc.status_code
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def _esp_error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


def is_transient(exc: BaseException) -> bool:
    """Return True if retrying the step that raised `exc` may succeed."""
    if isinstance(exc, (OperationalError, InterfaceError, RedisConnectionError, BotocoreConnectionError)):
        return True
    if isinstance(exc, (TimeoutError, ConnectionError, socket.timeout)):
        return True
    # Stripe could not be reached or failed; a card decline is not raised as this.
    if isinstance(exc, PaymentServiceError):
        return True

    # anymail wraps the ESP's exception, so look at the cause as well.
    candidates = [exc]
    if isinstance(exc, AnymailAPIError) and exc.__cause__ is not None:
        candidates.append(exc.__cause__)
    for candidate in candidates:
        # HTTPClientError covers a connection the ESP reset or closed mid-request
        # and a read timeout, which botocore does not class as ConnectionError.
        if isinstance(candidate, (BotocoreConnectionError, HTTPClientError)):
            return True
        status = _status_code(candidate)
        if status is not None and (status == 429 or status >= 500):
            return True
        if _esp_error_code(candidate) in TRANSIENT_ESP_CODES:
            return True
    return False


class ConditionalUpdateFailed(Exception):
    """A stock UPDATE conditional on an earlier read matched no row, because the stock changed since.

    Only the `repeat_stock_update` workshop fault raises it. It plays the part
    of DynamoDB's ConditionalCheckFailedException in the workshop's trace.
    """

    def __init__(self, sku: str, expected: int | None, actual: int | None) -> None:
        if expected is None:
            message = (
                f"The conditional stock update for {sku} failed: the task message carries no stock level "
                "read at checkout to compare against. The update was not applied."
            )
        else:
            message = (
                f"The conditional stock update for {sku} failed: it expected {expected} in stock, "
                f"as read at checkout, but found {actual}. The update was not applied."
            )
        super().__init__(message)
        self.sku = sku
        self.expected = expected
        self.actual = actual

    def __reduce__(self):
        # See InsufficientStock.__reduce__: keeps the real type through Celery.
        return type(self), (self.sku, self.expected, self.actual)
