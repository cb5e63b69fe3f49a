"""Reads that turn what a person types (a confirmation ID or a trace id) into trace ids."""
from dataclasses import dataclass

from django.db import DatabaseError

from fulfillment.models import TaskAttempt
from orders.models import Order
from traces.spans import trace_id_normalized


class TraceReferenceError(ValueError):
    """The text is neither a trace id nor the confirmation ID of an order."""


@dataclass(frozen=True)
class TraceReference:
    """The traces to read for a reference, with the order they belong to when it is known."""

    trace_ids: tuple[str, ...]
    order: Order | None = None


def order_trace_ids(*, order: Order) -> tuple[str, ...]:
    """Return the order's checkout trace, then every other trace that ran one of its tasks.

    Fulfillment usually runs in the checkout's trace. It runs in another
    trace when a webhook, the 3-D Secure return or an admin re-run enqueued it,
    and the attempts log records that trace.
    """
    attempt_trace_ids = (
        TaskAttempt.objects.filter(order=order).exclude(trace_id="").order_by("started_at").values_list("trace_id", flat=True)
    )
    return tuple(dict.fromkeys(trace_id for trace_id in [order.trace_id, *attempt_trace_ids] if trace_id))


def text_shortened(text: str, limit: int = 80) -> str:
    """Return `text`, cut to `limit` characters with its length noted, for quoting it in a message."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def trace_reference_resolve(*, reference: str) -> TraceReference:
    """Return the traces for a trace id or a confirmation ID.

    Raise TraceReferenceError when it is neither, when the order has no trace
    recorded, or when the shop's database cannot be read.
    """
    text = reference.strip()
    trace_id = trace_id_normalized(text)
    if trace_id is not None:
        return TraceReference(trace_ids=(trace_id,))
    if text.strip("0") == "" and len(text) == 32:
        raise TraceReferenceError(
            "The trace id 000…0 (32 zeros) is invalid: it marks a request that was not traced. "
            "Copy the trace id from a traceparent or traceresponse header, or use the order's confirmation ID."
        )

    try:
        order = Order.objects.filter(confirmation_id=text.upper()).first()
        trace_ids = order_trace_ids(order=order) if order is not None else ()
    except DatabaseError as error:
        raise TraceReferenceError(
            f"Cannot look up the order in the shop's database ({error}). Run diagnose with the same "
            "SHOP_VAR_DIR or DATABASE_URL as the shop, or pass the trace id instead of the confirmation ID."
        ) from error
    if order is None:
        raise TraceReferenceError(
            f"{text_shortened(text)!r} is neither a trace id (32 hex digits) nor the confirmation ID of an order. "
            "Copy the confirmation ID from the order page or the admin, or a trace id from the traceresponse header."
        )
    if not trace_ids:
        raise TraceReferenceError(
            f"Order {order.confirmation_id} has no trace recorded, because tracing was off when it was placed."
        )
    return TraceReference(trace_ids=trace_ids, order=order)
