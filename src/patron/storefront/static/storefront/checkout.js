// Stripe's Payment Element on the pay page: mounted for the order's payment, confirmed by Stripe.js, which then
// returns the shopper to the confirmation page (Stripe's webhook marks the order paid).
(function () {
  "use strict";
  var mount = document.getElementById("payment-element");
  if (!mount || typeof Stripe === "undefined") {
    return;
  }
  var stripe = Stripe(mount.dataset.publishableKey);
  var elements = stripe.elements({ clientSecret: mount.dataset.clientSecret });
  elements.create("payment").mount(mount);
  var form = document.getElementById("pay-form");
  var message = document.getElementById("payment-message");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    stripe
      .confirmPayment({ elements: elements, confirmParams: { return_url: mount.dataset.returnUrl } })
      .then(function (result) {
        if (result.error) {
          message.textContent = result.error.message;
          button.disabled = false;
        }
      });
  });
})();
