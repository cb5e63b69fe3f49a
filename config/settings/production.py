"""Settings for deployed processes: every secret and service address must come from the environment.

`manage.py check --deploy` reports no warnings with these defaults and a
strong DJANGO_SECRET_KEY. The shop must then be served over HTTPS only.
"""
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_str
from config.settings.base import *  # noqa: F403
from config.settings.base import ANYMAIL, EMAIL_BACKEND, MIDDLEWARE, SECRET_KEY

# The key that config/settings/local.py fills in is public, so sessions and
# signed values would be forgeable with it.
LOCAL_SECRET_KEY = "local-development-only-not-secret"
if SECRET_KEY == LOCAL_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is the public key of local development. Set it to a long random value, "
        "for example from: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

# WhiteNoise serves the collected static files from gunicorn; under
# runserver, Django's staticfiles app serves them instead.
MIDDLEWARE = [*MIDDLEWARE[:1], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]

# Required here, because an empty list makes Django reject every request.
ALLOWED_HOSTS = [host.strip() for host in env_str("DJANGO_ALLOWED_HOSTS").split(",") if host.strip()]

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
# Browsers remember HSTS for this many seconds (one year by default), so every
# subdomain must serve HTTPS before this is deployed. SecurityMiddleware sends
# the header on HTTPS responses only.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

if EMAIL_BACKEND == "anymail.backends.amazon_ses.EmailBackend":
    # Passed to boto3 directly, so it never falls back to credential files or
    # an instance metadata service. Other ESPs read ANYMAIL_<NAME> variables.
    ANYMAIL = {
        **ANYMAIL,
        "AMAZON_SES_CLIENT_PARAMS": {
            **ANYMAIL["AMAZON_SES_CLIENT_PARAMS"],
            "aws_access_key_id": env_str("AWS_ACCESS_KEY_ID"),
            "aws_secret_access_key": env_str("AWS_SECRET_ACCESS_KEY"),
            "aws_session_token": env_str("AWS_SESSION_TOKEN", "") or None,
        },
    }
