"""The order confirmation email, sent through Django's mail API and anymail."""
import dataclasses
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from config import telemetry_names as names
from config.telemetry import tracer
from fulfillment.faults import UNVERIFIED_SENDER, fault_enabled
from orders.models import Order

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RenderedEmail:
    kind: str
    subject: str
    text_body: str
    html_body: str
    to: str


@dataclasses.dataclass(frozen=True)
class SentEmail:
    esp_name: str
    message_id: str
    from_email: str


SUBJECTS = {
    "order_confirmation": "Your order {confirmation_id} is confirmed",
    "out_of_stock": "Your order {confirmation_id} could not be filled and has been refunded",
}


def email_render(*, order: Order, kind: str) -> RenderedEmail:
    """Render the email of one kind (an EmailDelivery.Kind value) from its two templates."""
    if kind not in SUBJECTS:
        raise ValueError(f"Unknown email kind {kind!r}. Use one of: {', '.join(SUBJECTS)}.")
    context = {"order": order, "lines": list(order.lines.all())}
    return RenderedEmail(
        kind=kind,
        subject=SUBJECTS[kind].format(confirmation_id=order.confirmation_id),
        text_body=render_to_string(f"fulfillment/email/{kind}.txt", context),
        html_body=render_to_string(f"fulfillment/email/{kind}.html", context),
        to=order.email,
    )


def sender_address() -> str:
    """Return the From address: the verified one, unless the unverified_sender workshop fault is on."""
    if fault_enabled(UNVERIFIED_SENDER):
        return settings.UNVERIFIED_FROM_EMAIL
    return settings.DEFAULT_FROM_EMAIL


def email_send(*, email: RenderedEmail, order_id: int) -> SentEmail:
    """Send the email through the configured ESP and return what the ESP reported.

    Raise the ESP's exception (an AnymailError) when it rejects the message.
    """
    connection = get_connection(fail_silently=False)
    esp_name = getattr(connection, "esp_name", type(connection).__module__)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        from_email=sender_address(),
        to=[email.to],
        connection=connection,
    )
    message.attach_alternative(email.html_body, "text/html")

    with tracer().start_as_current_span(names.SPAN_EMAIL_SEND) as span:
        span.set_attribute(names.ORDER_ID, order_id)
        span.set_attribute(names.EMAIL_KIND, email.kind)
        span.set_attribute(names.EMAIL_ESP, esp_name)
        span.set_attribute(names.EMAIL_RECIPIENT_DOMAIN, email.to.rpartition("@")[2].lower())
        message.send()
        status = getattr(message, "anymail_status", None)
        message_id = (status.message_id if status is not None else None) or ""
        span.set_attribute(names.EMAIL_MESSAGE_ID, str(message_id))
    logger.info("Sent email for order %s through %s, message id %s", order_id, esp_name, message_id)
    return SentEmail(esp_name=esp_name, message_id=str(message_id), from_email=message.from_email)
