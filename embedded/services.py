"""Decide which embedded services a run needs, start them, and export their addresses.

A service is started only when the environment does not name a real one:

- Redis unless REDIS_URL is set.
- localstripe unless STRIPE_SECRET_KEY is set.
- moto's SES endpoint unless EMAIL_BACKEND, AWS_SES_ENDPOINT_URL or
  AWS_ACCESS_KEY_ID is set.

`make run` uses fixed ports that match config.settings.local, overridable
with REDIS_PORT, LOCALSTRIPE_PORT and SES_PORT. The tests use free ports.
Each service logs to <log_dir>/<name>.log, by default var/log/.
Either way the addresses are returned as environment variables, and callers
pass them to every child process, so the settings never fall back to a
default that points at the wrong port.
"""
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from embedded import ses, stripe
from embedded.paths import log_path
from embedded.ports import ensure_port_free, find_free_port
from embedded.processes import ManagedProcess, ServiceError, stop_process
from embedded.redis import redis_start

logger = logging.getLogger(__name__)

ESP_VARIABLES = ("EMAIL_BACKEND", "AWS_SES_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")


@dataclass(frozen=True)
class PortSetting:
    """The default port of an embedded service and the variable that overrides it."""

    default: int
    variable: str
    needed_by: str


REDIS_PORT = PortSetting(6380, "REDIS_PORT", "the embedded Redis")
LOCALSTRIPE_PORT = PortSetting(8420, "LOCALSTRIPE_PORT", "the embedded localstripe")
SES_PORT = PortSetting(8430, "SES_PORT", "the embedded SES endpoint (moto)")


def needs_redis(environ: Mapping[str, str]) -> bool:
    return not environ.get("REDIS_URL")


def needs_localstripe(environ: Mapping[str, str]) -> bool:
    return not environ.get("STRIPE_SECRET_KEY")


def needs_ses(environ: Mapping[str, str]) -> bool:
    return not any(environ.get(name) for name in ESP_VARIABLES)


class EmbeddedServices:
    """The embedded services of one run, and the environment that points child processes at them.

    Use it as a context manager, or call start() and stop() yourself. start()
    stops whatever it already started if a later service fails, and stop()
    can be called any number of times.
    """

    def __init__(
        self,
        environ: Mapping[str, str] = os.environ,
        *,
        free_ports: bool = False,
        log_dir: Path | None = None,
    ):
        self.environ = dict(environ)
        self.free_ports = free_ports
        self.log_dir = log_dir
        self.redis: ManagedProcess | None = None
        self.localstripe: ManagedProcess | None = None
        self.ses: ManagedProcess | None = None
        self.env: dict[str, str] = {}

    @property
    def processes(self) -> list[ManagedProcess]:
        """Return the running services in start order."""
        return [p for p in (self.redis, self.localstripe, self.ses) if p is not None]

    def start(self) -> dict[str, str]:
        """Start the needed services and return the variables to add to a child's environment."""
        try:
            if needs_redis(self.environ):
                self.redis = redis_start(
                    self._port(REDIS_PORT), log_file=self._log_file("redis"), environ=self.environ
                )
                self.env["REDIS_URL"] = self.redis.url

            if needs_localstripe(self.environ):
                self.localstripe = stripe.localstripe_start(
                    self._port(LOCALSTRIPE_PORT),
                    log_file=self._log_file("localstripe"),
                    environ=self.environ,
                )
                self.env.update({
                    "STRIPE_SECRET_KEY": stripe.SECRET_KEY,
                    "STRIPE_PUBLISHABLE_KEY": stripe.PUBLISHABLE_KEY,
                    "STRIPE_WEBHOOK_SECRET": stripe.WEBHOOK_SECRET,
                    "STRIPE_API_BASE": self.localstripe.url,
                })

            if needs_ses(self.environ):
                self.ses = ses.ses_start(
                    self._port(SES_PORT), log_file=self._log_file("ses"), environ=self.environ
                )
                self.env.update({
                    "AWS_SES_ENDPOINT_URL": self.ses.url,
                    "AWS_ACCESS_KEY_ID": ses.ACCESS_KEY_ID,
                    "AWS_SECRET_ACCESS_KEY": ses.SECRET_ACCESS_KEY,
                    "AWS_REGION": ses.REGION,
                    "AWS_EC2_METADATA_DISABLED": "true",
                })
        except BaseException:
            self.stop()
            raise
        return dict(self.env)

    def stop(self) -> None:
        """Stop every started service, the last started first."""
        for managed in reversed(self.processes):
            try:
                stop_process(managed)
            except OSError as error:
                logger.error("Stopping %s (pid %s) failed: %s", managed.name, managed.pid, error)
            else:
                logger.debug("Stopped %s", managed.name)
        self.redis = self.localstripe = self.ses = None

    def find_exited(self) -> ManagedProcess | None:
        """Return the first service that is no longer running, or None."""
        for managed in self.processes:
            if managed.exit_code() is not None:
                return managed
        return None

    def __enter__(self) -> "EmbeddedServices":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _log_file(self, name: str) -> Path:
        if self.log_dir is None:
            return log_path(name, self.environ)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{name}.log"

    def _port(self, setting: PortSetting) -> int:
        value = self.environ.get(setting.variable)
        if value:
            try:
                port = int(value)
            except ValueError:
                raise ServiceError(
                    f"{setting.variable} is {value!r}, which is not a port number. "
                    "Set it to an integer between 1 and 65535."
                ) from None
            if not 0 < port < 65536:
                raise ServiceError(
                    f"{setting.variable} is {port}, outside the port range 1 to 65535."
                )
        elif self.free_ports:
            return find_free_port()
        else:
            port = setting.default
        ensure_port_free(port, needed_by=setting.needed_by, variable=setting.variable)
        return port
