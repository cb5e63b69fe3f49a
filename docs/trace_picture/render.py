"""Draw the spans that scenario.py recorded as an SVG waterfall, laid out like Jaeger's trace view.

    python docs/trace_picture/render.py [--input JSON] [--output SVG] [--all-spans] [--png PNG]

One row per span, indented under its parent and ordered by start time.
The colour chip at the left of a row is the span's service. A bar runs from
the span's start to its end on the time axis. An ERROR span has a red bar,
with the type of its last exception event beside it. Events are small marks
on the bar. Database and Redis CLIENT spans are grouped into one row per parent
and database system, unless --all-spans is given. The SERVER
spans that the JSON keeps under "related_spans" belong to other traces and
are drawn as labelled vertical lines.

It needs only the standard library. --png also screenshots the SVG with
headless Chromium (CHROMIUM_PATH, default /usr/bin/chromium).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
DEFAULT_INPUT = HERE / "workshop-trace.json"
DEFAULT_OUTPUT = HERE.parent / "trace-workshop-order.svg"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Layout, in SVG user units (pixels at 100 % zoom).
WIDTH = 1280
MARGIN = 24
NAME_COLUMN = 470
TIMELINE_LEFT = MARGIN + NAME_COLUMN + 16
LABEL_GAP = 9
# A white outline behind a label keeps it readable where a marker line or a
# grid line runs under it.
HALO = ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
LABEL_SIZE = 11
ROW_HEIGHT = 24
BAR_HEIGHT = 12
INDENT = 14
MIN_BAR_WIDTH = 2.0

FONT = "Helvetica, Arial, 'Liberation Sans', sans-serif"
TEXT = "#1f2933"
MUTED = "#6b7785"
GRID = "#e4e7eb"
STRIPE = "#f6f7f9"
ERROR_RED = "#d62728"
RETRY_AMBER = "#e8871e"
# Service colours, from the Tableau 10 palette.
SERVICE_COLOURS = ["#4e79a7", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2"]
DATABASE_SYSTEMS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "redis": "Redis"}

# Average advance widths of Arial (and the metric-compatible Liberation
# Sans) in thousandths of an em, used to fit labels without a font engine.
ARIAL_WIDTHS = dict(
    zip(
        " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
        [
            278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
            556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
            1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
            667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
            333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
            556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
        ],
    )
)


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimate the rendered width of `text` in Arial at `size` pixels."""
    units = sum(ARIAL_WIDTHS.get(character, 600) for character in text)
    return units / 1000 * size * (1.12 if bold else 1.0)


def text_fitted(text: str, size: float, max_width: float, *, bold: bool = False) -> str:
    """Return `text`, shortened with an ellipsis if it would be wider than `max_width`."""
    if text_width(text, size, bold=bold) <= max_width:
        return text
    while text and text_width(text + "…", size, bold=bold) > max_width:
        text = text[:-1]
    return text + "…"


@dataclass
class Span:
    service: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    status_code: str
    status_message: str
    start_ns: int
    end_ns: int
    attributes: dict
    events: list
    links: list
    children: list["Span"] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict) -> "Span":
        return cls(
            service=data["service"],
            span_id=data["span_id"],
            parent_span_id=data["parent_span_id"],
            name=data["name"],
            kind=data["kind"],
            status_code=data["status_code"],
            status_message=data.get("status_message", ""),
            start_ns=data["start_ns"],
            end_ns=data["end_ns"],
            attributes=data.get("attributes", {}),
            events=data.get("events", []),
            links=data.get("links", []),
        )

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def is_error(self) -> bool:
        return self.status_code == "ERROR"

    @property
    def database_system(self) -> str:
        return str(self.attributes.get("db.system", "")) if self.kind == "CLIENT" else ""

    def exception_type(self) -> str:
        """Return the class name from the span's last exception event, or "" if it has none."""
        exceptions = [event for event in self.events if event["name"] == "exception"]
        if not exceptions:
            return ""
        return str(exceptions[-1]["attributes"].get("exception.type", "")).rpartition(".")[2]


@dataclass
class Row:
    """One row of the waterfall: a span, or a group of database CLIENT spans under one parent."""

    depth: int
    span: Span | None = None
    group: list[Span] = field(default_factory=list)
    parent: Span | None = None
    orphan: bool = False

    @property
    def start_ns(self) -> int:
        return self.span.start_ns if self.span else min(member.start_ns for member in self.group)

    @property
    def service(self) -> str:
        return self.span.service if self.span else self.group[0].service


@dataclass(frozen=True)
class Marker:
    """A request in another trace, drawn as a vertical line at its start."""

    label: str
    time_ns: int


def load(path: Path) -> tuple[dict, list[Span], list[Marker]]:
    document = json.loads(path.read_text(encoding="utf-8"))
    spans = [Span.from_json(data) for data in document["spans"]]
    if not spans:
        raise SystemExit(f"{path} contains no spans. Run scenario.py first (make trace-picture).")
    labels = {
        "confirmation_page": "Confirmation page: “Your order is confirmed.”",
        "status_after_failure": "Status endpoint, after the last attempt: still “confirmed”",
    }
    markers = [
        Marker(labels.get(role, data["name"]), data["start_ns"])
        for role, data in document.get("related_spans", {}).items()
    ]
    return document, spans, markers


def rows_build(spans: list[Span], *, group_clients: bool) -> list[Row]:
    """Order the spans depth first by start time, as Jaeger does, with database and Redis calls grouped if `group_clients`."""
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        if span.parent_span_id in by_id:
            by_id[span.parent_span_id].children.append(span)
    roots = [span for span in spans if span.parent_span_id not in by_id]

    rows: list[Row] = []

    def visit(span: Span, depth: int, parent: Span | None) -> None:
        rows.append(Row(depth=depth, span=span, parent=parent, orphan=parent is None and bool(span.parent_span_id)))
        entries: list[Row | Span] = []
        groups: dict[str, list[Span]] = {}
        for child in span.children:
            if group_clients and child.database_system and not child.children:
                groups.setdefault(child.database_system, []).append(child)
            else:
                entries.append(child)
        entries += [Row(depth=depth + 1, group=members, parent=span) for members in groups.values()]
        for entry in sorted(entries, key=lambda entry: entry.start_ns):
            if isinstance(entry, Row):
                rows.append(entry)
            else:
                visit(entry, depth + 1, span)

    for root in sorted(roots, key=lambda span: span.start_ns):
        visit(root, 0, None)
    return rows


def duration_text(nanoseconds: int) -> str:
    milliseconds = nanoseconds / 1e6
    if milliseconds >= 1000:
        return f"{milliseconds / 1000:.2f} s"
    if milliseconds >= 10:
        return f"{milliseconds:.0f} ms"
    return f"{milliseconds:.1f} ms"


def span_hint(span: Span) -> str:
    """Return a short note of the attributes that matter for this span, or ""."""
    attributes = span.attributes
    if "fulfillment.attempt" in attributes:
        return f"attempt {attributes['fulfillment.attempt']} of {attributes.get('fulfillment.max_attempts', '?')}"
    if span.kind == "PRODUCER":
        attempts = [child.attributes.get("fulfillment.attempt") for child in span.children if child.kind == "CONSUMER"]
        return f"enqueues attempt {attempts[0]}" if attempts and attempts[0] else "enqueues the task"
    if span.name == "stock.reserve":
        parts = [f"expected={attributes['stock.expected']}"] if "stock.expected" in attributes else []
        parts.append(f"rows_updated={attributes.get('stock.rows_updated', '?')}")
        return " ".join(parts)
    if span.name == "email.send":
        return f"{attributes.get('email.esp', '')} → *@{attributes.get('email.recipient_domain', '')}"
    if span.name.startswith("payment.") and "payment.outcome" in attributes:
        return f"outcome={attributes['payment.outcome']}"
    if span.name == "order.create" and "order.id" in attributes:
        return f"order.id={attributes['order.id']}"
    if span.kind == "SERVER":
        status = attributes.get("http.status_code", attributes.get("http.response.status_code"))
        return f"HTTP {status}" if status else ""
    if span.kind == "CLIENT":
        url = attributes.get("http.url", attributes.get("url.full"))
        status = attributes.get("http.status_code", attributes.get("http.response.status_code"))
        target = urllib.parse.urlsplit(str(url)).path if url else ""
        return " ".join(part for part in (target, f"HTTP {status}" if status else "") if part)
    return ""


def group_label(members: list[Span]) -> tuple[str, str]:
    system = DATABASE_SYSTEMS.get(members[0].database_system, members[0].database_system)
    noun = "command" if members[0].database_system == "redis" else "query"
    plural = "commands" if noun == "command" else "queries"
    title = f"{len(members)} {system} {noun if len(members) == 1 else plural}"
    counts = Counter(member.name.split()[0] for member in members)
    detail = " ".join(f"{name}×{count}" if count > 1 else name for name, count in counts.most_common())
    return title, detail


class TimeScale:
    def __init__(self, start_ns: int, end_ns: int, width: float) -> None:
        self.start_ns = start_ns
        self.span_ns = max(end_ns - start_ns, 1)
        self.width = width

    def x(self, time_ns: int) -> float:
        return TIMELINE_LEFT + (time_ns - self.start_ns) / self.span_ns * self.width

    def ticks(self) -> list[tuple[float, str]]:
        seconds = self.span_ns / 1e9
        step = next(step for step in (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 30, 60) if seconds / step <= 10)
        if step >= 1:
            decimals = 0
        elif step in (0.1, 0.2, 0.5):
            decimals = 1
        else:
            decimals = 2
        ticks = []
        value = 0.0
        while value <= seconds + 1e-9:
            ticks.append((self.x(self.start_ns + int(value * 1e9)), f"{value:.{decimals}f} s"))
            value += step
        return ticks


class Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(self, x: float, y: float, content: str, *, size: float = 12, fill: str = TEXT, weight: str = "normal",
             anchor: str = "start", extra: str = "") -> None:
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" font-weight="{weight}" '
            f'text-anchor="{anchor}"{extra}>{escape(content)}</text>'
        )

    def rect(self, x: float, y: float, width: float, height: float, fill: str, *, extra: str = "", title: str = "") -> None:
        """Add a rectangle. A `title` becomes its tooltip in a browser."""
        start = f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{fill}"{extra}'
        self.add(f"{start}><title>{escape(title)}</title></rect>" if title else f"{start}/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, *, extra: str = "") -> None:
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>')


def event_mark(svg: Svg, event: dict, x: float, y_mid: float) -> None:
    """Draw one span event: a ring for an exception, a triangle for a retry, a tick otherwise."""
    name = event["name"]
    title = f"<title>{escape(name)}</title>"
    if name == "exception":
        svg.add(f'<circle cx="{x:.1f}" cy="{y_mid:.1f}" r="4" fill="#fff" stroke="{TEXT}" stroke-width="1.6">{title}</circle>')
    elif name == "fulfillment.retry":
        top = y_mid - BAR_HEIGHT / 2 - 5
        svg.add(
            f'<path d="M{x - 5:.1f},{top:.1f} L{x + 5:.1f},{top:.1f} L{x:.1f},{top + 8:.1f} Z" '
            f'fill="{RETRY_AMBER}" stroke="#fff" stroke-width="0.8">{title}</path>'
        )
    else:
        svg.add(f'<rect x="{x - 1:.1f}" y="{y_mid - 7:.1f}" width="2" height="14" fill="{TEXT}">{title}</rect>')


def bar_label(span: Span) -> str:
    """Return the text beside a span's bar: its duration, after the exception type for an ERROR span."""
    label = duration_text(span.duration_ns)
    if span.is_error and span.exception_type():
        label = f"{span.exception_type()} · {label}"
    return label


def timeline_width(spans: list[Span], start_ns: int, end_ns: int) -> float:
    """Return the widest timeline that still leaves room for every bar's label right of the bar."""
    room = WIDTH - MARGIN - TIMELINE_LEFT
    width = room
    total = max(end_ns - start_ns, 1)
    for span in spans:
        fraction = (span.end_ns - start_ns) / total
        needed = LABEL_GAP + text_width(bar_label(span), LABEL_SIZE, bold=span.is_error)
        if fraction > 0:
            width = min(width, (room - needed) / fraction)
    return max(width, room / 2)


def label_beside_bar(svg: Svg, text: str, *, bar_left: float, bar_right: float, y: float, fill: str, weight: str) -> None:
    """Write a label right of the bar, or left of it when the right side has too little room."""
    width = text_width(text, LABEL_SIZE, bold=weight == "bold")
    if bar_right + LABEL_GAP + width <= WIDTH - MARGIN:
        svg.text(bar_right + LABEL_GAP, y, text, size=LABEL_SIZE, fill=fill, weight=weight, extra=HALO)
    else:
        svg.text(bar_left - LABEL_GAP, y, text, size=LABEL_SIZE, fill=fill, weight=weight, anchor="end", extra=HALO)


def draw_span_row(svg: Svg, row: Row, y: float, scale: TimeScale, colour: str) -> None:
    span = row.span
    y_mid = y + ROW_HEIGHT / 2
    text_y = y_mid + 4
    name_x = MARGIN + 14 + row.depth * INDENT
    name_fill = ERROR_RED if span.is_error else TEXT
    weight = "bold" if span.kind in ("SERVER", "CONSUMER") else "normal"
    available = TIMELINE_LEFT - 12 - name_x
    if span.is_error:
        svg.add(
            f'<circle cx="{name_x + 6:.1f}" cy="{y_mid:.1f}" r="6" fill="{ERROR_RED}"/>'
        )
        svg.text(name_x + 6, y_mid + 4, "!", size=10, fill="#fff", weight="bold", anchor="middle")
        name_x += 16
        available -= 16
    name = text_fitted(span.name, 12, available, bold=weight == "bold")
    svg.text(name_x, text_y, name, fill=name_fill, weight=weight)
    hint = span_hint(span)
    if row.orphan:
        hint = f"parent {span.parent_span_id} missing"
    used = text_width(name, 12, bold=weight == "bold") + 8
    if hint and available - used > 40:
        svg.text(name_x + used, text_y, text_fitted(hint, 11, available - used), size=11, fill=MUTED)

    left = scale.x(span.start_ns)
    width = max(scale.x(span.end_ns) - left, MIN_BAR_WIDTH)
    bar_fill = ERROR_RED if span.is_error else colour
    svg.rect(left, y_mid - BAR_HEIGHT / 2, width, BAR_HEIGHT, bar_fill, extra=' rx="2"',
             title=f"{span.name} {duration_text(span.duration_ns)}")
    for event in span.events:
        event_mark(svg, event, scale.x(event["time_ns"]), y_mid)

    label_beside_bar(
        svg, bar_label(span), bar_left=left, bar_right=left + width, y=text_y,
        fill=ERROR_RED if span.is_error else MUTED, weight="bold" if span.is_error else "normal",
    )

    # The time a task message waited in the queue: from the end of the span
    # that enqueued it to the start of the attempt that ran it.
    if span.kind == "CONSUMER" and row.parent is not None and row.parent.kind == "PRODUCER":
        queued_from = scale.x(row.parent.end_ns)
        if left - queued_from > 4:
            svg.line(queued_from, y_mid, left - 2, y_mid, MUTED, extra=' stroke-width="1.2" stroke-dasharray="3 3"')
            queued = f"queued {duration_text(span.start_ns - row.parent.end_ns)}"
            if text_width(queued, 10) + 8 < left - queued_from:
                svg.text((queued_from + left) / 2, y_mid - 4, queued, size=10, fill=MUTED, anchor="middle", extra=HALO)


def draw_group_row(svg: Svg, row: Row, y: float, scale: TimeScale, colour: str) -> None:
    y_mid = y + ROW_HEIGHT / 2
    text_y = y_mid + 4
    name_x = MARGIN + 14 + row.depth * INDENT
    title, detail = group_label(row.group)
    available = TIMELINE_LEFT - 12 - name_x
    svg.text(name_x, text_y, text_fitted(title, 11.5, available), size=11.5, fill=MUTED, extra=' font-style="italic"')
    used = text_width(title, 11.5) + 8
    if available - used > 40:
        svg.text(name_x + used, text_y, text_fitted(detail, 10.5, available - used), size=10.5, fill="#8a96a3")
    for member in row.group:
        left = scale.x(member.start_ns)
        width = max(scale.x(member.end_ns) - left, 1.5)
        fill = ERROR_RED if member.is_error else colour
        svg.rect(left, y_mid - 4, width, 8, fill, extra=' opacity="0.6"',
                 title=f"{member.name} {duration_text(member.duration_ns)}")


def draw_tree_guides(svg: Svg, rows: list[Row], top: float) -> None:
    """Draw the elbow lines that join each row to its parent's row in the name column."""
    row_of_span = {row.span.span_id: index for index, row in enumerate(rows) if row.span}
    for index, row in enumerate(rows):
        if row.parent is None or row.parent.span_id not in row_of_span:
            continue
        parent_index = row_of_span[row.parent.span_id]
        x = MARGIN + 14 + rows[parent_index].depth * INDENT + 4
        y_parent = top + parent_index * ROW_HEIGHT + ROW_HEIGHT / 2 + 7
        y_child = top + index * ROW_HEIGHT + ROW_HEIGHT / 2
        svg.add(
            f'<path d="M{x:.1f},{y_parent:.1f} L{x:.1f},{y_child:.1f} L{x + INDENT - 5:.1f},{y_child:.1f}" '
            f'fill="none" stroke="#c3cad2" stroke-width="1"/>'
        )


def draw_legend(svg: Svg, y: float, services: dict[str, str]) -> float:
    """Draw the legend in one or more lines from `y` and return the y below it."""
    items: list[tuple[str, str]] = [(f"service:{name}", name) for name in services]
    items += [
        ("error", "ERROR span, with the type of its exception"),
        ("exception", "exception event"),
        ("retry", "fulfillment.retry event"),
        ("group", "database and Redis calls of one parent, grouped"),
        ("queue", "task message waiting in the Redis queue"),
        ("marker", "request in a trace of its own"),
    ]
    x = MARGIN
    line_y = y
    for key, label in items:
        width = 26 + text_width(label, 11) + 22
        if x + width > WIDTH - MARGIN:
            x = MARGIN
            line_y += 22
        mid = line_y - 4
        if key.startswith("service:"):
            svg.rect(x, mid - 6, 18, 12, services[key.removeprefix("service:")], extra=' rx="2"')
        elif key == "error":
            svg.rect(x, mid - 6, 18, 12, ERROR_RED, extra=' rx="2"')
        elif key == "exception":
            svg.rect(x, mid - 6, 18, 12, "#c9d1d9", extra=' rx="2"')
            event_mark(svg, {"name": "exception"}, x + 9, mid)
        elif key == "retry":
            svg.rect(x, mid - 6, 18, 12, "#c9d1d9", extra=' rx="2"')
            svg.add(
                f'<path d="M{x + 4:.1f},{mid - 11:.1f} L{x + 14:.1f},{mid - 11:.1f} L{x + 9:.1f},{mid - 3:.1f} Z" '
                f'fill="{RETRY_AMBER}" stroke="#fff" stroke-width="0.8"/>'
            )
        elif key == "group":
            for offset in (0, 6, 12):
                svg.rect(x + offset, mid - 4, 3, 8, "#8a96a3", extra=' opacity="0.8"')
        elif key == "queue":
            svg.line(x, mid, x + 18, mid, MUTED, extra=' stroke-width="1.2" stroke-dasharray="3 3"')
        elif key == "marker":
            svg.line(x + 9, mid - 8, x + 9, mid + 8, "#7b61a8", extra=' stroke-width="1.5" stroke-dasharray="4 3"')
        svg.text(x + 24, line_y, label, size=11, fill=TEXT)
        x += width
    return line_y + 10


def root_cause(attempt: Span) -> Span | None:
    """Return the deepest ERROR span inside one task attempt, leaving out the attempts it enqueued."""
    deepest: tuple[int, Span] | None = None
    pending = [(child, 1) for child in attempt.children if child.kind != "PRODUCER"]
    while pending:
        span, depth = pending.pop()
        if span.is_error and (deepest is None or depth > deepest[0]):
            deepest = (depth, span)
        pending += [(child, depth + 1) for child in span.children if child.kind != "PRODUCER"]
    return deepest[1] if deepest else None


def attempts_summary(attempts: list[Span]) -> str:
    """Describe how each task attempt ended, for example "Attempt 1 failed on MessageRejected (SESv2.SendEmail)"."""
    parts = []
    for attempt in attempts:
        number = attempt.attributes["fulfillment.attempt"]
        cause = root_cause(attempt)
        if not attempt.is_error:
            parts.append(f"attempt {number} succeeded")
        elif cause is None:
            parts.append(f"attempt {number} failed on {attempt.exception_type() or 'an error'}")
        else:
            parts.append(f"attempt {number} failed on {cause.exception_type() or 'an error'} in {cause.name}")
    text = ", ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def render(document: dict, spans: list[Span], markers: list[Marker], *, group_clients: bool) -> str:
    rows = rows_build(spans, group_clients=group_clients)
    services: dict[str, str] = {}
    for span in sorted(spans, key=lambda span: span.start_ns):
        services.setdefault(span.service, SERVICE_COLOURS[len(services) % len(SERVICE_COLOURS)])

    start_ns = min(span.start_ns for span in spans)
    end_ns = max([span.end_ns for span in spans] + [marker.time_ns for marker in markers])
    scale = TimeScale(start_ns, end_ns, timeline_width(spans, start_ns, end_ns))

    header_height = 74
    marker_lines = len(markers)
    axis_y = MARGIN + header_height + marker_lines * 17 + 14
    rows_top = axis_y + 10
    rows_bottom = rows_top + len(rows) * ROW_HEIGHT
    legend_top = rows_bottom + 30

    svg = Svg()
    error_count = sum(span.is_error for span in spans)
    drawn = sum(1 for row in rows if row.span) + sum(len(row.group) for row in rows)
    assert drawn == len(spans), f"drew {drawn} of {len(spans)} spans"

    attempts = sorted(
        (span for span in spans if span.kind == "CONSUMER" and "fulfillment.attempt" in span.attributes),
        key=lambda span: span.attributes["fulfillment.attempt"],
    )
    root = rows[0].span
    title = f"Trace of one workshop order: {root.name} in {root.service}"
    if attempts:
        title += f", {len(attempts)} fulfillment attempts in {attempts[0].service}"
    svg.text(MARGIN, MARGIN + 18, title, size=18, weight="bold")
    summary = (
        f"trace {document['trace_id']}  ·  {len(spans)} spans, {error_count} with status ERROR  ·  "
        f"{duration_text(end_ns - start_ns)} from checkout to the last request"
    )
    svg.text(MARGIN, MARGIN + 40, summary, size=12, fill=MUTED)
    svg.text(MARGIN, MARGIN + 58, attempts_summary(attempts), size=12, fill=MUTED)

    # Marker labels, one line each, above the axis.
    for index, marker in enumerate(sorted(markers, key=lambda marker: marker.time_ns)):
        x = scale.x(marker.time_ns)
        label_y = MARGIN + header_height + index * 17 + 6
        badge = str(index + 1)
        svg.add(f'<circle cx="{x:.1f}" cy="{label_y - 4:.1f}" r="7" fill="#7b61a8"/>')
        svg.text(x, label_y, badge, size=10, fill="#fff", weight="bold", anchor="middle")
        label = marker.label
        if x + 12 + text_width(label, 11.5) <= WIDTH - MARGIN:
            svg.text(x + 12, label_y, label, size=11.5, fill="#5b4687")
        else:
            svg.text(x - 12, label_y, label, size=11.5, fill="#5b4687", anchor="end")
        svg.line(x, label_y + 4, x, rows_bottom, "#7b61a8", extra=' stroke-width="1.2" stroke-dasharray="4 3" opacity="0.8"')

    # Row stripes, grid lines and tick labels go under everything else.
    background: list[str] = []
    for index in range(len(rows)):
        if index % 2:
            background.append(
                f'<rect x="{MARGIN}" y="{rows_top + index * ROW_HEIGHT:.1f}" width="{WIDTH - 2 * MARGIN}" '
                f'height="{ROW_HEIGHT}" fill="{STRIPE}"/>'
            )
    for x, label in scale.ticks():
        background.append(f'<line x1="{x:.1f}" y1="{axis_y:.1f}" x2="{x:.1f}" y2="{rows_bottom:.1f}" stroke="{GRID}"/>')
        background.append(
            f'<text x="{x:.1f}" y="{axis_y - 4:.1f}" font-size="11" fill="{MUTED}" text-anchor="middle">{label}</text>'
        )
    background.append(
        f'<text x="{MARGIN}" y="{axis_y - 4:.1f}" font-size="11" fill="{MUTED}">Service and operation</text>'
    )
    svg.parts[:0] = background

    draw_tree_guides(svg, rows, rows_top)
    for index, row in enumerate(rows):
        y = rows_top + index * ROW_HEIGHT
        colour = services[row.service]
        svg.rect(MARGIN, y + 3, 5, ROW_HEIGHT - 6, colour, extra=' rx="1"')
        if row.span:
            draw_span_row(svg, row, y, scale, colour)
        else:
            draw_group_row(svg, row, y, scale, colour)
    svg.line(MARGIN, rows_bottom, WIDTH - MARGIN, rows_bottom, GRID)

    legend_bottom = draw_legend(svg, legend_top, services)
    caption_y = legend_bottom + 16
    backoff = document.get("fulfillment_retry_backoff_s")
    caption = (
        "Drawn by docs/trace_picture/render.py from the real spans in workshop-trace.json, recorded by "
        "`make trace-picture`."
    )
    if backoff is not None:
        caption += f" The test settings shorten the retry backoff to {backoff:g} s base, so the gaps are short."
    svg.text(MARGIN, caption_y, caption, size=11, fill=MUTED)
    height = caption_y + MARGIN

    document_title = "Trace of one workshop order, drawn from real spans"
    description = (
        "Waterfall of the checkout request in shop-web and three attempts of fulfillment.fulfill_order in "
        "shop-worker. The first attempt fails on an email rejection, the next two on a conditional stock update."
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}" role="img" aria-labelledby="title desc">\n'
        f'<title id="title">{escape(document_title)}</title>\n<desc id="desc">{escape(description)}</desc>\n'
        f'<rect width="100%" height="100%" fill="#ffffff"/>\n'
        + "\n".join(svg.parts)
        + "\n</svg>\n"
    )


def png_screenshot(svg_path: Path, png_path: Path, width: int, height: int) -> None:
    """Render the SVG file to a PNG at twice its size with headless Chromium."""
    chromium = os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM
    if not shutil.which(chromium):
        raise SystemExit(f"Chromium was not found at {chromium}. Set CHROMIUM_PATH or leave out --png.")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--hide-scrollbars", "--force-device-scale-factor=2", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", f"--screenshot={png_path.resolve()}", svg_path.resolve().as_uri(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="Spans written by scenario.py.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="SVG file to write.")
    parser.add_argument("--all-spans", action="store_true", help="Draw every database and Redis call on a row of its own.")
    parser.add_argument("--png", type=Path, help="Also write a PNG screenshot of the SVG here, with headless Chromium.")
    args = parser.parse_args(argv)

    if not args.input.exists():
        raise SystemExit(f"{args.input} does not exist. Record it first with `make trace-picture`.")
    document, spans, markers = load(args.input)
    image = render(document, spans, markers, group_clients=not args.all_spans)
    args.output.write_text(image, encoding="utf-8")
    print(f"Wrote {args.output} ({len(spans)} spans)")

    if args.png:
        height = int(image.split('height="', 1)[1].split('"', 1)[0])
        png_screenshot(args.output, args.png, WIDTH, height)
        print(f"Wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
