"""A local OTLP/HTTP receiver that stores the spans it is sent, for tests.

It accepts what an OpenTelemetry collector such as Jaeger accepts on port
4318 with the http/protobuf protocol: `POST /v1/traces` with an
`application/x-protobuf` body holding an ExportTraceServiceRequest, plain
or compressed with gzip or deflate. `/v1/logs` and `/v1/metrics` get an
empty success reply, so that exporters for those signals do not log
errors, but their content is not stored.

The server listens on 127.0.0.1 only, on a port the operating system
picks, and runs in a background thread of the calling process.
"""
import gzip
import http.server
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from traces.spans import SpanRecord, spans_from_resource_spans

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
METRICS_PATH = "/v1/metrics"
# The OTLP/HTTP exporter of opentelemetry-python (1.45) drops requests above
# 64 MiB by default, so a larger body is not a request it would send.
MAX_BODY_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class ReceivedRequest:
    """A record of one HTTP request that the receiver handled, without its body."""

    method: str
    path: str
    content_type: str
    content_encoding: str
    body_bytes: int
    status: int
    span_count: int = 0
    # service.name of every resource in the request, for example to tell the
    # web process's exports from a worker's.
    service_names: tuple[str, ...] = ()


class RequestRejected(Exception):
    """The request cannot be decoded. The handler replies with `status` and the message as text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _decompress(body: bytes, content_encoding: str) -> bytes:
    encoding = content_encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as error:
        raise RequestRejected(400, f"The body is not valid {encoding} data: {error}") from error
    raise RequestRejected(415, f"Content-Encoding {content_encoding!r} is not supported. Use gzip, deflate or none.")


class _OTLPRequestHandler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the exporter's pooled connection open between batches.
    protocol_version = "HTTP/1.1"
    server: "_OTLPHTTPServer"

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        path = self.path.split("?", 1)[0]
        content_type = self.headers.get("Content-Type", "")
        content_encoding = self.headers.get("Content-Encoding", "")
        try:
            body = self._read_body()
        except RequestRejected as rejected:
            self._reject(path, content_type, content_encoding, 0, rejected)
            # The rest of a body that was not read would be parsed as the next request.
            self.close_connection = True
            return

        try:
            if path not in (TRACES_PATH, LOGS_PATH, METRICS_PATH):
                raise RequestRejected(404, f"{path} is not an OTLP path. Use {TRACES_PATH}, {LOGS_PATH} or {METRICS_PATH}.")
            if content_type.split(";", 1)[0].strip().lower() != PROTOBUF_CONTENT_TYPE:
                raise RequestRejected(
                    415, f"Content-Type {content_type!r} is not supported. Send {PROTOBUF_CONTENT_TYPE}."
                )
            payload = _decompress(body, content_encoding)
            if path == TRACES_PATH:
                spans = self._store_traces(payload)
                reply = ExportTraceServiceResponse().SerializeToString()
            elif path == LOGS_PATH:
                spans = []
                reply = ExportLogsServiceResponse().SerializeToString()
            else:
                spans = []
                reply = ExportMetricsServiceResponse().SerializeToString()
        except RequestRejected as rejected:
            self._reject(path, content_type, content_encoding, len(body), rejected)
            return

        self.server.receiver._record_request(
            ReceivedRequest(
                "POST",
                path,
                content_type,
                content_encoding,
                len(body),
                200,
                len(spans),
                tuple(sorted({span.service_name for span in spans})),
            )
        )
        self._reply(200, reply, PROTOBUF_CONTENT_TYPE)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").strip().lower() == "chunked":
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise RequestRejected(411, "The request has neither Content-Length nor chunked Transfer-Encoding.")
        try:
            length = int(length_header)
        except ValueError:
            raise RequestRejected(400, f"Content-Length {length_header!r} is not an integer.") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise RequestRejected(413, f"Content-Length {length} is outside 0 to {MAX_BODY_BYTES} bytes.")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise RequestRejected(400, f"Chunk size {size_line!r} is not hexadecimal.") from None
            if size == 0:
                # Skip the optional trailer fields up to the empty line.
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise RequestRejected(413, f"The chunked body exceeds {MAX_BODY_BYTES} bytes.")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _store_traces(self, payload: bytes) -> list[SpanRecord]:
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(payload)
        except DecodeError as error:
            raise RequestRejected(400, f"The body is not an ExportTraceServiceRequest: {error}") from error
        spans = spans_from_resource_spans(request.resource_spans)
        self.server.receiver._store_spans(spans)
        return spans

    def _reject(self, path: str, content_type: str, content_encoding: str, size: int, rejected: RequestRejected) -> None:
        logger.warning("OTLP receiver rejected POST %s with %s: %s", path, rejected.status, rejected)
        self.server.receiver._record_request(
            ReceivedRequest("POST", path, content_type, content_encoding, size, rejected.status)
        )
        self._reply(rejected.status, str(rejected).encode(), "text/plain; charset=utf-8")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the signature http.server calls
        logger.debug("OTLP receiver: " + format, *args)


class _OTLPHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: "OTLPReceiver") -> None:
        self.receiver = receiver
        super().__init__((LOOPBACK, 0), _OTLPRequestHandler)


class OTLPReceiver:
    """An OTLP/HTTP receiver on 127.0.0.1 that keeps every span it is sent.

    Use it as a context manager, or call start() and stop(). All methods
    may be called from any thread.
    """

    def __init__(self) -> None:
        self._server: _OTLPHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self._spans: list[SpanRecord] = []
        self._requests: list[ReceivedRequest] = []

    def start(self) -> "OTLPReceiver":
        """Bind a free port on 127.0.0.1 and serve requests in a daemon thread."""
        if self._server is not None:
            return self
        self._server = _OTLPHTTPServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="otlp-receiver", daemon=True
        )
        self._thread.start()
        logger.debug("OTLP receiver listens on %s", self.endpoint)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Calling it again does nothing."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

    def __enter__(self) -> "OTLPReceiver":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The OTLP receiver is not running. Call start() first.")
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        """The base URL for OTEL_EXPORTER_OTLP_ENDPOINT, without a signal path."""
        return f"http://{LOOPBACK}:{self.port}"

    def spans(self) -> list[SpanRecord]:
        """Return a copy of every span received since the start or the last clear()."""
        with self._changed:
            return list(self._spans)

    def requests(self) -> list[ReceivedRequest]:
        """Return a copy of the log of HTTP requests since the start or the last clear()."""
        with self._changed:
            return list(self._requests)

    def clear(self) -> None:
        """Forget every stored span and request."""
        with self._changed:
            self._spans.clear()
            self._requests.clear()

    def wait_for_spans(self, predicate: Callable[[list[SpanRecord]], T], timeout: float = 30.0) -> T:
        """Return predicate(spans) as soon as it is truthy, checking after every request.

        Raise TimeoutError, with a summary of the spans received, when it is
        still falsy after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate(list(self._spans))
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"Spans matching {getattr(predicate, '__name__', predicate)} did not arrive within "
                        f"{timeout} s. Received {len(self._spans)} spans: {self._summary()}"
                    )
                self._changed.wait(remaining)

    def _summary(self) -> str:
        # Names are enough to see what arrived, and attributes could be long.
        names = [f"{span.service_name}:{span.name}" for span in self._spans[-50:]]
        return ", ".join(names) or "none"

    def _store_spans(self, spans: list[SpanRecord]) -> None:
        with self._changed:
            self._spans.extend(spans)
            self._changed.notify_all()

    def _record_request(self, request: ReceivedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
