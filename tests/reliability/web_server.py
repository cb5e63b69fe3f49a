"""A real web server process (gunicorn) against the test database, and a shopper that uses it over HTTP."""
import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import requests

from embedded.ports import LOOPBACK, find_free_port, start_listening_process
from embedded.processes import ManagedProcess, stop_process
from embedded.pytest_plugin import log_dir_for_tests, worker_database_url
from shop.models import Product
from tests.conftest import CUSTOMER

WEB_READY_TIMEOUT = 60.0
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class WebServer:
    process: ManagedProcess
    url: str

    def log_text(self) -> str:
        return self.process.log_path.read_text(errors="replace")


@contextlib.contextmanager
def web_server_running(
    *, name: str, extra_env: Mapping[str, str] | None = None, workers: int = 2, threads: int = 8
) -> Iterator[WebServer]:
    """Run gunicorn with the shop on a free loopback port, with `workers` processes of `threads` threads each."""
    from django.conf import settings
    from django.db import connection

    port = find_free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE,
        "DATABASE_URL": worker_database_url(connection.settings_dict),
        **(extra_env or {}),
    }
    args = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"{LOOPBACK}:{port}",
        "--workers", str(workers), "--threads", str(threads),
        "--timeout", "120",
    ]
    managed = start_listening_process(
        f"web server {name}",
        args,
        port=port,
        url=f"http://{LOOPBACK}:{port}",
        log_path=log_dir_for_tests() / f"{name}.log",
        env=env,
        timeout=WEB_READY_TIMEOUT,
    )
    try:
        yield WebServer(process=managed, url=managed.url)
    finally:
        stop_process(managed)


class HttpShopper:
    """One customer with their own cookies, who buys through the web server as the README's curl script does."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        # Loopback only: no proxy from the environment may carry these requests elsewhere.
        self.session.trust_env = False

    def cart_add(self, product: Product, quantity: int = 1) -> None:
        self.session.get(f"{self.base_url}/products/{product.slug}/", timeout=REQUEST_TIMEOUT).raise_for_status()
        response = self.session.post(
            f"{self.base_url}/cart/add/",
            data={"product": product.pk, "quantity": quantity},
            headers=self._csrf_headers(),
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )
        assert response.status_code == 302, response.text[:500]

    def checkout(self, payment_method: str = "pm_card_visa") -> requests.Response:
        return self.session.post(
            f"{self.base_url}/checkout/",
            data={**CUSTOMER, "payment_method": payment_method},
            headers=self._csrf_headers(),
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )

    def status(self, confirmation_id: str) -> dict:
        response = self.session.get(f"{self.base_url}/orders/{confirmation_id}/status/", timeout=REQUEST_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def _csrf_headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.session.cookies["csrftoken"], "Referer": self.base_url + "/"}


def confirmation_id_of(response: requests.Response) -> str:
    """Return the confirmation ID that a successful checkout redirects to."""
    match = re.fullmatch(r"/orders/([0-9A-Z]+)/", response.headers.get("Location", ""))
    assert match, f"checkout replied {response.status_code} without a redirect to an order: {response.text[:300]}"
    return match.group(1)
