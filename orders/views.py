import logging
import secrets

import stripe
from django.conf import settings
from opentelemetry import trace
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config import telemetry_names as names
from orders import payments, selectors, services
from orders.forms import CheckoutForm, checkout_token_submitted
from orders.payments import PaymentOutcome, PaymentServiceError
from shop.cart import Cart, CartError

logger = logging.getLogger(__name__)

PAYMENT_UNAVAILABLE = "The payment service is not answering right now, and you were not charged. Try again in a minute."
PAYMENT_NOT_CONFIRMED = (
    "The payment service did not reply, so your payment is not confirmed yet. "
    "Submit the form again in a minute to retry. You will not be charged twice."
)


def _checkout_render(
    request: HttpRequest, form: CheckoutForm, cart: Cart, *, status: int = 200, checkout_token: str = ""
) -> HttpResponse:
    context = {
        "form": form,
        "cart_lines": cart.lines(),
        "cart": cart,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "stripe_js_url": settings.STRIPE_JS_URL,
        # A new token on every render, so a retry after a decline is a new
        # order, unless the caller keeps the token of an unconfirmed payment.
        "checkout_token": checkout_token or secrets.token_urlsafe(24),
    }
    return render(request, "orders/checkout.html", context, status=status)


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    token = checkout_token_submitted(request.POST) if request.method == "POST" else ""
    # The form was submitted before, perhaps from the browser's back button.
    earlier = selectors.order_get_by_checkout_token(checkout_token=token)
    if earlier is not None and not selectors.order_payment_retryable(order=earlier):
        return redirect("orders:detail", confirmation_id=earlier.confirmation_id)
    if cart.is_empty:
        messages.info(request, "Your cart is empty. Add an item before checking out.")
        return redirect("shop:cart")
    try:
        cart.total
    except CartError as exc:
        messages.error(request, str(exc))
        return redirect("shop:cart")

    if request.method == "GET":
        return _checkout_render(request, CheckoutForm(), cart)

    form = CheckoutForm(request.POST)
    if not form.is_valid():
        # A form that retries an unconfirmed payment keeps its token, so its next submission still finds that order.
        kept_token = earlier.checkout_token if earlier is not None else ""
        return _checkout_render(request, form, cart, status=400, checkout_token=kept_token)

    if earlier is not None:
        # Stripe did not reply to this form's first submission. Paying the
        # same order again reuses its idempotency key, so a charge that did
        # go through is found instead of made twice.
        logger.info("Checkout form submitted again for order %s, whose payment is not confirmed", earlier.pk)
        order = earlier
    else:
        lines = [services.CheckoutLine(product=line.product, quantity=line.quantity) for line in cart.lines()]
        # A client that sent no token, such as a script, gets one for the
        # form that a failed payment renders again.
        token = token or secrets.token_urlsafe(24)
        try:
            order = services.order_create(lines=lines, customer=form.cleaned_data, checkout_token=token)
        except services.DuplicateCheckout as duplicate:
            logger.info("Checkout form submitted again for order %s; showing that order", duplicate.order.pk)
            return redirect("orders:detail", confirmation_id=duplicate.order.confirmation_id)
        except services.CheckoutError as exc:
            form.add_error(None, str(exc))
            return _checkout_render(request, form, cart, status=409)

    try:
        result = services.order_pay(
            order=order,
            payment_method_id=form.cleaned_data["payment_method"],
            browser_can_authenticate=form.cleaned_data["stripe_js"],
        )
    except PaymentServiceError as exc:
        # The order stays awaiting payment: Stripe may have charged the card
        # without replying, and its webhook or the customer's retry settles it.
        logger.warning("Payment for order %s is not confirmed: %s", order.pk, exc)
        form.add_error(None, PAYMENT_NOT_CONFIRMED)
        return _checkout_render(request, form, cart, status=503, checkout_token=order.checkout_token)

    if result.outcome is PaymentOutcome.DECLINED:
        form.add_error(None, f"{result.message} Your cart is still here. Try another card.")
        return _checkout_render(request, form, cart, status=402)

    if result.outcome is PaymentOutcome.REQUIRES_ACTION:
        return render(
            request,
            "orders/authenticate.html",
            {
                "order": order,
                "client_secret": result.client_secret,
                "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                "stripe_js_url": settings.STRIPE_JS_URL,
                "complete_url": reverse("orders:payment_complete", args=[order.confirmation_id]),
            },
        )

    cart.clear()
    _span_tag_order(order, status_shown=selectors.order_status_payload(order=order))
    return redirect("orders:detail", confirmation_id=order.confirmation_id)


@require_http_methods(["GET", "POST"])
def payment_complete(request: HttpRequest, confirmation_id: str) -> HttpResponse:
    """Check the payment with Stripe after Stripe.js handled 3-D Secure in the browser."""
    order = selectors.order_get_by_confirmation_id(confirmation_id=confirmation_id)
    _span_tag_order(order)
    if order.status == order.Status.AWAITING_PAYMENT:
        try:
            result = services.order_payment_sync(order=order)
        except PaymentServiceError:
            logger.exception("Payment state of order %s could not be read", order.pk)
            messages.error(request, PAYMENT_UNAVAILABLE)
            return redirect("orders:checkout")
        except services.CheckoutError as error:
            logger.warning("Order %s returned from 3-D Secure without a PaymentIntent to check", order.pk)
            messages.error(request, str(error))
            return redirect("orders:checkout")
        if result.outcome is PaymentOutcome.DECLINED:
            messages.error(request, f"{result.message} Your cart is still here.")
            return redirect("orders:checkout")

    if order.status == order.Status.PAYMENT_FAILED:
        messages.error(request, order.payment_error or "Your payment did not go through.")
        return redirect("orders:checkout")

    Cart(request.session).clear()
    _span_tag_order(order, status_shown=selectors.order_status_payload(order=order))
    return redirect("orders:detail", confirmation_id=order.confirmation_id)


def _span_tag_order(order, *, status_shown: dict | None = None) -> None:
    """Tag the request's span with the order and with the status the response shows the customer.

    The order id lets a Jaeger search by order.id find the customer's page
    views too. The status shown lets a diagnosis tell a response that
    claims success from one that states the order is still processing.
    """
    span = trace.get_current_span()
    span.set_attribute(names.ORDER_ID, order.pk)
    if status_shown is not None:
        span.set_attribute(names.ORDER_STATUS_SHOWN, status_shown["status"])


@require_GET
def order_detail(request: HttpRequest, confirmation_id: str) -> HttpResponse:
    order = selectors.order_get_by_confirmation_id(confirmation_id=confirmation_id)
    status = selectors.order_status_payload(order=order)
    _span_tag_order(order, status_shown=status)
    context = {
        "order": order,
        "status": status,
        "masked_email": selectors.email_mask(order.email),
        "status_url": reverse("orders:status", args=[order.confirmation_id]),
    }
    return render(request, "orders/detail.html", context)


@require_GET
def order_status(request: HttpRequest, confirmation_id: str) -> JsonResponse:
    order = selectors.order_get_by_confirmation_id(confirmation_id=confirmation_id)
    status = selectors.order_status_payload(order=order)
    _span_tag_order(order, status_shown=status)
    response = JsonResponse(status)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Receive Stripe events, verified with the endpoint's signing secret instead of a CSRF token."""
    try:
        event = payments.webhook_event_construct(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except stripe.SignatureVerificationError:
        logger.warning("Rejected a Stripe webhook with a missing or invalid signature")
        return HttpResponseBadRequest("The Stripe-Signature header is missing or does not match the signing secret.")
    except payments.WebhookPayloadError as error:
        logger.warning("Rejected a signed Stripe webhook: %s", error)
        return HttpResponseBadRequest(str(error))

    services.webhook_event_handle(event=event)
    return HttpResponse(status=200)
