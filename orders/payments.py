"""Stripe calls made by the shop. Nothing here touches the database."""
import dataclasses
import enum
import json
import logging
import re

import stripe
from django.conf import settings

from config import telemetry_names as names
from config.telemetry import tracer

logger = logging.getLogger(__name__)


class PaymentOutcome(enum.Enum):
    SUCCEEDED = "succeeded"
    REQUIRES_ACTION = "requires_action"
    DECLINED = "declined"
    PROCESSING = "processing"


@dataclasses.dataclass(frozen=True)
class PaymentResult:
    outcome: PaymentOutcome
    payment_intent_id: str = ""
    # Sent to the customer's browser only, so Stripe.js can finish 3-D Secure.
    client_secret: str = ""
    message: str = ""
    # Stripe's code for a refused card, such as card_declined or expired_card.
    decline_code: str = ""


class PaymentServiceError(Exception):
    """Stripe could not be reached or rejected the request for a reason that is not the card's."""


def stripe_client() -> stripe.StripeClient:
    # stripe-python retries timeouts, connection errors, 409 and 5xx replies.
    # Every POST the shop makes carries an idempotency key, so a retry of a
    # request that did reach Stripe returns the first result instead of
    # acting twice.
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def _result_from_intent(intent) -> PaymentResult:
    status = intent.status
    if status in {"succeeded", "requires_capture"}:
        return PaymentResult(PaymentOutcome.SUCCEEDED, intent.id)
    if status == "requires_action":
        return PaymentResult(PaymentOutcome.REQUIRES_ACTION, intent.id, client_secret=intent.client_secret)
    if status == "processing":
        return PaymentResult(PaymentOutcome.PROCESSING, intent.id)

    error = getattr(intent, "last_payment_error", None)
    message = getattr(error, "message", None) or "Your card was declined."
    code = getattr(error, "code", None) or ""
    return PaymentResult(PaymentOutcome.DECLINED, intent.id, message=message, decline_code=code)


def payment_intent_confirm(
    *, amount: int, currency: str, payment_method_id: str, order_id: int, confirmation_id: str
) -> PaymentResult:
    """Create and confirm a PaymentIntent for one order.

    The idempotency key is derived from the order, so a resubmitted form or a
    network retry can never charge the same order twice.
    """
    params = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method_id,
        "payment_method_types": ["card"],
        "confirm": True,
        "metadata": {"order_id": str(order_id), "confirmation_id": confirmation_id},
    }
    options = {"idempotency_key": f"order-{confirmation_id}-payment-intent"}

    try:
        intent = stripe_client().v1.payment_intents.create(params=params, options=options)
    except stripe.CardError as exc:
        logger.info("Card declined for order %s: code=%s", order_id, exc.code)
        # Stripe puts the PaymentIntent on a card error; localstripe does not.
        # Both are StripeObjects, which have attributes, not dict methods.
        intent = getattr(exc.error, "payment_intent", None) if exc.error else None
        intent_id = getattr(intent, "id", "") or ""
        return PaymentResult(
            PaymentOutcome.DECLINED,
            intent_id,
            message=exc.user_message or "Your card was declined.",
            decline_code=getattr(exc.error, "decline_code", None) or exc.code or "",
        )
    except stripe.InvalidRequestError as exc:
        # The payment method is the only object the request names, so a
        # missing resource is the card. localstripe returns a bare 404.
        if exc.code == "resource_missing" or exc.http_status == 404:
            return PaymentResult(
                PaymentOutcome.DECLINED,
                message="The card details could not be found. Enter your card again.",
                decline_code="payment_method_missing",
            )
        raise PaymentServiceError(f"Stripe rejected the payment request for order {order_id}: {exc.code}") from exc
    except stripe.StripeError as exc:
        raise PaymentServiceError(f"Stripe request for order {order_id} failed: {type(exc).__name__}") from exc

    return _result_from_intent(intent)


def payment_intent_retrieve(*, payment_intent_id: str) -> PaymentResult:
    """Return the current state of a PaymentIntent, as Stripe reports it."""
    try:
        intent = stripe_client().v1.payment_intents.retrieve(payment_intent_id)
    except stripe.StripeError as exc:
        raise PaymentServiceError(
            f"Could not read PaymentIntent {payment_intent_id} from Stripe: {type(exc).__name__}"
        ) from exc
    return _result_from_intent(intent)


def payment_intent_cancel(*, payment_intent_id: str) -> None:
    try:
        stripe_client().v1.payment_intents.cancel(payment_intent_id)
    except stripe.StripeError as exc:
        raise PaymentServiceError(
            f"Could not cancel PaymentIntent {payment_intent_id}: {type(exc).__name__}"
        ) from exc


def payment_refund(*, payment_intent_id: str, confirmation_id: str, order_id: int) -> str:
    """Refund a PaymentIntent in full and return the refund id."""
    with tracer().start_as_current_span(names.SPAN_PAYMENT_REFUND) as span:
        span.set_attribute(names.ORDER_ID, order_id)
        span.set_attribute(names.PAYMENT_INTENT_ID, payment_intent_id)
        refund_id = _refund_create(payment_intent_id=payment_intent_id, confirmation_id=confirmation_id)
        span.set_attribute(names.PAYMENT_REFUND_ID, refund_id)
    return refund_id


def _refund_create(*, payment_intent_id: str, confirmation_id: str) -> str:
    try:
        refund = stripe_client().v1.refunds.create(
            params={"payment_intent": payment_intent_id},
            options={"idempotency_key": f"order-{confirmation_id}-refund"},
        )
    except stripe.StripeError as exc:
        raise PaymentServiceError(
            f"Refund of PaymentIntent {payment_intent_id} failed: {type(exc).__name__}"
        ) from exc
    return refund.id


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    """The parts of a verified Stripe event that the shop reads."""

    type: str
    # Set for payment_intent.succeeded only. order_id is the metadata that
    # payment_intent_confirm() attached, or "" when it is missing.
    payment_intent_id: str = ""
    order_id: str = ""


class WebhookPayloadError(ValueError):
    """A signed webhook body that is not a Stripe event the shop can read; the message names the bad part."""


PAYMENT_INTENT_ID = re.compile(r"pi_[A-Za-z0-9_]{1,200}")


def webhook_event_construct(*, payload: bytes, signature: str) -> WebhookEvent:
    """Verify a webhook's signature, then parse the event.

    Raise WebhookPayloadError for a body that is not UTF-8 text, which no
    signature can cover because Stripe signs text. Then raise
    stripe.SignatureVerificationError for a bad or missing signature, before
    the body is parsed, and WebhookPayloadError for a body that is not a
    Stripe event or lacks what its type needs.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookPayloadError("The webhook payload is not valid JSON: it is not UTF-8 text.") from None
    stripe.WebhookSignature.verify_header(
        text, signature, settings.STRIPE_WEBHOOK_SECRET, stripe.Webhook.DEFAULT_TOLERANCE
    )

    try:
        event = json.loads(text)
    except ValueError:
        raise WebhookPayloadError("The webhook payload is not valid JSON.") from None
    except RecursionError:
        # json.loads recurses once per nesting level; a Stripe event is a few levels deep.
        raise WebhookPayloadError("The webhook payload is not a Stripe event: its JSON is nested too deeply.") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise WebhookPayloadError("The webhook payload is not a Stripe event: it has no type string.")
    if event["type"] != "payment_intent.succeeded":
        return WebhookEvent(type=event["type"])

    data = event.get("data")
    intent = data.get("object") if isinstance(data, dict) else None
    intent_id = intent.get("id") if isinstance(intent, dict) else None
    if not isinstance(intent_id, str) or not PAYMENT_INTENT_ID.fullmatch(intent_id):
        raise WebhookPayloadError(
            "The payment_intent.succeeded event has no PaymentIntent id (pi_...) in data.object.id."
        )
    metadata = intent.get("metadata")
    order_id = metadata.get("order_id") if isinstance(metadata, dict) else None
    return WebhookEvent(
        type=event["type"], payment_intent_id=intent_id, order_id=order_id if isinstance(order_id, str) else ""
    )
