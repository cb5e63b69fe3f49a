"""The local trace store: what it keeps, how it prunes, concurrent writers, and that it never traces itself."""
import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from config.telemetry import QuietExporter, telemetry_flush, telemetry_setup
from traces.exporter import TraceStoreExporter
from traces.spans import SpanRecord, span_from_dict, span_to_dict, trace_id_normalized
from traces.store import TraceStore, TraceStoreError

MEGABYTE = 1024 * 1024


def tracer_writing_to(store: TraceStore) -> trace.Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(TraceStoreExporter(store)))
    return provider.get_tracer("tests")


def span_record(trace_number: int, span_number: int = 0, *, padding: int = 0) -> SpanRecord:
    return SpanRecord(
        service_name="shop-worker",
        scope="tests",
        trace_id=f"{trace_number + 1:032x}",
        span_id=f"{span_number + 1:016x}",
        parent_span_id="" if span_number == 0 else f"{1:016x}",
        name="root" if span_number == 0 else f"child {span_number}",
        kind="INTERNAL",
        status_code="UNSET",
        status_message="",
        attributes={"padding": "x" * padding},
        events=(),
        links=(),
        start_ns=1_000_000 * trace_number + span_number,
        end_ns=1_000_000 * trace_number + span_number + 10,
    )


@pytest.fixture
def store(tmp_path) -> TraceStore:
    store = TraceStore(tmp_path / "traces.sqlite3", max_bytes=10 * MEGABYTE)
    yield store
    store.close()


def test_store_keeps_span_fields(store):
    tracer = tracer_writing_to(store)
    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER, attributes={"http.status_code": 302}) as root:
        linked = root.get_span_context()
        with tracer.start_as_current_span("stock.reserve", attributes={"stock.sku": "MUG-001", "tags": ("a", "b")}) as child:
            child.add_event("stock.insufficient", {"stock.available": 0})
            child.set_status(Status(StatusCode.ERROR, "InsufficientStock: sold out"))
    with tracer.start_as_current_span("webhook", links=[Link(linked, {"link.reason": "checkout"})]):
        pass

    spans = store.trace(f"{linked.trace_id:032x}")

    assert [span.name for span in spans] == ["checkout", "stock.reserve"]
    checkout, reserve = spans
    assert checkout.kind == "SERVER"
    assert checkout.parent_span_id == ""
    assert checkout.attributes == {"http.status_code": 302}
    assert reserve.parent_span_id == checkout.span_id
    assert reserve.attributes == {"stock.sku": "MUG-001", "tags": ["a", "b"]}
    assert reserve.status_code == "ERROR"
    assert reserve.status_message == "InsufficientStock: sold out"
    assert [(event.name, event.attributes) for event in reserve.events] == [("stock.insufficient", {"stock.available": 0})]
    [webhook] = [summary for summary in store.recent() if summary.root_name == "webhook"]
    [link] = store.trace(webhook.trace_id)[0].links
    assert (link.trace_id, link.span_id) == (f"{linked.trace_id:032x}", f"{linked.span_id:016x}")


def test_store_summarizes_traces(store):
    store.write([span_record(1, 1), span_record(1, 0), span_record(2, 0)])
    store.write([span_record(1, 2)])

    newest, oldest = store.recent()

    assert newest.trace_id == span_record(2).trace_id
    assert oldest.trace_id == span_record(1).trace_id
    assert oldest.span_count == 3
    assert oldest.root_name == "root"
    assert oldest.services == ("shop-worker",)
    assert oldest.error_count == 0


def test_store_ignores_repeated_span(store):
    store.write([span_record(1, 0)])
    store.write([span_record(1, 0)])

    assert len(store.trace(span_record(1).trace_id)) == 1
    assert store.recent()[0].span_count == 1


def test_store_prunes_oldest_traces(tmp_path):
    max_bytes = MEGABYTE
    store = TraceStore(tmp_path / "traces.sqlite3", max_bytes=max_bytes)
    for trace_number in range(400):
        store.write([span_record(trace_number, span, padding=2000) for span in range(3)])

    kept = {summary.trace_id for summary in store.recent(limit=1000)}

    assert store.size_bytes() <= max_bytes
    assert span_record(399).trace_id in kept
    assert span_record(0).trace_id not in kept
    # Whatever is kept is the newest traces, without gaps.
    numbers = sorted(int(trace_id, 16) for trace_id in kept)
    assert numbers == list(range(numbers[0], 401))
    # Pruned pages go back to the file system, so the file stays near the limit.
    assert (tmp_path / "traces.sqlite3").stat().st_size <= 2 * max_bytes
    store.close()


WRITER = textwrap.dedent(
    """
    import sys
    from tests.traces.test_store import span_record
    from traces.store import TraceStore, TraceStoreError

    path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = TraceStore(path, max_bytes=100 * 1024 * 1024)
    for trace_number in range(first, first + count):
        store.write([span_record(trace_number, span) for span in range(5)])
    """
)


def test_store_two_processes_write_at_once(tmp_path):
    path = tmp_path / "traces.sqlite3"
    per_process = 200
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(first), str(per_process)],
            cwd=Path(__file__).resolve().parents[2],
            stderr=subprocess.PIPE,
            text=True,
        )
        for first in (0, per_process)
    ]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]

    assert [writer.returncode for writer in writers] == [0, 0], errors
    store = TraceStore(path, max_bytes=100 * MEGABYTE)
    summaries = store.recent(limit=10 * per_process)
    assert len(summaries) == 2 * per_process
    assert {summary.span_count for summary in summaries} == {5}
    store.close()


def test_store_is_not_traced(store, otlp_receiver):
    # The test process is traced as the web process, with the SQLite instrumentation on.
    tracer = telemetry_setup(service_name="shop-web").get_tracer("tests")
    with tracer.start_as_current_span("probe") as probe:
        store.write([span_record(7, 0)])
        store.trace(span_record(7).trace_id)
        store.recent()
    telemetry_flush()
    trace_id = f"{probe.get_span_context().trace_id:032x}"

    def probe_arrived(spans):
        return [span for span in spans if span.trace_id == trace_id] or None

    spans = otlp_receiver.wait_for_spans(probe_arrived, timeout=10)
    assert [span.name for span in spans] == ["probe"]


def test_unwritable_store_logs_one_warning(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    store = TraceStore(blocker / "traces.sqlite3", max_bytes=MEGABYTE)
    exporter = QuietExporter(TraceStoreExporter(store), destination=str(store), hint="Set TRACE_STORE_PATH.")
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))

    with caplog.at_level(logging.WARNING, logger="config.telemetry"):
        for _ in range(3):
            with tracer_provider.get_tracer("tests").start_as_current_span("lost"):
                pass

    warnings = [record.getMessage() for record in caplog.records if record.name == "config.telemetry"]
    assert len(warnings) == 1
    assert str(blocker / "traces.sqlite3") in warnings[0]
    assert "Set TRACE_STORE_PATH." in warnings[0]


def test_span_dict_round_trip():
    span = span_record(3, 1, padding=5)

    assert span_from_dict(span_to_dict(span)) == SpanRecord(**{**span.__dict__, "resource": {"service.name": "shop-worker"}})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
        (" 4bf92f3577b34da6a3ce929d0e0e4736\n", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("0" * 32, None),
        ("4bf92f3577b34da6", None),
        ("ZZZ92F3577B34DA6A3CE929D0E0E4736", None),
        ("7KQ2M9XH4P", None),
    ],
)
def test_trace_id_normalized(text, expected):
    assert trace_id_normalized(text) == expected


def test_store_drops_late_spans_of_pruned_trace(tmp_path):
    store = TraceStore(tmp_path / "traces.sqlite3", max_bytes=MEGABYTE)
    store.write([span_record(0, 0, padding=2000)])
    for trace_number in range(1, 400):
        store.write([span_record(trace_number, span, padding=2000) for span in range(3)])
    assert store.trace(span_record(0).trace_id) == []

    store.write([span_record(0, 5)])

    assert store.trace(span_record(0).trace_id) == []
    assert store.was_pruned(span_record(0).trace_id)
    assert span_record(0).trace_id not in {summary.trace_id for summary in store.recent(limit=1000)}
    store.close()


def test_store_bounds_wal_file(tmp_path):
    max_bytes = MEGABYTE
    store = TraceStore(tmp_path / "traces.sqlite3", max_bytes=max_bytes)
    for trace_number in range(400):
        store.write([span_record(trace_number, span, padding=2000) for span in range(3)])

    # Measured while the connection is open: closing the last one removes the WAL file.
    assert (tmp_path / "traces.sqlite3-wal").stat().st_size <= max_bytes // 2
    store.close()


def test_store_starts_again_after_file_deleted(store, caplog):
    store.write([span_record(1, 0)])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.path}{suffix}").unlink(missing_ok=True)

    with caplog.at_level(logging.WARNING, logger="traces.store"):
        store.write([span_record(2, 0)])

    assert store.path.is_file()
    assert [span.name for span in store.trace(span_record(2).trace_id)] == ["root"]
    assert "was deleted while in use; starting a new one" in caplog.text


def test_store_skips_unreadable_rows(store, caplog):
    store.write([span_record(1, 0), span_record(1, 1)])
    connection = sqlite3.connect(store.path)
    connection.execute("UPDATE spans SET data = 'not json' WHERE span_id = ?", (span_record(1, 1).span_id,))
    connection.commit()
    connection.close()

    with caplog.at_level(logging.WARNING, logger="traces.store"):
        spans = store.trace(span_record(1).trace_id)

    assert [span.name for span in spans] == ["root"]
    assert "Skipped 1 spans of trace" in caplog.text


def test_store_path_folder_explained(tmp_path):
    store = TraceStore(tmp_path, max_bytes=MEGABYTE)

    with pytest.raises(TraceStoreError, match=f"TRACE_STORE_PATH {tmp_path} is a folder. Set it to a file"):
        store.write([span_record(1, 0)])


def test_store_of_older_schema_is_recreated(tmp_path):
    path = tmp_path / "traces.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE spans (trace_id TEXT, span_id TEXT, start_ns INTEGER, data TEXT)")
    connection.commit()
    connection.close()
    store = TraceStore(path, max_bytes=MEGABYTE)

    store.write([span_record(1, 0)])

    assert [span.name for span in store.trace(span_record(1).trace_id)] == ["root"]
    store.close()
