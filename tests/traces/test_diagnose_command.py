"""`manage.py diagnose` on bad input: each gets a message that names the fix, and exit status 2."""
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from django.db import OperationalError

from orders.models import Order
from tests.fulfillment.test_services import paid_order
from tests.traces.conftest import diagnose_command
from tests.traces.test_store import span_record
from traces.sources import local_trace_store

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_unknown_reference():
    with pytest.raises(CommandError, match="'NOPE' is neither a trace id") as raised:
        diagnose_command("NOPE")

    assert raised.value.returncode == 2


@pytest.mark.django_db
def test_order_without_trace(product):
    order = paid_order(product)
    Order.objects.filter(pk=order.pk).update(trace_id="")

    with pytest.raises(CommandError, match=f"Order {order.confirmation_id} has no trace recorded"):
        diagnose_command(order.confirmation_id)


@pytest.mark.django_db
def test_trace_not_in_store():
    local_trace_store().write([span_record(5, 0)])

    with pytest.raises(CommandError, match=f"No span of trace {'cd' * 16} is in the local trace store .* try again shortly"):
        diagnose_command("cd" * 16)


@pytest.mark.django_db
def test_trace_store_off_explained(settings):
    settings.TRACE_STORE = "off"

    with pytest.raises(CommandError, match="TRACE_STORE is off, so the shop writes no local trace store"):
        diagnose_command("cd" * 16)


@pytest.mark.django_db
def test_trace_store_missing_explained(settings, tmp_path):
    settings.TRACE_STORE_PATH = tmp_path / "nowhere.sqlite3"

    with pytest.raises(CommandError, match="The file does not exist. Run diagnose with the same SHOP_VAR_DIR"):
        diagnose_command("cd" * 16)


@pytest.mark.django_db
def test_trace_only_at_endpoint_explained(settings):
    settings.TRACE_STORE = "auto"

    with pytest.raises(CommandError, match="the shop exports spans only to the endpoint. Set JAEGER_QUERY_URL"):
        diagnose_command("cd" * 16)


@pytest.mark.django_db
def test_pruned_trace_explained(settings, tmp_path):
    settings.TRACE_STORE_PATH = tmp_path / "traces.sqlite3"
    settings.TRACE_STORE_MAX_MB = 1
    store = local_trace_store()
    store.write([span_record(0, 0, padding=2000)])
    for trace_number in range(1, 400):
        store.write([span_record(trace_number, span, padding=2000) for span in range(3)])

    with pytest.raises(CommandError, match=r"The store deleted the trace to stay under TRACE_STORE_MAX_MB \(1 MB\)"):
        diagnose_command(span_record(0).trace_id)


@pytest.mark.django_db
def test_all_zero_trace_id():
    with pytest.raises(CommandError, match=r"The trace id 000…0 \(32 zeros\) is invalid"):
        diagnose_command("0" * 32)


@pytest.mark.django_db
def test_long_reference_shortened():
    with pytest.raises(CommandError) as raised:
        diagnose_command("X" * 100_000)

    assert len(str(raised.value)) < 400
    assert "(100000 characters)" in str(raised.value)


@pytest.mark.django_db
def test_database_unreadable_explained(monkeypatch):
    def unreadable(*args, **kwargs):
        raise OperationalError("unable to open database file")

    monkeypatch.setattr(Order.objects, "filter", unreadable)

    with pytest.raises(CommandError, match="Cannot look up the order in the shop's database") as raised:
        diagnose_command("ABCDEFGHJKMNPQ")

    assert raised.value.returncode == 2


def test_exit_status_two_from_manage_py():
    result = subprocess.run(
        [sys.executable, "manage.py", "diagnose", "ef" * 16],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    assert f"CommandError: No span of trace {'ef' * 16}" in result.stderr
