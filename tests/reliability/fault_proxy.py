"""A TCP proxy on 127.0.0.1 that a test puts in front of a stand-in service and then breaks on purpose.

The shop's processes connect to the proxy instead of the service. The test
switches the proxy's mode at any time: forward every byte, refuse
connections as a stopped server does, reset them, reply with HTTP 503, or pass
the request on and hold the response back, as a slow service does.
"""
import contextlib
import enum
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator

from embedded.ports import LOOPBACK, find_free_port

ACCEPT_POLL_SECONDS = 0.05
_UNAVAILABLE_BODY = b'{"message": "Service Unavailable"}'
SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    + f"Content-Length: {len(_UNAVAILABLE_BODY)}\r\n".encode()
    + b"Connection: close\r\n\r\n"
    + _UNAVAILABLE_BODY
)


class Mode(enum.Enum):
    FORWARD = "forward"
    # The listening socket is closed, so a connection attempt gets ECONNREFUSED.
    REFUSE = "refuse"
    # Each connection is accepted and closed with a TCP reset before any reply.
    RESET = "reset"
    # Each request gets `503 Service Unavailable` without reaching the service.
    UNAVAILABLE = "unavailable"
    # Each request reaches the service, but its response waits `response_delay` seconds.
    SLOW = "slow"


def loopback_address(url: str) -> tuple[str, int]:
    """Return the host and port of a service URL, or raise if the service is not on this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in {LOOPBACK, "localhost"} or parts.port is None:
        raise ValueError(f"The fault proxy fronts only services on {LOOPBACK} with a port, not {url!r}.")
    return LOOPBACK, parts.port


class FaultProxy:
    """Forward 127.0.0.1:`port` to `upstream`, or fail in the current mode.

    With `set_mode(..., connections=N)` the mode applies to the next N
    connections only, and the proxy forwards again after them.
    """

    def __init__(self, upstream_url: str) -> None:
        self.upstream = loopback_address(upstream_url)
        self.upstream_url = upstream_url
        self.port = find_free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.connections_seen = 0
        self._mode = Mode.FORWARD
        self._connections_left: int | None = None
        self._response_delay = 0.0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open_sockets: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"fault-proxy-{self.port}", daemon=True)

    def start(self) -> "FaultProxy":
        self._listen()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._close_listener()
        self._drop_open_connections()

    def set_mode(self, mode: Mode, *, connections: int | None = None, response_delay: float = 0.0) -> None:
        """Switch to `mode`, for the next `connections` connections or until the next switch.

        Connections that are open now are closed, so that a client's
        keep-alive pool cannot carry on through the old mode.
        """
        with self._lock:
            self._mode = mode
            self._connections_left = connections
            self._response_delay = response_delay
        self._drop_open_connections()

    def _current_mode(self) -> Mode:
        with self._lock:
            if self._connections_left is None:
                return self._mode
            if self._connections_left > 0:
                self._connections_left -= 1
                return self._mode
            return Mode.FORWARD

    def _listening_wanted(self) -> bool:
        # REFUSE ignores `connections`, because refused connections never reach the proxy to be counted.
        with self._lock:
            return self._mode is not Mode.REFUSE

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(128)
        listener.settimeout(ACCEPT_POLL_SECONDS)
        self._listener = listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _serve(self) -> None:
        while not self._stopped.is_set():
            if not self._listening_wanted():
                self._close_listener()
                time.sleep(ACCEPT_POLL_SECONDS)
                continue
            if self._listener is None:
                self._listen()
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections_seen += 1
            threading.Thread(target=self._handle, args=(client, self._current_mode()), daemon=True).start()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._open_sockets.add(sock)
        return sock

    def _drop_open_connections(self) -> None:
        with self._lock:
            sockets, self._open_sockets = self._open_sockets, set()
        for sock in sockets:
            _close_quietly(sock)

    def _handle(self, client: socket.socket, mode: Mode) -> None:
        client.settimeout(None)
        if mode is Mode.RESET or mode is Mode.REFUSE:
            # A zero linger time makes close() send RST instead of FIN.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()
            return
        if mode is Mode.UNAVAILABLE:
            _read_request_head(client)
            client.sendall(SERVICE_UNAVAILABLE)
            _close_quietly(client)
            return

        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _close_quietly(client)
            return
        upstream.settimeout(None)
        self._track(client)
        self._track(upstream)
        delay = self._response_delay if mode is Mode.SLOW else 0.0
        threading.Thread(target=_pump, args=(client, upstream, 0.0), daemon=True).start()
        _pump(upstream, client, delay)


def _pump(source: socket.socket, target: socket.socket, first_byte_delay: float) -> None:
    """Copy bytes from `source` to `target` until either side closes, holding the first chunk back for the delay."""
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            if first_byte_delay:
                time.sleep(first_byte_delay)
                first_byte_delay = 0.0
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        _close_quietly(source)
        _close_quietly(target)


def _read_request_head(client: socket.socket) -> None:
    client.settimeout(5)
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = client.recv(65536)
            if not chunk:
                return
            received += chunk
    except OSError:
        return


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@contextlib.contextmanager
def fault_proxy_running(upstream_url: str) -> Iterator[FaultProxy]:
    """Run a FaultProxy in front of `upstream_url`, forwarding until the caller switches its mode."""
    proxy = FaultProxy(upstream_url).start()
    try:
        yield proxy
    finally:
        proxy.stop()
