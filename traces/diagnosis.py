"""Find what went wrong in an order's trace, from the spans alone.

The rules read only span names, kinds, statuses, events and the attributes
that the shop and its instrumentations emit (config/telemetry_names.py), so
they explain a trace from any instance of the shop, read from the local
store or from Jaeger. Each finding names the spans it rests on.
"""
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from config import telemetry_names as names
from traces.spans import SpanRecord
from traces.tree import SpanTree

ERROR = "error"
WARNING = "warning"

CUSTOMER_TOLD_SUCCESS = "customer_told_success"
DISTINCT_ERROR = "error"
TASK_RETRIED = "task_retried"
REPEATED_WRITE = "repeated_write"
CONDITIONAL_UPDATE_MISSED = "conditional_update_missed"
TRACE_INCOMPLETE = "trace_incomplete"

# Spans where work enters a process: an error that reaches one of them was not handled.
ENTRY_KINDS = frozenset({"SERVER", "CONSUMER"})
# Statuses that tell the customer the order went through (orders.models.Order.Status).
SUCCESS_STATUSES_SHOWN = frozenset({"fulfilled"})
CELERY_RUN_PREFIX = "run/"
# Celery's instrumentation records the task's final state; a retried attempt is RETRY.
CELERY_STATE = "celery.state"
CELERY_RETRIES = "celery.retries"
MESSAGE_ID = "messaging.message.id"
HTTP_STATUS_CODES = ("http.response.status_code", "http.status_code")
# The DB-API instrumentation names the SQL db.statement under the old semantic
# conventions and db.query.text under the stable ones.
STATEMENT_ATTRIBUTES = ("db.statement", "db.query.text")
EXCEPTION_EVENT = "exception"

# The shop's writes that must happen once per order and key. Each entry maps
# a span name to the attributes that identify the write, and to a test of
# whether the span executed it.
WRITES = {
    names.SPAN_STOCK_RESERVE: (
        (names.ORDER_ID, names.STOCK_SKU),
        lambda span: names.STOCK_ROWS_UPDATED in span.attributes,
        "the conditional stock UPDATE",
    ),
    names.SPAN_EMAIL_SEND: (
        (names.ORDER_ID, names.EMAIL_KIND),
        lambda span: not span.failed,
        "a sent email",
    ),
    names.SPAN_PAYMENT_REFUND: (
        (names.ORDER_ID,),
        lambda span: not span.failed,
        "a refund",
    ),
}


@dataclass(frozen=True)
class Finding:
    """One thing that went wrong, with the spans that show it.

    `kind` is one of the module's finding kinds and `severity` is "error" or
    "warning". `title` is one line for a person and `details` are further
    lines. `hint` names the usual cause and fix, and `facts` contains the
    same values as data for --json.
    """

    kind: str
    severity: str
    title: str
    span_ids: tuple[str, ...]
    details: tuple[str, ...] = ()
    hint: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "details": list(self.details),
            "hint": self.hint,
            "span_ids": list(self.span_ids),
            "facts": self.facts,
        }


@dataclass(frozen=True)
class ErrorInfo:
    type: str
    message: str


def span_label(span: SpanRecord) -> str:
    """Return how a finding names a span: its name, service and id."""
    return f"{span.name} [{span.service_name}] {span.span_id}"


def http_status(span: SpanRecord) -> int | None:
    for key in HTTP_STATUS_CODES:
        value = span.attributes.get(key)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def sql_statement(span: SpanRecord) -> str:
    """Return the SQL of a database span, or "" for another span."""
    return next((str(span.attributes[key]) for key in STATEMENT_ATTRIBUTES if key in span.attributes), "")


def error_info(span: SpanRecord) -> ErrorInfo:
    """Return the exception of a failed span from its last exception event, or from its status message."""
    for event in reversed(span.events):
        if event.name == EXCEPTION_EVENT:
            return ErrorInfo(
                type=str(event.attributes.get("exception.type", "")) or "Exception",
                message=str(event.attributes.get("exception.message", "")),
            )
    type_name, separator, message = span.status_message.partition(": ")
    if separator and re.fullmatch(r"[A-Za-z_][\w.]*", type_name):
        return ErrorInfo(type=type_name, message=message)
    status = http_status(span)
    if status is not None and not span.status_message:
        # The HTTP client instrumentations mark a 4xx or 5xx response as an error without a message.
        return ErrorInfo(type=f"HTTP {status}", message=f"{span.name} {span.attributes.get('http.url', '')}".strip())
    return ErrorInfo(type="error status", message=span.status_message)


def short_type(type_name: str) -> str:
    return type_name.rpartition(".")[2]


def task_name(span: SpanRecord) -> str | None:
    if span.kind == "CONSUMER" and span.name.startswith(CELERY_RUN_PREFIX):
        return span.name.removeprefix(CELERY_RUN_PREFIX)
    return None


def attempt_number(span: SpanRecord, position: int) -> int:
    """Return the attempt a task span ran as: the shop's attribute, Celery's retry count, or its position."""
    attempt = span.attributes.get(names.FULFILLMENT_ATTEMPT)
    if attempt is not None:
        return int(attempt)
    retries = span.attributes.get(CELERY_RETRIES)
    if retries is not None:
        return int(retries) + 1
    return position


def attempt_outcome(span: SpanRecord) -> str:
    state = span.attributes.get(CELERY_STATE)
    if state:
        return str(state)
    return "FAILURE" if span.failed else "SUCCESS"


# --- Rules -------------------------------------------------------------------------


def _customer_told_success(tree: SpanTree) -> list[Finding]:
    findings = []
    for server in tree.spans:
        status = http_status(server)
        shown = server.attributes.get(names.ORDER_STATUS_SHOWN)
        if server.kind != "SERVER" or status is None or not 200 <= status < 400 or shown not in SUCCESS_STATUSES_SHOWN:
            continue
        failed_later = [
            span
            for span in tree.spans
            if span.trace_id == server.trace_id
            and span.failed
            # It failed after the response left: a task that the request
            # enqueued is below the SERVER span in the tree, but ends later.
            and span.end_ns > server.end_ns
            # The outermost failed span of each failure, not every span it failed through.
            and not (tree.parent(span) is not None and tree.parent(span).failed)
        ]
        if not failed_later:
            continue
        failures = ", ".join(
            f"{span.name} ({short_type(error_info(span).type)})" for span in failed_later
        )
        findings.append(
            Finding(
                kind=CUSTOMER_TOLD_SUCCESS,
                severity=ERROR,
                title=(
                    f"The customer was told the order is {shown} ({server.name} returned {status}), "
                    f"but later work in the same trace failed: {failures}"
                ),
                span_ids=(server.span_id, *(span.span_id for span in failed_later)),
                details=(f"told: {span_label(server)}", *(f"failed: {span_label(span)}" for span in failed_later)),
                hint=(
                    "The response promised success before the background work finished. "
                    "Show that the order is processing until fulfillment reports the outcome."
                ),
                facts={"http_status": status, "status_shown": shown, "failed_operations": [s.name for s in failed_later]},
            )
        )
    return findings


def _distinct_errors(tree: SpanTree) -> list[Finding]:
    """Group failures by where they began: a failed span with no failed child is where an error began."""
    groups: dict[tuple[str, str, str, str], list[SpanRecord]] = defaultdict(list)
    for span in tree.spans:
        if span.failed and not any(child.failed for child in tree.children(span)):
            info = error_info(span)
            groups[(info.type, info.message, span.service_name, span.name)].append(span)

    findings = []
    for (type_name, message, service, operation), origins in groups.items():
        raised_through: dict[str, str] = {}
        handlers = []
        span_ids = []
        for origin in origins:
            span_ids.append(origin.span_id)
            for ancestor in tree.ancestors(origin):
                if not ancestor.failed:
                    break
                span_ids.append(ancestor.span_id)
                raised_through.setdefault(ancestor.name, short_type(error_info(ancestor).type))
            handlers.append(_handler(tree, _outermost_failed(tree, origin)))
        # Every occurrence was caught by a span that went on without failing, such as a declined card's 402.
        handled = all(handler is not None for handler in handlers)
        handled_by = {handler.name for handler in handlers if handler is not None}
        through = "then raised as " + ", ".join(
            f"{raised} in {operation_name}" for operation_name, raised in raised_through.items()
        ) if raised_through else ""
        count = len(origins)
        details = [f"began in: {span_label(origin)}" for origin in origins]
        if through:
            details.append(through)
        if handled:
            details.append(f"handled by {', '.join(sorted(handled_by))}, which did not fail")
        findings.append(
            Finding(
                kind=DISTINCT_ERROR,
                severity=WARNING if handled else ERROR,
                title=f"{short_type(type_name)} in {operation} [{service}], {count} time{'s' if count != 1 else ''}{': ' + message if message else ''}",
                span_ids=tuple(dict.fromkeys(span_ids)),
                details=tuple(details),
                hint=_error_hint(type_name, message),
                facts={
                    "exception_type": type_name,
                    "message": message,
                    "service": service,
                    "operation": operation,
                    "count": count,
                    "raised_through": raised_through,
                    "handled": handled,
                },
            )
        )
    return findings


def _outermost_failed(tree: SpanTree, span: SpanRecord) -> SpanRecord:
    outermost = span
    for ancestor in tree.ancestors(span):
        if not ancestor.failed:
            break
        outermost = ancestor
    return outermost


def _handler(tree: SpanTree, outermost: SpanRecord) -> SpanRecord | None:
    """Return the span that caught an error without failing itself, or None when the error reached an entry point."""
    if outermost.kind in ENTRY_KINDS:
        return None
    return tree.parent(outermost)


def _error_hint(type_name: str, message: str) -> str:
    if "MessageRejected" in type_name or "MessageRejected" in message:
        if "not verified" in message or "authority to send" in message:
            return "The email service rejects mail from a sender identity that it has not verified. Verify the sender, or send from a verified address (DEFAULT_FROM_EMAIL)."
        return "The email service rejected the message; retrying the same message will not help."
    if short_type(type_name) == "ConditionalUpdateFailed":
        return "A conditional UPDATE found the row changed since it was read. A retry that repeats a write that already happened fails this way."
    return ""


def _tasks_retried(tree: SpanTree) -> list[Finding]:
    runs: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
    for span in tree.spans:
        name = task_name(span)
        if name is None:
            continue
        # Celery keeps the message id across retries, and a redelivery keeps it too.
        message_id = str(span.attributes.get(MESSAGE_ID) or span.span_id)
        runs[(name, message_id)].append(span)

    findings = []
    for (name, message_id), attempts in runs.items():
        if len(attempts) < 2:
            continue
        attempts.sort(key=lambda span: span.start_ns)
        outcomes = []
        permanent_retried = False
        for position, span in enumerate(attempts, start=1):
            outcome = attempt_outcome(span)
            error = f" ({short_type(error_info(span).type)})" if span.failed else ""
            outcomes.append(f"attempt {attempt_number(span, position)} {outcome}{error}")
            if outcome == "RETRY" and span.attributes.get(names.FULFILLMENT_TRANSIENT) is False:
                permanent_retried = True
        final = attempt_outcome(attempts[-1])
        order_id = tree.inherited_attribute(attempts[0], names.ORDER_ID)
        order = f" for order {order_id}" if order_id is not None else ""
        hint = (
            "Attempts that failed with a permanent error (fulfillment.error.transient=false) were retried anyway, "
            "so each retry ran the whole task again."
            if permanent_retried
            else ""
        )
        findings.append(
            Finding(
                kind=TASK_RETRIED,
                severity=ERROR if final == "FAILURE" else WARNING,
                title=f"Task {name} ran {len(attempts)} times{order} (task {message_id[:8]}): {', '.join(outcomes)}",
                span_ids=tuple(span.span_id for span in attempts),
                details=tuple(f"attempt: {span_label(span)}" for span in attempts),
                hint=hint,
                facts={
                    "task": name,
                    "message_id": message_id,
                    "order_id": order_id,
                    "attempts": [
                        {"attempt": attempt_number(span, position), "outcome": attempt_outcome(span), "span_id": span.span_id}
                        for position, span in enumerate(attempts, start=1)
                    ],
                    "final_outcome": final,
                    "permanent_error_retried": permanent_retried,
                },
            )
        )
    return findings


def _repeated_writes(tree: SpanTree) -> list[Finding]:
    executions: dict[tuple[str, tuple], list[SpanRecord]] = defaultdict(list)
    for span in tree.spans:
        write = WRITES.get(span.name)
        if write is None:
            continue
        key_names, executed, _ = write
        key = tuple(tree.inherited_attribute(span, key_name) for key_name in key_names)
        if key[0] is not None and executed(span):
            executions[(span.name, key)].append(span)

    findings = []
    for (name, key), spans in executions.items():
        if len(spans) < 2:
            continue
        key_names, _, description = WRITES[name]
        identity = ", ".join(f"{key_name}={value}" for key_name, value in zip(key_names, key))
        statements = [child for span in spans for child in tree.children(span) if _is_write_statement(child)]
        rows = [span.attributes.get(names.STOCK_ROWS_UPDATED) for span in spans]
        rows_text = f" (rows updated: {', '.join(str(row) for row in rows)})" if name == names.SPAN_STOCK_RESERVE else ""
        findings.append(
            Finding(
                kind=REPEATED_WRITE,
                severity=ERROR,
                title=f"{description[0].upper()}{description[1:]} ran {len(spans)} times for one order ({identity}){rows_text}",
                span_ids=tuple(span.span_id for span in [*spans, *statements]),
                details=tuple(f"write: {span_label(span)}" for span in spans),
                hint=(
                    "A retry repeated a write that had already happened. Record that the write is done "
                    "(a reservation row, an idempotency key) and retry only the step that failed."
                ),
                facts={"operation": name, "key": dict(zip(key_names, key)), "count": len(spans)},
            )
        )
    return findings


def _is_write_statement(span: SpanRecord) -> bool:
    statement = sql_statement(span) or span.name
    return statement.lstrip().split(" ", 1)[0].upper() in {"UPDATE", "INSERT", "DELETE"}


def _conditional_updates_missed(tree: SpanTree) -> list[Finding]:
    misses: dict[tuple, list[SpanRecord]] = defaultdict(list)
    for span in tree.spans:
        if span.name != names.SPAN_STOCK_RESERVE or span.attributes.get(names.STOCK_ROWS_UPDATED) != 0:
            continue
        available = span.attributes.get(names.STOCK_AVAILABLE)
        if available is None:
            available = next(
                (event.attributes.get(names.STOCK_AVAILABLE) for event in span.events if event.name == names.EVENT_STOCK_INSUFFICIENT),
                None,
            )
        key = (
            tree.inherited_attribute(span, names.ORDER_ID),
            span.attributes.get(names.STOCK_SKU),
            span.attributes.get(names.STOCK_QUANTITY),
            span.attributes.get(names.STOCK_EXPECTED),
            available,
        )
        misses[key].append(span)

    findings = []
    for (order_id, sku, quantity, expected, available), spans in misses.items():
        if expected is not None:
            # The repeat_stock_update shape: the condition is a stock level read earlier.
            condition = f"it expected {expected} in stock and found {available}"
            severity = ERROR
        else:
            condition = f"{available} in stock and {quantity} needed, so the item sold out"
            severity = ERROR if any(span.failed for span in spans) else WARNING
        times = f", {len(spans)} times" if len(spans) > 1 else ""
        statements = [child for span in spans for child in tree.children(span) if _is_write_statement(child)]
        findings.append(
            Finding(
                kind=CONDITIONAL_UPDATE_MISSED,
                severity=severity,
                title=f"The conditional stock UPDATE for {sku} matched no row{times}: {condition}",
                span_ids=tuple(span.span_id for span in [*spans, *statements]),
                details=tuple(f"update: {span_label(span)}" for span in spans),
                facts={
                    "order_id": order_id,
                    "sku": sku,
                    "quantity": quantity,
                    "expected": expected,
                    "available": available,
                    "count": len(spans),
                },
            )
        )
    return findings


def _trace_incomplete(tree: SpanTree) -> list[Finding]:
    """Report spans whose parent is missing: the rest of the trace was pruned, or has not been exported yet."""
    orphans = [span for span in tree.roots if span.parent_span_id]
    if not orphans:
        return []
    missing_parents = sorted({span.parent_span_id for span in orphans})
    return [
        Finding(
            kind=TRACE_INCOMPLETE,
            severity=WARNING,
            title=(
                f"The trace is incomplete: {len(orphans)} span{'s' if len(orphans) != 1 else ''} name a parent "
                "that is not in it, so other findings may be missing"
            ),
            span_ids=tuple(span.span_id for span in orphans),
            details=tuple(f"parent missing: {span_label(span)}" for span in orphans),
            hint=(
                "Spans reach the store or Jaeger a few seconds after the work ends, so diagnose again shortly. "
                "A span that never ended, such as a task send that failed, is never exported, and an old trace "
                "may have been pruned from the local store (TRACE_STORE_MAX_MB)."
            ),
            facts={"missing_parent_span_ids": missing_parents, "orphan_count": len(orphans)},
        )
    ]


RULES = (
    _customer_told_success,
    _distinct_errors,
    _tasks_retried,
    _repeated_writes,
    _conditional_updates_missed,
    _trace_incomplete,
)


def diagnose(spans: Iterable[SpanRecord]) -> list[Finding]:
    """Return the findings about the spans, errors first, each rule's findings in the order of their spans."""
    tree = spans if isinstance(spans, SpanTree) else SpanTree(spans)
    findings = [finding for rule in RULES for finding in rule(tree)]
    return sorted(findings, key=lambda finding: finding.severity != ERROR)
