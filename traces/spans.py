"""One plain span type for every place the shop reads spans: the local store, Jaeger, the OTLP receiver of the tests.

A SpanRecord is built from an SDK ReadableSpan (when the local store writes),
from OTLP protobuf (the receiver) or from OTLP/JSON (Jaeger's `/api/v3`
API), and saved as a JSON-ready dict.
"""
import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status, TracesData
from opentelemetry.sdk.trace import ReadableSpan

TRACE_ID = re.compile(r"[0-9a-f]{32}")
# OTLP/JSON writes ids as hex, but protobuf's JSON mapping expects base64 for bytes fields.
JSON_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


@dataclass(frozen=True)
class SpanEvent:
    name: str
    attributes: dict[str, Any]
    time_ns: int


@dataclass(frozen=True)
class SpanLink:
    """A link to a span of another trace, with lowercase hex ids."""

    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SpanRecord:
    """One finished span with its service, flattened from the resource and scope levels of OTLP.

    Ids are lowercase hex. `parent_span_id` is "" for a root span. `kind` is
    SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL or UNSPECIFIED, and
    `status_code` is UNSET, OK or ERROR.
    """

    service_name: str
    scope: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    status_code: str
    status_message: str
    attributes: dict[str, Any]
    events: tuple[SpanEvent, ...]
    links: tuple[SpanLink, ...]
    start_ns: int
    end_ns: int
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        return max(self.end_ns - self.start_ns, 0)

    @property
    def failed(self) -> bool:
        return self.status_code == "ERROR"


def trace_id_normalized(value: str) -> str | None:
    """Return a trace id as 32 lowercase hex digits, or None if `value` is not one.

    Dashes are accepted, as in the W3C traceresponse header copied whole.
    """
    candidate = value.strip().lower()
    if candidate.count("-") == 3:
        candidate = candidate.split("-")[1]
    return candidate if TRACE_ID.fullmatch(candidate) and candidate != "0" * 32 else None


# --- From OTLP protobuf -------------------------------------------------------


def any_value_to_python(value: AnyValue) -> Any:
    """Convert an OTLP AnyValue to the matching Python value, recursively."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_to_python(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values)
    return getattr(value, kind)


def attributes_to_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {attribute.key: any_value_to_python(attribute.value) for attribute in attributes}


def _kind_name(kind: int) -> str:
    return Span.SpanKind.Name(kind).removeprefix("SPAN_KIND_")


def _status_name(code: int) -> str:
    return Status.StatusCode.Name(code).removeprefix("STATUS_CODE_")


def spans_from_resource_spans(resource_spans_list: Iterable[ResourceSpans]) -> list[SpanRecord]:
    """Flatten the resource, scope and span levels of OTLP protobuf messages into a list."""
    spans = []
    for resource_spans in resource_spans_list:
        resource = attributes_to_dict(resource_spans.resource.attributes)
        service_name = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    SpanRecord(
                        service_name=service_name,
                        resource=resource,
                        scope=scope_spans.scope.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=_kind_name(span.kind),
                        status_code=_status_name(span.status.code),
                        status_message=span.status.message,
                        attributes=attributes_to_dict(span.attributes),
                        events=tuple(
                            SpanEvent(event.name, attributes_to_dict(event.attributes), event.time_unix_nano)
                            for event in span.events
                        ),
                        links=tuple(
                            SpanLink(link.trace_id.hex(), link.span_id.hex(), attributes_to_dict(link.attributes))
                            for link in span.links
                        ),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                )
    return spans


# --- From OTLP/JSON -------------------------------------------------------------


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {}
    for key, value in node.items():
        if key in JSON_ID_FIELDS and isinstance(value, str) and re.fullmatch(r"(?:[0-9a-fA-F]{2})*", value):
            value = base64.b64encode(bytes.fromhex(value)).decode("ascii")
        converted[key] = _hex_ids_to_base64(value)
    return converted


def spans_from_otlp_json(traces_data: dict) -> list[SpanRecord]:
    """Parse an OTLP/JSON TracesData object (`{"resourceSpans": [...]}`).

    Raise ValueError with the parser's reason when it is not one.
    """
    message = TracesData()
    try:
        json_format.ParseDict(_hex_ids_to_base64(traces_data), message, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise ValueError(f"The response is not OTLP/JSON trace data: {error}") from error
    return spans_from_resource_spans(message.resource_spans)


# --- From the SDK ------------------------------------------------------------------


def _plain(value: Any) -> Any:
    # The SDK stores sequence attributes as tuples; JSON and the other sources give lists.
    return list(value) if isinstance(value, tuple) else value


def _plain_attributes(attributes) -> dict[str, Any]:
    return {key: _plain(value) for key, value in (attributes or {}).items()}


def span_from_readable(span: ReadableSpan) -> SpanRecord:
    """Convert a finished SDK span. Its resource keeps only service.name, which is all the views use."""
    context = span.context
    service_name = str(span.resource.attributes.get("service.name", "")) if span.resource else ""
    return SpanRecord(
        service_name=service_name,
        resource={"service.name": service_name},
        scope=span.instrumentation_scope.name if span.instrumentation_scope else "",
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=f"{span.parent.span_id:016x}" if span.parent else "",
        name=span.name,
        kind=span.kind.name,
        status_code=span.status.status_code.name,
        status_message=span.status.description or "",
        attributes=_plain_attributes(span.attributes),
        events=tuple(SpanEvent(event.name, _plain_attributes(event.attributes), event.timestamp) for event in span.events),
        links=tuple(
            SpanLink(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}", _plain_attributes(link.attributes))
            for link in span.links
        ),
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
    )


# --- To and from JSON-ready dicts ---------------------------------------------------


def span_to_dict(span: SpanRecord) -> dict:
    return {
        "service": span.service_name,
        "scope": span.scope,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "status_code": span.status_code,
        "status_message": span.status_message,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "attributes": span.attributes,
        "events": [{"name": event.name, "time_ns": event.time_ns, "attributes": event.attributes} for event in span.events],
        "links": [{"trace_id": link.trace_id, "span_id": link.span_id, "attributes": link.attributes} for link in span.links],
    }


def span_from_dict(data: dict) -> SpanRecord:
    return SpanRecord(
        service_name=data["service"],
        resource={"service.name": data["service"]},
        scope=data.get("scope", ""),
        trace_id=data["trace_id"],
        span_id=data["span_id"],
        parent_span_id=data.get("parent_span_id", ""),
        name=data["name"],
        kind=data.get("kind", "INTERNAL"),
        status_code=data.get("status_code", "UNSET"),
        status_message=data.get("status_message", ""),
        attributes=data.get("attributes", {}),
        events=tuple(SpanEvent(event["name"], event.get("attributes", {}), event["time_ns"]) for event in data.get("events", [])),
        links=tuple(SpanLink(link["trace_id"], link["span_id"], link.get("attributes", {})) for link in data.get("links", [])),
        start_ns=data["start_ns"],
        end_ns=data["end_ns"],
    )
