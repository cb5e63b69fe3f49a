"""Start moto's server as a stand-in for Amazon SES and verify the shop's sender address.

anymail's Amazon SES backend (django-anymail 15) sends through the SES v2
API (boto3 client "sesv2", SendEmail). moto 5 keeps SES v1 and v2 identities
in one backend and, like SES in its sandbox, rejects a message whose sender
is not a verified identity with MessageRejected.
"""
import os
import sys
import time
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path

from embedded.paths import log_path
from embedded.ports import LOOPBACK, start_listening_process
from embedded.processes import ManagedProcess, ServiceError

DEFAULT_SENDER = "orders@shop.example.com"
REGION = "us-east-1"
# moto accepts any credentials. These are placeholders that also keep boto3
# from looking for real ones in profiles or the instance metadata service.
ACCESS_KEY_ID = "embedded"
SECRET_ACCESS_KEY = "embedded"


def ses_start(
    port: int,
    *,
    sender: str | None = None,
    verify_sender: bool = True,
    log_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    timeout: float = 60.0,
) -> ManagedProcess:
    """Start moto's server on 127.0.0.1:`port` and, by default, verify the sender.

    `sender` defaults to DEFAULT_FROM_EMAIL from `environ`, then to
    orders@shop.example.com, matching config.settings.base. With
    `verify_sender=False` every send fails with MessageRejected until the
    caller verifies an identity itself. The returned process's url is the
    endpoint for AWS_SES_ENDPOINT_URL. The log goes to `log_file`, by default
    var/log/ses.log.
    """
    args = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    child_env = dict(environ)
    # moto's server sends nothing outside this machine, but it imports boto3
    # too, so keep it away from the instance metadata service as well.
    child_env["AWS_EC2_METADATA_DISABLED"] = "true"

    def sender_verified(managed: ManagedProcess) -> None:
        if not verify_sender:
            return
        address = sender or environ.get("DEFAULT_FROM_EMAIL") or DEFAULT_SENDER
        try:
            verify_email_identity(managed.url, address)
        except ServiceError as error:
            raise ServiceError(f"{error} See {managed.log_path}.") from error

    return start_listening_process(
        "SES (moto)",
        args,
        port=port,
        url=f"http://{LOOPBACK}:{port}",
        log_path=log_file or log_path("ses", environ),
        env=child_env,
        timeout=timeout,
        ready=sender_verified,
    )


def ses_client(endpoint_url: str, service: str = "ses"):
    """Return a boto3 client for `service` ("ses" or "sesv2") at the embedded endpoint."""
    import boto3

    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def verify_email_identity(endpoint_url: str, address: str, *, timeout: float = 30.0) -> None:
    """Mark `address` as a verified sender at the embedded SES endpoint.

    moto verifies at once, where SES would first email a confirmation link.
    The call is repeated until `timeout` seconds pass, because moto's server
    may accept connections before it handles its first request. A display
    name such as "Shop <orders@shop.example.com>" is dropped, as SES expects
    the bare address.
    """
    import botocore.exceptions

    address = parseaddr(address)[1] or address

    client = ses_client(endpoint_url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.verify_email_identity(EmailAddress=address)
            return
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"Verifying the sender {address} at the SES endpoint {endpoint_url} failed: "
                    f"{error}."
                ) from error
            time.sleep(0.5)
