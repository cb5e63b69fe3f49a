"""Settings for a developer's machine. Defaults match the embedded services that `make run` starts."""
import os

# The embedded stand-ins need no real secrets, so local runs get fixed ones
# unless the environment names real services.
os.environ.setdefault("DJANGO_SECRET_KEY", "local-development-only-not-secret")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6380/0")
os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_localstripe")
os.environ.setdefault("STRIPE_PUBLISHABLE_KEY", "pk_test_localstripe")
os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_localstripe")
if os.environ["STRIPE_SECRET_KEY"] == "sk_test_localstripe":
    os.environ.setdefault("STRIPE_API_BASE", "http://127.0.0.1:8420")
if not os.environ.get("EMAIL_BACKEND") and not os.environ.get("AWS_ACCESS_KEY_ID"):
    os.environ.setdefault("AWS_SES_ENDPOINT_URL", "http://127.0.0.1:8430")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

from config.settings.base import *  # noqa: E402,F403
