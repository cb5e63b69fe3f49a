"""Stock reservation: one conditional UPDATE per order line."""
import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from config import telemetry_names as names
from config.telemetry import tracer
from fulfillment.errors import ConditionalUpdateFailed, InsufficientStock
from fulfillment.models import StockReservation
from fulfillment.pause_points import STOCK_UNCOMMITTED, pause_point
from orders.models import Order, OrderLine
from shop.models import Product

logger = logging.getLogger(__name__)


def stock_reserve_line(*, line: OrderLine) -> bool:
    """Take the line's quantity from stock and record the reservation.

    Return False if the line was already reserved. Must run inside a
    transaction, so that the UPDATE and the reservation row commit together.
    Raise InsufficientStock if fewer units are on hand than the line needs.
    """
    with tracer().start_as_current_span(names.SPAN_STOCK_RESERVE) as span:
        span.set_attribute(names.ORDER_ID, line.order_id)
        span.set_attribute(names.STOCK_SKU, line.sku)
        span.set_attribute(names.STOCK_QUANTITY, line.quantity)

        if StockReservation.objects.filter(order_id=line.order_id, product_id=line.product_id).exists():
            span.set_attribute(names.STOCK_ALREADY_RESERVED, True)
            return False

        rows_updated = Product.objects.filter(pk=line.product_id, stock__gte=line.quantity).update(
            stock=F("stock") - line.quantity
        )
        span.set_attribute(names.STOCK_ROWS_UPDATED, rows_updated)
        if rows_updated == 0:
            available = Product.objects.filter(pk=line.product_id).values_list("stock", flat=True).first() or 0
            # Running out is an outcome of the order, not a fault of the shop,
            # so it is an event and the exception is raised after the span
            # ends, which keeps the span from being marked as an error.
            span.add_event(names.EVENT_STOCK_INSUFFICIENT, {names.STOCK_AVAILABLE: available})
        else:
            StockReservation.objects.create(
                order_id=line.order_id, product_id=line.product_id, quantity=line.quantity
            )

    if rows_updated == 0:
        raise InsufficientStock(sku=line.sku, requested=line.quantity, available=available, name=line.name)
    logger.info("Reserved %s of %s for order %s", line.quantity, line.sku, line.order_id)
    return True


def stock_reserve(*, order: Order) -> int:
    """Reserve stock for every line of the order, all or nothing.

    Return how many lines this call reserved; lines reserved by an earlier
    attempt are skipped. If one line is short, no line keeps its stock.
    """
    lines = list(order.lines.order_by("product_id"))
    try:
        with transaction.atomic():
            # Product ids in ascending order, so two orders that share
            # products take row locks in the same order and cannot deadlock.
            reserved = sum(stock_reserve_line(line=line) for line in lines)
            pause_point(STOCK_UNCOMMITTED)
            return reserved
    except IntegrityError:
        # Another worker reserved this order at the same moment; its
        # transaction won and ours rolled back, stock included.
        logger.info("Stock for order %s was reserved concurrently by another attempt", order.pk)
        return 0


def stock_update_against_seen(*, order: Order, stock_seen: dict[str, int]) -> None:
    """Take stock the workshop's way: conditional on the stock read at checkout, with no reservation record.

    Used only while the `repeat_stock_update` fault is on. The first attempt
    succeeds. A retry of the same order runs the update again and finds the
    stock already changed, so it raises ConditionalUpdateFailed: the fault that
    the workshop's trace showed.
    """
    lines = list(order.lines.order_by("product_id"))
    with transaction.atomic():
        for line in lines:
            with tracer().start_as_current_span(names.SPAN_STOCK_RESERVE) as span:
                expected = stock_seen.get(str(line.product_id))
                span.set_attribute(names.ORDER_ID, line.order_id)
                span.set_attribute(names.STOCK_SKU, line.sku)
                span.set_attribute(names.STOCK_QUANTITY, line.quantity)
                if expected is None:
                    raise ConditionalUpdateFailed(sku=line.sku, expected=None, actual=None)
                span.set_attribute(names.STOCK_EXPECTED, expected)

                rows_updated = Product.objects.filter(
                    pk=line.product_id, stock=expected, stock__gte=line.quantity
                ).update(stock=F("stock") - line.quantity)
                span.set_attribute(names.STOCK_ROWS_UPDATED, rows_updated)
                if rows_updated == 0:
                    actual = Product.objects.filter(pk=line.product_id).values_list("stock", flat=True).first()
                    if actual is not None:
                        span.set_attribute(names.STOCK_AVAILABLE, actual)
                    raise ConditionalUpdateFailed(sku=line.sku, expected=expected, actual=actual)
                # The fault is that the update above runs without checking for a
                # reservation first. The row is still written, so that a later
                # run of the fixed code finds the reservation and takes no more stock.
                StockReservation.objects.get_or_create(
                    order_id=line.order_id, product_id=line.product_id, defaults={"quantity": line.quantity}
                )
            logger.info("Updated stock of %s for order %s, conditional on %s", line.sku, line.order_id, expected)
