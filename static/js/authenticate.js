// Let Stripe.js run the bank's 3-D Secure step, then ask the shop's server
// for the result. The server reads the payment from Stripe; it does not
// trust what the browser reports.
(function () {
  "use strict";

  const element = document.getElementById("authenticate");
  const status = document.getElementById("authenticate-status");
  if (!element) {
    return;
  }
  const completeUrl = element.dataset.completeUrl;
  if (typeof Stripe === "undefined") {
    status.textContent = "Stripe.js did not load, so the payment cannot be confirmed.";
    window.location.assign(completeUrl);
    return;
  }

  const stripe = Stripe(element.dataset.stripeKey);
  stripe.confirmCardPayment(element.dataset.clientSecret).then(function () {
    status.textContent = "Checking the payment…";
    window.location.assign(completeUrl);
  });
})();
