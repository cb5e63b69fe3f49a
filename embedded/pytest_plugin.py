"""Pytest plugin that starts the embedded services and provides a real Celery worker.

pyproject.toml loads it with `-p embedded.pytest_plugin`. Before
pytest-django imports the settings, it starts on free ports the services
that the environment does not name (see embedded.services) and exports
their addresses into os.environ. It also gives this run its own Celery
queue through CELERY_TASK_DEFAULT_QUEUE, so a test run never takes tasks
from `make run` or from another run on the same Redis, and they never take
this run's tasks. Logs go to var/log/test/.

It also starts an OTLP/HTTP receiver (embedded.otlp_receiver) on
127.0.0.1 and points the OTEL_EXPORTER_OTLP_* variables at it, so that the
test process, which plays the web process, and every worker export their
spans there instead of to a collector.
"""
import contextlib
import logging
import os
import secrets
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from kombu import Exchange, Queue

from embedded.otlp_receiver import OTLPReceiver
from embedded.paths import var_dir
from embedded.processes import (
    ManagedProcess,
    ServiceError,
    read_log_tail,
    start_process,
    stop_process,
)
from embedded.services import EmbeddedServices

logger = logging.getLogger(__name__)

RUN_ID = secrets.token_hex(4)
TEST_QUEUE = f"fulfillment-test-{RUN_ID}"
WORKER_READY_TIMEOUT = 90.0
WORKER_STOP_TIMEOUT = 30.0

# Batches leave the span processor this many milliseconds after a span ends,
# instead of the SDK's 5000, so tests wait for spans a fraction of a second.
OTEL_BSP_SCHEDULE_DELAY_MS = "100"
# Variables that would send one signal somewhere other than the receiver,
# because a signal-specific variable wins over OTEL_EXPORTER_OTLP_ENDPOINT.
OTEL_SIGNAL_OVERRIDES = tuple(
    f"OTEL_EXPORTER_OTLP_{signal}_{setting}"
    for signal in ("TRACES", "METRICS", "LOGS")
    for setting in ("ENDPOINT", "PROTOCOL")
)

# Every queue a worker of this run consumed, deleted from a shared Redis at the end.
_queues_used: set[str] = {TEST_QUEUE}

_services_key = pytest.StashKey[EmbeddedServices]()
_receiver_key = pytest.StashKey[OTLPReceiver]()


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args):
    """Start the embedded services before pytest-django configures Django."""
    namespace = early_config.known_args_namespace
    if not (getattr(namespace, "help", False) or getattr(namespace, "version", False)):
        _start_otlp_receiver(early_config)
        _start_services(early_config)
    return (yield)


def log_dir_for_tests() -> Path:
    """Return var/log/test/, which keeps test logs apart from those of `make run`."""
    return var_dir() / "log" / "test"


def _start_otlp_receiver(config: pytest.Config) -> None:
    """Start the OTLP receiver and point this process and its children at it."""
    receiver = OTLPReceiver().start()
    config.add_cleanup(receiver.stop)
    config.stash[_receiver_key] = receiver
    for name in OTEL_SIGNAL_OVERRIDES:
        os.environ.pop(name, None)
    # It would give the test process and every worker the same service.name,
    # and the tests tell `shop-web` from `shop-worker` by that name.
    os.environ.pop("OTEL_SERVICE_NAME", None)
    os.environ.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": OTEL_BSP_SCHEDULE_DELAY_MS,
            "OTEL_TRACES_SAMPLER": "always_on",
            # The diagnosis tests read what the processes wrote to the local
            # trace store, so it is written beside the export to the receiver.
            "TRACE_STORE": "on",
            "TRACE_STORE_PATH": str(_trace_store_path_fresh()),
        }
    )


def _trace_store_path_fresh() -> Path:
    path = var_dir() / "test" / "traces.sqlite3"
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return path


def _start_services(config: pytest.Config) -> None:
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = TEST_QUEUE
    services = EmbeddedServices(os.environ, free_ports=True, log_dir=log_dir_for_tests())
    # pytest runs the cleanup stack even when startup fails before
    # pytest_configure, where pytest_unconfigure would not be called.
    config.add_cleanup(services.stop)
    try:
        os.environ.update(services.start())
    except ServiceError as error:
        raise pytest.UsageError(f"Starting the embedded services failed: {error}") from error
    config.stash[_services_key] = services


def pytest_unconfigure(config: pytest.Config) -> None:
    """Delete this run's queue on a shared Redis, then stop the embedded services and the OTLP receiver."""
    services = config.stash.get(_services_key, None)
    if services is not None:
        if services.redis is None:
            _delete_test_queue()
        services.stop()
    receiver = config.stash.get(_receiver_key, None)
    if receiver is not None:
        receiver.stop()


@pytest.fixture(scope="session")
def otlp_receiver(pytestconfig: pytest.Config) -> OTLPReceiver:
    """Return the OTLP receiver that this run's processes export their spans to."""
    receiver = pytestconfig.stash.get(_receiver_key, None)
    if receiver is None:
        pytest.fail("The OTLP receiver was not started. Load embedded.pytest_plugin with -p, as pyproject.toml does.")
    return receiver


@pytest.fixture(scope="session", autouse=True)
def telemetry_in_test_process() -> Iterator[None]:
    """Trace this process as the web process `shop-web`, once config.telemetry exists.

    The Django test client then runs requests through the Django
    instrumentation's middleware, so each request has a SERVER span.
    Spans still queued at the end of the session are exported before the
    receiver stops.
    """
    try:
        from config import telemetry
    except ModuleNotFoundError as error:
        if error.name != "config.telemetry":
            raise
        yield
        return

    telemetry.telemetry_setup(service_name="shop-web")
    yield
    telemetry.telemetry_flush()


def _delete_test_queue() -> None:
    """Delete the run's queues and their bindings, which would otherwise stay on a shared Redis."""
    celery_module = sys.modules.get("config.celery")
    if celery_module is None:
        return
    celery_app = celery_module.app
    try:
        with celery_app.connection_for_write() as connection:
            # One attempt only: Celery's default retries would stall the end of the run.
            connection.ensure_connection(max_retries=1)
            for name in sorted(_queues_used):
                # Celery's automatic queues: a direct exchange and a routing key of the queue's name.
                queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(connection.default_channel)
                # kombu deletes only the bindings it has seen declared.
                queue.declare()
                queue.delete()
    except Exception as error:  # noqa: BLE001 - cleanup must not hide the test results
        logger.warning("Deleting the test queues %s failed: %s", ", ".join(sorted(_queues_used)), error)


@dataclass
class FulfillmentWorker:
    """A running Celery worker that consumes this test run's queue."""

    process: ManagedProcess
    hostname: str
    queue: str

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def log_text(self) -> str:
        """Return everything the worker has logged so far."""
        return self.log_path.read_text(errors="replace")


def worker_database_url(settings_dict: Mapping, environ: Mapping[str, str] = os.environ) -> str:
    """Return a DATABASE_URL for the test database that pytest-django created.

    For SQLite that is the file in settings_dict["NAME"]. For a server
    database, the database name in DATABASE_URL is replaced, which keeps its
    credentials and query options such as sslmode.
    """
    name = str(settings_dict["NAME"])
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        if name == ":memory:" or name.startswith("file:"):
            raise ServiceError(
                f"The test database is the in-memory SQLite database {name!r}, which a worker "
                "process cannot open. Set TEST NAME to a file, as config.settings.test does."
            )
        return f"sqlite:///{Path(name).resolve()}"

    database_url = environ.get("DATABASE_URL")
    if not database_url:
        raise ServiceError(
            f"The test database uses {settings_dict['ENGINE']}, but DATABASE_URL is not set, "
            "so no URL for the worker can be built. Set DATABASE_URL."
        )
    parts = urllib.parse.urlsplit(database_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name, safe="")))


@contextlib.contextmanager
def worker_running(
    *, name: str, queue: str, extra_env: Mapping[str, str] | None = None, concurrency: int = 2
) -> Iterator[FulfillmentWorker]:
    """Run a Celery worker process that consumes `queue`, against the test database.

    `extra_env` changes the worker's environment, for example to point it at
    an email endpoint that does not respond, or at another Redis through
    REDIS_URL. `concurrency` is the number of prefork children. The worker
    is stopped on exit.
    """
    from django.conf import settings
    from django.db import connection

    from config.celery import app as celery_app

    hostname = f"{name}-{RUN_ID}@{socket.gethostname()}"
    _queues_used.add(queue)
    # In a test that uses pytest-django's `settings` fixture, settings is an
    # override whose SETTINGS_MODULE is None, so the variable comes first.
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": worker_database_url(connection.settings_dict),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        **(extra_env or {}),
    }

    args = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO",
        "--hostname", hostname,
        "--queues", queue,
        # Mingle and gossip would exchange state with unrelated workers on a shared Redis.
        "--without-mingle", "--without-gossip",
    ]
    log_file = log_dir_for_tests() / f"{name}.log"
    managed = start_process(f"Celery worker {name}", args, log_path=log_file, env=env)
    worker = FulfillmentWorker(process=managed, hostname=hostname, queue=queue)
    try:
        _wait_until_ready(celery_app, worker, broker_url=env["REDIS_URL"])
        yield worker
    finally:
        stop_process(managed, timeout=WORKER_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def fulfillment_worker(django_db_setup) -> Iterator[FulfillmentWorker]:
    """Run a real Celery worker against the test database for the whole session.

    Tests that need the worker to see their rows must commit them, for
    example with `@pytest.mark.django_db(transaction=True)`. The worker is
    stopped before pytest-django drops the test database.
    """
    from django.conf import settings

    from config.celery import app as celery_app

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    # Messages left by an earlier run that used the same queue name would
    # otherwise run against this run's database.
    purged = celery_app.control.purge()
    if purged:
        logger.info("Purged %s stale messages from queue %s", purged, queue)

    with worker_running(name="worker", queue=queue) as worker:
        yield worker


@contextlib.contextmanager
def celery_app_for_broker(celery_app, broker_url: str) -> Iterator:
    """Yield `celery_app`, or a bare app on `broker_url` when a test pointed a worker at another broker.

    Control commands and send_task() publish through the app's producer
    pool, which is bound to the app's own broker whatever connection the
    caller passes.
    """
    if broker_url == celery_app.conf.broker_url:
        yield celery_app
        return
    from celery import Celery

    other = Celery("ping", broker=broker_url, set_as_current=False)
    other.conf.broker_transport_options = celery_app.conf.broker_transport_options
    try:
        yield other
    finally:
        other.close()


def _wait_until_ready(celery_app, worker: FulfillmentWorker, *, broker_url: str) -> None:
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    # The ping goes through the worker's own broker, which a test may have pointed elsewhere.
    with celery_app_for_broker(celery_app, broker_url) as ping_app:
        while True:
            exit_code = worker.process.exit_code()
            if exit_code is not None:
                raise ServiceError(
                    f"The Celery worker exited with code {exit_code} during startup. "
                    f"See {worker.log_path}. Its last lines:\n{read_log_tail(worker.log_path, 40)}"
                )
            replies = ping_app.control.ping(destination=[worker.hostname], timeout=1.0)
            if any(worker.hostname in reply for reply in replies):
                return
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"The Celery worker {worker.hostname} did not reply to a ping within "
                    f"{WORKER_READY_TIMEOUT:.0f} s. See {worker.log_path}. Its last lines:\n"
                    f"{read_log_tail(worker.log_path, 40)}"
                )
