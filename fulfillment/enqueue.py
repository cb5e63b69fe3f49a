"""Send fulfillment and email tasks to the broker without letting a broker outage break the caller."""
import logging
from collections.abc import Callable

from kombu.exceptions import OperationalError

from config.telemetry import on_commit_in_current_trace

logger = logging.getLogger(__name__)


def task_send_on_commit(send: Callable[[], object], *, task_name: str, order_id: int) -> None:
    """Call `send` once the current transaction commits, in the current trace, and log a broker failure.

    The order row is committed by then, so a message that cannot be sent is
    not lost for good: the order sweeper (fulfillment.sweep) finds the
    order still waiting and sends it again.
    """

    def send_or_log() -> None:
        task_send(send, task_name=task_name, order_id=order_id)

    on_commit_in_current_trace(send_or_log)


def task_send(send: Callable[[], object], *, task_name: str, order_id: int) -> bool:
    """Call `send` now. Return False, after logging why, if the broker could not be reached."""
    try:
        send()
    except OperationalError as exc:
        # kombu raises OperationalError once its publish retries are used up.
        logger.warning(
            "Could not send task %s for order %s to the broker: %s. The order sweeper will send it again.",
            task_name, order_id, exc,
        )
        return False
    return True
