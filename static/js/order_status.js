// Poll the order's status endpoint until the order reaches a final state,
// so the confirmation page shows what fulfillment did without a reload.
(function () {
  "use strict";

  const order = document.getElementById("order");
  if (!order || order.dataset.final === "true") {
    return;
  }
  const statusBox = document.getElementById("order-status");
  const label = document.getElementById("order-status-label");
  const message = document.getElementById("order-status-message");
  const maxPolls = 120;
  let polls = 0;

  async function poll() {
    polls += 1;
    try {
      const response = await fetch(order.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const status = await response.json();
        label.textContent = status.status_label;
        message.textContent = status.message;
        statusBox.className = "order-status order-status--" + status.status;
        if (status.final) {
          return;
        }
      }
    } catch (error) {
      // A dropped connection is retried on the next poll.
    }
    if (polls < maxPolls) {
      window.setTimeout(poll, Math.min(1000 * polls, 5000));
    }
  }

  window.setTimeout(poll, 1000);
})();
