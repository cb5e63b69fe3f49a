"""Read traces from Jaeger's query service through its `/api/v3` HTTP API.

`GET /api/v3/traces/<trace id>` returns the trace as OTLP/JSON, wrapped as
`{"result": {"resourceSpans": [...]}}` (Jaeger 2's api_v3 HTTP gateway). A
trace that Jaeger does not hold gets 404.
"""
import json
import urllib.error
import urllib.parse
import urllib.request

from opentelemetry.instrumentation.utils import suppress_instrumentation

from traces.spans import SpanRecord, spans_from_otlp_json

TIMEOUT_SECONDS = 10.0


class JaegerError(Exception):
    """Jaeger could not be reached or sent something that is not a trace."""


class JaegerReader:
    def __init__(self, base_url: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise JaegerError(
                f"JAEGER_QUERY_URL is {base_url!r}, which is not an http or https URL. "
                "Set it to Jaeger's query service, such as http://localhost:16686."
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __str__(self) -> str:
        return f"Jaeger at {self.base_url}"

    def trace(self, trace_id: str) -> list[SpanRecord]:
        """Return the spans of one trace, or [] if Jaeger does not hold it."""
        url = f"{self.base_url}/api/v3/traces/{trace_id}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        # Reading a trace must not make a trace of its own.
        with suppress_instrumentation():
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    return []
                raise JaegerError(f"Jaeger returned HTTP {error.code} for {url}: {error.reason}") from error
            except (urllib.error.URLError, TimeoutError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise JaegerError(
                    f"Cannot reach Jaeger at {self.base_url} ({reason}). "
                    "Check JAEGER_QUERY_URL and that Jaeger's query service is running."
                ) from error

        try:
            document = json.loads(body)
        except ValueError as error:
            raise JaegerError(f"Jaeger returned a body that is not JSON for {url}: {error}") from error
        traces_data = document.get("result", document) if isinstance(document, dict) else None
        if not isinstance(traces_data, dict):
            raise JaegerError(f"Jaeger returned JSON without a trace for {url}.")
        try:
            return spans_from_otlp_json(traces_data)
        except ValueError as error:
            raise JaegerError(f"{error} (from {url})") from error

    def traces(self, trace_ids) -> list[SpanRecord]:
        return [span for trace_id in dict.fromkeys(trace_ids) for span in self.trace(trace_id)]
