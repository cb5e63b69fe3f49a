"""Pick loopback ports and wait for servers to listen on them."""
import errno
import socket
import time

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from embedded.processes import ManagedProcess, ServiceError, read_log_tail, start_process, stop_process

LOOPBACK = "127.0.0.1"


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that no socket is bound to right now.

    Another process may take the port before the caller binds it, which is
    acceptable for the embedded services because they fail loudly then.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def ensure_port_free(port: int, *, needed_by: str, variable: str) -> None:
    """Raise ServiceError if something already listens on 127.0.0.1:`port`.

    SO_REUSEADDR lets the probe ignore connections in TIME_WAIT from a
    previous run, which the servers started here can also bind past.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise ServiceError(
                f"Port {port} on {LOOPBACK} is already in use, but {needed_by} needs it. "
                f"Stop the program that listens there (`ss -ltnp 'sport = :{port}'` shows it), "
                f"or set {variable} to another port."
            ) from None


def wait_for_port(
    port: int,
    *,
    managed: ManagedProcess,
    timeout: float = 30.0,
) -> None:
    """Wait until 127.0.0.1:`port` accepts TCP connections.

    Raises ServiceError, naming the service and its log file, when the process
    exits first or `timeout` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        exit_code = managed.exit_code()
        if exit_code is not None:
            raise ServiceError(
                f"{managed.name} exited with code {exit_code} before it listened on "
                f"{LOOPBACK}:{port}. See {managed.log_path}. Its last lines:\n"
                f"{read_log_tail(managed.log_path)}"
            )
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"{managed.name} did not listen on {LOOPBACK}:{port} within {timeout:.0f} s. "
                f"See {managed.log_path}. Its last lines:\n{read_log_tail(managed.log_path)}"
            )
        time.sleep(0.1)


def start_listening_process(
    name: str,
    args: Sequence[str],
    *,
    port: int,
    url: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    ready: Callable[[ManagedProcess], None] | None = None,
) -> ManagedProcess:
    """Start a server and return it once 127.0.0.1:`port` accepts connections and `ready` returned.

    A server that never listens, or whose `ready` check raises, is stopped
    before the error propagates, so a failed start leaves nothing running.
    """
    managed = start_process(name, args, log_path=log_path, env=env)
    managed.url = url
    try:
        wait_for_port(port, managed=managed, timeout=timeout)
        if ready is not None:
            ready(managed)
    except BaseException:
        stop_process(managed)
        raise
    return managed

