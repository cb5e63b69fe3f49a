"""Measure the local trace store: write throughput with one and two writers, pruning, and reading plus diagnosis.

    .venv/bin/python benchmarks/trace_store.py [--output benchmarks/trace_store.txt]

It writes spans shaped like the shop's (a dozen attributes, some with SQL
statements) to a temporary file, so it touches nothing under var/. The
numbers depend on the machine and its disk; the output names both.
"""
import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from traces.diagnosis import diagnose  # noqa: E402
from traces.report import report_text  # noqa: E402
from traces.spans import SpanRecord, span_from_dict  # noqa: E402
from traces.store import TraceStore  # noqa: E402
from traces.tree import SpanTree  # noqa: E402

MEGABYTE = 1024 * 1024
BATCH_SPANS = 64
STATEMENT = 'SELECT "orders_orderline"."id", "orders_orderline"."order_id", "orders_orderline"."product_id" FROM "orders_orderline" WHERE "orders_orderline"."order_id" = %s'
WORKSHOP_TRACE = Path(__file__).resolve().parents[1] / "docs" / "trace_picture" / "workshop-trace.json"


def shop_like_span(trace_number: int, span_number: int, writer: int) -> SpanRecord:
    return SpanRecord(
        service_name="shop-worker",
        scope="opentelemetry.instrumentation.sqlite3",
        trace_id=f"{writer:08x}{trace_number:024x}",
        span_id=f"{span_number + 1:016x}",
        parent_span_id="" if span_number == 0 else f"{1:016x}",
        name="SELECT",
        kind="CLIENT",
        status_code="UNSET",
        status_message="",
        attributes={"db.system": "sqlite", "db.statement": STATEMENT, "db.name": "shop", "order.id": trace_number},
        events=(),
        links=(),
        start_ns=time.time_ns(),
        end_ns=time.time_ns() + 50_000,
    )


def write_batches(path: str, writer: int, batches: int, max_bytes: int, spans_per_trace: int = 32) -> list[float]:
    """Write `batches` batches and return each write's duration in seconds."""
    store = TraceStore(path, max_bytes=max_bytes)
    durations = []
    span_counter = 0
    for _ in range(batches):
        batch = []
        for _ in range(BATCH_SPANS):
            trace_number, span_number = divmod(span_counter, spans_per_trace)
            batch.append(shop_like_span(trace_number, span_number, writer))
            span_counter += 1
        started = time.perf_counter()
        store.write(batch)
        durations.append(time.perf_counter() - started)
    store.close()
    return durations


def _writer_process(arguments: tuple[str, int, int, int]) -> list[float]:
    return write_batches(*arguments)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def measure_writes(folder: Path, writers: int, batches: int) -> str:
    path = str(folder / f"writers-{writers}.sqlite3")
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(writers) as pool:
        results = pool.map(_writer_process, [(path, writer, batches, 1024 * MEGABYTE) for writer in range(writers)])
    elapsed = time.perf_counter() - started
    durations = [duration for result in results for duration in result]
    spans = writers * batches * BATCH_SPANS
    return (
        f"{writers} writer(s), {batches} batches of {BATCH_SPANS} spans each: {spans / elapsed:,.0f} spans/s in all, "
        f"write p50 {statistics.median(durations) * 1000:.1f} ms, p99 {percentile(durations, 0.99) * 1000:.1f} ms"
    )


def measure_pruning(folder: Path, max_megabytes: int, batches: int) -> str:
    path = folder / "pruned.sqlite3"
    durations = write_batches(str(path), 0, batches, max_megabytes * MEGABYTE)
    store = TraceStore(path, max_bytes=max_megabytes * MEGABYTE)
    kept = len(store.recent(limit=1_000_000))
    used = store.size_bytes()
    store.close()
    written_traces = batches * BATCH_SPANS // 32
    return (
        f"limit {max_megabytes} MB, {written_traces} traces written: {kept} kept, data {used / MEGABYTE:.1f} MB, "
        f"file {path.stat().st_size / MEGABYTE:.1f} MB, write p50 {statistics.median(durations) * 1000:.1f} ms, "
        f"max {max(durations) * 1000:.1f} ms (the writes that prune)"
    )


def measure_diagnosis(folder: Path, copies: int) -> str:
    """Store the workshop order's recorded spans `copies` times over as one trace, then read and diagnose it."""
    recorded = json.loads(WORKSHOP_TRACE.read_text())["spans"]
    spans = []
    for copy in range(copies):
        for data in recorded:
            data = dict(data, trace_id="ab" * 16)
            data["span_id"] = f"{copy:04x}{data['span_id'][4:]}"
            if data["parent_span_id"]:
                data["parent_span_id"] = f"{copy:04x}{data['parent_span_id'][4:]}"
            spans.append(span_from_dict(data))
    store = TraceStore(folder / "diagnosis.sqlite3", max_bytes=1024 * MEGABYTE)
    store.write(spans)

    started = time.perf_counter()
    read = store.trace("ab" * 16)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    tree = SpanTree(read)
    findings = diagnose(tree)
    report_text(tree=tree, findings=findings, source=str(store), trace_ids=["ab" * 16])
    diagnose_seconds = time.perf_counter() - started
    store.close()
    return (
        f"{len(read)} spans ({copies} copies of the workshop order): read {read_seconds * 1000:.0f} ms, "
        f"diagnose and print {diagnose_seconds * 1000:.0f} ms, {len(findings)} findings"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="Also write the results to this file.")
    arguments = parser.parse_args()

    lines = [
        f"Trace store benchmark, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs",
    ]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        lines.append("Writes: " + measure_writes(folder, 1, 400))
        lines.append("Writes: " + measure_writes(folder, 2, 400))
        lines.append("Pruning: " + measure_pruning(folder, 5, 1500))
        lines.append("Diagnosis: " + measure_diagnosis(folder, 1))
        lines.append("Diagnosis: " + measure_diagnosis(folder, 20))
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if arguments.output:
        arguments.output.write_text(text)


if __name__ == "__main__":
    main()
