"""WSGI entry point, imported by gunicorn and by runserver through WSGI_APPLICATION."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# Tracing must be in place before Django builds the application, because the
# Django instrumentation adds its middleware to the settings.
from config.telemetry import telemetry_setup  # noqa: E402

telemetry_setup(service_name="shop-web")

application = get_wsgi_application()
