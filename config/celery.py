"""The Celery application shared by the web process and the worker."""
import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def telemetry_start_in_child(**kwargs) -> None:
    # Each prefork child sets up its own provider, because the exporter's
    # background thread does not survive the fork from the parent.
    from config.telemetry import telemetry_setup

    telemetry_setup(service_name="shop-worker")


@worker_process_shutdown.connect(weak=False)
def telemetry_flush_in_child(**kwargs) -> None:
    # A child recycled by worker_max_tasks_per_child exits right after this,
    # and the batch processor's queue would be lost with it.
    from config.telemetry import telemetry_flush

    telemetry_flush()
