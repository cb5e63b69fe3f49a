// Turn the card into a Stripe PaymentMethod in the browser, so the card
// number never reaches the shop's server, then submit the checkout form.
(function () {
  "use strict";

  const form = document.getElementById("checkout-form");
  if (!form || typeof Stripe === "undefined") {
    return;
  }

  const stripe = Stripe(form.dataset.stripeKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");

  const errors = document.getElementById("card-errors");
  const button = document.getElementById("pay-button");
  const paymentMethodInput = form.querySelector("input[name=payment_method]");
  const stripeJsInput = form.querySelector("input[name=stripe_js]");

  function showError(message) {
    errors.textContent = message;
    errors.hidden = false;
    button.disabled = false;
  }

  form.addEventListener("submit", async function (event) {
    if (paymentMethodInput.value) {
      return;
    }
    event.preventDefault();
    button.disabled = true;
    errors.hidden = true;

    const result = await stripe.createPaymentMethod({ type: "card", card: card });
    if (result.error) {
      showError(result.error.message || "Your card details could not be read. Check them and try again.");
      return;
    }
    paymentMethodInput.value = result.paymentMethod.id;
    stripeJsInput.value = "1";
    form.submit();
  });
})();
