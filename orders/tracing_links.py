"""Links from an order to its traces in Jaeger's UI."""
import json
import urllib.parse

from django.conf import settings


def jaeger_trace_url(trace_id: str) -> str:
    return f"{settings.JAEGER_UI_URL.rstrip('/')}/trace/{trace_id}"


def jaeger_order_search_url(order_id: int, *, service: str = "shop-worker") -> str:
    """Return a Jaeger search for every trace whose spans carry this order's id."""
    query = urllib.parse.urlencode({"service": service, "tags": json.dumps({"order.id": str(order_id)})})
    return f"{settings.JAEGER_UI_URL.rstrip('/')}/search?{query}"
