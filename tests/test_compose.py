"""docker-compose.yml is checked by parsing, because no Docker engine runs here."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES_NEEDED = {"web", "worker", "postgres", "redis", "localstripe", "ses"}
# Settings that config/settings/base.py reads without a default.
REQUIRED_VARIABLES = {
    "DJANGO_SECRET_KEY",
    "REDIS_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_is_defined(compose):
    assert SERVICES_NEEDED <= set(compose["services"])


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        assert "test" in service.get("healthcheck", {}), f"{name} has no healthcheck"


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if "build" not in service:
            assert re.search(r":\d", image), f"{name} uses an unpinned image {image!r}"


@pytest.mark.parametrize("name", ["web", "worker"])
def test_shop_processes_get_every_required_setting(compose, name):
    environment = compose["services"][name]["environment"]

    assert REQUIRED_VARIABLES <= set(environment)
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert "localstripe:8420" in environment["STRIPE_API_BASE"]
    assert "ses:8430" in environment["AWS_SES_ENDPOINT_URL"]
    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_web_and_worker_share_one_build(compose):
    web, worker = compose["services"]["web"], compose["services"]["worker"]

    assert web["build"] == worker["build"] == "."
    assert web["image"] == worker["image"]
    assert (ROOT / "Dockerfile").is_file()


def test_worker_can_be_scaled(compose):
    worker = compose["services"]["worker"]

    # A fixed container name or a published port would clash between replicas.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"].startswith("celery -A config worker")


def test_web_publishes_port_on_loopback(compose):
    assert "127.0.0.1:8000:8000" in compose["services"]["web"]["ports"]


def test_shop_waits_for_healthy_database_and_broker(compose):
    for name in ("web", "worker"):
        depends_on = compose["services"][name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"
