"""Email deliveries: claim a delivery row, send through the ESP, record what happened."""
import datetime
import logging

from django.db.models import Q
from django.utils import timezone

from config.redaction import redact_text
from fulfillment import emails
from fulfillment.models import EmailDelivery
from fulfillment.pause_points import EMAIL_CLAIMED, pause_point
from orders.models import Order

logger = logging.getLogger(__name__)

# A delivery claimed longer ago than this belongs to an attempt that died
# mid-send (its worker was killed), so a later attempt may take it over.
EMAIL_CLAIM_TIMEOUT = datetime.timedelta(minutes=5)


def delivery_get(*, order: Order, kind: str) -> EmailDelivery:
    delivery, _ = EmailDelivery.objects.get_or_create(order=order, kind=kind, defaults={"to": order.email})
    return delivery


def delivery_send(*, order: Order, kind: str, claimant: str = "", redelivered: bool = False) -> EmailDelivery:
    """Send the order's email of this kind unless it was already sent.

    The delivery row is claimed with a conditional UPDATE before sending, so
    two attempts running at once send one email, not two. `claimant` is the
    id of the sending task. When the broker redelivered that task because
    its worker child died mid-send, the redelivery takes over the dead
    run's claim at once instead of waiting for EMAIL_CLAIM_TIMEOUT. A
    duplicate message with the same id is not flagged as redelivered, so
    it cannot take over a claim that a live run holds. The ESP's exception
    propagates after the failure is written on the row.
    """
    delivery = delivery_get(order=order, kind=kind)
    if delivery.status == EmailDelivery.Status.SENT:
        return delivery

    now = timezone.now()
    claim_in_force = Q(status=EmailDelivery.Status.SENDING, claimed_at__gt=now - EMAIL_CLAIM_TIMEOUT)
    if claimant and redelivered:
        # NOTE: a child killed after the ESP accepted the message, but before
        # the row is marked SENT, makes this takeover send a second copy.
        claim_in_force &= ~Q(claimed_by=claimant)
    claimable = EmailDelivery.objects.filter(pk=delivery.pk).exclude(status=EmailDelivery.Status.SENT).exclude(claim_in_force)
    if not claimable.update(status=EmailDelivery.Status.SENDING, claimed_at=now, claimed_by=claimant):
        logger.info("The %s email for order %s is being sent by another attempt", kind, order.pk)
        return delivery
    pause_point(EMAIL_CLAIMED)

    rendered = emails.email_render(order=order, kind=kind)
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        subject=rendered.subject, text_body=rendered.text_body, html_body=rendered.html_body, to=rendered.to
    )
    try:
        sent = emails.email_send(email=rendered, order_id=order.pk)
    except Exception as exc:
        # FAILED until the task decides. When it schedules a retry,
        # email_mark_failed(retrying=True) changes this to RETRYING.
        delivery_record_failure(delivery_id=delivery.pk, exc=exc, status=EmailDelivery.Status.FAILED)
        raise

    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=EmailDelivery.Status.SENT,
        esp_name=sent.esp_name,
        message_id=sent.message_id,
        from_email=sent.from_email,
        error="",
        sent_at=timezone.now(),
    )
    delivery.refresh_from_db()
    return delivery


def delivery_record_failure(*, delivery_id: int, exc: BaseException, status: str) -> None:
    EmailDelivery.objects.filter(pk=delivery_id).update(
        status=status, error=redact_text(f"{type(exc).__name__}: {exc}")[:2000], claimed_at=None, claimed_by=""
    )


def delivery_reset_for_resend(*, delivery: EmailDelivery) -> bool:
    """Make a failed delivery sendable again. Return False if it was sent or is being sent."""
    return bool(
        EmailDelivery.objects.filter(
            pk=delivery.pk, status__in=[EmailDelivery.Status.FAILED, EmailDelivery.Status.PENDING]
        ).update(status=EmailDelivery.Status.PENDING, error="", claimed_at=None, claimed_by="")
    )
