"""The diagnosis of real orders' traces: workshop faults, a clean order, a rejected email."""
import re

import pytest

from config.telemetry import telemetry_flush
from fulfillment.faults import FAULTS, UNVERIFIED_SENDER
from orders.models import Order
from tests.conftest import cart_add, checkout_data, wait_for
from tests.traces.conftest import diagnose_command, order_place
from traces import diagnosis
from traces.sources import local_trace_store

pytestmark = pytest.mark.django_db(transaction=True)


def kinds(report: dict) -> list[str]:
    return [finding["kind"] for finding in report["findings"]]


def findings_of(report: dict, kind: str) -> list[dict]:
    return [finding for finding in report["findings"] if finding["kind"] == kind]


@pytest.fixture
def workshop_report(client, stock_product, fulfillment_worker) -> dict:
    placed = order_place(client, stock_product, faults=list(FAULTS))
    assert placed.order.status == Order.Status.FULFILLMENT_FAILED
    result = diagnose_command(placed.order.confirmation_id, "--json")
    assert result.exit_status == 1, result.output[-2000:]
    return result.json()


def test_workshop_customer_told_success(workshop_report):
    [finding] = findings_of(workshop_report, diagnosis.CUSTOMER_TOLD_SUCCESS)
    assert finding["severity"] == "error"
    assert finding["facts"]["status_shown"] == "fulfilled"
    assert finding["facts"]["http_status"] == 302
    assert "run/fulfillment.fulfill_order" in finding["facts"]["failed_operations"]


def test_workshop_email_rejected(workshop_report):
    rejected = [
        finding
        for finding in findings_of(workshop_report, diagnosis.DISTINCT_ERROR)
        if "MessageRejected" in finding["facts"]["exception_type"]
    ]
    assert len(rejected) == 1, kinds(workshop_report)
    assert rejected[0]["facts"]["operation"] == "SESv2.SendEmail"
    assert rejected[0]["facts"]["service"] == "shop-worker"
    assert "authority to send" in rejected[0]["facts"]["message"]
    assert "not verified" in rejected[0]["hint"]


def test_workshop_task_retried_three_times(workshop_report, settings):
    [finding] = findings_of(workshop_report, diagnosis.TASK_RETRIED)
    outcomes = [attempt["outcome"] for attempt in finding["facts"]["attempts"]]
    assert finding["facts"]["task"] == "fulfillment.fulfill_order"
    assert len(outcomes) == settings.FULFILLMENT_MAX_ATTEMPTS
    assert outcomes == ["RETRY"] * (settings.FULFILLMENT_MAX_ATTEMPTS - 1) + ["FAILURE"]
    assert finding["facts"]["permanent_error_retried"] is True


def test_workshop_stock_update_repeated(workshop_report, settings):
    [finding] = findings_of(workshop_report, diagnosis.REPEATED_WRITE)
    assert finding["facts"]["operation"] == "stock.reserve"
    assert finding["facts"]["key"]["stock.sku"] == "DIAG-001"
    assert finding["facts"]["count"] == settings.FULFILLMENT_MAX_ATTEMPTS


def test_workshop_conditional_update_missed(workshop_report, settings):
    [finding] = findings_of(workshop_report, diagnosis.CONDITIONAL_UPDATE_MISSED)
    assert finding["severity"] == "error"
    assert finding["facts"]["sku"] == "DIAG-001"
    assert finding["facts"]["count"] == settings.FULFILLMENT_MAX_ATTEMPTS - 1
    assert finding["facts"]["expected"] == 10
    assert finding["facts"]["available"] == 8


def test_workshop_findings_name_their_spans(workshop_report):
    span_ids = {span["span_id"] for span in workshop_report["spans"]}
    for finding in workshop_report["findings"]:
        assert finding["span_ids"], finding["title"]
        assert set(finding["span_ids"]) <= span_ids, finding["title"]


def test_fixed_mode_has_no_findings(client, stock_product, fulfillment_worker):
    placed = order_place(client, stock_product, faults=[])
    assert placed.order.status == Order.Status.FULFILLED

    result = diagnose_command(placed.order.confirmation_id, "--json")

    assert result.json()["findings"] == []
    assert result.exit_status == 0


def test_fixed_mode_rejected_email_one_finding(client, stock_product, fulfillment_worker):
    placed = order_place(client, stock_product, faults=[UNVERIFIED_SENDER])
    assert placed.order.status == Order.Status.FULFILLED

    result = diagnose_command(placed.order.confirmation_id, "--json")

    [finding] = result.json()["findings"]
    assert finding["kind"] == diagnosis.DISTINCT_ERROR
    assert "MessageRejected" in finding["facts"]["exception_type"]
    assert finding["facts"]["count"] == 1
    assert result.exit_status == 1


def test_text_report_lists_tree_and_findings(client, stock_product, fulfillment_worker):
    placed = order_place(client, stock_product, faults=[UNVERIFIED_SENDER])

    result = diagnose_command(placed.order.confirmation_id)

    assert f"\nTrace {placed.order.trace_id} from the local trace store " in result.output
    assert "\n  order.create [shop-web]" in result.output
    assert "Findings: 1\n1. ERROR MessageRejected in SESv2.SendEmail [shop-worker], 1 time:" in result.output
    assert "began in: SESv2.SendEmail [shop-worker]" in result.output
    # The database calls under one span share a line unless --all-spans is given.
    assert re.search(r"\n +\d+ (sqlite|postgresql) calls, [0-9.]+ ms: ", result.output)
    every_span = diagnose_command(placed.order.confirmation_id, "--all-spans")
    assert not re.search(r" calls, [0-9.]+ ms: ", every_span.output)
    tree = every_span.output.split("\n\nFindings:")[0].split(" spans\n\n", 1)[1].splitlines()
    assert len(tree) == len(placed.spans)


def test_declined_card_is_handled(client, stock_product):
    cart_add(client, stock_product, 1)
    response = client.post("/checkout/", checkout_data(payment_method="pm_card_visa_chargeDeclined"))
    assert response.status_code == 402
    trace_id = response["traceresponse"].split("-")[1]

    def server_span_stored():
        telemetry_flush()
        return any(span.kind == "SERVER" for span in local_trace_store().trace(trace_id))

    wait_for(server_span_stored, timeout=30, message="the checkout's SERVER span in the store")
    result = diagnose_command(trace_id, "--json")

    [finding] = result.json()["findings"]
    assert finding["kind"] == diagnosis.DISTINCT_ERROR
    assert finding["severity"] == "warning"
    assert finding["facts"]["exception_type"] == "HTTP 402"
    assert finding["facts"]["handled"] is True
    assert "handled by payment.confirm, which did not fail" in finding["details"]
    assert result.exit_status == 0


def test_trace_without_root_is_incomplete(client, stock_product, fulfillment_worker):
    placed = order_place(client, stock_product, faults=[])
    root = next(span for span in placed.spans if not span.parent_span_id)
    children = [span for span in placed.spans if span.parent_span_id == root.span_id]

    findings = diagnosis.diagnose([span for span in placed.spans if span is not root])

    [finding] = findings
    assert finding.kind == diagnosis.TRACE_INCOMPLETE
    assert finding.severity == "warning"
    assert set(finding.span_ids) == {span.span_id for span in children}
    assert finding.facts["missing_parent_span_ids"] == [root.span_id]


def test_report_starts_with_order_and_summary(client, stock_product, fulfillment_worker):
    placed = order_place(client, stock_product, faults=list(FAULTS))

    lines = diagnose_command(placed.order.confirmation_id).output.splitlines()

    assert lines[0] == f"Order {placed.order.confirmation_id}, status Fulfillment failed."
    assert lines[1].startswith("6 findings, 6 of error severity: customer_told_success, error x2, task_retried, ")
