from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from shop.cart import Cart, CartError, quantity_limit
from shop.forms import CartAddForm, CartRemoveForm, CartUpdateForm, field_error_tags
from shop.models import Product
from shop.selectors import product_list


def catalog(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/catalog.html", {"products": product_list()})


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(product_list(), slug=slug)
    return _product_page(request, product)


def _product_page(request: HttpRequest, product: Product, *, status: int = 200) -> HttpResponse:
    context = {
        "product": product,
        "max_quantity": quantity_limit(product=product),
        "quantity_in_cart": Cart(request.session).quantity_of(product=product),
    }
    return render(request, "shop/product_detail.html", context, status=status)


def cart_detail(request: HttpRequest) -> HttpResponse:
    return _cart_page(request)


def _cart_page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    cart = Cart(request.session)
    lines = cart.lines()
    try:
        total = cart.total
        currency = cart.currency
    except CartError as error:
        messages.error(request, str(error))
        total = currency = None
    # Checkout would refuse a line with more units than are in stock, so the
    # page does not offer it until the customer lowers the quantity.
    can_checkout = total is not None and not any(line.exceeds_stock for line in lines)
    context = {"cart": cart, "lines": lines, "total": total, "currency": currency, "can_checkout": can_checkout}
    return render(request, "shop/cart.html", context, status=status)


# An invalid form renders its page again with the error at the field and a
# 400 status, and a change that the stock or the cart does not allow gets 409.
# Only a change that succeeded redirects, so a script can detect the failure too.


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    form = CartAddForm(request.POST)
    product = _product_from_form(form)

    if not form.is_valid():
        messages.error(request, form.errors["quantity"][0], extra_tags=field_error_tags(product=product))
        return _product_page(request, product, status=400)

    quantity = form.cleaned_data["quantity"]
    try:
        Cart(request.session).add(product=product, quantity=quantity)
    except CartError as error:
        messages.error(request, str(error), extra_tags=field_error_tags(product=product))
        return _product_page(request, product, status=409)

    messages.success(request, f"Added {quantity} × {product.name} to your cart.")
    return redirect(product)


@require_POST
def cart_update(request: HttpRequest) -> HttpResponse:
    form = CartUpdateForm(request.POST)
    product = _product_from_form(form)
    cart = Cart(request.session)

    # The cart page shows a quantity field only for products in the cart.
    if product not in cart:
        messages.error(request, f"{product.name} is not in your cart. Add it from its product page first.")
        return _cart_page(request, status=409)

    if not form.is_valid():
        messages.error(request, form.errors["quantity"][0], extra_tags=field_error_tags(product=product))
        return _cart_page(request, status=400)

    quantity = form.cleaned_data["quantity"]
    try:
        cart.set_quantity(product=product, quantity=quantity)
    except CartError as error:
        messages.error(request, str(error), extra_tags=field_error_tags(product=product))
        return _cart_page(request, status=409)

    if quantity == 0:
        messages.success(request, f"Removed {product.name} from your cart.")
    else:
        messages.success(request, f"Changed the quantity of {product.name} to {quantity}.")
    return redirect("shop:cart")


@require_POST
def cart_remove(request: HttpRequest) -> HttpResponse:
    form = CartRemoveForm(request.POST)
    product = _product_from_form(form)

    Cart(request.session).remove(product=product)
    messages.success(request, f"Removed {product.name} from your cart.")
    return redirect("shop:cart")


def _product_from_form(form: forms.Form) -> Product:
    """Return the product named by the form's product field, or raise Http404.

    A missing, malformed or unknown product id is not a customer mistake that
    a message could fix, because the field is hidden.
    """
    form.is_valid()
    if "product" in form.errors:
        raise Http404("No product matches the submitted product id.")
    return get_object_or_404(product_list(), pk=form.cleaned_data["product"])
