"""The parent and child structure of a set of spans, for printing and drawing them."""
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from traces.spans import SpanRecord


@dataclass(frozen=True)
class TreeRow:
    span: SpanRecord
    depth: int


class SpanTree:
    """Spans of one or more traces, indexed by id and by parent.

    A span whose parent is not among the spans (not exported yet, or in a
    trace that was not read) is treated as a root.
    """

    def __init__(self, spans: Iterable[SpanRecord]) -> None:
        self.spans = sorted(spans, key=lambda span: (span.start_ns, span.end_ns))
        self.by_id = {span.span_id: span for span in self.spans}
        self._children: dict[str, list[SpanRecord]] = defaultdict(list)
        self.roots: list[SpanRecord] = []
        for span in self.spans:
            if span.parent_span_id and span.parent_span_id in self.by_id:
                self._children[span.parent_span_id].append(span)
            else:
                self.roots.append(span)

    def __len__(self) -> int:
        return len(self.spans)

    def children(self, span: SpanRecord) -> list[SpanRecord]:
        return self._children.get(span.span_id, [])

    def parent(self, span: SpanRecord) -> SpanRecord | None:
        return self.by_id.get(span.parent_span_id)

    def ancestors(self, span: SpanRecord) -> Iterator[SpanRecord]:
        """Yield the parent, the grandparent and so on up to the root."""
        seen = {span.span_id}
        parent = self.parent(span)
        while parent is not None and parent.span_id not in seen:
            yield parent
            seen.add(parent.span_id)
            parent = self.parent(parent)

    def inherited_attribute(self, span: SpanRecord, key: str):
        """Return the attribute from the span or its nearest ancestor that has it, or None."""
        if key in span.attributes:
            return span.attributes[key]
        for ancestor in self.ancestors(span):
            if key in ancestor.attributes:
                return ancestor.attributes[key]
        return None

    def rows(self) -> list[TreeRow]:
        """Return every span once, depth first, each parent before its children, siblings by start time."""
        rows: list[TreeRow] = []
        stack = [(root, 0) for root in reversed(self.roots)]
        visited: set[str] = set()
        while stack:
            span, depth = stack.pop()
            if span.span_id in visited:
                continue
            visited.add(span.span_id)
            rows.append(TreeRow(span, depth))
            stack.extend((child, depth + 1) for child in reversed(self.children(span)))
        return rows
