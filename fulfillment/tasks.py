"""Celery tasks. Each loads its order again by id and calls one service."""
import logging
import random

from celery import shared_task
from django.conf import settings
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from config import telemetry_names as names
from fulfillment import services
from fulfillment.errors import is_transient

logger = logging.getLogger(__name__)


def retry_countdown(retries: int) -> float:
    """Return seconds to wait before retry number `retries + 1`.

    Exponential backoff with full jitter: a random time up to
    FULFILLMENT_RETRY_BACKOFF * 2**retries, capped at FULFILLMENT_RETRY_BACKOFF_MAX,
    so that orders failing together do not retry together.
    """
    ceiling = min(settings.FULFILLMENT_RETRY_BACKOFF * 2**retries, settings.FULFILLMENT_RETRY_BACKOFF_MAX)
    return random.uniform(0, ceiling)


@shared_task(bind=True, name="fulfillment.fulfill_order", acks_late=True, max_retries=None)
def fulfill_order(self, order_id: int) -> None:
    """Fulfill one paid order, retrying transient errors up to FULFILLMENT_MAX_ATTEMPTS attempts in all."""
    attempt = self.request.retries + 1
    span = trace.get_current_span()
    span.set_attribute(names.ORDER_ID, order_id)
    span.set_attribute(names.FULFILLMENT_ATTEMPT, attempt)
    span.set_attribute(names.FULFILLMENT_MAX_ATTEMPTS, settings.FULFILLMENT_MAX_ATTEMPTS)
    logger.info("Fulfilling order %s, attempt %s (task %s)", order_id, attempt, self.request.id)
    try:
        services.order_fulfill(order_id=order_id)
    except Exception as exc:
        span.set_attribute(names.FULFILLMENT_TRANSIENT, is_transient(exc))
        if not is_transient(exc):
            logger.exception("Fulfillment of order %s failed with a permanent error (task %s)", order_id, self.request.id)
            services.order_mark_fulfillment_failed(order_id=order_id, exc=exc)
            raise
        if attempt >= settings.FULFILLMENT_MAX_ATTEMPTS:
            logger.exception(
                "Fulfillment of order %s failed on its last attempt %s (task %s)", order_id, attempt, self.request.id
            )
            services.order_mark_fulfillment_failed(order_id=order_id, exc=exc)
            raise
        countdown = retry_countdown(self.request.retries)
        # Celery's instrumentation marks only the attempt that fails for good,
        # so a retried attempt is marked here, with the real exception.
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.add_event(
            names.EVENT_FULFILLMENT_RETRY,
            {names.FULFILLMENT_RETRY_COUNTDOWN: countdown, names.FULFILLMENT_ATTEMPT: attempt + 1},
        )
        logger.warning(
            "Fulfillment of order %s failed on attempt %s with %s; retrying in %.1f s (task %s)",
            order_id, attempt, type(exc).__name__, countdown, self.request.id,
        )
        raise self.retry(exc=exc, countdown=countdown)
