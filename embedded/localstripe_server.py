"""Serve localstripe's fake Stripe API and Stripe.js, on 127.0.0.1 unless --host names another address.

Run as `python -m embedded.localstripe_server --port N`. localstripe's own
start() is not used: in localstripe 1.15.10 it binds `::` on every interface
and loads and saves its objects in /tmp/localstripe.pickle. This server binds
127.0.0.1, or the address given with --host, keeps objects in memory only,
and starts empty every time.

With --webhook-url and --webhook-secret it registers the shop's webhook
endpoint before it listens, so a container needs no second step to do it.

Three changes bring localstripe 1.15.10 closer to Stripe, see
_decline_charges_like_stripe(), _stripe_js_source() and
idempotency_middleware_create().
"""
import argparse
import logging
import sys
import urllib.parse
from pathlib import Path

from aiohttp import web
from localstripe import resources
from localstripe import server as localstripe_server
from localstripe import webhooks as localstripe_webhooks

from embedded.ports import LOOPBACK

logger = logging.getLogger("embedded.localstripe")

STRIPE_JS_PATH = "/js.stripe.com/v3/"
# The id that embedded.stripe.register_webhook() uses too, so registering
# through the API later replaces the endpoint given on the command line.
WEBHOOK_ID = "shop"
LOCALSTRIPE_JS_FILE = Path(localstripe_server.__file__).with_name("localstripe-v3.js")

# Stripe.js value of the card number as the person typed it. Stripe's Card
# Element ignores the spaces in "4242 4242 4242 4242", and localstripe's
# element also moves focus to the expiry month once the value is 16
# characters long, so spaces must go before either check sees the value.
CARD_NUMBER_VALUE = "number: this._inputs.number.value,"
CARD_NUMBER_VALUE_WITHOUT_SPACES = "number: this._inputs.number.value.replace(/\\s+/g, ''),"

CREATE_PAYMENT_METHOD_STUB = "createPaymentMethod: async () => {},"

# Stripe.js createPaymentMethod() for card Elements. It accepts the current
# form createPaymentMethod({type: 'card', card: element, billing_details})
# and the older form createPaymentMethod('card', element, {billing_details}),
# and resolves to {paymentMethod} or {error} as Stripe.js does. The JSON body
# is sent without a Content-Type header, like localstripe's createSource(),
# so the browser makes a simple CORS request with no preflight, which
# localstripe has no OPTIONS route for.
CREATE_PAYMENT_METHOD = """createPaymentMethod: async (typeOrParams, element, data) => {
      console.log('localstripe: Stripe().createPaymentMethod()');
      const params = typeof typeOrParams === 'string'
        ? {type: typeOrParams, card: element, ...(data || {})}
        : {...typeOrParams};
      if (params.type !== 'card') {
        return {error: {
          type: 'invalid_request_error',
          message: 'localstripe supports createPaymentMethod() only for ' +
                   `type 'card', not '${params.type}'.`,
        }};
      }
      if (params.card instanceof Element) {
        const value = params.card.value;
        if (!value || !value.card.number) {
          return {error: {
            type: 'validation_error',
            code: 'incomplete_number',
            message: 'Your card number is incomplete.',
          }};
        }
        params.card = {...value.card};
        params.billing_details = {...(params.billing_details || {})};
        params.billing_details.address =
          {...(params.billing_details.address || {})};
        if (!params.billing_details.address.postal_code && value.postal_code) {
          params.billing_details.address.postal_code = value.postal_code;
        }
      }
      try {
        const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_methods`, {
          method: 'POST',
          body: JSON.stringify({
            key: apiKey,
            payment_user_agent: 'localstripe',
            ...params,
          }),
        });
        const body = await response.json().catch(() => ({}));
        if (response.status !== 200 || body.error) {
          return {error: body.error || {
            type: 'api_error',
            message: `localstripe returned HTTP ${response.status}.`,
          }};
        }
        return {paymentMethod: body};
      } catch (err) {
        return {error: {type: 'api_connection_error', message: String(err)}};
      }
    },"""


def _disable_pickle_store() -> None:
    """Keep localstripe's objects in memory only.

    localstripe 1.15.10 pickles its whole store to /tmp/localstripe.pickle on
    every change, a fixed path shared by every localstripe on the machine.
    """
    resources.Store.dump_to_disk = lambda self: None


def _decline_charges_like_stripe() -> None:
    """Decline charges on the cards that localstripe declines only when attached.

    Stripe declines test card 4000000000000002 (pm_card_visa_chargeDeclined)
    when it is charged, for example by a confirmed PaymentIntent. localstripe
    1.15.10 declines it, and the other cards in
    PaymentMethod._attaching_is_declined(), only when attached to a customer,
    so a PaymentIntent confirmed with it succeeds. After this change the
    charge fails with HTTP 402 and code card_declined, which the stripe
    library raises as stripe.CardError. localstripe reports card_declined for
    every one of these cards, where Stripe gives some of them other codes,
    such as expired_card for 4000000000000069.
    """
    charging_is_declined = resources.PaymentMethod._charging_is_declined

    def _charging_is_declined(payment_method) -> bool:
        return charging_is_declined(payment_method) or (
            resources.PaymentMethod._attaching_is_declined(payment_method)
        )

    resources.PaymentMethod._charging_is_declined = _charging_is_declined


def _stripe_js_source() -> str:
    """Return localstripe's Stripe.js with createPaymentMethod() implemented.

    localstripe 1.15.10 ships createPaymentMethod() as an empty stub that
    resolves to undefined. The card Element keeps localstripe's plain inputs,
    whose placeholders are number, exp_month, exp_year (two digits), cvc and
    postal_code.
    """
    source = LOCALSTRIPE_JS_FILE.read_text()
    for expected in (CARD_NUMBER_VALUE, CREATE_PAYMENT_METHOD_STUB):
        if source.count(expected) != 1:
            raise RuntimeError(
                f"{LOCALSTRIPE_JS_FILE} does not contain {expected!r} exactly once, so this "
                "localstripe version differs from 1.15.10, which embedded.localstripe_server "
                "was written for. Install localstripe 1.15.10 or update the patch."
            )
    source = source.replace(CARD_NUMBER_VALUE, CARD_NUMBER_VALUE_WITHOUT_SPACES)
    return source.replace(CREATE_PAYMENT_METHOD_STUB, CREATE_PAYMENT_METHOD)


@web.middleware
async def auth_middleware(request: web.Request, handler):
    """Accept a publishable key for POST /v1/payment_methods, as Stripe does.

    Stripe.js creates PaymentMethods with the publishable key. localstripe
    1.15.10 accepts a publishable key only on a few other paths, so every
    other request goes through localstripe's own check.
    """
    if request.method == "POST" and request.path == "/v1/payment_methods":
        data = await localstripe_server.get_post_data(request, remove_auth=False)
        key = data.get("key") if data else None
        if isinstance(key, str) and key.startswith("pk_"):
            return await handler(request)
    return await localstripe_server.auth_middleware(request, handler)


def idempotency_middleware_create():
    """Return a middleware that replays POST responses by Idempotency-Key, as Stripe does.

    localstripe 1.15.10 ignores the header, so a client that retries a
    request whose response it never got, such as stripe-python after a
    read timeout, would create a second PaymentIntent and charge twice.
    Like Stripe, the middleware stores the first response for each key and
    API key and replays it with `Idempotent-Replayed: true`. A request
    that reuses a key with other parameters gets 400, and one that arrives
    while the first is still running gets 409, which stripe-python retries.
    Stripe keeps keys for 24 hours, and this server keeps them until it
    stops.
    """
    stored: dict[tuple[str, str], tuple[bytes, int, bytes, str]] = {}
    running: set[tuple[str, str]] = set()

    def idempotency_error(status: int, message: str) -> web.Response:
        return localstripe_server.json_response(
            {"error": {"type": "idempotency_error", "message": message}}, status=status
        )

    @web.middleware
    async def idempotency_middleware(request: web.Request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)

        store_key = (request.headers.get("Authorization", ""), key)
        body = await request.read()
        if store_key in running:
            return idempotency_error(409, f"A request with the idempotency key {key!r} is still being processed.")
        if store_key in stored:
            first_body, status, response_body, content_type = stored[store_key]
            if first_body != body:
                return idempotency_error(
                    400, f"The idempotency key {key!r} was used before with other parameters. Use a new key."
                )
            logger.info("Replayed the response to idempotency key %s", key)
            return web.Response(
                status=status, body=response_body, content_type=content_type, headers={"Idempotent-Replayed": "true"}
            )

        running.add(store_key)
        try:
            response = await handler(request)
        finally:
            running.discard(store_key)
        stored[store_key] = (body, response.status, response.body, response.content_type)
        return response

    return idempotency_middleware


def build_app() -> web.Application:
    """Build an aiohttp application with localstripe's routes and this module's changes.

    localstripe's module-level app cannot take a new middleware or a
    replaced route, so its routes are copied, in order, into a new app.
    Its store-saving middleware is left out.
    """
    _disable_pickle_store()
    _decline_charges_like_stripe()
    stripe_js = _stripe_js_source()

    async def serve_stripe_js(request: web.Request) -> web.Response:
        return web.Response(text=stripe_js, content_type="application/javascript")

    app = web.Application(
        middlewares=[localstripe_server.error_middleware, auth_middleware, idempotency_middleware_create()]
    )
    app.on_response_prepare.append(localstripe_server.add_cors_headers)
    for route in localstripe_server.app.router.routes():
        path = route.resource.canonical
        handler = serve_stripe_js if path == STRIPE_JS_PATH else route.handler
        app.router.add_route(route.method, path, handler)
    return app


def webhook_url(value: str) -> str:
    """Return `value` if it is an absolute http or https URL, for argparse."""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an absolute http:// or https:// URL, "
            "for example http://web:8000/stripe/webhook/"
        )
    return value


def register_webhook(url: str, secret: str) -> None:
    """Send every event to `url`, signed with `secret`, as POST /_config/webhooks/shop would.

    localstripe keeps webhooks in a module-level registry, so registering in
    this process before the server starts needs no HTTP request.
    """
    localstripe_webhooks.register_webhook(WEBHOOK_ID, url, secret, None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m embedded.localstripe_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--host",
        default=LOOPBACK,
        help="address to listen on (default 127.0.0.1). 0.0.0.0 listens on every "
        "interface, which only a container whose port is published on purpose needs.",
    )
    parser.add_argument(
        "--port", type=int, default=8420, help="TCP port to listen on (default 8420)"
    )
    parser.add_argument(
        "--webhook-url",
        type=webhook_url,
        help="URL that receives every event, for example http://web:8000/stripe/webhook/ "
        "(default: none until one is registered through /_config/webhooks/)",
    )
    parser.add_argument(
        "--webhook-secret",
        help="signing secret of --webhook-url, the shop's STRIPE_WEBHOOK_SECRET",
    )
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret, the shop's STRIPE_WEBHOOK_SECRET")
    if args.webhook_secret and not args.webhook_url:
        parser.error("--webhook-secret needs --webhook-url")
    return args


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until SIGINT or SIGTERM."""
    args = parse_args(argv)

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        app = build_app()
    except RuntimeError as error:
        logger.error("%s", error)
        sys.exit(1)

    if args.webhook_url:
        register_webhook(args.webhook_url, args.webhook_secret)
        logger.info("Sending every event to the webhook %s", args.webhook_url)

    logger.info("localstripe listening on http://%s:%s, objects kept in memory", args.host, args.port)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=logging.getLogger("aiohttp.access"),
        print=None,
    )


if __name__ == "__main__":
    main()
