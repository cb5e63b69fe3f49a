"""Start the localstripe stand-in for the Stripe API and point its webhooks at the shop."""
import ipaddress
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from embedded.paths import log_path
from embedded.ports import LOOPBACK, start_listening_process
from embedded.processes import ManagedProcess, ServiceError

# localstripe accepts any key of the right prefix, so these are placeholders
# rather than secrets. config.settings.local uses the same values.
SECRET_KEY = "sk_test_localstripe"
PUBLISHABLE_KEY = "pk_test_localstripe"
WEBHOOK_SECRET = "whsec_localstripe"


def localstripe_start(
    port: int,
    *,
    log_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    timeout: float = 30.0,
) -> ManagedProcess:
    """Start embedded.localstripe_server on 127.0.0.1:`port` and wait until it listens.

    The returned process's url is the API base for the stripe library, and
    Stripe.js is served at `<url>/js.stripe.com/v3/`. The log goes to
    `log_file`, by default var/log/localstripe.log.
    """
    args = [sys.executable, "-m", "embedded.localstripe_server", "--port", str(port)]
    return start_listening_process(
        "localstripe",
        args,
        port=port,
        url=f"http://{LOOPBACK}:{port}",
        log_path=log_file or log_path("localstripe", environ),
        timeout=timeout,
    )


def register_webhook(
    api_base: str,
    url: str,
    *,
    secret: str = WEBHOOK_SECRET,
    webhook_id: str = "shop",
    timeout: float = 10.0,
) -> None:
    """Make localstripe send its events to `url`, signed with `secret`.

    localstripe POSTs each event, for example payment_intent.succeeded, about
    one second after it happens, with a Stripe-Signature header that
    stripe.Webhook.construct_event() accepts. Registering the same
    `webhook_id` again replaces the earlier URL and secret.

    `api_base` must be a loopback address because the request carries the
    webhook secret and only localstripe has this endpoint.
    """
    host = urllib.parse.urlsplit(api_base).hostname or ""
    if not _is_loopback(host):
        raise ValueError(
            f"register_webhook() talks only to a localstripe on this machine, but the API base "
            f"{api_base!r} is not a loopback address. Pass the URL of the embedded localstripe."
        )

    endpoint = f"{api_base.rstrip('/')}/_config/webhooks/{urllib.parse.quote(webhook_id)}"
    body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    request = urllib.request.Request(endpoint, data=body, method="POST")
    # An empty ProxyHandler keeps HTTP_PROXY from routing loopback traffic elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as error:
        raise ServiceError(
            f"Registering the webhook {url} with localstripe at {api_base} failed: {error}. "
            "Check that localstripe runs at that address."
        ) from error


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
