"""Middleware that lets the Django instrumentation record a request whose path is not ASCII."""
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# NOTE: opentelemetry-instrumentation-wsgi 0.66b1 builds http.url with
# wsgiref.util.request_uri(), which quotes PATH_INFO as Latin-1. Django puts
# the decoded path in META["PATH_INFO"], so /orders/%C3%A9/ was recorded as
# /orders/%E9/, and a path beyond Latin-1 such as /orders/%C4%80/ raised
# UnicodeEncodeError in the instrumentation's middleware: a 500 before any
# view ran. Given REQUEST_URI, the instrumentation records it as
# http.target and skips request_uri(). Gunicorn sets RAW_URI itself.
MIDDLEWARE_PATH = "config.request_uri.RequestURIMiddleware"


class RequestURIMiddleware:
    """Set META["REQUEST_URI"], percent-encoded as UTF-8, when the server did not and the path is not ASCII."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        raw_uri_given = "RAW_URI" in meta or "REQUEST_URI" in meta
        if not raw_uri_given and not meta.get("PATH_INFO", "").isascii():
            meta["REQUEST_URI"] = request.get_full_path()
        return self.get_response(request)
