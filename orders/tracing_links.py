"""Links from an order to its traces: in Jaeger's UI when JAEGER_UI_URL is set, else in the admin's trace view."""
import json
import urllib.parse

from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html


def jaeger_configured() -> bool:
    return bool(settings.JAEGER_UI_URL)


def jaeger_trace_url(trace_id: str) -> str:
    return f"{settings.JAEGER_UI_URL.rstrip('/')}/trace/{trace_id}"


def jaeger_order_search_url(order_id: int, *, service: str = "shop-worker") -> str:
    """Return a Jaeger search for every trace whose spans carry this order's id."""
    query = urllib.parse.urlencode({"service": service, "tags": json.dumps({"order.id": str(order_id)})})
    return f"{settings.JAEGER_UI_URL.rstrip('/')}/search?{query}"


def trace_url(trace_id: str) -> str:
    if jaeger_configured():
        return jaeger_trace_url(trace_id)
    return reverse("traces:trace", args=[trace_id])


def order_traces_url(*, order_id: int, confirmation_id: str) -> str:
    """Return where to see every trace of one order: a Jaeger search, or the admin's order trace view."""
    if jaeger_configured():
        return jaeger_order_search_url(order_id)
    return reverse("traces:order", args=[confirmation_id])


def trace_link_html(url: str, label) -> str:
    """Return a link to a trace page. Jaeger is another site, so its pages open in a new tab."""
    if jaeger_configured():
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, label)
    return format_html('<a href="{}">{}</a>', url, label)
