"""Run the whole shop on this machine: what `make run` starts.

Steps: start the embedded services the environment does not replace, migrate
the database, load the catalog, ensure an admin account, point localstripe's
webhooks at the shop, then run the Celery worker and the web server until
Ctrl-C or SIGTERM. If any process exits on its own, the rest are stopped and
the exit status is 1.

Variables: SHOP_SCENARIO and SHOP_FAULTS (workshop faults, see `manage.py faults`),
PORT (web server port, default 8000), WEB_SERVER (runserver or
gunicorn), REDIS_PORT, LOCALSTRIPE_PORT and SES_PORT (embedded service
ports), and every variable that config.settings reads.
"""
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from config.telemetry import endpoint_configured, trace_store_wanted
from embedded import stripe
from embedded.paths import PROJECT_DIR, log_path, var_dir
from embedded.ports import LOOPBACK, ensure_port_free, start_listening_process
from embedded.processes import (
    ManagedProcess,
    ServiceError,
    read_log_tail,
    start_process,
    stop_process,
)
from embedded.services import LOCALSTRIPE_PORT, REDIS_PORT, SES_PORT, EmbeddedServices

logger = logging.getLogger("embedded.run")

DEFAULT_WEB_PORT = 8000
WEB_SERVERS = ("runserver", "gunicorn")
WORKER_READY_TIMEOUT = 90.0
WEB_READY_TIMEOUT = 90.0
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Shutdown(Exception):
    """Raised in the main thread when a shutdown signal arrives."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_shutdown(signum, frame) -> None:
    raise Shutdown(signum)


def read_web_port(environ: Mapping[str, str]) -> int:
    """Return PORT as an integer, or raise ServiceError naming the invalid value."""
    value = environ.get("PORT") or str(DEFAULT_WEB_PORT)
    try:
        port = int(value)
    except ValueError:
        raise ServiceError(f"PORT is {value!r}, which is not a port number. Set it to an integer.") from None
    if not 0 < port < 65536:
        raise ServiceError(f"PORT is {port}, outside the port range 1 to 65535.")
    return port


def read_web_server(environ: Mapping[str, str]) -> str:
    """Return WEB_SERVER, or raise ServiceError if it names no supported server."""
    name = environ.get("WEB_SERVER") or "runserver"
    if name not in WEB_SERVERS:
        raise ServiceError(
            f"WEB_SERVER is {name!r}, which is not supported. Use one of: {', '.join(WEB_SERVERS)}."
        )
    return name


def run_management_command(args: list[str], env: Mapping[str, str]) -> None:
    """Run `manage.py ARGS` in the foreground, with its output on this terminal."""
    command = [sys.executable, "manage.py", *args]
    print(f"$ manage.py {' '.join(args)}", flush=True)
    result = subprocess.run(command, cwd=PROJECT_DIR, env=dict(env), stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise ServiceError(
            f"`manage.py {' '.join(args)}` failed with exit code {result.returncode}. "
            "Its output is above."
        )


def ensure_admin(env: Mapping[str, str]) -> str:
    """Create the admin account if needed and return how to log in."""
    password_file = var_dir(env) / "admin-password.txt"
    try:
        # The login hint is printed, so keep it short when the file is in the project.
        password_file = password_file.relative_to(PROJECT_DIR)
    except ValueError:
        pass
    result = subprocess.run(
        [sys.executable, "-m", "embedded.admin_user", str(password_file)],
        cwd=PROJECT_DIR,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise ServiceError(
            f"Ensuring the admin account failed with exit code {result.returncode}. "
            "Its errors are above."
        )
    for line in lines[:-1]:
        print(line)
    return lines[-1]


def start_worker(env: Mapping[str, str]) -> ManagedProcess:
    """Start the Celery worker, with Celery beat inside it for the order sweeper, and wait until it is ready."""
    args = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--loglevel=INFO", "--concurrency=2",
        # One worker runs here, so it can also run beat. A deployment with
        # several workers runs `celery -A config beat` once, on its own.
        "--beat", "--schedule", str(var_dir(env) / "celerybeat-schedule"),
    ]
    worker = start_process("Celery worker", args, log_path=log_path("worker", env), env=env)
    try:
        _wait_until_worker_ready(worker)
    except BaseException:
        stop_process(worker)
        raise
    return worker


def _wait_until_worker_ready(worker: ManagedProcess) -> None:
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    # Celery logs "celery@<host> ready." once it consumes from its queues.
    while " ready." not in worker.log_path.read_text(errors="replace"):
        exit_code = worker.exit_code()
        if exit_code is not None:
            raise ServiceError(
                f"The Celery worker exited with code {exit_code} during startup. "
                f"See {worker.log_path}. Its last lines:\n{read_log_tail(worker.log_path)}"
            )
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"The Celery worker did not report ready within {WORKER_READY_TIMEOUT:.0f} s. "
                f"See {worker.log_path}. Its last lines:\n{read_log_tail(worker.log_path)}"
            )
        time.sleep(0.2)


def start_web_server(name: str, port: int, env: Mapping[str, str]) -> ManagedProcess:
    """Start runserver or gunicorn on 127.0.0.1:`port` and wait until it listens."""
    address = f"{LOOPBACK}:{port}"
    if name == "gunicorn":
        args = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", address]
    else:
        args = [sys.executable, "manage.py", "runserver", address]
    return start_listening_process(
        f"web server ({name})",
        args,
        port=port,
        url=f"http://{address}/",
        log_path=log_path("web", env),
        env=env,
        timeout=WEB_READY_TIMEOUT,
    )


def redact_url(url: str) -> str:
    """Return `url` with any password replaced by ***, for printing."""
    parts = urllib.parse.urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def _trace_store_row(env: Mapping[str, str]) -> str:
    """Return where spans go, as config.telemetry decides it from the same variables."""
    endpoint = endpoint_configured(env)
    mode = (env.get("TRACE_STORE") or "auto").strip().lower()
    if not trace_store_wanted(mode, env):
        return f"off: spans go to {endpoint or 'the OTLP endpoint'} only (TRACE_STORE={mode})"
    path = env.get("TRACE_STORE_PATH") or str(var_dir(env) / "traces.sqlite3")
    return f"{_relative(Path(path))}, and spans also go to {endpoint or 'http://localhost:4318 if a collector listens'}"


def _commands_row(env: Mapping[str, str]) -> str:
    """Return how to run a management command against this shop, with the addresses that differ from the defaults.

    config/settings/local.py assumes the embedded services on their default
    ports, so a command in another shell needs the moved ones named.
    """
    moved = [
        f"{variable}={env[variable]}"
        for port, variable in ((REDIS_PORT, "REDIS_URL"), (LOCALSTRIPE_PORT, "STRIPE_API_BASE"), (SES_PORT, "AWS_SES_ENDPOINT_URL"))
        if env.get(port.variable) and env.get(variable)
    ]
    if env.get("SHOP_VAR_DIR"):
        moved.insert(0, f"SHOP_VAR_DIR={env['SHOP_VAR_DIR']}")
    return " ".join([*moved, ".venv/bin/python manage.py <command>"])


def describe(
    services: EmbeddedServices,
    env: Mapping[str, str],
    web: ManagedProcess,
    worker: ManagedProcess,
    web_server: str,
    login_hint: str,
) -> str:
    """Return the table of what runs where, without any secret."""
    rows = [
        ("Shop", web.url),
        ("Admin", f"{web.url}admin/  ({login_hint})"),
        ("Traces", f"{web.url}admin/traces/  (or manage.py diagnose <confirmation ID>)"),
    ]

    if services.redis:
        rows.append(("Redis", f"{services.redis.url}  (embedded, log {_relative(services.redis.log_path)})"))
    else:
        rows.append(("Redis", f"{redact_url(env['REDIS_URL'])}  (from REDIS_URL)"))

    if services.localstripe:
        managed = services.localstripe
        rows.append(("Stripe API", f"{managed.url}  (localstripe, log {_relative(managed.log_path)})"))
        rows.append(("Test cards", "4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined"))
    else:
        rows.append(("Stripe API", f"{env.get('STRIPE_API_BASE') or 'https://api.stripe.com'}  (from STRIPE_SECRET_KEY)"))

    if services.ses:
        managed = services.ses
        rows.append(("SES endpoint", f"{managed.url}  (moto, log {_relative(managed.log_path)})"))
    elif env.get("EMAIL_BACKEND"):
        rows.append(("Email", f"{env['EMAIL_BACKEND']}  (from EMAIL_BACKEND)"))
    else:
        endpoint = env.get("AWS_SES_ENDPOINT_URL") or f"Amazon SES in {env.get('AWS_REGION', 'us-east-1')}"
        rows.append(("SES endpoint", f"{endpoint}  (from the AWS_* variables)"))

    database = env.get("DATABASE_URL")
    rows.append(("Database", redact_url(database) if database else f"SQLite {_relative(var_dir(env) / 'shop.sqlite3')}"))
    rows.append(("Worker", f"celery -A config worker, pid {worker.pid}, log {_relative(worker.log_path)}"))
    rows.append(("Web server", f"{web_server}, pid {web.pid}, log {_relative(web.log_path)}"))
    rows.append(("Trace store", _trace_store_row(env)))
    rows.append(("Commands", _commands_row(env)))

    width = max(len(label) for label, _ in rows)
    lines = ["", "The shop is running. Press Ctrl-C to stop it and every service below.", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines) + "\n"


def supervise(services: EmbeddedServices, children: list[ManagedProcess]) -> None:
    """Wait until a process exits on its own, then raise ServiceError naming it."""
    while True:
        exited = services.find_exited() or next(
            (child for child in children if child.exit_code() is not None), None
        )
        if exited is not None:
            raise ServiceError(
                f"{exited.name} exited with code {exited.exit_code()}, so the shop is stopping. "
                f"See {exited.log_path}. Its last lines:\n{read_log_tail(exited.log_path)}"
            )
        time.sleep(0.5)


def run(environ: Mapping[str, str]) -> int:
    """Start everything, supervise it, stop it all, and return the exit status."""
    services = EmbeddedServices(environ)
    children: list[ManagedProcess] = []
    try:
        port = read_web_port(environ)
        web_server = read_web_server(environ)
        ensure_port_free(port, needed_by="the shop's web server", variable="PORT")

        print("Starting the embedded services...", flush=True)
        env = {**environ, **services.start()}
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

        run_management_command(["migrate", "--no-input"], env)
        # Existing products keep what staff changed in the admin.
        run_management_command(["load_catalog", "--missing-only"], env)
        # SHOP_SCENARIO=workshop or SHOP_FAULTS switch workshop faults on; unset, the flags stay as staff left them.
        run_management_command(["faults", "--from-env"], env)
        login_hint = ensure_admin(env)

        if services.localstripe:
            stripe.register_webhook(
                services.localstripe.url,
                f"http://{LOOPBACK}:{port}/stripe/webhook/",
                secret=env["STRIPE_WEBHOOK_SECRET"],
            )

        print("Starting the Celery worker and the web server...", flush=True)
        worker = start_worker(env)
        children.append(worker)
        web = start_web_server(web_server, port, env)
        children.append(web)

        print(describe(services, env, web, worker, web_server, login_hint), flush=True)
        supervise(services, children)
    except Shutdown as shutdown:
        print(f"\nReceived {shutdown}, stopping...", flush=True)
        return 0
    except ServiceError as error:
        print(f"\nError: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave servers behind.
        for signum in SHUTDOWN_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        started_any = bool(children or services.processes)
        for child in reversed(children):
            stop_process(child)
        services.stop()
        if started_any:
            print("Stopped every process that `make run` started.", flush=True)
    return 0


def main() -> None:
    """Install the signal handlers and run the shop until it stops."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for signum in SHUTDOWN_SIGNALS:
        signal.signal(signum, _raise_shutdown)
    sys.exit(run(os.environ))


if __name__ == "__main__":
    main()
