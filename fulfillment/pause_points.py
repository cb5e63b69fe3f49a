"""Test-only pause points: hold a task at a named step so that a test can kill its worker child there.

Off unless the setting FULFILLMENT_PAUSE_DIR names a folder, which only
config.settings.test reads from the environment. A test arms a point by
creating `<folder>/<point>.armed`. The first process to reach that point
renames the file to `<point>.paused`, so exactly one run pauses, writes its
pid to `<point>.pid` and sleeps for up to PAUSE_SECONDS. A redelivered task
finds the point disarmed and runs through.
"""
import logging
import os
import time
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

# Inside the stock transaction, after the stock UPDATE and before the commit.
STOCK_UNCOMMITTED = "stock_uncommitted"
# After the stock transaction committed, before the order is marked fulfilled.
STOCK_COMMITTED = "stock_committed"
# After the email delivery row was claimed, before the message goes to the ESP.
EMAIL_CLAIMED = "email_claimed"
PAUSE_POINTS = (STOCK_UNCOMMITTED, STOCK_COMMITTED, EMAIL_CLAIMED)

# A paused process carries on after this long, so a test that fails to kill
# it does not hang the worker for the rest of the run.
PAUSE_SECONDS = 30.0


def pause_point(name: str) -> None:
    """Sleep here once if a test armed the point `name`; otherwise return at once."""
    folder = settings.FULFILLMENT_PAUSE_DIR
    if not folder:
        return

    folder = Path(folder)
    try:
        # The rename is atomic, so two children reaching the point at once cannot both pause.
        os.rename(folder / f"{name}.armed", folder / f"{name}.paused")
    except FileNotFoundError:
        return

    # Written to a temporary name first, so the test never reads a half-written pid.
    temporary = folder / f"{name}.pid.tmp"
    temporary.write_text(str(os.getpid()))
    temporary.rename(folder / f"{name}.pid")
    logger.warning("Paused at %s in process %s for up to %s s", name, os.getpid(), PAUSE_SECONDS)
    time.sleep(PAUSE_SECONDS)
    logger.warning("Pause at %s ended without the process being killed", name)
