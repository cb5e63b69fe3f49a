"""Settings shared by every environment. Values come from the environment."""
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("SHOP_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "anymail",
    "shop",
    "orders",
    "fulfillment",
    "traces",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.cart",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'shop.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to one file. WAL lets readers
    # proceed during a write, and IMMEDIATE transactions take the write lock
    # up front instead of failing when a read lock cannot be upgraded.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
SESSION_COOKIE_HTTPONLY = True

# Celery: the broker is Redis. Results are not stored because the order row
# is the record of what fulfillment did.
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died unacknowledged is redelivered after this many
    # seconds. It must exceed the longest retry countdown, or Redis would
    # hand a scheduled retry to a second worker (checked below).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
}
# One queue name per deployment, so that two shops (or a test run) sharing a
# Redis server never consume each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "fulfillment")
CELERY_TASK_SERIALIZER = "json"
# Recycle a worker child after this many tasks; 0 never recycles. Each child
# flushes its spans as it exits, so recycling loses none.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 0, minimum=0) or None
# The worker logs through the LOGGING setting below, like the web process,
# so its lines carry the same trace_id and span_id fields.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_ACCEPT_CONTENT = ["json"]

# Fulfillment retries: attempts counts the first run, so 3 means two retries.
FULFILLMENT_MAX_ATTEMPTS = env_int("FULFILLMENT_MAX_ATTEMPTS", 3, minimum=1)
# Seconds. Retry n waits a random time up to BACKOFF * 2**n, capped at MAX.
FULFILLMENT_RETRY_BACKOFF = env_float("FULFILLMENT_RETRY_BACKOFF", 2.0, minimum=0.0)
FULFILLMENT_RETRY_BACKOFF_MAX = env_float("FULFILLMENT_RETRY_BACKOFF_MAX", 60.0, minimum=0.0)
# A worker keeps a retry unacknowledged until its countdown ends. If the
# countdown were longer than the visibility timeout, Redis would hand the same
# message to another worker meanwhile and the retry would run twice.
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= FULFILLMENT_RETRY_BACKOFF_MAX:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT is {CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']} s, not above "
        f"FULFILLMENT_RETRY_BACKOFF_MAX of {FULFILLMENT_RETRY_BACKOFF_MAX:g} s, the longest retry countdown. "
        "Raise CELERY_VISIBILITY_TIMEOUT or lower FULFILLMENT_RETRY_BACKOFF_MAX."
    )

# The email task has its own retry policy, so a slow ESP never delays the
# stock step. Attempts include the first send. With the default backoff, ten
# attempts wait at most about 5 minutes in all (2 + 4 + ... + 60 s, capped),
# so a short ESP outage ends in a sent email rather than a staff resend.
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 10, minimum=1)

# The order sweeper (fulfillment/sweep.py) sends a task again for work that
# has waited this many seconds: a paid order no worker fulfilled, an
# unrefunded out-of-stock order or a pending email. Celery beat runs it
# every ORDER_SWEEP_INTERVAL seconds, and `manage.py sweep_orders` runs it once.
ORDER_SWEEP_DELAY = env_float("ORDER_SWEEP_DELAY", 600.0, minimum=0.0)
ORDER_SWEEP_INTERVAL = env_float("ORDER_SWEEP_INTERVAL", 300.0, minimum=1.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-orders": {"task": "fulfillment.sweep_orders", "schedule": ORDER_SWEEP_INTERVAL},
}

# Folder of the test-only pause points (fulfillment/pause_points.py). Empty
# turns them off, and only config.settings.test sets it.
FULFILLMENT_PAUSE_DIR = ""

# Stripe. STRIPE_API_BASE points the stripe library at localstripe when the
# real API is not used; Stripe.js is then served by localstripe too.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_JS_URL = env_str(
    "STRIPE_JS_URL",
    "https://js.stripe.com/v3/"
    if STRIPE_API_BASE == "https://api.stripe.com"
    else f"{STRIPE_API_BASE.rstrip('/')}/js.stripe.com/v3/",
)
STRIPE_CURRENCY = env_str("STRIPE_CURRENCY", "usd")
# Seconds for one Stripe request. stripe-python's own default is 80, which
# would hold a checkout or a worker process for minutes when Stripe stalls.
STRIPE_TIMEOUT_SECONDS = env_float("STRIPE_TIMEOUT_SECONDS", 20.0, minimum=0.1)

# Email goes through django-anymail. Amazon SES is the default ESP. Set
# EMAIL_BACKEND to another anymail backend and pass its settings as
# ANYMAIL_<NAME> variables, for example ANYMAIL_POSTMARK_SERVER_TOKEN.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "anymail.backends.amazon_ses.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "orders@shop.example.com")
# The sender used while the `unverified_sender` workshop fault is on: an
# identity that the email service has not verified, so it rejects the message.
UNVERIFIED_FROM_EMAIL = env_str("UNVERIFIED_FROM_EMAIL", "orders@unverified-sender.example.net")
AWS_SES_ENDPOINT_URL = env_str("AWS_SES_ENDPOINT_URL", "") or None
AWS_REGION = env_str("AWS_REGION", "us-east-1")


def _anymail_settings() -> dict:
    import os

    settings = {
        "AMAZON_SES_CLIENT_PARAMS": {
            "region_name": AWS_REGION,
            **({"endpoint_url": AWS_SES_ENDPOINT_URL} if AWS_SES_ENDPOINT_URL else {}),
        },
    }
    for name, value in os.environ.items():
        if name.startswith("ANYMAIL_") and value:
            settings[name.removeprefix("ANYMAIL_")] = value
    return settings


ANYMAIL = _anymail_settings()

# Tracing. config/telemetry.py reads the standard OTEL_* variables itself.
# Jaeger's web UI as a browser reaches it. Empty: trace links open the
# admin's own trace view, which reads the local trace store.
JAEGER_UI_URL = env_str("JAEGER_UI_URL", "")
# Jaeger's query service as this process reaches it (port 16686). When set,
# `manage.py diagnose` and the admin's trace view read traces from its
# /api/v3 API instead of the local trace store.
JAEGER_QUERY_URL = env_str("JAEGER_QUERY_URL", "")
# The local trace store: "auto" writes it when no OTLP endpoint is set in the
# environment, "on" writes it beside the OTLP export as well, "off" never.
TRACE_STORE = env_choice("TRACE_STORE", "auto", choices=("auto", "on", "off"))
TRACE_STORE_PATH = Path(env_str("TRACE_STORE_PATH", str(VAR_DIR / "traces.sqlite3")))
# The store deletes its oldest traces when its data grows past this size.
TRACE_STORE_MAX_MB = env_int("TRACE_STORE_MAX_MB", 100, minimum=1)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "trace_context": {"()": "config.logging.TraceContextFilter"},
        "redact_email": {"()": "config.redaction.RedactEmailFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s %(processName)s "
            "trace_id=%(otelTraceID)s span_id=%(otelSpanID)s: %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["trace_context", "redact_email"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
        # QuietExporter logs one warning when no collector listens; the
        # exporter's own per-batch messages would repeat it every few seconds.
        "opentelemetry.exporter.otlp.proto.http": {"level": "CRITICAL"},
        # runserver's request log, through the same filters: an admin search
        # puts the searched email address in the logged query string.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
