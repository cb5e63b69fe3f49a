"""Lay out spans as rows of a waterfall timeline for the admin's trace view."""
import json
import zlib
from dataclasses import dataclass
from typing import Any

from traces.diagnosis import attempt_number, error_info, short_type, sql_statement, task_name
from traces.spans import SpanEvent, SpanLink, SpanRecord
from traces.tree import SpanTree

# Service colours, picked by a stable hash of the service name.
SERVICE_COLOURS = ("#3b82c4", "#7b5cc4", "#2a9d8f", "#c48a1b", "#5c7cfa", "#8d6e63")
INDENT_PX = 14
# A bar is never drawn narrower than this, so that a 50 µs query stays visible.
MIN_BAR_PERCENT = 0.3
STATEMENT_PREVIEW_CHARS = 80


@dataclass(frozen=True)
class Row:
    span: SpanRecord
    depth: int
    indent_px: int
    left_percent: float
    width_percent: float
    offset_ms: float
    duration_ms: float
    colour: str
    attempt: int | None
    error_type: str
    statement: str
    attributes: list[tuple[str, str]]
    events: list[dict[str, Any]]
    links: list[SpanLink]
    highlighted: bool


@dataclass(frozen=True)
class Waterfall:
    trace_id: str
    rows: list[Row]
    duration_ms: float
    services: list[tuple[str, str]]
    ticks: list[tuple[float, str]]


def service_colour(service: str) -> str:
    return SERVICE_COLOURS[zlib.crc32(service.encode()) % len(SERVICE_COLOURS)]


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _event_dict(event: SpanEvent, start_ns: int) -> dict[str, Any]:
    attributes = dict(event.attributes)
    stacktrace = attributes.pop("exception.stacktrace", "")
    return {
        "name": event.name,
        "offset_ms": (event.time_ns - start_ns) / 1e6,
        "attributes": [(key, _value_text(value)) for key, value in sorted(attributes.items())],
        "stacktrace": str(stacktrace),
    }


def _statement_preview(span: SpanRecord) -> str:
    """Return the start of a database span's statement, which contains placeholders, never values."""
    statement = " ".join(sql_statement(span).split())
    if len(statement) > STATEMENT_PREVIEW_CHARS:
        return statement[: STATEMENT_PREVIEW_CHARS - 1] + "…"
    return statement


def _ticks(duration_ms: float) -> list[tuple[float, str]]:
    """Return five evenly spaced time labels as (percent, label)."""
    return [(percent, f"{duration_ms * percent / 100:.1f} ms") for percent in (0, 25, 50, 75, 100)]


def waterfall_build(spans: list[SpanRecord], *, highlighted: frozenset[str] = frozenset()) -> Waterfall:
    """Lay out the spans of one trace; `highlighted` span ids are those a finding rests on."""
    tree = SpanTree(spans)
    start_ns = min(span.start_ns for span in spans)
    end_ns = max(span.end_ns for span in spans)
    total_ns = max(end_ns - start_ns, 1)

    rows = []
    for tree_row in tree.rows():
        span = tree_row.span
        left = (span.start_ns - start_ns) / total_ns * 100
        width = max(span.duration_ns / total_ns * 100, MIN_BAR_PERCENT)
        rows.append(
            Row(
                span=span,
                depth=tree_row.depth,
                indent_px=tree_row.depth * INDENT_PX,
                left_percent=round(min(left, 100 - MIN_BAR_PERCENT), 3),
                width_percent=round(min(width, 100 - left) if left < 100 else MIN_BAR_PERCENT, 3),
                offset_ms=(span.start_ns - start_ns) / 1e6,
                duration_ms=span.duration_ns / 1e6,
                colour=service_colour(span.service_name),
                attempt=attempt_number(span, 1) if task_name(span) is not None else None,
                error_type=short_type(error_info(span).type) if span.failed else "",
                statement=_statement_preview(span),
                attributes=[(key, _value_text(value)) for key, value in sorted(span.attributes.items())],
                events=[_event_dict(event, start_ns) for event in span.events],
                links=list(span.links),
                highlighted=span.span_id in highlighted,
            )
        )

    services = sorted({span.service_name for span in spans})
    return Waterfall(
        trace_id=spans[0].trace_id,
        rows=rows,
        duration_ms=total_ns / 1e6,
        services=[(service, service_colour(service)) for service in services],
        ticks=_ticks(total_ns / 1e6),
    )


def waterfalls_build(spans: list[SpanRecord], *, highlighted: frozenset[str] = frozenset()) -> list[Waterfall]:
    """Lay out each trace among the spans on its own, in the order the traces started."""
    by_trace: dict[str, list[SpanRecord]] = {}
    for span in sorted(spans, key=lambda span: span.start_ns):
        by_trace.setdefault(span.trace_id, []).append(span)
    return [waterfall_build(trace_spans, highlighted=highlighted) for trace_spans in by_trace.values()]
