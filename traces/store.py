"""The local trace store: spans of the web and worker processes in an SQLite file of their own.

Every process opens its own connection. The file is in WAL mode and each
write is one IMMEDIATE transaction that waits up to BUSY_TIMEOUT_MS for
another writer, so the web process and every worker child can write at the
same time. After a write, the store deletes the oldest traces (by first
span start) until the data fits in `max_bytes` again.

The store never traces itself: every statement runs with OpenTelemetry's
instrumentation suppressed, so the SQLite instrumentation does not record
the store's own queries as spans.
"""
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.instrumentation.utils import suppress_instrumentation

from traces.spans import SpanRecord, span_from_dict, span_to_dict

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# Pruning frees a little more than it must, so that it does not run again on the next write.
PRUNE_TARGET_FRACTION = 0.9
PRUNE_BATCH_TRACES = 50

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    status_code TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    span_count INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    root_name TEXT NOT NULL DEFAULT '',
    services TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start_ns);
"""

# Recomputes the summary row of each trace named in the temporary table.
SUMMARY_UPSERT = """
INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count, root_name, services)
SELECT
    spans.trace_id,
    MIN(spans.start_ns),
    MAX(spans.end_ns),
    COUNT(*),
    SUM(spans.status_code = 'ERROR'),
    COALESCE(MAX(CASE WHEN spans.parent_span_id = '' THEN spans.name END), ''),
    (SELECT GROUP_CONCAT(service, ',') FROM (
        SELECT DISTINCT other.service FROM spans AS other WHERE other.trace_id = spans.trace_id ORDER BY 1))
FROM spans JOIN touched ON touched.trace_id = spans.trace_id
GROUP BY spans.trace_id
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = excluded.start_ns,
    end_ns = excluded.end_ns,
    span_count = excluded.span_count,
    error_count = excluded.error_count,
    root_name = excluded.root_name,
    services = excluded.services
"""


class TraceStoreError(Exception):
    """The store file cannot be opened, read or written."""


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    start_ns: int
    end_ns: int
    span_count: int
    error_count: int
    root_name: str
    services: tuple[str, ...]

    @property
    def duration_ns(self) -> int:
        return max(self.end_ns - self.start_ns, 0)


class TraceStore:
    """Spans in one SQLite file, at most about `max_bytes` of them."""

    def __init__(self, path: Path | str, *, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._connection: sqlite3.Connection | None = None
        # The batch processor exports from its own thread, but a flush can run
        # the export on the thread that asked for it.
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return f"the local trace store {self.path}"

    @contextmanager
    def _connected(self) -> Iterator[sqlite3.Connection]:
        with self._lock, suppress_instrumentation():
            if self._connection is None:
                self._connection = self._open()
            try:
                yield self._connection
            except sqlite3.Error as error:
                raise TraceStoreError(f"The trace store {self.path} failed: {error}") from error

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: each write below opens its own transaction.
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # auto_vacuum takes effect only before the first table exists; it
            # lets incremental_vacuum give pruned pages back to the file system.
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise TraceStoreError(
                f"Cannot open the trace store {self.path}: {error}. "
                "Check that its folder is writable, or set TRACE_STORE_PATH to another file."
            ) from error
        return connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # --- Writes --------------------------------------------------------------------

    def write(self, spans: Sequence[SpanRecord]) -> None:
        """Insert spans, update their traces' summaries and prune if the store is too big.

        A span that is already stored (same trace and span id) is kept as it was.
        """
        if not spans:
            return
        rows = [
            (
                span.trace_id,
                span.span_id,
                span.parent_span_id,
                span.service_name,
                span.name,
                span.status_code,
                span.start_ns,
                span.end_ns,
                json.dumps(span_to_dict(span), default=str),
            )
            for span in spans
        ]
        with self._connected() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany("INSERT OR IGNORE INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                connection.execute("CREATE TEMP TABLE IF NOT EXISTS touched (trace_id TEXT PRIMARY KEY)")
                connection.execute("DELETE FROM touched")
                connection.executemany(
                    "INSERT OR IGNORE INTO touched VALUES (?)", [(trace_id,) for trace_id in {row[0] for row in rows}]
                )
                connection.execute(SUMMARY_UPSERT)
                pruned = self._prune(connection)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            if pruned:
                connection.execute("PRAGMA incremental_vacuum").fetchall()
                logger.info("Pruned %s of the oldest traces from the trace store %s", pruned, self.path)

    def _used_bytes(self, connection: sqlite3.Connection) -> int:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        page_count = connection.execute("PRAGMA page_count").fetchone()[0]
        free_pages = connection.execute("PRAGMA freelist_count").fetchone()[0]
        return (page_count - free_pages) * page_size

    def _prune(self, connection: sqlite3.Connection) -> int:
        if self._used_bytes(connection) <= self.max_bytes:
            return 0
        target = self.max_bytes * PRUNE_TARGET_FRACTION
        pruned = 0
        while self._used_bytes(connection) > target:
            oldest = [
                row[0]
                for row in connection.execute(
                    "SELECT trace_id FROM traces ORDER BY start_ns LIMIT ?", (PRUNE_BATCH_TRACES,)
                )
            ]
            if not oldest:
                break
            placeholders = ",".join("?" * len(oldest))
            connection.execute(f"DELETE FROM spans WHERE trace_id IN ({placeholders})", oldest)
            connection.execute(f"DELETE FROM traces WHERE trace_id IN ({placeholders})", oldest)
            pruned += len(oldest)
        return pruned

    # --- Reads ---------------------------------------------------------------------

    def trace(self, trace_id: str) -> list[SpanRecord]:
        """Return the spans of one trace ordered by start time, or [] if the store has none."""
        return self.traces([trace_id])

    def traces(self, trace_ids: Iterable[str]) -> list[SpanRecord]:
        trace_ids = list(dict.fromkeys(trace_ids))
        if not trace_ids or not self.path.exists():
            return []
        placeholders = ",".join("?" * len(trace_ids))
        with self._connected() as connection:
            rows = connection.execute(
                f"SELECT data FROM spans WHERE trace_id IN ({placeholders}) ORDER BY start_ns", trace_ids
            ).fetchall()
        return [span_from_dict(json.loads(row[0])) for row in rows]

    def recent(self, limit: int = 50) -> list[TraceSummary]:
        """Return the summaries of the traces that started last, newest first."""
        if not self.path.exists():
            return []
        with self._connected() as connection:
            rows = connection.execute(
                "SELECT trace_id, start_ns, end_ns, span_count, error_count, root_name, services "
                "FROM traces ORDER BY start_ns DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            TraceSummary(row[0], row[1], row[2], row[3], row[4], row[5], tuple(filter(None, row[6].split(","))))
            for row in rows
        ]

    def size_bytes(self) -> int:
        """Return the bytes that stored data takes in the file, free pages not counted."""
        if not self.path.exists():
            return 0
        with self._connected() as connection:
            return self._used_bytes(connection)
