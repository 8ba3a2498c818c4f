"""Cart pages and fragments. None of them is cached: they carry CSRF tokens and one visitor's cart.

Every form works as a plain POST that redirects back; htmx requests get the changed fragment instead, plus the
header's item count swapped out of band.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from patron.accounts.models import User
from patron.analytics import services as analytics
from patron.cart import services
from patron.cart.models import Cart
from patron.catalog.models import Product
from patron.catalog.services import get_product
from patron.errors import ValidationFailed
from patron.storefront.templatetags.storefront import active_variants

# Form fields of the add-to-cart form; every other field names a product option chosen in the variant picker.
ADD_FIELDS = frozenset({"csrfmiddlewaretoken", "product_id", "variant_id", "quantity"})
MAX_ID = 2**63 - 1


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) and request.user.is_authenticated else None


def _number(data: QueryDict, name: str, *, default: int | None = None, label: str = "number") -> int:
    raw = data.get(name, "").strip()
    if not raw and default is not None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"Enter a whole {label}.", fields={name: [f"Enter a whole {label}."]}) from None
    if not -MAX_ID <= value <= MAX_ID:
        raise ValidationFailed(f"Enter a smaller {label}.", fields={name: [f"Enter a smaller {label}."]})
    return value


def _fragment(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    count: int | None = None,
    status: str | None = None,
) -> HttpResponse:
    """A fragment followed by the header's item count and the cart page's status line, swapped out of band."""
    html = render_to_string(template, context, request=request)
    if count is None:
        count = services.item_count(request)
    html += render_to_string("cart/_oob.html", {"count": count, "status": status}, request=request)
    return HttpResponse(html)


# The cart page ------------------------------------------------------------------------------------------------


def _cart_context(request: HttpRequest, cart: Cart | None, **extra: Any) -> dict[str, Any]:
    return {"view": services.view_cart(cart, user=_user(request)), **extra}


@never_cache
@require_safe
def detail(request: HttpRequest) -> HttpResponse:
    cart = services.cart_for_request(request, create=False)
    return render(request, "cart/cart.html", _cart_context(request, cart))


def _after_change(
    request: HttpRequest, cart: Cart, status: str, *, line_id: int | None = None, error: str = ""
) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        context = _cart_context(request, cart, error_line=line_id, error=error)
        return _fragment(request, "cart/_cart.html", context, count=context["view"].item_count, status=error or status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, status)
    return redirect("cart:detail")


def _own_cart(request: HttpRequest) -> Cart:
    cart = services.cart_for_request(request, create=False)
    if cart is None:
        raise Http404("This item is not in your cart.")
    return cart


@never_cache
@require_POST
def update(request: HttpRequest, line_id: int) -> HttpResponse:
    cart = _own_cart(request)
    try:
        quantity = _number(request.POST, "quantity", label="quantity") + _number(request.POST, "step", default=0)
        line = services.set_quantity(cart, line_id, max(quantity, 0))
    except ValidationFailed as error:
        return _after_change(request, cart, "", line_id=line_id, error=error.message)
    if line is None:
        return _after_change(request, cart, "The item was removed from your cart.")
    return _after_change(request, cart, f"{line.variant.product.name}: quantity {line.quantity}.")


@never_cache
@require_POST
def remove(request: HttpRequest, line_id: int) -> HttpResponse:
    cart = _own_cart(request)
    analytics.track_cart_removal(request, cart, line_id)
    services.remove_line(cart, line_id)
    return _after_change(request, cart, "The item was removed from your cart.")


# The header's item count --------------------------------------------------------------------------------------


@never_cache
@require_safe
def mini(request: HttpRequest) -> HttpResponse:
    return render(request, "cart/_count.html", {"count": services.item_count(request)})


# Adding from the product page ---------------------------------------------------------------------------------


def _buy_page(request: HttpRequest, product: Product, *, error: str = "", status: int = 200) -> HttpResponse:
    variants = active_variants(product)
    chosen = request.POST.get("variant_id") or next((str(v.pk) for v in variants if v.stock > 0), "")
    context = {"product": product, "variants": variants, "chosen": chosen, "error": error}
    return render(request, "cart/buy.html", context, status=status)


@never_cache
@require_safe
def buy(request: HttpRequest, product_id: int) -> HttpResponse:
    """The add-to-cart form: a fragment that the (shared, cached) product page loads, or a page of its own."""
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cart/_buy_form.html", {"product_id": product_id})
    return _buy_page(request, get_product(product_id))


def _chosen_variant(request: HttpRequest, product_id: int) -> int:
    if request.POST.get("variant_id", "").strip():
        return _number(request.POST, "variant_id", label="variant")
    options = {name: request.POST[name] for name in request.POST if name not in ADD_FIELDS}
    return services.resolve_variant(product_id, options)


@never_cache
@require_POST
def add(request: HttpRequest) -> HttpResponse:
    try:
        product_id = _number(request.POST, "product_id", label="product")
    except ValidationFailed as error:
        raise Http404(error.message) from error
    try:
        variant_id = _chosen_variant(request, product_id)
        quantity = _number(request.POST, "quantity", default=1, label="quantity")
        # A refused first add leaves no empty cart behind.
        with transaction.atomic():
            cart = services.cart_for_request(request, create=True)
            assert cart is not None
            line = services.add_item(cart, variant_id, quantity)
    except ValidationFailed as error:
        if request.htmx:  # type: ignore[attr-defined]
            context = {"product_id": product_id, "error": error.message}
            return _fragment(request, "cart/_buy_form.html", context)
        return _buy_page(request, get_product(product_id), error=error.message, status=422)
    analytics.track_cart_added(request, line, quantity)
    added = f"Added {line.variant.product.name} (quantity {quantity}) to your cart."
    if request.htmx:  # type: ignore[attr-defined]
        return _fragment(request, "cart/_buy_form.html", {"product_id": product_id, "added": added})
    messages.success(request, added)
    return redirect("cart:detail")
