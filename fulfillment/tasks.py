"""Celery tasks. Each loads its order again by id and calls one service."""
import datetime
import logging
import random

from celery import shared_task
from django.conf import settings
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from config import telemetry_names as names
from fulfillment import attempts, services, sweep
from fulfillment.errors import is_transient
from fulfillment.faults import RETRY_WHOLE_TASK, fault_enabled
from fulfillment.models import TaskAttempt

logger = logging.getLogger(__name__)


def retry_countdown(retries: int) -> float:
    """Return seconds to wait before retry number `retries + 1`.

    Exponential backoff with full jitter: a random time up to
    FULFILLMENT_RETRY_BACKOFF * 2**retries, capped at FULFILLMENT_RETRY_BACKOFF_MAX,
    so that orders failing together do not retry together.
    """
    ceiling = min(settings.FULFILLMENT_RETRY_BACKOFF * 2**retries, settings.FULFILLMENT_RETRY_BACKOFF_MAX)
    return random.uniform(0, ceiling)


def _span_mark_retry(span: trace.Span, exc: BaseException, *, attempt: int, countdown: float) -> None:
    # Celery's instrumentation marks only the attempt that fails for good,
    # so a retried attempt is marked here, with the real exception.
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.add_event(
        names.EVENT_FULFILLMENT_RETRY,
        {names.FULFILLMENT_RETRY_COUNTDOWN: countdown, names.FULFILLMENT_ATTEMPT: attempt + 1},
    )


def _redelivered(task) -> bool:
    """Return whether the broker handed this message out before, for example to a worker child that died."""
    return bool((task.request.delivery_info or {}).get("redelivered"))


def _attempt_begin(task, order_id: int, max_attempts: int) -> tuple[int, trace.Span, TaskAttempt]:
    attempt = task.request.retries + 1
    span = trace.get_current_span()
    span.set_attribute(names.ORDER_ID, order_id)
    span.set_attribute(names.FULFILLMENT_ATTEMPT, attempt)
    span.set_attribute(names.FULFILLMENT_MAX_ATTEMPTS, max_attempts)
    record = attempts.attempt_start(
        task_name=task.name, task_id=task.request.id, attempt=attempt, order_id=order_id, redelivered=_redelivered(task)
    )
    return attempt, span, record


@shared_task(bind=True, name="fulfillment.fulfill_order", acks_late=True, max_retries=None)
def fulfill_order(self, order_id: int, stock_seen: dict[str, int] | None = None) -> None:
    """Fulfill one paid order, retrying transient errors up to FULFILLMENT_MAX_ATTEMPTS attempts in all.

    `stock_seen` maps product ids to the stock read when the order was paid;
    only the `repeat_stock_update` workshop fault uses it.
    """
    max_attempts = settings.FULFILLMENT_MAX_ATTEMPTS
    attempt, span, record = _attempt_begin(self, order_id, max_attempts)
    # The workshop's shape: one task does stock and email, and any error retries all of it.
    whole_task = fault_enabled(RETRY_WHOLE_TASK)
    logger.info("Fulfilling order %s, attempt %s (task %s)", order_id, attempt, self.request.id)

    try:
        services.order_fulfill(order_id=order_id, stock_seen=stock_seen, send_email_inline=whole_task)
    except Exception as exc:
        transient = is_transient(exc)
        span.set_attribute(names.FULFILLMENT_TRANSIENT, transient)
        retryable = whole_task or transient
        if not retryable or attempt >= max_attempts:
            logger.exception(
                "Fulfillment of order %s failed on attempt %s of %s, for good (task %s)",
                order_id, attempt, max_attempts, self.request.id,
            )
            attempts.attempt_finish(record, outcome=TaskAttempt.Outcome.FAILED, exc=exc)
            services.order_mark_fulfillment_failed(order_id=order_id, exc=exc)
            raise

        countdown = retry_countdown(self.request.retries)
        _span_mark_retry(span, exc, attempt=attempt, countdown=countdown)
        attempts.attempt_finish(record, outcome=TaskAttempt.Outcome.RETRYING, exc=exc, retry_countdown=countdown)
        logger.warning(
            "Fulfillment of order %s failed on attempt %s with %s; retrying in %.1f s (task %s)",
            order_id, attempt, type(exc).__name__, countdown, self.request.id,
        )
        raise self.retry(exc=exc, countdown=countdown)

    attempts.attempt_finish(record, outcome=TaskAttempt.Outcome.SUCCEEDED)


@shared_task(bind=True, name="fulfillment.send_order_email", acks_late=True, max_retries=None)
def send_order_email(self, order_id: int, kind: str) -> None:
    """Send one email about an order. Transient ESP errors are retried; a rejection is recorded, not retried.

    Stock is never touched here, so an email retry cannot take stock again.
    """
    max_attempts = settings.EMAIL_MAX_ATTEMPTS
    attempt, span, record = _attempt_begin(self, order_id, max_attempts)
    logger.info("Sending %s email for order %s, attempt %s (task %s)", kind, order_id, attempt, self.request.id)

    try:
        services.order_email_send(
            order_id=order_id, kind=kind, claimant=self.request.id or "", redelivered=_redelivered(self)
        )
    except Exception as exc:
        transient = is_transient(exc)
        span.set_attribute(names.FULFILLMENT_TRANSIENT, transient)
        if not transient or attempt >= max_attempts:
            logger.exception(
                "The %s email for order %s failed on attempt %s of %s, for good (task %s)",
                kind, order_id, attempt, max_attempts, self.request.id,
            )
            attempts.attempt_finish(record, outcome=TaskAttempt.Outcome.FAILED, exc=exc)
            services.email_mark_failed(order_id=order_id, kind=kind, exc=exc, retrying=False)
            raise

        countdown = retry_countdown(self.request.retries)
        _span_mark_retry(span, exc, attempt=attempt, countdown=countdown)
        attempts.attempt_finish(record, outcome=TaskAttempt.Outcome.RETRYING, exc=exc, retry_countdown=countdown)
        services.email_mark_failed(order_id=order_id, kind=kind, exc=exc, retrying=True)
        logger.warning(
            "The %s email for order %s failed on attempt %s with %s; retrying in %.1f s (task %s)",
            kind, order_id, attempt, type(exc).__name__, countdown, self.request.id,
        )
        raise self.retry(exc=exc, countdown=countdown)

    attempts.attempt_finish(record, outcome=TaskAttempt.Outcome.SUCCEEDED)


@shared_task(name="fulfillment.sweep_orders", ignore_result=True)
def sweep_orders() -> None:
    """Run the order sweeper. Celery beat sends this task every ORDER_SWEEP_INTERVAL seconds."""
    sweep.orders_sweep(delay=datetime.timedelta(seconds=settings.ORDER_SWEEP_DELAY))
