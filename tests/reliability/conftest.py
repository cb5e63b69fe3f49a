"""Fixtures shared by the fault-injection tests.

The span fixtures come from the tracing tests, so every fault test can scan
what its processes exported for customer data, card data and secrets.
"""
from tests.tracing.conftest import names, receiver, telemetry  # noqa: F401
from tests.tracing.test_privacy import info_logs  # noqa: F401
