"""The tracing workshop's four faults, each a switch that is off by default.

The shop comes from a workshop whose end-to-end trace exposed four faults
in an asynchronous order flow. Each one can be switched back on to see it
in a trace; switched off, the fixed code runs. Flags live in the database,
so the web process and every worker see a change on their next read.
"""
import logging
from collections.abc import Iterable, Mapping

from django.db import transaction

from fulfillment.models import FaultFlag

logger = logging.getLogger(__name__)

CONFIRM_BEFORE_FULFILLMENT = "confirm_before_fulfillment"
UNVERIFIED_SENDER = "unverified_sender"
RETRY_WHOLE_TASK = "retry_whole_task"
REPEAT_STOCK_UPDATE = "repeat_stock_update"

FAULTS: dict[str, str] = {
    CONFIRM_BEFORE_FULFILLMENT: "The confirmation page reports success as soon as the payment passes.",
    UNVERIFIED_SENDER: "Emails are sent from an identity that the email service has not verified.",
    RETRY_WHOLE_TASK: "One task reserves stock and sends the email, and is retried as a whole on any error.",
    REPEAT_STOCK_UPDATE: (
        "The stock update is not idempotent: it is conditional on the stock level read at checkout, "
        "so a repeated update fails its condition."
    ),
}

WORKSHOP_SCENARIO = "workshop"
SCENARIOS = (WORKSHOP_SCENARIO, "fixed")


class UnknownFaultError(ValueError):
    pass


def fault_names_validate(names: Iterable[str]) -> list[str]:
    """Return the names stripped and without blanks, or raise UnknownFaultError naming the unknown ones."""
    cleaned = [name.strip() for name in names if name.strip()]
    unknown = sorted(set(cleaned) - set(FAULTS))
    if unknown:
        raise UnknownFaultError(
            f"Unknown fault {', '.join(repr(name) for name in unknown)}. "
            f"Use one of: {', '.join(FAULTS)}."
        )
    return cleaned


def fault_enabled(name: str) -> bool:
    """Return whether a fault is on. Read from the database on every call, so a change applies at once."""
    if name not in FAULTS:
        raise UnknownFaultError(f"Unknown fault {name!r}. Use one of: {', '.join(FAULTS)}.")
    return FaultFlag.objects.filter(name=name, enabled=True).exists()


def faults_enabled() -> frozenset[str]:
    return frozenset(FaultFlag.objects.filter(enabled=True, name__in=FAULTS).values_list("name", flat=True))


@transaction.atomic
def faults_set(*, enabled: Iterable[str] = (), disabled: Iterable[str] = ()) -> frozenset[str]:
    """Switch the named faults on and off, and return the faults that are on afterwards."""
    enabled = fault_names_validate(enabled)
    disabled = fault_names_validate(disabled)
    both = sorted(set(enabled) & set(disabled))
    if both:
        raise UnknownFaultError(f"Fault {', '.join(both)} cannot be switched both on and off at once.")

    for name in enabled:
        FaultFlag.objects.update_or_create(name=name, defaults={"enabled": True})
    for name in disabled:
        FaultFlag.objects.update_or_create(name=name, defaults={"enabled": False})
    if enabled or disabled:
        logger.warning("Workshop faults switched on: %s; off: %s", ",".join(enabled) or "-", ",".join(disabled) or "-")
    return faults_enabled()


def faults_from_environment(environ: Mapping[str, str]) -> list[str] | None:
    """Return the faults that SHOP_SCENARIO and SHOP_FAULTS ask for, or None when neither is set.

    SHOP_SCENARIO=workshop turns on all four; SHOP_SCENARIO=fixed turns all
    off. SHOP_FAULTS names, comma-separated, the faults to turn on; the
    caller turns the others off.
    """
    scenario = environ.get("SHOP_SCENARIO", "").strip().lower()
    names = environ.get("SHOP_FAULTS", "")
    if not scenario and not names.strip():
        return None
    if scenario and scenario not in SCENARIOS:
        raise UnknownFaultError(f"SHOP_SCENARIO is {scenario!r}. Use one of: {', '.join(SCENARIOS)}.")

    wanted = fault_names_validate(names.split(","))
    if scenario == WORKSHOP_SCENARIO:
        wanted = list(FAULTS)
    return wanted


def faults_apply_environment(environ: Mapping[str, str]) -> frozenset[str] | None:
    """Set the flags that the environment names. Return the faults now on, or None if neither variable is set."""
    wanted = faults_from_environment(environ)
    if wanted is None:
        return None
    return faults_set(enabled=wanted, disabled=[name for name in FAULTS if name not in wanted])
