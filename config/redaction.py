"""Remove email addresses from text that leaves the process as telemetry or logs.

Error messages from ESPs can quote a recipient's address (Amazon SES names
unverified identities, for example), and such messages reach span events,
span statuses and log lines through libraries the shop does not control.
This module is the last filter before those leave the process.
"""
import logging
import re

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status

from config.telemetry_names import CLIENT_ATTRIBUTES_DROPPED

# An address, also as it appears URL-encoded in a logged query string (%40).
# The local part leaves out "&", "/", "=" and "?", which RFC 5322 allows but
# which mostly mark query-string boundaries in the text this scans.
# An IPv4 address after the "@" is the host of a URL with credentials, such
# as redis://:***@127.0.0.1:6379, not a mailbox, so it is left alone.
EMAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%'*+^_`{|}~-]+(?:@|%40)(?!\d{1,3}(?:\.\d{1,3}){3}\b)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
REDACTED = "[email redacted]"


def redact_text(text: str) -> str:
    return EMAIL_ADDRESS.sub(REDACTED, text)


def _redact_value(value):
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_redact_value(item) for item in value)
    return value


def _redact_attributes(attributes) -> dict:
    return {
        key: _redact_value(value)
        for key, value in (attributes or {}).items()
        if key not in CLIENT_ATTRIBUTES_DROPPED
    }


def _needs_redaction(span: ReadableSpan) -> bool:
    if CLIENT_ATTRIBUTES_DROPPED.intersection(span.attributes or {}):
        return True
    texts = [span.name, span.status.description or ""]
    texts += [value for value in (span.attributes or {}).values() if isinstance(value, str)]
    for event in span.events:
        texts += [value for value in (event.attributes or {}).values() if isinstance(value, str)]
    return any(EMAIL_ADDRESS.search(text) for text in texts)


def span_redacted(span: ReadableSpan) -> ReadableSpan:
    """Return the span, or a copy with every email address replaced and the client's address and browser dropped."""
    if not _needs_redaction(span):
        return span
    events = [
        Event(event.name, _redact_attributes(event.attributes), timestamp=event.timestamp) for event in span.events
    ]
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_text(status.description))
    return ReadableSpan(
        name=redact_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_redact_attributes(span.attributes),
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactEmailFilter(logging.Filter):
    """Replace email addresses in a record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
