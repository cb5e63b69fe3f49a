"""The attempts log: one row per run of a task, written as the attempt starts and ends."""
import logging
import time

from django.utils import timezone
from opentelemetry import trace

from config.redaction import redact_text
from fulfillment.models import TaskAttempt
from orders.models import Order

logger = logging.getLogger(__name__)


def attempt_start(
    *, task_name: str, task_id: str, attempt: int, order_id: int, redelivered: bool = False
) -> TaskAttempt:
    """Record that an attempt started, and mark as LOST the run that a redelivered message replaces."""
    context = trace.get_current_span().get_span_context()
    if redelivered:
        # The broker hands a message out again when the worker child running
        # it died unacknowledged, so that run's row would stay RUNNING forever.
        lost = TaskAttempt.objects.filter(
            task_name=task_name, task_id=task_id or "", attempt=attempt, outcome=TaskAttempt.Outcome.RUNNING
        ).update(outcome=TaskAttempt.Outcome.LOST)
        logger.warning("Task %s (%s) was redelivered; %s earlier run(s) lost with their worker", task_id, task_name, lost)
    record = TaskAttempt.objects.create(
        order_id=order_id if Order.objects.filter(pk=order_id).exists() else None,
        task_name=task_name,
        task_id=task_id or "",
        attempt=attempt,
        started_at=timezone.now(),
        trace_id=format(context.trace_id, "032x") if context.is_valid else "",
    )
    record.started_monotonic = time.monotonic()
    return record


def attempt_finish(
    record: TaskAttempt,
    *,
    outcome: TaskAttempt.Outcome,
    exc: BaseException | None = None,
    retry_countdown: float | None = None,
) -> None:
    """Store how the attempt ended. The exception message loses any email address first."""
    record.outcome = outcome
    record.duration_ms = round((time.monotonic() - record.started_monotonic) * 1000)
    if exc is not None:
        record.exception_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        record.exception_message = redact_text(str(exc))[:4000]
    record.retry_countdown = retry_countdown
    record.save(update_fields=["outcome", "duration_ms", "exception_type", "exception_message", "retry_countdown"])
