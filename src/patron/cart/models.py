"""Shopping carts: what a shopper intends to buy. Prices are never stored here; they are read when shown."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from patron.catalog.models import Variant

TOKEN_BYTES = 32


def new_cart_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class Cart(models.Model):
    """A signed-in customer's cart (`user` set) or a guest's, found by its unguessable `token`.

    Guests keep the token in their web session or send it back to the API in the `X-Cart-Token` header.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="cart"
    )
    token = models.CharField(max_length=64, unique=True, default=new_cart_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ("-updated_at",)

    def __str__(self) -> str:
        return f"Cart of {self.user}" if self.user_id else f"Guest cart {self.pk}"


class CartLine(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("added_at", "id")
        constraints = [
            models.UniqueConstraint(fields=["cart", "variant"], name="cart_line_unique_variant"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="cart_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of variant {self.variant_id}"
