"""Checkout with Stripe's Payment Element in a real browser: the pay page mounts the element for the order's
PaymentIntent, shows Stripe's refusal in place, returns to the confirmation page once Stripe.js confirms, and the
signed webhook turns that page to paid without a reload.

The network is closed here, so Stripe's servers are played by the loopback stand-in of `patron.payments.testing`
(for the SDK's calls from the server) and by a small Stripe.js double served in place of js.stripe.com (for the
browser), which keeps Stripe.js's documented surface: `Stripe(key).elements({clientSecret}).create("payment")
.mount(el)` and `confirmPayment({elements, confirmParams: {return_url}})`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, Route, expect

from patron.catalog.models import Variant
from patron.orders.models import Order, OrderStatus
from patron.payments.models import Payment, PaymentStatus
from patron.payments.testing import (
    STUB_SECRET_KEY,
    STUB_WEBHOOK_SECRET,
    StripeStub,
    deliver_webhook,
    running_stripe_stub,
    stripe_event,
)
from patron.pricing.models import ShippingMethod
from tests.e2e.test_purchase_browser import fill_address, fits_the_screen
from tests.factories import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PUBLISHABLE_KEY = "pk_test_patron_stub"
DECLINED_CARD = "4000000000000002"
# Records what the page asked of Stripe.js, renders a card box, and confirms like Stripe.js does: an error object
# for a refused card, otherwise a redirect to the return URL.
STRIPE_JS_DOUBLE = """
window.Stripe = function (publishableKey) {
  var seen = (window.stripeDouble = { publishableKey: publishableKey });
  return {
    elements: function (options) {
      seen.clientSecret = options.clientSecret;
      return {
        create: function (kind) {
          seen.kind = kind;
          return {
            mount: function (element) {
              var input = document.createElement("input");
              input.id = "stripe-double-card";
              input.setAttribute("aria-label", "Card (Stripe)");
              element.appendChild(input);
            },
          };
        },
      };
    },
    confirmPayment: function (request) {
      if (document.getElementById("stripe-double-card").value === "DECLINED_CARD") {
        return Promise.resolve({ error: { message: "Your card was declined." } });
      }
      window.location.assign(request.confirmParams.return_url);
      return new Promise(function () {});
    },
  };
};
""".replace("DECLINED_CARD", DECLINED_CARD)


@pytest.fixture
def stripe_store(live_server: Any, settings: Any, immediate_tasks: None) -> Iterator[StripeStub]:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = STUB_SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = STUB_WEBHOOK_SECRET
    ShippingMethod.objects.update_or_create(
        code="standard", defaults={"name": "Standard delivery", "price": Decimal("4.99"), "is_active": True}
    )
    with running_stripe_stub() as stub:
        yield stub


def serve_stripe_js(page: Page) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="application/javascript", body=STRIPE_JS_DOUBLE)

    page.route("https://js.stripe.com/**", fulfil)


def test_payment_element_declines_in_place_then_pays_and_the_webhook_marks_the_order_paid(
    page: Page, stripe_store: StripeStub, viewport: str, screenshots: Path
) -> None:
    lamp = make_product("Brass Desk Lamp", price="40.00", stock=4)
    serve_stripe_js(page)
    page.goto(f"/p/{lamp.slug}/")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added Brass Desk Lamp")).to_be_visible()
    page.goto("/checkout/")
    fill_address(page)
    # With Stripe, card details never reach the store's own form.
    expect(page.get_by_label("Card number")).to_have_count(0)
    page.get_by_role("button", name="Continue to payment").click()

    expect(page.get_by_role("heading", name="Pay for order")).to_be_visible()
    order = Order.objects.get()
    payment = Payment.objects.get(order=order)
    expect(page.get_by_role("heading", name=f"Pay for order {order.number}")).to_be_visible()
    expect(page.get_by_label("Card (Stripe)")).to_be_visible()
    seen = page.evaluate("window.stripeDouble")
    assert seen == {"publishableKey": PUBLISHABLE_KEY, "clientSecret": payment.client_secret, "kind": "payment"}
    assert [request.params["amount"] for request in stripe_store.posted("/v1/payment_intents")] == [
        str(int(order.total * 100))
    ]
    assert Variant.objects.get(product=lamp).stock == 3  # held while Stripe settles the payment

    page.get_by_label("Card (Stripe)").fill(DECLINED_CARD)
    page.get_by_role("button", name=f"Pay ${order.total}").click()
    expect(page.locator("#payment-message")).to_have_text("Your card was declined.")
    expect(page.get_by_role("button", name=f"Pay ${order.total}")).to_be_enabled()
    assert fits_the_screen(page)
    page.screenshot(path=screenshots / f"stripe-{viewport}-declined.png", full_page=True)

    page.get_by_label("Card (Stripe)").fill("4242424242424242")
    page.get_by_role("button", name=f"Pay ${order.total}").click()
    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    expect(page.locator("#order-timeline .badge")).to_have_text("Pending payment")

    succeeded = stripe_event(
        "payment_intent.succeeded",
        {"id": payment.provider_reference, "object": "payment_intent", "amount_received": int(order.total * 100)},
        event_id=f"evt_paid_{viewport}",
    )
    assert deliver_webhook(Client(), succeeded).status_code == 200
    expect(page.locator("#order-timeline .badge")).to_have_text("Paid", timeout=15_000)
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status) == (OrderStatus.PAID, PaymentStatus.SUCCEEDED)
    page.screenshot(path=screenshots / f"stripe-{viewport}-paid.png", full_page=True)
