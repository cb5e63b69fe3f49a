"""Write a diagnosis as text for a terminal or as JSON."""
from collections.abc import Sequence

from traces.diagnosis import Finding, attempt_number, error_info, short_type, task_name
from traces.spans import SpanRecord, span_to_dict
from traces.tree import SpanTree

INDENT = "  "


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


def report_text(*, tree: SpanTree, findings: Sequence[Finding], source: str, trace_ids: Sequence[str]) -> str:
    lines = [f"Trace {', '.join(trace_ids)} from {source}: {len(tree)} spans", ""]
    for row in tree.rows():
        lines.append(f"{INDENT * row.depth}{span_line(row.span, tree)}")
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


def report_dict(*, tree: SpanTree, findings: Sequence[Finding], source: str, trace_ids: Sequence[str]) -> dict:
    return {
        "trace_ids": list(trace_ids),
        "source": source,
        "span_count": len(tree),
        "findings": [finding.as_dict() for finding in findings],
        "spans": [dict(span_to_dict(row.span), depth=row.depth) for row in tree.rows()],
    }
