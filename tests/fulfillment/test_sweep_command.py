"""`manage.py sweep_orders` rejects a delay that is not a usable number of seconds."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.django_db
@pytest.mark.parametrize("delay", ["nan", "inf", "-1", "1e20"])
def test_unusable_delay_rejected(delay):
    with pytest.raises(CommandError, match="but it must be a number of seconds from 0 to 31536000"):
        call_command("sweep_orders", "--delay", delay)
