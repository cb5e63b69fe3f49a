import os

from django.core.management.base import BaseCommand, CommandError

from fulfillment.faults import FAULTS, UnknownFaultError, faults_apply_environment, faults_enabled, faults_set


class Command(BaseCommand):
    help = (
        "List the workshop faults and switch them on or off. Without options, list them. "
        "Changes apply at once in the web process and every worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--on", nargs="+", default=[], metavar="FAULT", help="Faults to switch on.")
        parser.add_argument("--off", nargs="+", default=[], metavar="FAULT", help="Faults to switch off.")
        parser.add_argument("--all-on", action="store_true", help="Switch every fault on (the workshop scenario).")
        parser.add_argument("--all-off", action="store_true", help="Switch every fault off (the fixed shop).")
        parser.add_argument(
            "--from-env",
            action="store_true",
            help="Set the faults that SHOP_SCENARIO and SHOP_FAULTS name; do nothing if both are unset.",
        )

    def handle(self, *args, **options):
        enabled, disabled = list(options["on"]), list(options["off"])
        if options["all_on"] and options["all_off"]:
            raise CommandError("--all-on and --all-off cannot be used together.")
        if options["all_on"]:
            enabled = list(FAULTS)
        if options["all_off"]:
            disabled = list(FAULTS)

        try:
            if options["from_env"]:
                faults_apply_environment(os.environ)
            if enabled or disabled:
                faults_set(enabled=enabled, disabled=disabled)
        except UnknownFaultError as exc:
            raise CommandError(str(exc)) from exc

        active = faults_enabled()
        width = max(len(name) for name in FAULTS)
        for name, description in FAULTS.items():
            state = "on " if name in active else "off"
            self.stdout.write(f"{state}  {name:<{width}}  {description}")
