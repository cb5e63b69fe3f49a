"""The trace of a checkout, from the web request through every attempt of the worker's tasks."""
import re
from dataclasses import dataclass
from types import ModuleType

import pytest
from django.conf import settings

from embedded.otlp_receiver import OTLPReceiver
from fulfillment.models import EmailDelivery
from fulfillment.tasks import fulfill_order
from orders.models import Order
from tests.conftest import EMAIL_ATTEMPTS, checkout_data, wait_for
from tests.fulfillment.test_services import paid_order
from tests.orders.test_checkout_flow import order_in_status
from tests.tracing.conftest import (
    CHECKOUT_SERVER_SPAN,
    EMAIL_TASK,
    FULFILL_TASK,
    RETRY_WAIT_TIMEOUT,
    STATEMENT_ATTRIBUTES,
    URL_ATTRIBUTES,
    WEB_SERVICE,
    WORKER_SERVICE,
    Trace,
    consumer_span,
    first_attribute,
    producer_span,
    spans_with_attribute,
    wait_for_consumers,
    wait_for_trace_of,
)
from traces.spans import SpanRecord

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fulfillment_worker")]


@dataclass(frozen=True)
class CheckoutRun:
    """A fulfilled order, the spans of its checkout trace, and every span received meanwhile."""

    order: Order
    trace: Trace
    received: tuple[SpanRecord, ...]


@pytest.fixture
def checkout_run(shopper, receiver: OTLPReceiver, telemetry: ModuleType, names: ModuleType) -> CheckoutRun:
    """Check out the shopper's cart, wait until the email is sent, and collect the spans of both processes."""
    response = shopper.post("/checkout/", checkout_data())
    assert response.status_code == 302, response.content[:500]
    order = order_in_status(Order.objects.get(), Order.Status.FULFILLED)
    wait_for(
        lambda: EmailDelivery.objects.filter(order=order, status=EmailDelivery.Status.SENT).exists(),
        message="the confirmation email to be sent",
    )
    telemetry.telemetry_flush()

    def order_create_span(spans: list[SpanRecord]) -> SpanRecord | None:
        found = spans_with_attribute(spans, names.ORDER_ID, order.pk)
        return next((span for span in found if span.name == names.SPAN_ORDER_CREATE), None)

    trace_id = wait_for_trace_of(receiver, order_create_span)
    wait_for_consumers(
        receiver, order_id=order.pk, order_id_key=names.ORDER_ID, counts={FULFILL_TASK: 1, EMAIL_TASK: 1}
    )
    received = tuple(receiver.spans())
    return CheckoutRun(order=order, trace=Trace.from_spans(trace_id, received), received=received)


def test_checkout_root_is_server_span(checkout_run: CheckoutRun):
    roots = checkout_run.trace.roots()

    assert len(roots) == 1, checkout_run.trace.describe()
    root = roots[0]
    assert root.kind == "SERVER"
    assert root.name == CHECKOUT_SERVER_SPAN
    assert root.service_name == WEB_SERVICE
    assert root.attributes.get("http.status_code", root.attributes.get("http.response.status_code")) == 302


def test_checkout_web_spans_under_root(checkout_run: CheckoutRun, names: ModuleType):
    trace = checkout_run.trace
    root = trace.one(CHECKOUT_SERVER_SPAN, kind="SERVER")

    payment = trace.one(names.SPAN_PAYMENT_CONFIRM)
    assert payment.kind == "INTERNAL"
    assert payment.parent_span_id == root.span_id
    stripe_calls = trace.children(payment, kind="CLIENT")
    assert len(stripe_calls) >= 1, trace.describe()
    assert str(first_attribute(stripe_calls[0], URL_ATTRIBUTES)).startswith(settings.STRIPE_API_BASE)

    order_create = trace.one(names.SPAN_ORDER_CREATE)
    assert order_create.parent_span_id == root.span_id

    producer = trace.one(producer_span(FULFILL_TASK), kind="PRODUCER")
    assert producer.service_name == WEB_SERVICE
    assert root.span_id in trace.ancestor_ids(producer)
    mark_paid = trace.one(names.SPAN_ORDER_MARK_PAID)
    assert mark_paid.parent_span_id == root.span_id
    assert producer.parent_span_id == mark_paid.span_id


def test_order_records_checkout_trace_id(checkout_run: CheckoutRun):
    assert checkout_run.order.trace_id == checkout_run.trace.trace_id


def test_worker_spans_join_checkout_trace(checkout_run: CheckoutRun, names: ModuleType):
    trace = checkout_run.trace
    web_producer = trace.one(producer_span(FULFILL_TASK), kind="PRODUCER")

    fulfill = trace.one(consumer_span(FULFILL_TASK), kind="CONSUMER")
    assert fulfill.service_name == WORKER_SERVICE
    assert fulfill.parent_span_id == web_producer.span_id
    assert fulfill.attributes.get(names.FULFILLMENT_ATTEMPT) == 1
    assert fulfill.status_code != "ERROR"

    email_producer = trace.one(producer_span(EMAIL_TASK), kind="PRODUCER")
    assert email_producer.service_name == WORKER_SERVICE
    assert email_producer.parent_span_id == fulfill.span_id
    email = trace.one(consumer_span(EMAIL_TASK), kind="CONSUMER")
    assert email.parent_span_id == email_producer.span_id
    assert email.attributes.get(names.FULFILLMENT_ATTEMPT) == 1
    assert email.status_code != "ERROR"

    order_spans = spans_with_attribute(checkout_run.received, names.ORDER_ID, checkout_run.order.pk)
    worker_trace_ids = {span.trace_id for span in order_spans if span.service_name == WORKER_SERVICE}
    assert worker_trace_ids == {trace.trace_id}


def test_stock_reserve_span_attributes(checkout_run: CheckoutRun, names: ModuleType):
    trace = checkout_run.trace
    fulfill = trace.one(consumer_span(FULFILL_TASK), kind="CONSUMER")

    stock = trace.one(names.SPAN_STOCK_RESERVE)

    assert stock.service_name == WORKER_SERVICE
    assert stock.parent_span_id == fulfill.span_id
    assert stock.attributes.get(names.ORDER_ID) == checkout_run.order.pk
    assert stock.attributes.get(names.STOCK_SKU) == "MUG-001"
    assert stock.attributes.get(names.STOCK_QUANTITY) == 2
    assert stock.attributes.get(names.STOCK_ROWS_UPDATED) == 1


def test_email_send_span_attributes(checkout_run: CheckoutRun, names: ModuleType):
    trace = checkout_run.trace
    email_task = trace.one(consumer_span(EMAIL_TASK), kind="CONSUMER")
    delivery = EmailDelivery.objects.get(order=checkout_run.order)

    email = trace.one(names.SPAN_EMAIL_SEND)

    assert email.service_name == WORKER_SERVICE
    assert email.parent_span_id == email_task.span_id
    assert email.attributes.get(names.ORDER_ID) == checkout_run.order.pk
    assert email.attributes.get(names.EMAIL_ESP) == delivery.esp_name
    assert email.attributes.get(names.EMAIL_MESSAGE_ID) == delivery.message_id
    assert email.attributes.get(names.EMAIL_RECIPIENT_DOMAIN) == "example.org"
    # The SES request itself, from the botocore instrumentation.
    assert len(trace.children(email, kind="CLIENT")) >= 1, trace.describe()


def test_stock_update_statement_has_no_values(checkout_run: CheckoutRun, names: ModuleType):
    trace = checkout_run.trace
    stock = trace.one(names.SPAN_STOCK_RESERVE)
    statements = [str(first_attribute(span, STATEMENT_ATTRIBUTES) or "") for span in trace.children(stock)]

    updates = [statement for statement in statements if statement.lstrip().upper().startswith("UPDATE")]

    assert len(updates) == 1, statements
    update = updates[0]
    assert "shop_product" in update
    # The UPDATE takes the quantity and the product id as parameters. The
    # shop's table and column names contain no digits, so any digit would be
    # a value written into the statement.
    assert re.search(r"\d", update) is None, update
    assert update.count("%s") + update.count("?") == 3, update


def test_order_id_is_consistent(checkout_run: CheckoutRun, names: ModuleType):
    tagged = [span for span in checkout_run.trace.spans if names.ORDER_ID in span.attributes]

    assert {span.attributes[names.ORDER_ID] for span in tagged} == {checkout_run.order.pk}
    assert {span.name for span in tagged} >= {
        names.SPAN_ORDER_CREATE,
        names.SPAN_PAYMENT_CONFIRM,
        names.SPAN_ORDER_MARK_PAID,
        consumer_span(FULFILL_TASK),
        names.SPAN_STOCK_RESERVE,
        consumer_span(EMAIL_TASK),
        names.SPAN_EMAIL_SEND,
    }


@dataclass(frozen=True)
class FailedEmailRun:
    """An order whose email task used up its attempts, with one CONSUMER span per attempt in order."""

    order: Order
    trace: Trace
    attempts: tuple[SpanRecord, ...]


@pytest.fixture
def failed_email_run(
    product, worker_without_email, receiver: OTLPReceiver, telemetry: ModuleType, names: ModuleType
) -> FailedEmailRun:
    """Fulfill an order on the worker that cannot send email, and collect the spans of every attempt."""
    order = paid_order(product, 2)

    fulfill_order.apply_async(args=[order.pk], queue=worker_without_email.queue)

    consumers = wait_for_consumers(
        receiver,
        order_id=order.pk,
        order_id_key=names.ORDER_ID,
        counts={FULFILL_TASK: 1, EMAIL_TASK: EMAIL_ATTEMPTS},
        timeout=RETRY_WAIT_TIMEOUT,
    )
    telemetry.telemetry_flush()
    attempts = sorted(consumers[EMAIL_TASK], key=lambda span: span.attributes.get(names.FULFILLMENT_ATTEMPT, 0))
    trace = Trace.from_spans(attempts[0].trace_id, receiver.spans())
    return FailedEmailRun(order=order, trace=trace, attempts=tuple(attempts))


def test_email_attempts_share_one_trace(failed_email_run: FailedEmailRun, names: ModuleType):
    trace = failed_email_run.trace
    attempts = failed_email_run.attempts

    assert [span.attributes.get(names.FULFILLMENT_ATTEMPT) for span in attempts] == [1, 2, 3]
    assert {span.trace_id for span in attempts} == {trace.trace_id}
    assert {span.service_name for span in attempts} == {WORKER_SERVICE}
    fulfill = trace.one(consumer_span(FULFILL_TASK), kind="CONSUMER")
    assert fulfill.status_code != "ERROR"
    first_producer = trace.by_id(attempts[0].parent_span_id)
    assert first_producer is not None, trace.describe()
    assert first_producer.kind == "PRODUCER"
    assert first_producer.parent_span_id == fulfill.span_id

    # Celery's retry() publishes the next attempt from inside the failed
    # one, so each retry hangs off the attempt before it.
    for attempt, (previous, current) in enumerate(zip(attempts, attempts[1:]), start=2):
        retry_producer = trace.by_id(current.parent_span_id)
        assert retry_producer is not None, f"attempt {attempt}: {trace.describe()}"
        assert retry_producer.kind == "PRODUCER", f"attempt {attempt}"
        assert retry_producer.parent_span_id == previous.span_id, f"attempt {attempt}"
        assert current.attributes.get("celery.retries") == attempt - 1, f"attempt {attempt}"


def test_email_retries_reserve_stock_once(failed_email_run: FailedEmailRun, names: ModuleType):
    stock_spans = failed_email_run.trace.find(names.SPAN_STOCK_RESERVE)

    assert len(stock_spans) == 1, failed_email_run.trace.describe()
    assert stock_spans[0].attributes.get(names.STOCK_ROWS_UPDATED) == 1


def test_failed_attempts_record_exception(failed_email_run: FailedEmailRun, names: ModuleType):
    for attempt, consumer in enumerate(failed_email_run.attempts, start=1):
        exceptions = [event for event in consumer.events if event.name == "exception"]
        assert consumer.status_code == "ERROR", f"attempt {attempt}"
        assert consumer.status_message, f"attempt {attempt}"
        assert len(exceptions) == 1, f"attempt {attempt}: {consumer.events}"
        attributes = exceptions[0].attributes
        assert attributes.get("exception.type", "").endswith("AnymailAPIError"), f"attempt {attempt}"
        assert attributes.get("exception.message"), f"attempt {attempt}"
        assert "Traceback" in attributes.get("exception.stacktrace", ""), f"attempt {attempt}"

        sends = [span for span in failed_email_run.trace.children(consumer) if span.name == names.SPAN_EMAIL_SEND]
        assert len(sends) == 1, f"attempt {attempt}: {failed_email_run.trace.describe()}"
        assert sends[0].status_code == "ERROR", f"attempt {attempt}"


def test_retried_attempts_have_retry_event(failed_email_run: FailedEmailRun, names: ModuleType):
    *retried, last = failed_email_run.attempts

    for attempt, consumer in enumerate(retried, start=1):
        retries = [event for event in consumer.events if event.name == names.EVENT_FULFILLMENT_RETRY]
        assert len(retries) == 1, f"attempt {attempt}: {consumer.events}"
        countdown = retries[0].attributes.get(names.FULFILLMENT_RETRY_COUNTDOWN)
        assert isinstance(countdown, float), f"attempt {attempt}: {countdown!r}"
        assert 0 <= countdown <= settings.FULFILLMENT_RETRY_BACKOFF_MAX, f"attempt {attempt}: {countdown}"
        assert retries[0].attributes.get(names.FULFILLMENT_ATTEMPT) == attempt + 1, f"attempt {attempt}"
    assert [event.name for event in last.events if event.name == names.EVENT_FULFILLMENT_RETRY] == []
