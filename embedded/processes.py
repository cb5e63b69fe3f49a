"""Start child processes with their output in a log file, and stop them with everything they spawned."""
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from embedded.paths import PROJECT_DIR

logger = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A child process failed to start, did not become ready, or exited unexpectedly."""


@dataclass
class ManagedProcess:
    """A child process that runs in its own process group and writes to one log file."""

    name: str
    process: subprocess.Popen
    log_path: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        """Return the exit code, or None while the process runs."""
        return self.process.poll()


def start_process(
    name: str,
    args: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path = PROJECT_DIR,
) -> ManagedProcess:
    """Start `args` in a new session with stdout and stderr going to `log_path`.

    The new session keeps the terminal's Ctrl-C away from the child, so the
    parent decides the order of shutdown, and it gives the child a process
    group that stop_process() can signal as a whole.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        try:
            process = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as error:
            raise ServiceError(
                f"Starting {name} ({args[0]}) failed: {error}. "
                "Check that the project is installed with `make` or `pip install -e '.[test]'`."
            ) from error
    logger.debug("Started %s (pid %s), log: %s", name, process.pid, log_path)
    return ManagedProcess(name=name, process=process, log_path=log_path)


def stop_process(managed: ManagedProcess, *, timeout: float = 10.0) -> None:
    """Stop the process and every process left in its group.

    The main process gets SIGTERM first, so Celery finishes its running tasks
    and Django's autoreloader stops the server it spawned. Whatever remains of
    the group after `timeout` seconds gets SIGKILL.
    """
    process = managed.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s (pid %s) did not stop within %s s of SIGTERM, sending SIGKILL",
                managed.name, process.pid, timeout,
            )
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()

    # start_new_session made the child the leader of a group whose id is its
    # pid. Never signal our own group, in case the child was started otherwise.
    group_id = process.pid
    if group_id == os.getpgid(0) or not _group_has_live_members(group_id):
        return
    _signal_group(group_id, signal.SIGTERM)
    deadline = time.monotonic() + min(timeout, 5.0)
    while time.monotonic() < deadline and _group_has_live_members(group_id):
        time.sleep(0.1)
    if _group_has_live_members(group_id):
        logger.warning("Processes of %s survived SIGTERM, sending SIGKILL", managed.name)
        _signal_group(group_id, signal.SIGKILL)


def read_log_tail(path: Path, lines: int = 20) -> str:
    """Return the last `lines` lines of a log file, or a note that it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(log {path} could not be read: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _signal_group(group_id: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group_id, sig)
    except ProcessLookupError:
        pass


def _group_has_live_members(group_id: int) -> bool:
    """Return whether any process other than a zombie belongs to the group.

    Zombies are skipped because an orphan's zombie stays in the group until
    PID 1 reaps it, and signalling it does nothing.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group_id, 0)
        except ProcessLookupError:
            return False
        return True

    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces, so split after it.
        fields = stat[stat.rfind(")") + 2:].split()
        state, group = fields[0], int(fields[2])
        if group == group_id and state != "Z":
            return True
    return False
