"""Template filters for span times, which are integer nanoseconds since the Unix epoch."""
from datetime import datetime, timezone

from django import template

register = template.Library()


@register.filter
def ns_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1e9, tz=timezone.utc)


@register.filter
def ns_ms(value: int) -> str:
    return f"{value / 1e6:.1f} ms"
