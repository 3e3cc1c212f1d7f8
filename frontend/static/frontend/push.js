// Notifications on this phone (Web Push, docs/messages.md "Web Push"): the opt-in of the
// trip page (frontend/trips/_push_optin.html). It is offered only once the person has
// done something on the plan (voted, chosen a fare, picked a seat, chosen the train), now
// or on an earlier visit: asking a newcomer before they care gets a "no" for good.
// It stays hidden where the browser has no push (Facebook's in-app browser, iOS outside
// a home-screen app) or after the person blocked notifications.

const box = document.querySelector("[data-push-optin]");
const supported =
  box && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

const ACTIONS = "[data-vote], [data-seat], [data-settle], [data-sit-together]";
const FORMS = "[data-fare-form], [data-propose-form]";

function actedKey() {
  return `sidebyside.push.acted.${box.dataset.tripId}`;
}

function remember() {
  try {
    localStorage.setItem(actedKey(), "1");
  } catch {
    // Storage refused (private mode): the offer is for this visit only.
  }
}

function actedBefore() {
  try {
    if (localStorage.getItem(actedKey())) return true;
  } catch {
    // Storage refused: read the plan instead.
  }
  // What the plan already shows of the person: a vote, a fare or a seat of theirs.
  const node = document.getElementById("plan-snapshot");
  if (!node) return false;
  try {
    const plan = JSON.parse(node.textContent);
    const me = plan.me && plan.me.user_id;
    return (plan.legs || []).some(
      (leg) =>
        (leg.fares && leg.fares[String(me)]) ||
        (leg.seats || []).some((seat) => seat.user_id === me) ||
        (leg.options || []).some((option) => (option.votes || []).includes(me)),
    );
  } catch {
    return false;
  }
}

function keyBytes(base64url) {
  const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4))
    .replace(/-/g, "+")
    .replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function csrf() {
  return box.querySelector("input[name=csrfmiddlewaretoken]").value;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`push subscription: ${response.status}`);
}

function show(on, message) {
  box.hidden = false;
  box.querySelector("[data-push-enable]").hidden = on;
  box.querySelector("[data-push-disable]").hidden = !on;
  box.querySelector("[data-push-off-text]").hidden = on;
  box.querySelector("[data-push-on-text]").hidden = !on;
  box.querySelector("[data-push-status]").textContent = message || "";
  box.dataset.pushState = on ? "on" : "off";
}

async function registration() {
  return navigator.serviceWorker.getRegistration("/");
}

async function enable() {
  const button = box.querySelector("[data-push-enable]");
  button.disabled = true;
  try {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      show(false, box.dataset.msgDenied);
      return;
    }
    await navigator.serviceWorker.register(box.dataset.workerUrl, { scope: "/" });
    const ready = await navigator.serviceWorker.ready;
    const subscription =
      (await ready.pushManager.getSubscription()) ||
      (await ready.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(box.dataset.key),
      }));
    await post(box.dataset.subscribeUrl, subscription.toJSON());
    show(true, box.dataset.msgOn);
  } catch (error) {
    console.warn(error);
    show(false, box.dataset.msgFailed);
  } finally {
    button.disabled = false;
  }
}

async function disable() {
  const button = box.querySelector("[data-push-disable]");
  button.disabled = true;
  try {
    const reg = await registration();
    const subscription = reg && (await reg.pushManager.getSubscription());
    if (subscription) {
      await post(box.dataset.unsubscribeUrl, { endpoint: subscription.endpoint });
      await subscription.unsubscribe();
    }
    show(false, box.dataset.msgOff);
  } catch (error) {
    console.warn(error);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  box.querySelector("[data-push-enable]").addEventListener("click", enable);
  box.querySelector("[data-push-disable]").addEventListener("click", disable);
  if (Notification.permission === "denied") return;
  const reg = await registration();
  const subscription = reg && (await reg.pushManager.getSubscription());
  if (subscription && Notification.permission === "granted") {
    show(true);
    // Told again on each visit (harmless: the same browser updates its row): a browser
    // shared with someone who logged out is now the person on the page's.
    post(box.dataset.subscribeUrl, subscription.toJSON()).catch((error) => console.warn(error));
    return;
  }
  if (actedBefore()) {
    show(false);
    return;
  }
  // The plan's own script does the action (plan.js); this only notices it was done.
  const offer = (event) => {
    const done =
      (event.type === "click" && event.target.closest && event.target.closest(ACTIONS)) ||
      (event.type === "submit" && event.target.matches && event.target.matches(FORMS));
    if (!done || !box.hidden) return;
    remember();
    show(false);
  };
  document.addEventListener("click", offer);
  document.addEventListener("submit", offer);
}

if (supported) start();
