"""The order sweeper: send again the tasks that a broker outage or a lost message left unsent.

Every task is safe to run twice (stock reservations and email claims are
recorded), so the sweeper may send a task for an order whose first message
is merely slow. It waits ORDER_SWEEP_DELAY after the last change before it
does, so that it rarely does.
"""
import dataclasses
import datetime
import logging

from django.utils import timezone

from fulfillment.enqueue import task_send
from fulfillment.models import EmailDelivery
from orders.models import Order

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """How many tasks one sweep sent, by kind, and how many it could not send."""

    fulfillments: int = 0
    refunds: int = 0
    emails: int = 0
    unsent: int = 0

    @property
    def sent(self) -> int:
        return self.fulfillments + self.refunds + self.emails


def orders_sweep(*, delay: datetime.timedelta) -> SweepResult:
    """Send the fulfillment or email task again for work that has waited longer than `delay`.

    Three kinds of work are swept: paid orders that no worker fulfilled,
    out-of-stock orders whose refund was never made, and emails still
    pending. Return the counts; a task the broker did not take is counted
    as unsent and is tried again by the next sweep.
    """
    from fulfillment.tasks import fulfill_order, send_order_email

    cutoff = timezone.now() - delay
    paid = Order.objects.filter(status=Order.Status.PAID, paid_at__lte=cutoff).values_list("pk", flat=True)
    unrefunded = (
        Order.objects.filter(status=Order.Status.OUT_OF_STOCK, refund_id="", updated_at__lte=cutoff)
        .exclude(payment_intent_id="")
        .values_list("pk", flat=True)
    )
    pending_emails = EmailDelivery.objects.filter(
        status=EmailDelivery.Status.PENDING, updated_at__lte=cutoff
    ).values_list("order_id", "kind")

    counts = {"fulfillments": 0, "refunds": 0, "emails": 0, "unsent": 0}
    # A refund is made by the fulfillment task, which finds the order out of stock without one.
    for count_name, order_ids in (("fulfillments", list(paid)), ("refunds", list(unrefunded))):
        for order_id in order_ids:
            sent = task_send(fulfill_order, order_id, order_id=order_id)
            counts[count_name if sent else "unsent"] += 1
    for order_id, kind in list(pending_emails):
        sent = task_send(send_order_email, order_id, kind, order_id=order_id)
        counts["emails" if sent else "unsent"] += 1

    result = SweepResult(**counts)
    if result.sent or result.unsent:
        logger.warning(
            "Order sweep sent %s fulfillment, %s refund and %s email task(s) again; %s could not be sent",
            result.fulfillments, result.refunds, result.emails, result.unsent,
        )
    else:
        logger.info("Order sweep found nothing waiting longer than %s", delay)
    return result
