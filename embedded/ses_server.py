"""Serve moto's Amazon SES stand-in with the shop's sender identity already verified.

Run as `python -m embedded.ses_server --port 8430 --verify-sender orders@shop.example.com`.
It listens on 127.0.0.1 unless --host names another address. A container
needs no second step to verify the sender: this process binds its port
first and verifies each --verify-sender address through the SES API of a
second, temporary moto listener on 127.0.0.1. Both listeners share moto's
in-memory backends, and the main port serves requests only after
verification, so every client that reaches it finds the sender verified.

embedded.ses.ses_start(), which `make run` and the tests use, starts moto's
own server instead and verifies the sender from outside.
"""
import argparse
import logging
import os
import signal
import sys
import threading
from email.utils import parseaddr

from werkzeug.serving import BaseWSGIServer, make_server

from embedded.ports import LOOPBACK
from embedded.processes import ServiceError
from embedded.ses import verify_email_identity

logger = logging.getLogger("embedded.ses")


def build_server(host: str, port: int) -> BaseWSGIServer:
    """Bind moto's WSGI application to host:port, as `moto_server` does, without serving yet.

    If the address is in use or cannot be bound, werkzeug prints the error
    and exits with status 1.
    """
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def verify_senders(addresses: list[str]) -> None:
    """Verify each address through a temporary moto listener on 127.0.0.1 in this process.

    Raises ServiceError if moto does not accept a verification.
    """
    if not addresses:
        return
    setup = build_server(LOOPBACK, 0)
    thread = threading.Thread(target=setup.serve_forever, name="ses-setup", daemon=True)
    thread.start()
    try:
        endpoint = f"http://{LOOPBACK}:{setup.server_port}"
        for address in addresses:
            verify_email_identity(endpoint, address)
            logger.info("Verified the sender identity %s", address)
    finally:
        setup.shutdown()
        thread.join()
        setup.server_close()


def sender_address(value: str) -> str:
    """Return `value` if it contains an email address, for argparse."""
    if "@" not in parseaddr(value)[1]:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an email address, for example orders@shop.example.com"
        )
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m embedded.ses_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--host",
        default=LOOPBACK,
        help="address to listen on (default 127.0.0.1). 0.0.0.0 listens on every "
        "interface, which only a container whose port is published on purpose needs.",
    )
    parser.add_argument(
        "--port", type=int, default=8430, help="TCP port to listen on (default 8430)"
    )
    parser.add_argument(
        "--verify-sender",
        dest="senders",
        metavar="ADDRESS",
        type=sender_address,
        action="append",
        default=[],
        help="email address to verify as a sender identity before serving, the shop's "
        "DEFAULT_FROM_EMAIL. Repeat it for several senders. Without it, SES rejects "
        "every message with MessageRejected.",
    )
    return parser.parse_args(argv)


def _stop_on_sigterm(signum, frame) -> None:
    # Python turns only SIGINT into KeyboardInterrupt, and a process that is
    # PID 1 in a container ignores SIGTERM unless it installs a handler.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, verify the senders and serve until SIGINT or SIGTERM."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # moto imports boto3, and this process calls moto through it. Neither may
    # reach the instance metadata service, as embedded.ses.ses_start() ensures too.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    server = build_server(args.host, args.port)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        verify_senders(args.senders)
        logger.info(
            "SES (moto) listening on http://%s:%s, verified senders: %s",
            args.host,
            server.server_port,
            ", ".join(args.senders) or "none",
        )
        # werkzeug's serve_forever() returns when KeyboardInterrupt reaches it.
        server.serve_forever()
    except ServiceError as error:
        logger.error("%s", error)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    logger.info("SES (moto) stopped")


if __name__ == "__main__":
    main()
