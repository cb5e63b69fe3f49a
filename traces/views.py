"""The admin's trace pages: look up a trace, see it as a waterfall with its diagnosis."""
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from orders.models import Order
from orders.tracing_links import jaeger_configured, jaeger_trace_url
from traces.diagnosis import diagnose
from traces.jaeger import JaegerError
from traces.selectors import TraceReferenceError, order_trace_ids, text_shortened, trace_reference_resolve
from traces.sources import missing_trace_message, trace_source
from traces.spans import trace_id_normalized
from traces.store import TraceStore, TraceStoreError
from traces.tree import SpanTree
from traces.waterfall import waterfalls_build

RECENT_TRACES = 50


def _context(request: HttpRequest, **values) -> dict:
    return {**admin.site.each_context(request), **values}


@require_GET
def trace_index(request: HttpRequest) -> HttpResponse:
    """Find a trace by confirmation ID or trace id, and list the newest traces of the local store."""
    reference = request.GET.get("reference", "").strip()
    error = ""
    if reference:
        try:
            resolved = trace_reference_resolve(reference=reference)
        except TraceReferenceError as exc:
            error = str(exc)
        else:
            if resolved.order is not None:
                return redirect("traces:order", confirmation_id=resolved.order.confirmation_id)
            return redirect("traces:trace", trace_id=resolved.trace_ids[0])

    source = trace_source()
    orders_only = not request.GET.get("all")
    recent = []
    if isinstance(source, TraceStore):
        try:
            recent = source.recent(RECENT_TRACES, orders_only=orders_only)
        except TraceStoreError as exc:
            error = error or str(exc)
    context = _context(
        request,
        title="Traces",
        reference=reference,
        error=error,
        recent=recent,
        recent_available=isinstance(source, TraceStore),
        orders_only=orders_only,
        source=str(source),
    )
    return render(request, "admin/traces/index.html", context, status=400 if error and reference else 200)


@require_GET
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    normalized = trace_id_normalized(trace_id)
    if normalized is None:
        message = f"{text_shortened(trace_id)!r} is not a trace id: a trace id is 32 hex digits, not all zeros."
        return render(request, "admin/traces/trace.html", _context(request, title="Trace", error=message), status=404)
    return _trace_page(request, title=f"Trace {normalized}", trace_ids=(normalized,))


@require_GET
def order_traces(request: HttpRequest, confirmation_id: str) -> HttpResponse:
    order = Order.objects.filter(confirmation_id=confirmation_id.upper()).first()
    if order is None:
        message = f"No order has the confirmation ID {text_shortened(confirmation_id)!r}."
        return render(request, "admin/traces/trace.html", _context(request, title="Traces", error=message), status=404)
    return _trace_page(request, title=f"Traces of order {order.confirmation_id}", trace_ids=order_trace_ids(order=order), order=order)


def _trace_page(request: HttpRequest, *, title: str, trace_ids: tuple[str, ...], order: Order | None = None) -> HttpResponse:
    source = trace_source()
    context = _context(request, title=title, order=order, trace_ids=trace_ids, source=str(source))
    if not trace_ids:
        context["error"] = "This order has no trace recorded, because tracing was off when it was placed."
        return render(request, "admin/traces/trace.html", context, status=404)

    try:
        spans = source.traces(trace_ids)
    except (JaegerError, TraceStoreError) as exc:
        context["error"] = str(exc)
        return render(request, "admin/traces/trace.html", context, status=502)
    if not spans:
        context["error"] = missing_trace_message(source, trace_ids)
        return render(request, "admin/traces/trace.html", context, status=404)

    findings = diagnose(SpanTree(spans))
    highlighted = frozenset(span_id for finding in findings for span_id in finding.span_ids)
    context.update(
        findings=findings,
        waterfalls=waterfalls_build(spans, highlighted=highlighted),
        jaeger_links=[jaeger_trace_url(trace_id) for trace_id in trace_ids] if jaeger_configured() else [],
    )
    return render(request, "admin/traces/trace.html", context)
