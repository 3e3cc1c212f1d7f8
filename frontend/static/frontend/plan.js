// The live plan of a trip. The server renders the whole plan (poll, my ticket, seat map,
// who is here) and embeds the snapshot it drew from (#plan-snapshot); this module opens
// the trip's websocket, applies the events it hears in version order, and redraws from
// that state. The server is the only authority: a command changes nothing on screen until
// its event comes back (the sender hears its own events like everyone else), and when in
// doubt the module asks for a fresh snapshot. Protocol: booking/consumers.py and
// docs/live-protocol.md.

import { GRID_KEYS as KEYS, gridNeighbour, seatsByRow } from "./seat-grid.js";

const root = document.querySelector("[data-trip-plan][data-leg]");

const FATAL_CLOSES = new Set([4401, 4403, 4404, 4429]);
const PING_MS = 20_000;
const PONG_TIMEOUT_MS = 8_000;
const BACKOFF_MAX_MS = 30_000;
// An event that arrives before the one it follows (two server processes wrote to the trip
// and their broadcasts crossed), or a heartbeat that says the trip is further on than we
// are, waits this long for the missing events before the page asks for a snapshot.
const GAP_WAIT_MS = 1_500;
// How long a block's confirmation stays ("Your vote is counted.").
const CONFIRMATION_MS = 8_000;
// Events this module applies itself; any other kind → ask for a snapshot.
const SIMPLE = new Set(["seat_held", "seated_together", "seat_released", "holds_expired", "vote_cast"]);
// Paying (payments/services.py, booking/services.py): the checkout part of the page is
// drawn by the server, so these fetch it again (refreshCheckout). Those in CHECKOUT_ONLY
// change nothing of the plan's snapshot; the others also change the trip (frozen for
// checkout, seats sold or freed), so a snapshot is asked for as for any other event.
const CHECKOUT = new Set([
  "checkout_started", "shares_changed", "checkout_grace", "checkout_cancelled",
  "booking_confirmed", "ticket_cancelled", "departure_disrupted", "disruption_chosen", "rerouted",
]);
const CHECKOUT_ONLY = new Set(["shares_changed", "checkout_grace"]);

// Django's JavaScript catalog (/jsi18n/) defines gettext and ngettext; without it, English.
// The calls below use these names so that makemessages -d djangojs finds the strings.
const gettext = typeof window.gettext === "function" ? window.gettext : (text) => text;
const ngettext =
  typeof window.ngettext === "function"
    ? window.ngettext
    : (one, many, n) => (n === 1 ? one : many);
const fill = (text, values) => text.replace(/%\((\w+)\)s/g, (_m, key) => String(values[key] ?? ""));

function money(price) {
  if (!price) return "";
  const lang = document.documentElement.lang || "en";
  const format = new Intl.NumberFormat(lang, { style: "currency", currency: price.currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(price.amount_cents / 10 ** digits);
}

// --- The seat grid's keyboard: the ARIA grid pattern, shared with seatmap.js (seat-grid.js) ---

function setUpGrids() {
  for (const grid of root.querySelectorAll("[data-seatmap-grid]")) {
    const cells = [...grid.querySelectorAll("[data-seat]")];
    if (!cells.length) continue;
    for (const cell of cells) cell.tabIndex = -1;
    // One tab stop per deck: my seat if it is on this deck, else the first seat.
    (cells.find((cell) => cell.classList.contains("seat--mine")) || cells[0]).tabIndex = 0;
  }
}

// --- State ------------------------------------------------------------------------------

const state = {
  snapshot: null,
  version: 0,
  recent: [], // the last events applied, to replay over an older snapshot
  early: new Map(), // version → an event that came before the one it follows
  known: 0, // the highest version the server told of (an early event, a heartbeat)
  gapTimer: null,
  seatStatus: new Map(), // seat id → free/held/sold on the departure shown (anyone's)
  lapsed: new Map(), // leg → whether the group's holds ran out (else as the server drew it)
  // The coach strip's free counts: the server's when it drew the strip, and, for each seat
  // whose status has been told since, whether the server counted it free then.
  counted: new Map(), // seat id → free when the strip was drawn
  coachSeats: [], // [coach number, [[first id, last id], …]] from data-coach-seats
  socket: null,
  attempt: 0,
  reconnectTimer: null,
  pingTimer: null,
  pongTimer: null,
  stopped: false,
  farewell: "", // what to say when the server closes the socket because I am gone
  nextId: 1,
  pending: new Map(), // request id → what to say when it is acknowledged
  refreshing: null,
  checkoutFetch: null, // the checkout panel's fetch under way
  checkoutAgain: false, // another checkout event came meanwhile: fetch once more
};

const legName = () => root.dataset.leg;
const shownDeparture = () => Number(root.dataset.shownDeparture) || null;
const me = () => state.snapshot.me.user_id;
const currentLeg = () => state.snapshot.legs.find((leg) => leg.direction === legName());

function structureKey(snapshot) {
  const leg = snapshot.legs.find((l) => l.direction === legName());
  return JSON.stringify([
    snapshot.trip.status, // planning → paying → booked: the server draws each state
    snapshot.me.role,
    // Who travels and who organises: the page's head, the travellers' list and the
    // organiser's tools outside the plan follow them (refreshHtml's [data-trip-live]).
    snapshot.members.map((m) => [m.user_id, m.role]),
    leg ? leg.options.map((o) => o.departure.id) : null,
    leg && leg.departure ? leg.departure.id : null,
  ]);
}

function readSnapshot() {
  const node = root.querySelector("#plan-snapshot");
  return node ? JSON.parse(node.textContent) : null;
}

function readSeatStatuses() {
  state.seatStatus = new Map();
  state.counted = new Map();
  state.coachSeats = [...root.querySelectorAll("[data-coach-link][data-coach-seats]")].map((link) => [
    link.dataset.coachLink,
    link.dataset.coachSeats.split(",").filter(Boolean).map((run) => {
      const [first, last] = run.split("-").map(Number);
      return [first, last ?? first];
    }),
  ]);
  for (const cell of root.querySelectorAll("[data-seat]")) {
    state.seatStatus.set(Number(cell.dataset.seatId), cell.dataset.seatStatus);
    // The server counted a seat free when it is free and no friend holds it.
    state.counted.set(Number(cell.dataset.seatId), cell.dataset.seatStatus === "free" && !cell.dataset.holder);
    // The server leaves out what it can (plan/_seat_cell.html): no holder, not selected,
    // and the description is the label without its status.
    if (cell.dataset.holder === undefined) cell.dataset.holder = "";
    if (!cell.hasAttribute("aria-selected")) cell.setAttribute("aria-selected", "false");
    if (!cell.dataset.seatDescription) {
      const label = cell.getAttribute("aria-label") || "";
      cell.dataset.seatDescription = label.slice(0, label.lastIndexOf(", "));
    }
  }
}

// --- Applying what the server says -------------------------------------------------------

// A seat's new status on the departure shown (a seat event of the group, a `seats` frame).
// A seat not on screen is first heard of by its change: "held" was free (a hold takes a
// free seat), "free" was not, "sold" was held (a sale follows a hold: seen since, or older
// than the page, when the server did not count it free).
function noteSeat(seatId, status) {
  if (!state.counted.has(seatId)) state.counted.set(seatId, status === "held");
  state.seatStatus.set(seatId, status);
}

function coachOfSeat(seatId) {
  const found = state.coachSeats.find(([, runs]) => runs.some(([a, b]) => a <= seatId && seatId <= b));
  return found ? found[0] : null;
}

function releaseSeats(leg, released) {
  for (const r of released || []) {
    if (r.leg && leg && r.leg !== leg.direction) continue;
    if (leg) {
      leg.seats = leg.seats.filter(
        (s) => !(s.seat_id === r.seat_id && s.departure_id === r.departure_id),
      );
    }
    if (r.departure_id === shownDeparture()) noteSeat(r.seat_id, "free");
  }
}

function legOf(direction) {
  return state.snapshot.legs.find((leg) => leg.direction === direction);
}

function applyEvent(event) {
  const p = event.payload || {};
  const snapshot = state.snapshot;
  switch (event.kind) {
    case "seat_held":
    case "seated_together": {
      const leg = legOf(p.leg);
      if (!leg) return false;
      state.lapsed.set(p.leg, false);
      releaseSeats(leg, p.released);
      for (const hold of p.holds || []) {
        // One seat per traveller and leg: their previous seat on the leg is gone.
        for (const old of leg.seats.filter((s) => s.user_id === hold.user_id)) {
          if (old.departure_id === shownDeparture()) noteSeat(old.seat_id, "free");
        }
        leg.seats = leg.seats.filter(
          (s) => s.user_id !== hold.user_id && !(s.seat_id === hold.seat_id && s.departure_id === p.departure_id),
        );
        leg.seats.push({
          user_id: hold.user_id, departure_id: p.departure_id, seat_id: hold.seat_id,
          label: hold.label, state: "held",
        });
        if (p.departure_id === shownDeparture()) noteSeat(hold.seat_id, "held");
      }
      // A pick without a chosen fare gives the traveller a default one: fetch my price.
      const mine = (p.holds || []).some((h) => h.user_id === me());
      return !(mine && !leg.fares[String(me())]);
    }
    case "seat_released":
      releaseSeats(legOf(p.leg), p.released);
      return true;
    case "holds_expired":
      for (const r of p.released || []) {
        releaseSeats(legOf(r.leg), [r]);
        // The group holds no seat any more: offer to sit them together again.
        if (p.lapsed) state.lapsed.set(r.leg, true);
      }
      return true;
    case "vote_cast": {
      const leg = legOf(p.leg);
      if (!leg) return false;
      for (const option of leg.options) {
        option.votes = option.votes.filter((id) => id !== p.user_id);
        if (option.departure.id === p.departure_id) option.votes.push(p.user_id);
      }
      return true;
    }
    default:
      return false;
  }
}

function onEvent(event) {
  if (event.version <= state.version) return; // already seen (a resync overlaps)
  if (event.version > state.version + 1) {
    // Early: held for the missing ones (learnVersion asks for a snapshot if they never come).
    state.early.set(event.version, event);
    learnVersion(event.version);
    return;
  }
  applyInOrder(event);
  applyHeld();
}

// The server says the trip is at ``version``: if we are behind, the missing events have a
// little while to come (they may be on their way) before a snapshot is asked for.
function learnVersion(version) {
  state.known = Math.max(state.known, version);
  if (state.known <= state.version || state.gapTimer) return;
  state.gapTimer = window.setTimeout(() => {
    state.gapTimer = null;
    if (state.known <= state.version) return;
    // A gap: something was missed. The snapshot brings the truth; forget what we held.
    state.early.clear();
    state.known = state.version;
    requestSnapshot();
  }, GAP_WAIT_MS);
}

// Apply the held events that now follow in order; forget those already covered.
function applyHeld() {
  for (const version of state.early.keys()) {
    if (version <= state.version) state.early.delete(version);
  }
  while (state.early.has(state.version + 1)) {
    const event = state.early.get(state.version + 1);
    state.early.delete(event.version);
    applyInOrder(event);
  }
  if (state.known <= state.version) {
    window.clearTimeout(state.gapTimer);
    state.gapTimer = null;
  } else {
    learnVersion(state.known); // still behind: the wait goes on (or starts)
  }
}

function applyInOrder(event) {
  state.version = event.version;
  state.recent.push(event);
  if (state.recent.length > 100) state.recent.shift();
  const applied = CHECKOUT_ONLY.has(event.kind) || (SIMPLE.has(event.kind) && applyEvent(event));
  tellOthers(event);
  render();
  // Other parts of the page listen (the disruption banner: disruption-banner.js).
  document.dispatchEvent(new CustomEvent("sidebyside:trip-event", { detail: { kind: event.kind } }));
  if (CHECKOUT.has(event.kind)) refreshCheckout();
  if (!applied) requestSnapshot();
  if ((event.kind === "seat_held" || event.kind === "seated_together") && event.actor === me()) {
    showMySeat();
  }
}

// ``drawn``: the snapshot came with the page's HTML, which already has its shape.
function onSnapshot(snapshot, { drawn = false } = {}) {
  const replay = state.recent.filter((event) => event.version > snapshot.version);
  if (!drawn && snapshot.version < state.version && !replay.length) return;
  const changed = !drawn && structureKey(snapshot) !== structureKey(state.snapshot);
  const before = state.version;
  state.snapshot = snapshot;
  state.version = snapshot.version;
  for (const event of replay) {
    if (!CHECKOUT_ONLY.has(event.kind) && (!SIMPLE.has(event.kind) || !applyEvent(event))) {
      requestSnapshot();
      break;
    }
    state.version = event.version;
  }
  applyHeld();
  if (changed) refreshHtml();
  else render();
  // A snapshot that moved us on without its events (a broadcast never reached us, e.g. the
  // deadline worker's from another process): the checkout part is not in the snapshot, so
  // it is fetched again as the missed events would have done ("Booked" without a reload).
  if (!drawn && state.version > before) refreshCheckout();
  // The page's snapshot is older than what we had and the events between are not all at
  // hand: the server says where we are.
  if (drawn && state.version < before) requestSnapshot();
}

// --- Drawing ----------------------------------------------------------------------------

function avatar(member) {
  if (member.avatar_url) {
    const img = document.createElement("img");
    Object.assign(img, { className: "avatar", src: member.avatar_url, alt: "", width: 40, height: 40 });
    img.referrerPolicy = "no-referrer";
    return img;
  }
  const span = document.createElement("span");
  span.className = "avatar avatar--initial";
  span.setAttribute("aria-hidden", "true");
  span.textContent = (member.name || "?").charAt(0).toUpperCase();
  return span;
}

function statusLabel(status) {
  return { free: gettext("Free"), held: gettext("On hold"), sold: gettext("Taken") }[status] || status;
}

function render() {
  const snapshot = state.snapshot;
  const leg = currentLeg();
  if (!leg) return;
  const members = new Map(snapshot.members.map((m) => [m.user_id, m]));
  const myId = me();

  // The poll.
  for (const item of root.querySelectorAll("[data-option]")) {
    const option = leg.options.find((o) => o.departure.id === Number(item.dataset.option));
    if (!option) continue;
    const count = option.votes.length;
    item.querySelector("[data-option-count]").textContent = fill(
      ngettext("%(count)s vote", "%(count)s votes", count), { count },
    );
    const voters = item.querySelector("[data-option-voters]");
    voters.replaceChildren(
      ...option.votes.filter((id) => members.has(id)).map((id) => {
        const member = members.get(id);
        const li = document.createElement("li");
        li.className = "voters__item";
        li.dataset.voter = id;
        li.title = member.name;
        const name = document.createElement("span");
        name.className = "visually-hidden";
        name.textContent = member.name;
        li.append(avatar(member), name);
        return li;
      }),
    );
    const mine = option.votes.includes(myId);
    item.classList.toggle("poll-option--mine", mine);
    const vote = item.querySelector("[data-vote]");
    if (vote) {
      vote.setAttribute("aria-pressed", String(mine));
      vote.classList.toggle("button--primary", mine);
      vote.classList.toggle("button--secondary", !mine);
    }
    // My own price once I have a fare, else the train's lowest (as the organiser saw it).
    const price = option.prices[String(myId)];
    const priceNode = item.querySelector("[data-option-price]");
    if (price) {
      const strong = document.createElement("strong");
      strong.textContent = money(price);
      priceNode.replaceChildren(`${gettext("Your price:")} `, strong);
    } else if (option.price_from) {
      priceNode.textContent = fill(gettext("from %(price)s"), { price: money(option.price_from) });
    }
  }

  // My price: on the settled train, else on the option shown.
  const myPrice = root.querySelector("[data-my-price]");
  if (myPrice) {
    const fare = leg.fares[String(myId)];
    const shown = leg.options.find((o) => o.departure.id === shownDeparture());
    const price = (fare && fare.price) || (shown && shown.prices[String(myId)]);
    myPrice.textContent = price ? money(price) : fare ? gettext("shown for each train above") : gettext("not chosen yet");
  }

  // The seat map.
  const departureId = shownDeparture();
  const holders = new Map();
  for (const hold of leg.seats) {
    if (hold.departure_id === departureId) holders.set(hold.seat_id, hold.user_id);
  }
  for (const cell of root.querySelectorAll("[data-seat]")) {
    const seatId = Number(cell.dataset.seatId);
    const holderId = holders.get(seatId);
    const holder = holderId !== undefined ? members.get(holderId) || { name: "?" } : null;
    const status = holder ? "held" : state.seatStatus.get(seatId) || "free";
    const isMine = holderId === myId;
    cell.classList.remove("seat--free", "seat--held", "seat--sold", "seat--friend", "seat--mine");
    cell.classList.add(`seat--${status}`);
    cell.classList.toggle("seat--friend", Boolean(holder));
    cell.classList.toggle("seat--mine", isMine);
    cell.dataset.holder = holder ? String(holderId) : "";
    cell.dataset.seatStatus = status;
    cell.setAttribute("aria-selected", String(isMine));
    const description = cell.dataset.seatDescription;
    let said;
    if (isMine) said = gettext("your seat");
    else if (holder) said = fill(gettext("held by %(name)s"), { name: holder.name });
    else said = statusLabel(status).toLowerCase();
    cell.setAttribute("aria-label", `${description}, ${said}`);
    if (holder) {
      const who = document.createElement("span");
      who.className = "seat__who";
      who.setAttribute("aria-hidden", "true");
      who.textContent = (holder.name || "?").charAt(0).toUpperCase();
      cell.replaceChildren(who);
    } else {
      cell.textContent = cell.dataset.number;
    }
  }
  // The coach strip: each coach's free seats, the server's count plus what changed since
  // (a seat of the group is held whatever its last news), live.
  const freeDelta = new Map();
  for (const [seatId, wasFree] of state.counted) {
    const isFree = state.seatStatus.get(seatId) === "free" && !holders.has(seatId);
    if (isFree === wasFree) continue;
    const coach = coachOfSeat(seatId);
    if (coach !== null) freeDelta.set(coach, (freeDelta.get(coach) || 0) + (isFree ? 1 : -1));
  }
  for (const link of root.querySelectorAll("[data-coach-link][data-coach-free]")) {
    const free = Math.max(0, Number(link.dataset.coachFree) + (freeDelta.get(link.dataset.coachLink) || 0));
    const text = link.querySelector("[data-coach-free-text]");
    if (text && text.dataset.free !== String(free)) {
      text.dataset.free = String(free);
      text.textContent = fill(ngettext("%(counter)s free", "%(counter)s free", free), { counter: free });
    }
  }
  // Each friend's initial on the coach they sit in (the label is "<coach>-<seat>"), mine
  // in gold.
  for (const link of root.querySelectorAll("[data-coach-link]")) {
    const friends = leg.seats.filter(
      (s) => s.departure_id === departureId && String(s.label).split("-")[0] === link.dataset.coachLink,
    );
    let box = link.querySelector(".coach-strip__friends");
    if (!friends.length) {
      if (box) box.remove();
      continue;
    }
    if (!box) {
      box = document.createElement("span");
      box.className = "coach-strip__friends";
      link.append(box);
    }
    const names = [];
    box.replaceChildren(
      ...friends.map((hold) => {
        const member = members.get(hold.user_id) || { name: "?" };
        const isMe = hold.user_id === myId;
        names.push(isMe ? gettext("you") : member.name);
        const initial = document.createElement("span");
        initial.className = `coach-strip__friend${isMe ? " coach-strip__friend--me" : ""}`;
        initial.setAttribute("aria-hidden", "true");
        initial.title = member.name;
        initial.textContent = (member.name || "?").charAt(0).toUpperCase();
        return initial;
      }),
    );
    const said = document.createElement("span");
    said.className = "visually-hidden";
    said.textContent = names.join(", ");
    box.append(said);
  }

  const release = root.querySelector("[data-release-seat]");
  if (release) release.hidden = !leg.seats.some((s) => s.user_id === myId);

  // The group's seats ran out with nobody on the page (plan.holds_expire): one tap seats
  // them together again. Until an event says otherwise, the page as the server drew it.
  const lapsedBox = root.querySelector("[data-holds-lapsed]");
  if (lapsedBox) {
    if (!state.lapsed.has(leg.direction)) state.lapsed.set(leg.direction, !lapsedBox.hidden);
    lapsedBox.hidden = !(state.lapsed.get(leg.direction) && !leg.seats.length);
    // Its button says "again": the usual one would be the same command twice on screen.
    const usual = root.querySelector("[data-sit-usual]");
    if (usual) usual.hidden = !lapsedBox.hidden;
  }
  // "Held until …" was true when the page was drawn; with no seat held it is not.
  const holdsUntil = root.querySelector("[data-holds-until]");
  if (holdsUntil && !leg.seats.length) holdsUntil.hidden = true;

  // Who is here.
  const seatOf = new Map(leg.seats.map((s) => [s.user_id, s]));
  // Only "Who is here": the checkout panel's payment statuses carry data-traveller too.
  for (const item of root.querySelectorAll("[data-plan-travellers] [data-traveller]")) {
    const member = members.get(Number(item.dataset.traveller));
    if (!member) continue;
    item.classList.toggle("plan-person--online", member.online);
    item.querySelector("[data-traveller-presence]").textContent = member.online
      ? gettext("on the page")
      : gettext("away");
    const seat = seatOf.get(member.user_id);
    item.querySelector("[data-traveller-seat]").textContent = seat
      ? seatName(seat.label)
      : gettext("no seat yet");
  }
}

// --- The page's structure changed (new options, a train chosen, someone joined) -----------

async function refreshHtml() {
  if (state.refreshing) return state.refreshing;
  state.refreshing = (async () => {
    try {
      const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(String(response.status));
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.querySelector("[data-trip-plan]");
      if (!fresh) throw new Error("no plan");
      const hadFocus = root.contains(document.activeElement);
      const watched = shownDeparture();
      for (const name of ["leg", "shownDeparture", "legSettled", "coach", "timeZone", "tripState"]) {
        if (fresh.dataset[name] === undefined) delete root.dataset[name];
        else root.dataset[name] = fresh.dataset[name];
      }
      const said = new Map(
        [...root.querySelectorAll("[data-feedback]:not([hidden])")].map((node) => [node.dataset.feedback, node]),
      );
      const conn = root.querySelector("[data-plan-conn]").outerHTML;
      // The news just told ("Ana left the trip.") stays on screen through the new HTML.
      const news = root.querySelector("[data-plan-news]");
      root.innerHTML = fresh.innerHTML;
      root.querySelector("[data-plan-conn]").outerHTML = conn;
      const freshNews = root.querySelector("[data-plan-news]");
      if (news && freshNews) freshNews.replaceWith(news);
      // What a block had just said stays said (an answer may come before the new HTML).
      for (const node of root.querySelectorAll("[data-feedback]")) {
        const old = said.get(node.dataset.feedback);
        if (old) node.replaceWith(old);
      }
      // Outside the plan, the parts that follow who travels and who organises (the head's
      // traveller count, the travellers' list, the organiser's settings), without a reload.
      for (const part of document.querySelectorAll("[data-trip-live]")) {
        const freshPart = doc.querySelector(`[data-trip-live="${part.dataset.tripLive}"]`);
        if (freshPart) part.innerHTML = freshPart.innerHTML;
      }
      // The state badge in the page's head follows the trip, without a reload.
      const badge = document.querySelector("[data-trip-status]");
      const freshBadge = doc.querySelector("[data-trip-status]");
      if (badge && freshBadge) {
        badge.dataset.tripStatus = freshBadge.dataset.tripStatus;
        badge.textContent = freshBadge.textContent;
      }
      readSeatStatuses();
      setUpGrids();
      const snapshot = readSnapshot();
      state.refreshing = null;
      if (snapshot) onSnapshot(snapshot, { drawn: true });
      if (shownDeparture() !== watched) watchDeparture();
      openDialogOnLoad();
      if (hadFocus && !root.contains(document.activeElement)) {
        root.querySelector("#plan-title").setAttribute("tabindex", "-1");
        root.querySelector("#plan-title").focus();
      }
      revealRecent();
    } catch {
      state.refreshing = null;
      render();
    }
  })();
  return state.refreshing;
}

// --- The checkout panel (plan/_checkout.html), fetched again on payment events ------------

function refreshCheckout() {
  // Events often come in bursts (each payer's authorisation, then the booking): one fetch
  // at a time, and one more at the end if anything came meanwhile.
  if (state.checkoutFetch) {
    state.checkoutAgain = true;
    return state.checkoutFetch;
  }
  state.checkoutFetch = (async () => {
    try {
      do {
        state.checkoutAgain = false;
        const panel = root.querySelector("[data-checkout-panel]");
        if (!panel || !panel.dataset.checkoutPanelUrl) return;
        const response = await fetch(panel.dataset.checkoutPanelUrl, {
          credentials: "same-origin",
          headers: { Accept: "text/html" },
        });
        if (!response.ok) return; // e.g. no longer a traveller: the socket says so
        const doc = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = doc.querySelector("[data-checkout-panel]");
        const current = root.querySelector("[data-checkout-panel]"); // refreshHtml may have run
        if (!fresh || !current) return;
        const hadFocus = current.contains(document.activeElement);
        current.innerHTML = fresh.innerHTML;
        current.hidden = fresh.hidden;
        if (hadFocus) {
          const title = current.querySelector("#checkout-title");
          if (title) {
            title.setAttribute("tabindex", "-1");
            title.focus();
          }
        }
        // pay.js starts the countdown of a panel that arrived this way.
        document.dispatchEvent(new CustomEvent("sidebyside:checkout-updated"));
      } while (state.checkoutAgain);
    } catch {
      // Offline: the next event, or the reconnection's resync, fetches it again.
    } finally {
      state.checkoutFetch = null;
    }
  })();
  return state.checkoutFetch;
}

// --- Saying things where they belong ---------------------------------------------------------

// The server's refusals, by code, in the reader's words (one place, both languages);
// a code not listed here is said with the server's own message.
function refusal(code, message) {
  const text = {
    seat_taken: gettext("Someone has just taken this seat. Pick another one."),
    wrong_comfort_class: gettext("This seat is in another class than your ticket. Change your ticket first, or pick a seat of your class."),
    trip_locked: gettext("The plan is frozen while everyone pays: nothing can change now."),
    leg_settled: gettext("The train is already chosen."),
    trip_busy: gettext("Someone is changing this trip right now. Try again in a moment."),
    rate_limited: gettext("Too many taps at once. Wait a moment and try again."),
    too_many_holds: message,
    no_block_fits: message, // it lists the best split the server found
    card_number_invalid: gettext("This card number is not valid. Check it on your card."),
    not_eligible: message,
    offline: gettext("You are offline: nothing was sent. Try again when the connection is back."),
    server_error: gettext("Something went wrong. Try again."),
  }[code];
  return text || message || gettext("Something went wrong. Try again.");
}

// Each block of the plan answers its own controls in its own live region, next to them:
// an error is an alert (read at once), a confirmation a status. ``where`` is the region's
// name (poll, propose, ticket, seats, checkout).
function say(where, text, kind = "info", { offline = false } = {}) {
  const region = root.querySelector(`[data-feedback="${where}"]`);
  if (!region) {
    tell(text);
    return;
  }
  const error = kind === "error";
  region.hidden = false;
  region.dataset.kind = kind;
  region.setAttribute("role", error ? "alert" : "status");
  region.setAttribute("aria-live", error ? "assertive" : "polite");
  if (offline) region.dataset.offline = "1";
  else delete region.dataset.offline;
  // Cleared first so the same message twice is read twice.
  region.textContent = "";
  region.dataset.saidAt = String(Date.now());
  window.setTimeout(() => {
    region.textContent = text;
    region.scrollIntoView({ block: "nearest" });
  }, 30);
  // A confirmation goes after a while (it would soon be stale); a refusal stays until
  // the next answer in that block.
  window.clearTimeout(Number(region.dataset.timer || 0));
  if (!error) {
    const saidAt = region.dataset.saidAt;
    region.dataset.timer = String(window.setTimeout(() => {
      const current = root.querySelector(`[data-feedback="${where}"]`);
      if (current && current.dataset.saidAt === saidAt) {
        current.hidden = true;
        current.textContent = "";
      }
    }, CONFIRMATION_MS));
  }
}

// After the plan's HTML was drawn again (it may have moved), what was just said is put
// back in view.
function revealRecent() {
  for (const region of root.querySelectorAll("[data-feedback]:not([hidden])")) {
    if (Date.now() - Number(region.dataset.saidAt || 0) < 5_000) region.scrollIntoView({ block: "nearest" });
  }
}

// What the others did, told once to each of them (never to the one who did it: their own
// block already answered), wherever they are on the page.
let newsTimer = null;
function tell(text) {
  const news = document.querySelector("[data-plan-news]");
  if (!news || !text) return;
  news.hidden = false;
  news.textContent = "";
  window.setTimeout(() => { news.textContent = text; }, 30);
  window.clearTimeout(newsTimer);
  newsTimer = window.setTimeout(() => { news.hidden = true; news.textContent = ""; }, 8_000);
}

function trainWords(departureId) {
  const leg = currentLeg();
  const option = leg && leg.options.find((o) => o.departure.id === departureId);
  const departure = option ? option.departure : leg && leg.departure;
  if (!departure || departure.id !== departureId) return "";
  const when = new Intl.DateTimeFormat(document.documentElement.lang || "en", {
    weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
    timeZone: root.dataset.timeZone || undefined,
  }).format(new Date(departure.departs_at));
  return fill(gettext("train %(number)s, %(when)s"), { number: departure.service_number, when });
}

function memberName(userId) {
  const member = state.snapshot.members.find((m) => m.user_id === userId);
  return member ? member.name : gettext("Someone");
}

function tellOthers(event) {
  const p = event.payload || {};
  const actor = state.snapshot.members.find((m) => m.user_id === event.actor);
  if (event.actor && event.actor === me()) return;
  const name = actor ? actor.name : gettext("Someone");
  let text = "";
  switch (event.kind) {
    case "vote_cast":
      text = p.departure_id
        ? fill(gettext("%(name)s voted for %(train)s."), { name, train: trainWords(p.departure_id) })
        : fill(gettext("%(name)s took back their vote."), { name });
      break;
    case "poll_proposed":
      text = fill(gettext("%(name)s put trains to the vote."), { name });
      break;
    case "poll_settled":
      text = fill(gettext("%(name)s chose %(train)s."), { name, train: trainWords(p.departure_id) });
      break;
    case "checkout_started":
      text = fill(gettext("%(name)s started the checkout: everyone now pays their own share."), { name });
      break;
    case "booking_confirmed":
      text = gettext("Everyone has paid: the trip is booked.");
      break;
    case "checkout_cancelled":
      text = gettext("The checkout was cancelled: nobody is charged.");
      break;
    // The group's changes (booking/receivers.py): ``user_id`` is who left, was removed or
    // is the new organiser; the snapshot still names them (a fresh one is on its way).
    case "member_left":
    case "member_removed": {
      const who = memberName(p.user_id);
      if (p.user_id === me()) {
        // The socket closes after this event: its last word is this one.
        state.farewell = event.kind === "member_removed"
          ? gettext("The organiser removed you from this trip.")
          : gettext("You left this trip.");
        text = state.farewell;
      } else {
        text = event.kind === "member_removed"
          ? fill(gettext("%(name)s is no longer on the trip."), { name: who })
          : fill(gettext("%(name)s left the trip."), { name: who });
      }
      break;
    }
    case "organiser_changed":
      text = p.user_id === me()
        ? gettext("You are now the organiser of this trip.")
        : fill(gettext("%(name)s is now the organiser."), { name: memberName(p.user_id) });
      break;
    default:
      break;
  }
  if (text) tell(text);
}

// A seat by its one name ("Coach 2, seat 14" / "Voiture 2, place 14"), from its label "2-14".
function seatName(label) {
  const [coach, number] = String(label).split("-");
  return fill(gettext("Coach %(coach)s, seat %(number)s"), { coach, number });
}

// After a pick or "Sit us together": my seat on screen (its coach first, if another).
function showMySeat() {
  const leg = currentLeg();
  const mine = leg && leg.seats.find((s) => s.user_id === me() && s.departure_id === shownDeparture());
  if (!mine) return;
  const coach = String(mine.label).split("-")[0];
  const reveal = () => {
    const cell = root.querySelector("[data-plan-seatmap] .seat--mine");
    if (cell) cell.scrollIntoView({ block: "center", inline: "center" });
  };
  if (coach && coach !== root.dataset.coach) goToCoach(coach).then(reveal);
  else reveal();
}

// --- One coach at a time ------------------------------------------------------------------

function goToCoach(number, { focus = false } = {}) {
  const url = new URL(location.href);
  url.searchParams.set("coach", String(number));
  if (legName()) url.searchParams.set("leg", legName());
  if (shownDeparture()) url.searchParams.set("show", String(shownDeparture()));
  history.replaceState(null, "", url);
  return refreshHtml().then(() => {
    if (focus) root.querySelector(`[data-coach-link="${number}"]`)?.focus();
  });
}

function neighbourCoach(step) {
  const links = [...root.querySelectorAll("[data-coach-link]")];
  const at = links.findIndex((link) => link.getAttribute("aria-current") === "true");
  const next = links[at + step];
  return next ? next.dataset.coachLink : null;
}

function openDialogOnLoad() {
  // A refused checkout start comes back with its dialog open (and the error in it).
  const dialog = root.querySelector("dialog[data-open-on-load]");
  if (dialog && !dialog.matches(":modal")) {
    dialog.close();
    dialog.showModal();
  }
}

// --- Talking to the server -----------------------------------------------------------------

function setConnection(mode) {
  const conn = root.querySelector("[data-plan-conn]");
  if (!conn) return;
  conn.hidden = false;
  conn.dataset.state = mode;
  conn.querySelector("[data-plan-conn-text]").textContent = {
    live: gettext("Live"),
    connecting: gettext("Connecting…"),
    offline: gettext("Offline: your taps are not sent until the connection is back."),
    closed: gettext("Not connected"),
  }[mode];
  // Back online: what was refused for being offline is no longer true.
  if (mode === "live") {
    for (const region of root.querySelectorAll("[data-feedback][data-offline]")) {
      region.hidden = true;
      region.textContent = "";
      delete region.dataset.offline;
    }
  }
}

// A command, answered where it was made (``where``): taps while offline are refused at
// once, there, and not queued (the page says so in its offline banner).
function send(command, { ok = "", where, form = null } = {}) {
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    say(where, refusal("offline"), "error", { offline: true });
    return null;
  }
  const id = state.nextId++;
  state.pending.set(id, { ok, where, form });
  socket.send(JSON.stringify({ ...command, id }));
  return id;
}

// The server's field errors under their fields (the fare form), the first one focused.
const FIELD_IDS = {
  fare_class: "plan-fare-class", passenger_type: "plan-passenger", age: "plan-age",
  card: "plan-card", card_number: "plan-card-number",
};

function clearFieldErrors(form) {
  if (!form) return;
  for (const list of form.querySelectorAll(".field__errors")) list.remove();
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.endsWith("-error"));
    if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
    else control.removeAttribute("aria-describedby");
  }
}

function showFieldErrors(form, fields) {
  let first = null;
  for (const [name, messages] of Object.entries(fields || {})) {
    const control = form && form.querySelector(`#${FIELD_IDS[name] || "none"}`);
    if (!control) continue;
    const list = document.createElement("ul");
    list.className = "field__errors";
    list.id = `${control.id}-error`;
    list.setAttribute("role", "alert");
    for (const message of messages) {
      const li = document.createElement("li");
      li.textContent = message;
      list.append(li);
    }
    control.closest(".field").append(list);
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") || ""} ${list.id}`.trim());
    first = first || control;
  }
  if (first) first.focus({ preventScroll: true });
  if (first) first.scrollIntoView({ block: "center" });
  return Boolean(first);
}

function requestSnapshot() {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify({ type: "snapshot" }));
  }
}

function watchDeparture() {
  const departureId = shownDeparture();
  if (departureId && state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify({ type: "watch_departure", departure_id: departureId }));
  }
}

function onMessage(message) {
  switch (message.type) {
    case "snapshot":
      onSnapshot(message);
      break;
    case "resync":
      for (const event of message.events) onEvent(event);
      if (!message.events.length && message.version > state.version) requestSnapshot();
      break;
    case "event":
      onEvent(message);
      break;
    case "presence":
      for (const member of state.snapshot.members) member.online = message.online.includes(member.user_id);
      render();
      break;
    case "seats":
      if (message.departure_id === shownDeparture()) {
        for (const seat of message.seats) noteSeat(seat.seat_id, seat.status);
        render();
      }
      break;
    case "ack": {
      const asked = state.pending.get(message.id);
      state.pending.delete(message.id);
      if (asked) {
        clearFieldErrors(asked.form);
        // The server's words win when what happened is not what was asked ("Sit us
        // together" that could not seat everyone next to the others).
        const text = message.message || asked.ok;
        if (text) say(asked.where, text, "success");
      }
      break;
    }
    case "error": {
      const asked = state.pending.get(message.id) || { where: "seats" };
      state.pending.delete(message.id);
      clearFieldErrors(asked.form);
      showFieldErrors(asked.form, message.fields);
      say(asked.where, refusal(message.code, message.message), "error");
      break;
    }
    case "pong":
      window.clearTimeout(state.pongTimer);
      // An event whose broadcast never reached us (its server died after the commit)
      // shows here: the page catches up within a heartbeat.
      if (typeof message.version === "number") learnVersion(message.version);
      break;
    default:
      break;
  }
}

function dropSocket() {
  const socket = state.socket;
  state.socket = null;
  window.clearInterval(state.pingTimer);
  window.clearTimeout(state.pongTimer);
  if (socket) {
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try { socket.close(); } catch { /* already closed */ }
  }
}

function scheduleReconnect() {
  if (state.stopped) return;
  window.clearTimeout(state.reconnectTimer);
  const delay = Math.min(BACKOFF_MAX_MS, 500 * 2 ** state.attempt) * (0.75 + Math.random() / 2);
  state.attempt += 1;
  state.reconnectTimer = window.setTimeout(connect, delay);
}

function connect() {
  if (state.stopped) return;
  window.clearTimeout(state.reconnectTimer);
  dropSocket();
  setConnection("connecting");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/ws/trips/${root.dataset.tripId}/?version=${state.version}`;
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => {
    state.attempt = 0;
    setConnection("live");
    watchDeparture();
    state.pingTimer = window.setInterval(() => {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify({ type: "ping" }));
      // No answer in time: the connection is dead without having said so.
      window.clearTimeout(state.pongTimer);
      state.pongTimer = window.setTimeout(() => { dropSocket(); scheduleReconnect(); }, PONG_TIMEOUT_MS);
    }, PING_MS);
  };
  socket.onmessage = (message) => {
    try {
      onMessage(JSON.parse(message.data));
    } catch (error) {
      console.error(error); // eslint-disable-line no-console
    }
  };
  socket.onclose = (event) => {
    dropSocket();
    if (FATAL_CLOSES.has(event.code)) {
      state.stopped = true;
      setConnection("closed");
      tell(
        event.code === 4401
          ? gettext("You are logged out. Log in again to see the plan live.")
          : event.code === 4429
            ? gettext("Too many messages: the live plan stopped. Reload the page to continue.")
            : state.farewell || gettext("You are no longer a traveller of this trip."),
      );
      return;
    }
    setConnection(navigator.onLine === false ? "offline" : "connecting");
    scheduleReconnect();
  };
}

// --- What the traveller does ------------------------------------------------------------

function settledOrShown() {
  const leg = currentLeg();
  return leg && leg.departure ? leg.departure.id : shownDeparture();
}

const editable = () => root.dataset.tripState === "planning";

function pickSeat(cell) {
  const leg = currentLeg();
  const seatId = Number(cell.dataset.seatId);
  // Every tap is answered at the seat map, refused or not (nothing silently ignored).
  if (!editable()) {
    say("seats", refusal("trip_locked"), "error");
    return;
  }
  if (cell.dataset.holder === String(me())) {
    say("seats", gettext("This is already your seat."));
    return;
  }
  if (cell.dataset.seatStatus !== "free") {
    say("seats", gettext("This seat is taken. Pick a free one."), "error");
    return;
  }
  const fare = leg.fares[String(me())];
  if (fare && fare.comfort_class !== cell.dataset.comfort) {
    say("seats", refusal("wrong_comfort_class"), "error");
    return;
  }
  send(
    { type: "pick_seat", leg: legName(), seat_id: seatId, departure_id: settledOrShown() },
    {
      ok: fill(gettext("Coach %(coach)s, seat %(number)s: it is yours."), {
        coach: root.dataset.coach, number: cell.dataset.number,
      }),
      where: "seats",
    },
  );
}

function onClick(event) {
  const target = event.target;
  const cell = target.closest("[data-seat]");
  if (cell && root.contains(cell)) {
    for (const other of cell.closest("[data-seatmap-grid]").querySelectorAll("[data-seat]")) other.tabIndex = -1;
    cell.tabIndex = 0;
    pickSeat(cell);
    return;
  }
  const coach = target.closest("[data-coach-link]");
  if (coach && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
    event.preventDefault();
    goToCoach(coach.dataset.coachLink);
    return;
  }
  const vote = target.closest("[data-vote]");
  if (vote) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    const departureId = Number(vote.dataset.vote);
    const undo = vote.getAttribute("aria-pressed") === "true";
    send(
      { type: "vote", leg: legName(), departure_id: undo ? null : departureId },
      { ok: undo ? gettext("Your vote is withdrawn.") : gettext("Your vote is counted."), where: "poll" },
    );
    return;
  }
  const settle = target.closest("[data-settle]");
  if (settle) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    const departureId = Number(settle.dataset.settle);
    send(
      { type: "settle", leg: legName(), departure_id: departureId },
      { ok: fill(gettext("You chose %(train)s. Everyone is told."), { train: trainWords(departureId) }), where: "poll" },
    );
    return;
  }
  if (target.closest("[data-sit-together]")) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    send(
      { type: "sit_together", leg: legName(), departure_id: settledOrShown() },
      { ok: gettext("Done: you are seated together."), where: "seats" },
    );
    return;
  }
  if (target.closest("[data-release-seat]")) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    send({ type: "release_seat", leg: legName() }, { ok: gettext("Your seat is free again."), where: "seats" });
    return;
  }
  // Browsers without invoker commands (command/commandfor) open and close the dialog here.
  const opener = target.closest("[data-open-dialog]");
  if (opener && !("commandForElement" in HTMLButtonElement.prototype)) {
    document.getElementById(opener.dataset.openDialog)?.showModal();
    return;
  }
  const closer = target.closest("[data-close-dialog]");
  if (closer && !("commandForElement" in HTMLButtonElement.prototype)) {
    document.getElementById(closer.dataset.closeDialog)?.close();
    return;
  }
  const show = target.closest("[data-show-option]");
  if (show && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
    event.preventDefault();
    const url = new URL(show.href, location.href);
    url.hash = "";
    history.replaceState(null, "", url);
    refreshHtml().then(() => root.querySelector("#plan-seats-title")?.scrollIntoView());
  }
}

function onKeydown(event) {
  const link = event.target.closest && event.target.closest("[data-coach-link]");
  if (link && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
    event.preventDefault();
    const next = neighbourCoach(event.key === "ArrowRight" ? 1 : -1);
    if (next) goToCoach(next, { focus: true });
    return;
  }
  const cell = event.target.closest && event.target.closest("[data-seat]");
  if (!cell) return;
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    pickSeat(cell);
  } else if (KEYS.has(event.key)) {
    event.preventDefault();
    const grid = cell.closest("[data-seatmap-grid]");
    const next = gridNeighbour(seatsByRow(grid), cell, event.key, event.ctrlKey || event.metaKey);
    if (next) {
      for (const other of grid.querySelectorAll("[data-seat]")) other.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  }
}

// A swipe across the seat map goes to the next or the previous coach.
let touchStart = null;
function onTouchStart(event) {
  if (!event.target.closest("[data-plan-seatmap]") || event.touches.length !== 1) return;
  touchStart = { x: event.touches[0].clientX, y: event.touches[0].clientY };
}
function onTouchEnd(event) {
  if (!touchStart) return;
  const dx = event.changedTouches[0].clientX - touchStart.x;
  const dy = event.changedTouches[0].clientY - touchStart.y;
  touchStart = null;
  const box = root.querySelector("[data-plan-seatmap]");
  // Only when the coach itself does not scroll sideways (then the swipe is for it).
  if (!box || box.scrollWidth > box.clientWidth + 2) return;
  if (Math.abs(dx) < 60 || Math.abs(dx) < 2 * Math.abs(dy)) return;
  const next = neighbourCoach(dx < 0 ? 1 : -1);
  if (next) goToCoach(next);
}

function onSubmit(event) {
  const form = event.target;
  if (form.matches("[data-fare-form]")) {
    event.preventDefault();
    const data = new FormData(form);
    const age = String(data.get("age") || "").trim();
    clearFieldErrors(form);
    if (age && !/^\d{1,3}$/.test(age)) {
      showFieldErrors(form, { age: [gettext("Your age is a whole number.")] });
      say("ticket", gettext("Your age is a whole number."), "error");
      return;
    }
    send(
      {
        type: "choose_fare",
        leg: legName(),
        fare_class: data.get("fare_class"),
        passenger_type: data.get("passenger_type") || "adult",
        age: age ? Number(age) : null,
        card: data.get("card") || "",
        card_number: String(data.get("card_number") || "").trim(),
      },
      { ok: gettext("Your ticket is saved."), where: "ticket", form },
    );
  } else if (form.matches("[data-propose-form]")) {
    event.preventDefault();
    const ids = new FormData(form).getAll("departure_ids").map(Number);
    if (ids.length < 2 || ids.length > 5) {
      say("propose", gettext("Pick two to five trains."), "error");
      return;
    }
    send({ type: "propose", leg: legName(), departure_ids: ids }, { ok: gettext("The trains are put to the vote."), where: "propose" });
  }
}

function start() {
  state.snapshot = readSnapshot();
  if (!state.snapshot) return;
  state.version = state.snapshot.version;
  readSeatStatuses();
  setUpGrids();
  openDialogOnLoad();
  root.addEventListener("click", onClick);
  root.addEventListener("keydown", onKeydown);
  root.addEventListener("submit", onSubmit);
  root.addEventListener("touchstart", onTouchStart, { passive: true });
  root.addEventListener("touchend", onTouchEnd, { passive: true });
  // The browser knows first when the network goes: drop the socket at once and come
  // back (with the last version seen, to catch up) as soon as it returns.
  window.addEventListener("offline", () => { dropSocket(); setConnection("offline"); });
  window.addEventListener("online", () => { state.attempt = 0; connect(); });
  connect();
}

if (root) start();
