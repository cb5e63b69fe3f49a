import json

from django.core.management.base import BaseCommand, CommandError

from traces.diagnosis import ERROR, diagnose
from traces.jaeger import JaegerError
from traces.report import report_dict, report_text
from traces.selectors import TraceReferenceError, trace_reference_resolve
from traces.sources import missing_trace_message, trace_source
from traces.store import TraceStoreError
from traces.tree import SpanTree

# Exit status when the diagnosis has a finding of error severity. Bad input
# and an unreachable source exit with USAGE_ERROR through CommandError.
FINDINGS_EXIT_STATUS = 1
USAGE_ERROR = 2


class Command(BaseCommand):
    help = (
        "Print an order's trace as a span tree and list what went wrong in it. Reads Jaeger when "
        "JAEGER_QUERY_URL is set, else the local trace store. Exits with 1 when a finding has error severity."
    )

    def add_arguments(self, parser):
        parser.add_argument("reference", help="The order's confirmation ID, or a trace id (32 hex digits).")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the spans and findings as JSON.")
        parser.add_argument(
            "--all-spans",
            action="store_true",
            help="Print every database and Redis call on its own line. By default, the calls under one span share a line.",
        )

    def handle(self, *args, reference: str, as_json: bool = False, all_spans: bool = False, **options):
        try:
            resolved = trace_reference_resolve(reference=reference)
            source = trace_source()
            spans = source.traces(resolved.trace_ids)
        except (TraceReferenceError, JaegerError, TraceStoreError) as error:
            raise CommandError(str(error), returncode=USAGE_ERROR) from error

        if not spans:
            raise CommandError(missing_trace_message(source, resolved.trace_ids), returncode=USAGE_ERROR)

        tree = SpanTree(spans)
        findings = diagnose(tree)
        arguments = {
            "tree": tree,
            "findings": findings,
            "source": str(source),
            "trace_ids": resolved.trace_ids,
            "order": resolved.order,
        }
        if as_json:
            self.stdout.write(json.dumps(report_dict(**arguments), indent=2, default=str))
        else:
            self.stdout.write(report_text(**arguments, all_spans=all_spans))

        if any(finding.severity == ERROR for finding in findings):
            raise SystemExit(FINDINGS_EXIT_STATUS)

