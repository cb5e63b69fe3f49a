"""Send fulfillment and email tasks to the broker without letting a broker outage break the caller."""
import logging

from celery import Task
from kombu.exceptions import OperationalError

from config.telemetry import on_commit_in_current_trace

logger = logging.getLogger(__name__)


def task_send_on_commit(task: Task, *args, order_id: int) -> None:
    """Send `task` with `args` once the current transaction commits, in the current trace, and log a broker failure.

    The order row is committed by then, so a message that cannot be sent is
    not lost for good: the order sweeper (fulfillment.sweep) finds the
    order still waiting and sends it again.
    """
    on_commit_in_current_trace(lambda: task_send(task, *args, order_id=order_id))


def task_send(task: Task, *args, order_id: int) -> bool:
    """Send `task` with `args` now. Return False, after logging why, if the broker could not be reached."""
    try:
        task.delay(*args)
    except OperationalError as exc:
        # kombu raises OperationalError once its publish retries are used up.
        logger.warning(
            "Could not send task %s for order %s to the broker: %s. The order sweeper will send it again.",
            task.name, order_id, exc,
        )
        return False
    return True
