// Paying (docs/frontend.md, "Paying"): the deadline's countdown on the trip page and the
// pay page, and the pay page's card form.
//
// The card goes from the browser to Stripe.js only; our server sees Stripe's ids.
// - Real Stripe: our server makes the PaymentIntent for the chosen shares, the browser
//   confirms it with the card (stripe.confirmCardPayment, 3-D Secure included), then our
//   server reads it again (sync).
// - The local sandbox (data-sandbox): its Stripe.js mock cannot confirm with a card, so
//   the browser makes a token (stripe.createToken) and our server makes and confirms the
//   intent with the token's card; only a 3-D Secure card then needs confirmCardPayment.
// Strings come from Django's JavaScript catalog (/jsi18n/): gettext("…") literally, so
// makemessages finds them.
(function () {
  "use strict";

  // Django's JavaScript catalog (/jsi18n/); named gettext so makemessages finds the strings.
  const gettext = window.gettext ? window.gettext : (text) => text;
  const fill = (text, values) =>
    window.interpolate ? window.interpolate(text, values, true) : text;

  // --- The countdown -----------------------------------------------------------------------

  function countdownText(ms) {
    if (ms <= 0) return gettext("the deadline has passed");
    const minutes = Math.floor(ms / 60000);
    const hours = Math.floor(minutes / 60);
    if (hours >= 1) {
      return fill(gettext("%(hours)s h %(minutes)s min left"), { hours, minutes: minutes % 60 });
    }
    return fill(gettext("%(minutes)s min left"), { minutes: Math.max(minutes, 1) });
  }

  // The clocks are found again at each tick: the trip page's checkout panel may be
  // replaced by a fresh one (plan.js, "sidebyside:checkout-updated").
  function countdownTick() {
    document.querySelectorAll("[data-countdown]").forEach((clock) => {
      const left = clock.querySelector("[data-countdown-left]");
      const deadline = Date.parse(clock.dataset.countdown);
      if (left && !Number.isNaN(deadline)) {
        left.textContent = "(" + countdownText(deadline - Date.now()) + ")";
      }
    });
  }

  let countdownTimer = null;
  function countdownStart() {
    countdownTick();
    if (countdownTimer === null && document.querySelector("[data-countdown]")) {
      countdownTimer = window.setInterval(countdownTick, 30000);
    }
  }

  // --- The pay form ------------------------------------------------------------------------

  function money(cents, currency) {
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined, {
        style: "currency",
        currency,
      }).format(cents / 100);
    } catch (error) {
      return (cents / 100).toFixed(2) + " " + currency;
    }
  }

  function payFormStart(form) {
    const result = form.querySelector("[data-pay-result]");
    const submit = form.querySelector("[data-pay-submit]");
    const total = form.querySelector("[data-pay-total]");
    const boxes = () => Array.from(form.querySelectorAll("input[name=shares]"));
    const say = (text, kind) => {
      result.textContent = text;
      result.dataset.kind = kind || "info";
    };
    if (typeof window.Stripe !== "function") {
      say(gettext("The card form could not load. Check your connection and reload the page."), "error");
      return;
    }
    const stripe = window.Stripe(form.dataset.stripeKey);
    const card = stripe.elements().create("card");
    card.mount(form.querySelector("[data-pay-card]"));

    const totalUpdate = () => {
      const cents = boxes()
        .filter((box) => box.checked)
        .reduce((sum, box) => sum + Number(box.dataset.amount || 0), 0);
      total.textContent = cents ? money(cents, form.dataset.currency) : "";
      submit.disabled = cents === 0;
    };
    boxes().forEach((box) => box.addEventListener("change", totalUpdate));
    totalUpdate();

    const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    async function post(url, fields) {
      const body = new FormData();
      Object.entries(fields).forEach(([name, value]) => {
        (Array.isArray(value) ? value : [value]).forEach((v) => body.append(name, v));
      });
      body.append("csrfmiddlewaretoken", csrf);
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": csrf },
        });
      } catch (error) {
        return { ok: false, body: { error: { message: gettext("No connection. Please try again.") } } };
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok && !data.error) {
        data.error = { message: gettext("Something went wrong. Please try again.") };
      }
      return { ok: response.ok, body: data };
    }
    const sync = (paymentId) => post(form.dataset.syncUrl, { payment_id: paymentId });

    async function pay(shares) {
      let answer;
      if (form.dataset.sandbox) {
        const made = await stripe.createToken(card);
        if (made.error || !made.token) {
          return { error: (made.error && made.error.message) || gettext("This card could not be read.") };
        }
        answer = await post(form.action, { shares, payment_method: made.token.card.id });
      } else {
        answer = await post(form.action, { shares });
        if (answer.ok && answer.body.status === "requires_payment_method") {
          await stripe.confirmCardPayment(answer.body.client_secret, {
            payment_method: { card },
          });
          answer = await sync(answer.body.payment_id);
        }
      }
      if (!answer.ok) return { error: answer.body.error.message };
      if (answer.body.status === "requires_action") {
        // 3-D Secure: the bank's own check, in Stripe.js's frame.
        await stripe.confirmCardPayment(answer.body.client_secret);
        answer = await sync(answer.body.payment_id);
        if (!answer.ok) return { error: answer.body.error.message };
      }
      return answer.body;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const shares = boxes()
        .filter((box) => box.checked)
        .map((box) => box.value);
      if (!shares.length) {
        say(gettext("Choose at least one share to pay."), "error");
        return;
      }
      submit.disabled = true;
      form.setAttribute("aria-busy", "true");
      say(gettext("Checking your card…"));
      let outcome;
      try {
        outcome = await pay(shares);
      } catch (error) {
        outcome = { error: gettext("Something went wrong. Please try again.") };
      }
      form.removeAttribute("aria-busy");
      if (outcome.error) {
        say(outcome.error, "error");
        submit.disabled = false;
        return;
      }
      if (outcome.state === "authorised" || outcome.state === "captured") {
        say(gettext("Paid. Thank you! Your card is charged when everyone has paid."), "success");
        window.setTimeout(() => window.location.reload(), 900);
      } else if (outcome.state === "failed") {
        say(outcome.message || gettext("Your card was declined. Please try another card."), "error");
        submit.disabled = false;
      } else {
        say(gettext("Your bank has not confirmed the payment yet. Reload this page in a moment."));
      }
    });
  }

  // Everyone has paid and the worker is confirming the booking (captures, tickets): the
  // page looks again every few seconds until the tickets are there.
  function confirmingWait() {
    if (document.querySelector("[data-pay-confirming]")) {
      window.setTimeout(() => window.location.reload(), 3000);
    }
  }

  function start() {
    countdownStart();
    confirmingWait();
    document.addEventListener("sidebyside:checkout-updated", countdownStart);
    document.querySelectorAll("[data-pay-form]").forEach(payFormStart);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
