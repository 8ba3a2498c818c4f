"""Carts: adding and changing lines against current stock, guest carts, merging on sign-in, and the priced view.

A cart holds variants and quantities only. Prices, availability and totals are read every time the cart is
shown (`view_cart`), so a shopper always sees what the checkout will charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from patron.accounts.models import User
from patron.cart.models import Cart, CartLine
from patron.catalog.models import ProductImage, Variant
from patron.errors import NotFound, ValidationFailed
from patron.pricing.services import Quote, QuoteLine, quote

# The web session remembers a guest's cart by its token under this key.
SESSION_KEY = "cart_token"
# API guests send their cart token back in this header.
CART_TOKEN_HEADER = "X-Cart-Token"  # noqa: S105 (a header name, not a secret)
TOKEN_MAX_LENGTH = 64

UNAVAILABLE = "This product is no longer available."
OUT_OF_STOCK = "This item is out of stock."


def _quantity_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"quantity": [message]})


def _variant_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"variant_id": [message]})


def is_available(variant: Variant) -> bool:
    """Whether the variant can be bought at all (stock aside); `variant.product` must be loaded."""
    product = variant.product
    return variant.is_active and product.is_active and product.archived_at is None


# Finding carts ------------------------------------------------------------------------------------------------


def get_cart(*, user: User | None, token: str | None, create: bool) -> Cart | None:
    """A signed-in customer's own cart, else the guest cart behind `token` (never a customer's cart).

    With `create`, a missing cart is made; a guest then gets a fresh token (an unknown one is not reused).
    """
    if user is not None and user.is_authenticated:
        if create:
            return Cart.objects.get_or_create(user=user)[0]
        return Cart.objects.filter(user=user).first()
    found = None
    if token and len(token) <= TOKEN_MAX_LENGTH:
        found = Cart.objects.filter(token=token, user__isnull=True).first()
    if found is None and create:
        found = Cart.objects.create()
    return found


def claim_session_cart(request: HttpRequest) -> Cart | None:
    """After sign-in, merge the guest cart the session remembers into the customer's cart."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return None
    token = request.session.pop(SESSION_KEY, None)
    return merge_guest_token(token, user) if token else None


def cart_for_request(request: HttpRequest, *, create: bool) -> Cart | None:
    """The web shopper's cart: the signed-in customer's, else the one the guest's session remembers."""
    user = request.user
    if isinstance(user, User) and user.is_authenticated:
        # A cart filled as a guest just before signing up or in joins the account on first sight.
        claim_session_cart(request)
        return get_cart(user=user, token=None, create=create)
    cart = get_cart(user=None, token=request.session.get(SESSION_KEY), create=create)
    if cart is not None and request.session.get(SESSION_KEY) != cart.token:
        request.session[SESSION_KEY] = cart.token
    return cart


def item_count(request: HttpRequest) -> int:
    """How many items the web shopper's cart holds, in one query, without creating a cart."""
    user = request.user
    if isinstance(user, User) and user.is_authenticated:
        claim_session_cart(request)
        lines = CartLine.objects.filter(cart__user=user)
    else:
        token = request.session.get(SESSION_KEY)
        if not token:
            return 0
        lines = CartLine.objects.filter(cart__token=token, cart__user__isnull=True)
    return int(lines.aggregate(count=Sum("quantity"))["count"] or 0)


# Changing lines -----------------------------------------------------------------------------------------------


def _touch(cart: Cart) -> None:
    Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())


def _check_stock(variant: Variant, quantity: int, *, already: int = 0) -> None:
    if not is_available(variant):
        raise _variant_error(UNAVAILABLE)
    if variant.stock <= 0:
        raise _quantity_error(OUT_OF_STOCK)
    if quantity > variant.stock:
        in_cart = f" ({already} already in your cart)" if already else ""
        raise _quantity_error(f"Only {variant.stock} left in stock{in_cart}.")


def resolve_variant(product_id: int, options: Mapping[str, str]) -> int:
    """The active variant of a product whose options are exactly the chosen ones (none for a plain product)."""
    variants = list(Variant.objects.filter(product_id=product_id, is_active=True))
    if not variants:
        raise _variant_error(UNAVAILABLE)
    if len(variants) == 1:
        # The product page offers no choice for a single variant, whatever options it carries.
        return variants[0].pk
    wanted = {name: str(value) for name, value in options.items()}
    for variant in variants:
        if {name: str(value) for name, value in variant.options.items()} == wanted:
            return variant.pk
    raise _variant_error("This combination is not available; please choose another.")


def add_item(cart: Cart, variant_id: int, quantity: int) -> CartLine:
    """Put `quantity` of a variant in the cart, on top of what is already there, within current stock."""
    if quantity < 1:
        raise _quantity_error("Choose a quantity of at least 1.")
    with transaction.atomic():
        variant = Variant.objects.select_related("product").filter(pk=variant_id).first()
        if variant is None:
            raise _variant_error(UNAVAILABLE)
        line = CartLine.objects.select_for_update().filter(cart=cart, variant=variant).first()
        already = line.quantity if line is not None else 0
        _check_stock(variant, already + quantity, already=already)
        if line is None:
            line = CartLine.objects.create(cart=cart, variant=variant, quantity=quantity)
        else:
            line.quantity = already + quantity
            line.save(update_fields=["quantity"])
        _touch(cart)
    return line


def _own_line(cart: Cart, line_id: int) -> CartLine:
    line = CartLine.objects.select_related("variant__product").filter(cart=cart, pk=line_id).first()
    if line is None:
        raise NotFound("This item is not in your cart.")
    return line


def set_quantity(cart: Cart, line_id: int, quantity: int) -> CartLine | None:
    """Change a line's quantity; 0 removes the line (and returns None)."""
    if quantity < 0:
        raise _quantity_error("Choose a quantity of 0 or more.")
    with transaction.atomic():
        line = _own_line(cart, line_id)
        if quantity == 0:
            line.delete()
            _touch(cart)
            return None
        _check_stock(line.variant, quantity)
        if line.quantity != quantity:
            line.quantity = quantity
            line.save(update_fields=["quantity"])
            _touch(cart)
    return line


def remove_line(cart: Cart, line_id: int) -> None:
    deleted, _ = CartLine.objects.filter(cart=cart, pk=line_id).delete()
    if not deleted:
        raise NotFound("This item is not in your cart.")
    _touch(cart)


def clear_cart(cart: Cart) -> None:
    CartLine.objects.filter(cart=cart).delete()
    _touch(cart)


def merge_guest_cart(guest: Cart, user: User) -> Cart:
    """Move a guest cart into the customer's cart: quantities add up, capped at current stock.

    A line whose item ran out keeps its quantity, so that the cart flags it instead of silently dropping it.
    """
    with transaction.atomic():
        target = get_cart(user=user, token=None, create=True)
        assert target is not None
        if guest.pk == target.pk or guest.user_id is not None:
            return target
        incoming = list(CartLine.objects.select_related("variant").filter(cart=guest))
        existing = {line.variant_id: line for line in CartLine.objects.filter(cart=target)}
        changed, created = [], []
        for line in incoming:
            stock = line.variant.stock
            mine = existing.get(line.variant_id)
            total = line.quantity + (mine.quantity if mine else 0)
            quantity = min(total, stock) if stock > 0 else total
            if mine is None:
                created.append(CartLine(cart=target, variant_id=line.variant_id, quantity=quantity))
            elif mine.quantity != quantity:
                mine.quantity = quantity
                changed.append(mine)
        guest.delete()
        CartLine.objects.bulk_create(created)
        if changed:
            CartLine.objects.bulk_update(changed, ["quantity"])
        _touch(target)
    return target


def merge_guest_token(token: str | None, user: User) -> Cart | None:
    """Merge the guest cart behind `token` (if there is one) into the customer's cart, e.g. on API sign-in."""
    guest = get_cart(user=None, token=token, create=False) if token else None
    return merge_guest_cart(guest, user) if guest is not None else None


# Showing the cart ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartItem:
    """One line as the shopper sees it, at the current price, with what stands in the way of buying it."""

    line: CartLine
    variant: Variant
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    available: bool
    stock: int
    problem: str | None
    image: ProductImage | None

    @property
    def id(self) -> int:
        return self.line.pk

    @property
    def product_name(self) -> str:
        return self.variant.product.name


@dataclass(frozen=True)
class CartView:
    cart: Cart | None
    items: list[CartItem]
    # None when pricing cannot even estimate the totals (no shipping method delivers anywhere); `pricing_problem`
    # then says why.
    quote: Quote | None
    pricing_problem: str | None = None

    @property
    def token(self) -> str | None:
        return self.cart.token if self.cart is not None and self.cart.user_id is None else None

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def problems(self) -> list[str]:
        return [f"{item.product_name}: {item.problem}" for item in self.items if item.problem]

    @property
    def can_check_out(self) -> bool:
        return bool(self.items) and self.quote is not None and not any(item.problem for item in self.items)


def _item(line: CartLine, *, with_images: bool = True) -> CartItem:
    variant = line.variant
    available = is_available(variant)
    problem = None
    if not available:
        problem = UNAVAILABLE
    elif variant.stock <= 0:
        problem = OUT_OF_STOCK
    elif line.quantity > variant.stock:
        problem = f"Only {variant.stock} left in stock; please lower the quantity."
    image = next(iter(variant.product.images.all()), None) if with_images else None
    priced = QuoteLine(variant_id=variant.pk, unit_price=variant.price, quantity=line.quantity)
    return CartItem(
        line=line,
        variant=variant,
        quantity=line.quantity,
        unit_price=variant.price,
        line_total=priced.line_total,
        available=available and variant.stock > 0,
        stock=variant.stock,
        problem=problem,
        image=image,
    )


def cart_lines(cart: Cart, *, with_images: bool = True) -> list[CartLine]:
    """The lines with variant, product (and images) loaded: one query, two with the images, whatever the cart holds."""
    lines = CartLine.objects.filter(cart=cart).select_related("variant__product")
    if with_images:
        images = Prefetch("variant__product__images", queryset=ProductImage.objects.order_by("position", "id"))
        lines = lines.prefetch_related(images)
    return list(lines)


def view_cart(
    cart: Cart | None,
    *,
    shipping_method: str | None = None,
    country: str | None = None,
    region: str = "",
    discount_code: str | None = None,
    user: User | None = None,
    email: str | None = None,
    for_order: bool = False,
) -> CartView:
    """The cart at current prices, each line's problem (gone, out of stock, too many), and the totals.

    Totals cover the lines that can be bought. Pricing refusals of the caller's choices (a bad discount code, an
    unknown shipping method, a country nothing ships to) propagate as ValidationFailed naming the field; an
    estimate without a country that pricing cannot give is reported in `pricing_problem` instead. `for_order` is
    for placing an order in the caller's transaction: no pictures, and the discount code is locked for redeeming.
    """
    items = (
        [_item(line, with_images=not for_order) for line in cart_lines(cart, with_images=not for_order)]
        if cart is not None
        else []
    )
    buyable = [
        QuoteLine(
            variant_id=item.variant.pk,
            unit_price=item.unit_price,
            quantity=item.quantity,
            product_id=item.variant.product_id,
        )
        for item in items
        if item.available
    ]
    try:
        totals = quote(
            buyable,
            shipping_method=shipping_method,
            country=country,
            region=region,
            discount_code=discount_code,
            user=user if user is not None and user.is_authenticated else None,
            email=email,
            lock_discount=for_order,
        )
    except ValidationFailed as refusal:
        if country or "country" not in refusal.fields:
            raise
        return CartView(cart=cart, items=items, quote=None, pricing_problem=refusal.message)
    return CartView(cart=cart, items=items, quote=totals)


# Lists of carts ------------------------------------------------------------------------------------------------

# The lines `view_cart` counts in the subtotal, as a filter on CartLine (see `is_available` and `CartItem.available`).
BUYABLE_LINE = Q(
    variant__is_active=True,
    variant__product__is_active=True,
    variant__product__archived_at__isnull=True,
    variant__stock__gt=0,
)


def with_totals(carts: QuerySet[Cart]) -> QuerySet[Cart]:
    """Carts annotated with `item_count` (every unit, as `item_count` counts) and `subtotal` (the lines that can be
    bought, at current prices, as `view_cart` totals them), computed in the same query whatever the number of carts.

    For lists of many carts, where calling `view_cart` for each would cost queries per cart. Each total is a
    subquery rather than a join, so filters added to `carts` cannot multiply the lines summed. SQLite returns the
    subtotal unscaled (Decimal("91") for 91.00): pass it through `pricing.services.money` to show it.
    """
    lines = CartLine.objects.filter(cart=OuterRef("pk")).order_by().values("cart")
    units = lines.annotate(units=Sum("quantity")).values("units")
    money_field = DecimalField(max_digits=14, decimal_places=2)
    # Prices have cents and quantities are whole, so each line total needs no rounding (as `QuoteLine.line_total`).
    amounts = (
        lines.filter(BUYABLE_LINE)
        .annotate(amount=Sum(F("variant__price") * F("quantity"), output_field=money_field))
        .values("amount")
    )
    return carts.annotate(
        item_count=Coalesce(Subquery(units), 0),
        subtotal=Coalesce(
            Subquery(amounts, output_field=money_field), Value(Decimal("0.00")), output_field=money_field
        ),
    )
