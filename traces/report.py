"""Write a diagnosis as text for a terminal or as JSON."""
from collections import Counter
from collections.abc import Sequence

from orders.selectors import FINAL_STATUSES
from traces.diagnosis import ERROR, Finding, attempt_number, error_info, short_type, task_name
from traces.spans import SpanRecord, span_to_dict
from traces.tree import SpanTree

INDENT = "  "


def _is_plain_client_call(span: SpanRecord, tree: SpanTree, cited: set[str]) -> bool:
    """Return whether the span is a database or Redis call that a summary line may stand for.

    A call that failed, has children or that a finding cites keeps its own line.
    """
    return (
        span.kind == "CLIENT"
        and "db.system" in span.attributes
        and not span.failed
        and not tree.children(span)
        and span.span_id not in cited
    )


def _calls_summary(calls: list[SpanRecord]) -> str:
    counts = Counter(call.name for call in calls)
    systems = sorted({str(call.attributes["db.system"]) for call in calls})
    statements = ", ".join(f"{name} x{count}" for name, count in counts.most_common())
    total_ms = sum(call.duration_ns for call in calls) / 1e6
    return f"{len(calls)} {'/'.join(systems)} calls, {total_ms:.1f} ms: {statements}"


def tree_lines(tree: SpanTree, *, cited: set[str], all_spans: bool) -> list[str]:
    """Return the span tree, one line a span, with each parent's plain database calls on one line unless `all_spans`."""
    lines = []
    rows = tree.rows()
    index = 0
    while index < len(rows):
        row = rows[index]
        if all_spans or not _is_plain_client_call(row.span, tree, cited):
            lines.append(f"{INDENT * row.depth}{span_line(row.span, tree)}")
            index += 1
            continue
        calls = []
        while (
            index < len(rows)
            and rows[index].depth == row.depth
            and _is_plain_client_call(rows[index].span, tree, cited)
        ):
            calls.append(rows[index].span)
            index += 1
        lines.append(f"{INDENT * row.depth}{_calls_summary(calls)}" if len(calls) > 1 else f"{INDENT * row.depth}{span_line(calls[0], tree)}")
    return lines


def span_line(span: SpanRecord, tree: SpanTree) -> str:
    """Return one line about a span: name, service, duration, and its attempt and error if it has them."""
    parts = [span.name, f"[{span.service_name}]", f"{span.duration_ns / 1e6:.1f} ms"]
    if task_name(span) is not None:
        parts.append(f"attempt {attempt_number(span, 1)}")
    if span.failed:
        error = error_info(span)
        parts.append(f"ERROR {short_type(error.type)}")
    parts.append(span.span_id)
    return " ".join(parts)


def summary_line(findings: Sequence[Finding]) -> str:
    """Return one line that counts the findings by severity and names their kinds."""
    if not findings:
        return "No findings."
    errors = sum(finding.severity == ERROR for finding in findings)
    kinds = Counter(finding.kind for finding in findings)
    named = ", ".join(kind if count == 1 else f"{kind} x{count}" for kind, count in kinds.items())
    plural = "s" if len(findings) != 1 else ""
    return f"{len(findings)} finding{plural}, {errors} of error severity: {named}. They follow the span tree."


def order_line(order) -> str:
    line = f"Order {order.confirmation_id}, status {order.get_status_display()}."
    if order.status not in FINAL_STATUSES:
        line += " Its work is still running, so the trace may still grow."
    return line


def report_text(
    *,
    tree: SpanTree,
    findings: Sequence[Finding],
    source: str,
    trace_ids: Sequence[str],
    order=None,
    all_spans: bool = False,
) -> str:
    lines = [order_line(order)] if order is not None else []
    lines += [summary_line(findings), f"Trace {', '.join(trace_ids)} from {source}: {len(tree)} spans", ""]
    cited = {span_id for finding in findings for span_id in finding.span_ids}
    lines.extend(tree_lines(tree, cited=cited, all_spans=all_spans))
    lines.append("")

    if not findings:
        lines.append("Findings: none")
        return "\n".join(lines)

    lines.append(f"Findings: {len(findings)}")
    for number, finding in enumerate(findings, start=1):
        lines.append(f"{number}. {finding.severity.upper()} {finding.title}")
        lines.extend(f"{INDENT}{INDENT}{detail}" for detail in finding.details)
        if finding.hint:
            lines.append(f"{INDENT}{INDENT}hint: {finding.hint}")
    return "\n".join(lines)


def report_dict(*, tree: SpanTree, findings: Sequence[Finding], source: str, trace_ids: Sequence[str], order=None) -> dict:
    return {
        "order": (
            {"confirmation_id": order.confirmation_id, "status": order.status, "final": order.status in FINAL_STATUSES}
            if order is not None
            else None
        ),
        "trace_ids": list(trace_ids),
        "source": source,
        "span_count": len(tree),
        "findings": [finding.as_dict() for finding in findings],
        "spans": [dict(span_to_dict(row.span), depth=row.depth) for row in tree.rows()],
    }
