"""Production settings: Django's deployment checks pass, and every secret comes from the environment."""
import importlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.test_compose import required_settings

ROOT = Path(__file__).resolve().parent.parent.parent

SECRETS = [
    "DJANGO_SECRET_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
]
REQUIRED = [*SECRETS, "DJANGO_ALLOWED_HOSTS", "REDIS_URL"]


def production_environment() -> dict[str, str]:
    """Return the smallest environment a production process starts with, with made-up values."""
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "STRIPE_SECRET_KEY": "sk_test_production_settings",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_production_settings",
        "STRIPE_WEBHOOK_SECRET": "whsec_production_settings",
        "AWS_ACCESS_KEY_ID": "AKIAPRODUCTIONTEST",
        "AWS_SECRET_ACCESS_KEY": "production-settings-test",
    }


def load_production_settings(monkeypatch, environment: dict[str, str]):
    """Import the production settings afresh with exactly this environment, and return the module."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for module in ("config.settings.production", "config.settings.base"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return importlib.import_module("config.settings.production")


def test_check_deploy_reports_nothing(tmp_path):
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SHOP_VAR_DIR": str(tmp_path),
        "OTEL_SDK_DISABLED": "true",
        **production_environment(),
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize("variable", REQUIRED)
def test_missing_variable_stops_start(monkeypatch, variable):
    environment = production_environment()
    del environment[variable]

    with pytest.raises(ImproperlyConfigured) as raised:
        load_production_settings(monkeypatch, environment)

    assert str(raised.value) == f"The environment variable {variable} is missing. Set it before starting the shop."


def test_local_secret_key_stops_start(monkeypatch):
    environment = {**production_environment(), "DJANGO_SECRET_KEY": "local-development-only-not-secret"}

    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is the public key of local development"):
        load_production_settings(monkeypatch, environment)


@pytest.mark.parametrize("variable", SECRETS)
def test_secret_has_no_default(variable):
    assert variable in required_settings()


def test_settings_come_from_environment(monkeypatch):
    environment = production_environment()

    production = load_production_settings(monkeypatch, environment)

    assert production.SECRET_KEY == environment["DJANGO_SECRET_KEY"]
    assert production.STRIPE_SECRET_KEY == environment["STRIPE_SECRET_KEY"]
    assert production.STRIPE_WEBHOOK_SECRET == environment["STRIPE_WEBHOOK_SECRET"]
    assert production.ALLOWED_HOSTS == ["shop.example.com"]
    assert production.DEBUG is False
    ses_client = production.ANYMAIL["AMAZON_SES_CLIENT_PARAMS"]
    assert ses_client["aws_access_key_id"] == environment["AWS_ACCESS_KEY_ID"]
    assert ses_client["aws_secret_access_key"] == environment["AWS_SECRET_ACCESS_KEY"]


def test_other_esp_needs_no_aws_keys(monkeypatch):
    environment = production_environment()
    del environment["AWS_ACCESS_KEY_ID"]
    del environment["AWS_SECRET_ACCESS_KEY"]
    environment["EMAIL_BACKEND"] = "anymail.backends.postmark.EmailBackend"
    environment["ANYMAIL_POSTMARK_SERVER_TOKEN"] = "postmark-production-settings-test"

    production = load_production_settings(monkeypatch, environment)

    assert production.ANYMAIL["POSTMARK_SERVER_TOKEN"] == "postmark-production-settings-test"
    assert "aws_access_key_id" not in production.ANYMAIL["AMAZON_SES_CLIENT_PARAMS"]


def test_https_is_enforced_by_default(monkeypatch):
    production = load_production_settings(monkeypatch, production_environment())

    assert production.SECURE_SSL_REDIRECT is True
    assert production.SESSION_COOKIE_SECURE is True
    assert production.CSRF_COOKIE_SECURE is True
    assert production.SECURE_HSTS_SECONDS >= 31_536_000
    assert production.SECURE_HSTS_INCLUDE_SUBDOMAINS is True
