"""`manage.py sweep_orders`: send again the tasks of orders that have waited too long, for cron or a timer."""
import datetime
import math

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fulfillment.sweep import orders_sweep

MAX_DELAY_SECONDS = 365 * 24 * 3600


class Command(BaseCommand):
    help = (
        "Send the fulfillment task again for paid orders and unrefunded out-of-stock orders, and the email "
        "task for pending emails, that have waited longer than the delay. Exits with 1 if the broker did not "
        "take every task."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--delay",
            type=float,
            default=None,
            help=f"seconds an order or email must have waited (default ORDER_SWEEP_DELAY, now {settings.ORDER_SWEEP_DELAY:g})",
        )

    def handle(self, *args, delay: float | None, **options) -> None:
        seconds = settings.ORDER_SWEEP_DELAY if delay is None else delay
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DELAY_SECONDS:
            raise CommandError(
                f"--delay is {seconds:g}, but it must be a number of seconds from 0 to {MAX_DELAY_SECONDS} (one year)."
            )

        result = orders_sweep(delay=datetime.timedelta(seconds=seconds))

        self.stdout.write(
            f"Sent {result.fulfillments} fulfillment, {result.refunds} refund and {result.emails} email task(s)."
        )
        if result.unsent:
            raise CommandError(
                f"{result.unsent} task(s) could not be sent because the broker is unreachable. "
                "Check REDIS_URL; the next sweep tries them again."
            )
