"""`manage.py diagnose` on bad input: each gets a message that says what to do, and exit status 2."""
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from orders.models import Order
from tests.fulfillment.test_services import paid_order
from tests.traces.conftest import diagnose_command

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
    with pytest.raises(CommandError, match=f"No span of trace {'cd' * 16} is in the local trace store .*TRACE_STORE_MAX_MB"):
        diagnose_command("cd" * 16)


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
