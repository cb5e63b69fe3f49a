"""The local trace store: spans of the web and worker processes in an SQLite file of their own.

Every process opens its own connection. The file is in WAL mode and each
write is one IMMEDIATE transaction that waits up to BUSY_TIMEOUT_MS for
another writer, so the web process and every worker child can write at the
same time. After a write, the store deletes the oldest traces (by first
span start) until the data fits in `max_bytes` again. It keeps the ids of
deleted traces, so that spans arriving late for one do not come back as a
fragment of it.

The store never traces itself: every statement runs with OpenTelemetry's
instrumentation suppressed, so the SQLite instrumentation does not record
the store's own queries as spans.
"""
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.instrumentation.utils import suppress_instrumentation

from config import telemetry_names as names
from traces.spans import SpanRecord, span_from_dict, span_to_dict

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# Pruning frees a little more than it must, so that it does not run again on the next write.
PRUNE_TARGET_FRACTION = 0.9
PRUNE_BATCH_TRACES = 50
# Ids of deleted traces kept to turn away their late spans.
PRUNED_IDS_KEPT = 10_000
# The WAL file is checkpointed and truncated at about this share of max_bytes.
WAL_FRACTION = 0.1
MIN_WAL_BYTES = 256 * 1024
# Bumped when the tables change. A store of another version is emptied and
# created again: it contains telemetry, not records of the shop.
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    status_code TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    order_id INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE TABLE traces (
    trace_id TEXT PRIMARY KEY,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    span_count INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    root_name TEXT NOT NULL DEFAULT '',
    services TEXT NOT NULL DEFAULT '',
    order_id INTEGER
);
CREATE INDEX traces_by_start ON traces (start_ns);
CREATE TABLE pruned (trace_id TEXT PRIMARY KEY, pruned_ns INTEGER NOT NULL);
CREATE INDEX pruned_by_time ON pruned (pruned_ns);
"""

INSERT_SPAN = """
INSERT OR IGNORE INTO spans
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
WHERE NOT EXISTS (SELECT 1 FROM pruned WHERE pruned.trace_id = ?)
"""

# Recomputes the summary row of each trace named in the temporary table.
SUMMARY_UPSERT = """
INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count, root_name, services, order_id)
SELECT
    spans.trace_id,
    MIN(spans.start_ns),
    MAX(spans.end_ns),
    COUNT(*),
    SUM(spans.status_code = 'ERROR'),
    COALESCE(MAX(CASE WHEN spans.parent_span_id = '' THEN spans.name END), ''),
    (SELECT GROUP_CONCAT(service, ',') FROM (
        SELECT DISTINCT other.service FROM spans AS other WHERE other.trace_id = spans.trace_id ORDER BY 1)),
    MAX(spans.order_id)
FROM spans JOIN touched ON touched.trace_id = spans.trace_id
GROUP BY spans.trace_id
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = excluded.start_ns,
    end_ns = excluded.end_ns,
    span_count = excluded.span_count,
    error_count = excluded.error_count,
    root_name = excluded.root_name,
    services = excluded.services,
    order_id = excluded.order_id
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
    order_id: int | None = None

    @property
    def duration_ns(self) -> int:
        return max(self.end_ns - self.start_ns, 0)


def _order_id(span: SpanRecord) -> int | None:
    value = span.attributes.get(names.ORDER_ID)
    return value if isinstance(value, int) else None


class TraceStore:
    """Spans in one SQLite file, at most about `max_bytes` of them, plus a WAL file of about a tenth of that."""

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

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @contextmanager
    def _connected(self) -> Iterator[sqlite3.Connection]:
        with self._lock, suppress_instrumentation():
            if self._connection is not None and not self.path.exists():
                # Someone deleted the file; writing on would fill a file no one can open.
                logger.warning("The trace store %s was deleted while in use; starting a new one", self.path)
                self._connection.close()
                self._connection = None
            if self._connection is None:
                self._connection = self._open()
            try:
                yield self._connection
            except sqlite3.Error as error:
                raise TraceStoreError(
                    f"The trace store {self.path} failed: {error}. If the file is damaged, delete it "
                    "and the shop starts a new one."
                ) from error

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise TraceStoreError(
                f"TRACE_STORE_PATH {self.path} is a folder. Set it to a file, such as {self.path / 'traces.sqlite3'}."
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: each write below opens its own transaction.
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # auto_vacuum takes effect only before the first table exists; it
            # lets incremental_vacuum give pruned pages back to the file system.
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            wal_bytes = max(int(self.max_bytes * WAL_FRACTION), MIN_WAL_BYTES)
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            connection.execute(f"PRAGMA wal_autocheckpoint = {max(wal_bytes // page_size, 16)}")
            connection.execute(f"PRAGMA journal_size_limit = {wal_bytes}")
            self._schema_ensure(connection)
        except (OSError, sqlite3.Error) as error:
            raise TraceStoreError(
                f"Cannot open the trace store {self.path}: {error}. Check that its folder exists and is "
                "writable and that the file is an SQLite database, or set TRACE_STORE_PATH to another file."
            ) from error
        return connection

    def _schema_ensure(self, connection: sqlite3.Connection) -> None:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the tables while this one waited.
            if connection.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                for table in ("spans", "traces", "pruned"):
                    connection.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # --- Writes --------------------------------------------------------------------

    def write(self, spans: Sequence[SpanRecord]) -> None:
        """Insert spans, update their traces' summaries and prune if the store is too big.

        A span that is already stored (same trace and span id) is kept as it
        was, and a span of a trace that pruning deleted is dropped.
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
                _order_id(span),
                json.dumps(span_to_dict(span), default=str),
                span.trace_id,
            )
            for span in spans
        ]
        with self._connected() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(INSERT_SPAN, rows)
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
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
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
        now_ns = time.time_ns()
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
            connection.executemany(
                "INSERT OR REPLACE INTO pruned VALUES (?, ?)", [(trace_id, now_ns) for trace_id in oldest]
            )
            pruned += len(oldest)
        connection.execute(
            "DELETE FROM pruned WHERE trace_id NOT IN (SELECT trace_id FROM pruned ORDER BY pruned_ns DESC LIMIT ?)",
            (PRUNED_IDS_KEPT,),
        )
        return pruned

    # --- Reads ---------------------------------------------------------------------

    def trace(self, trace_id: str) -> list[SpanRecord]:
        """Return the spans of one trace ordered by start time, or [] if the store has none."""
        return self.traces([trace_id])

    def traces(self, trace_ids: Iterable[str]) -> list[SpanRecord]:
        trace_ids = list(dict.fromkeys(trace_ids))
        if not trace_ids or not self.exists:
            return []
        placeholders = ",".join("?" * len(trace_ids))
        with self._connected() as connection:
            rows = connection.execute(
                f"SELECT span_id, data FROM spans WHERE trace_id IN ({placeholders}) ORDER BY start_ns", trace_ids
            ).fetchall()

        spans = []
        unreadable = []
        for span_id, data in rows:
            try:
                spans.append(span_from_dict(json.loads(data)))
            except (ValueError, KeyError, TypeError):
                unreadable.append(span_id)
        if unreadable:
            logger.warning(
                "Skipped %s spans of trace %s in the trace store %s that could not be read (span ids %s)",
                len(unreadable), ", ".join(trace_ids), self.path, ", ".join(unreadable[:10]),
            )
        return spans

    def was_pruned(self, trace_id: str) -> bool:
        if not self.exists:
            return False
        with self._connected() as connection:
            return connection.execute("SELECT 1 FROM pruned WHERE trace_id = ?", (trace_id,)).fetchone() is not None

    def recent(self, limit: int = 50, *, orders_only: bool = False) -> list[TraceSummary]:
        """Return the summaries of the traces that started last, newest first.

        With `orders_only`, only traces that placed or changed an order: an order id, and a root that is not a GET.
        """
        if not self.exists:
            return []
        # A GET only reads an order (the confirmation page polls its status), so it is left out.
        condition = "WHERE order_id IS NOT NULL AND root_name NOT LIKE 'GET %'" if orders_only else ""
        with self._connected() as connection:
            rows = connection.execute(
                "SELECT trace_id, start_ns, end_ns, span_count, error_count, root_name, services, order_id "
                f"FROM traces {condition} ORDER BY start_ns DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            TraceSummary(row[0], row[1], row[2], row[3], row[4], row[5], tuple(filter(None, row[6].split(","))), row[7])
            for row in rows
        ]

    def size_bytes(self) -> int:
        """Return the bytes that stored data takes in the file, free pages not counted."""
        if not self.exists:
            return 0
        with self._connected() as connection:
            return self._used_bytes(connection)
