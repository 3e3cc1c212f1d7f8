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
// Events this module applies itself; any other kind → ask for a snapshot.
const SIMPLE = new Set(["seat_held", "seated_together", "seat_released", "holds_expired", "vote_cast"]);
// Paying (payments/services.py, booking/services.py): the checkout part of the page is
// drawn by the server, so these fetch it again (refreshCheckout). Those in CHECKOUT_ONLY
// change nothing of the plan's snapshot; the others also change the trip (frozen for
// checkout, seats sold or freed), so a snapshot is asked for as for any other event.
const CHECKOUT = new Set([
  "checkout_started", "shares_changed", "checkout_grace", "checkout_cancelled",
  "booking_confirmed", "ticket_cancelled",
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
  socket: null,
  attempt: 0,
  reconnectTimer: null,
  pingTimer: null,
  pongTimer: null,
  stopped: false,
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
    snapshot.me.role,
    snapshot.members.map((m) => m.user_id),
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
  for (const cell of root.querySelectorAll("[data-seat]")) {
    state.seatStatus.set(Number(cell.dataset.seatId), cell.dataset.seatStatus);
  }
}

// --- Applying what the server says -------------------------------------------------------

function releaseSeats(leg, released) {
  for (const r of released || []) {
    if (r.leg && leg && r.leg !== leg.direction) continue;
    if (leg) {
      leg.seats = leg.seats.filter(
        (s) => !(s.seat_id === r.seat_id && s.departure_id === r.departure_id),
      );
    }
    if (r.departure_id === shownDeparture()) state.seatStatus.set(r.seat_id, "free");
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
      releaseSeats(leg, p.released);
      for (const hold of p.holds || []) {
        // One seat per traveller and leg: their previous seat on the leg is gone.
        for (const old of leg.seats.filter((s) => s.user_id === hold.user_id)) {
          if (old.departure_id === shownDeparture()) state.seatStatus.set(old.seat_id, "free");
        }
        leg.seats = leg.seats.filter(
          (s) => s.user_id !== hold.user_id && !(s.seat_id === hold.seat_id && s.departure_id === p.departure_id),
        );
        leg.seats.push({
          user_id: hold.user_id, departure_id: p.departure_id, seat_id: hold.seat_id,
          label: hold.label, state: "held",
        });
        if (p.departure_id === shownDeparture()) state.seatStatus.set(hold.seat_id, "held");
      }
      // A pick without a chosen fare gives the traveller a default one: fetch my price.
      const mine = (p.holds || []).some((h) => h.user_id === me());
      return !(mine && !leg.fares[String(me())]);
    }
    case "seat_released":
      releaseSeats(legOf(p.leg), p.released);
      return true;
    case "holds_expired":
      for (const r of p.released || []) releaseSeats(legOf(r.leg), [r]);
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
  render();
  if (CHECKOUT.has(event.kind)) {
    refreshCheckout();
    announceCheckout(event);
  }
  if (!applied) requestSnapshot();
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
    vote.setAttribute("aria-pressed", String(mine));
    vote.classList.toggle("button--primary", mine);
    vote.classList.toggle("button--secondary", !mine);
    const price = option.prices[String(myId)];
    item.querySelector("[data-option-price]").textContent = price
      ? money(price)
      : gettext("choose your ticket");
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
  const release = root.querySelector("[data-release-seat]");
  if (release) release.hidden = !leg.seats.some((s) => s.user_id === myId);

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
      ? fill(gettext("seat %(seat)s"), { seat: seat.label })
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
      for (const name of ["leg", "shownDeparture", "legSettled"]) {
        if (fresh.dataset[name] === undefined) delete root.dataset[name];
        else root.dataset[name] = fresh.dataset[name];
      }
      const status = root.querySelector("[data-plan-status]").textContent;
      const conn = root.querySelector("[data-plan-conn]").outerHTML;
      root.innerHTML = fresh.innerHTML;
      root.querySelector("[data-plan-conn]").outerHTML = conn;
      root.querySelector("[data-plan-status]").textContent = status;
      readSeatStatuses();
      setUpGrids();
      const snapshot = readSnapshot();
      state.refreshing = null;
      if (snapshot) onSnapshot(snapshot, { drawn: true });
      if (shownDeparture() !== watched) watchDeparture();
      if (hadFocus && !root.contains(document.activeElement)) {
        root.querySelector("#plan-title").setAttribute("tabindex", "-1");
        root.querySelector("#plan-title").focus();
      }
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

function announceCheckout(event) {
  const text = {
    checkout_started: gettext("Checkout has started: everyone pays their own share."),
    booking_confirmed: gettext("Everyone has paid: the trip is booked."),
    checkout_cancelled: gettext("The checkout was cancelled: nobody is charged."),
  }[event.kind];
  if (text) announce(text, "success");
}

// --- Talking to the server -----------------------------------------------------------------

function announce(text, kind = "info") {
  const region = root.querySelector("[data-plan-status]");
  region.dataset.kind = kind;
  // Cleared first so the same message twice is read twice.
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 30);
}

function setConnection(mode) {
  const conn = root.querySelector("[data-plan-conn]");
  if (!conn) return;
  conn.hidden = false;
  conn.dataset.state = mode;
  conn.querySelector("[data-plan-conn-text]").textContent = {
    live: gettext("Live"),
    connecting: gettext("Connecting…"),
    offline: gettext("Offline: reconnecting when the network is back"),
    closed: gettext("Not connected"),
  }[mode];
}

function send(command, confirmation = "") {
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    announce(gettext("You are offline. Try again when the connection is back."), "error");
    return null;
  }
  const id = state.nextId++;
  if (confirmation !== null) state.pending.set(id, confirmation);
  socket.send(JSON.stringify({ ...command, id }));
  return id;
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
        for (const seat of message.seats) state.seatStatus.set(seat.seat_id, seat.status);
        render();
      }
      break;
    case "ack": {
      const text = state.pending.get(message.id);
      state.pending.delete(message.id);
      if (text) announce(text, "success");
      break;
    }
    case "error":
      state.pending.delete(message.id);
      announce(message.message || gettext("Something went wrong. Try again."), "error");
      break;
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
      announce(
        event.code === 4401
          ? gettext("You are logged out. Log in again to see the plan live.")
          : event.code === 4429
            ? gettext("Too many messages: the live plan stopped. Reload the page to continue.")
            : gettext("You are no longer a traveller of this trip."),
        "error",
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

function pickSeat(cell) {
  const leg = currentLeg();
  const seatId = Number(cell.dataset.seatId);
  if (cell.dataset.holder === String(me())) {
    announce(gettext("This is already your seat."));
    return;
  }
  if (cell.dataset.seatStatus !== "free") {
    announce(gettext("This seat is taken. Pick a free one."), "error");
    return;
  }
  const fare = leg.fares[String(me())];
  if (fare && fare.comfort_class !== cell.dataset.comfort) {
    announce(gettext("This seat is in another class than your ticket. Change your ticket first, or pick a seat of your class."), "error");
    return;
  }
  send(
    { type: "pick_seat", leg: legName(), seat_id: seatId, departure_id: settledOrShown() },
    fill(gettext("Seat %(number)s is yours."), { number: cell.dataset.number }),
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
  const vote = target.closest("[data-vote]");
  if (vote) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    const departureId = Number(vote.dataset.vote);
    const undo = vote.getAttribute("aria-pressed") === "true";
    send(
      { type: "vote", leg: legName(), departure_id: undo ? null : departureId },
      undo ? gettext("Your vote is withdrawn.") : gettext("Your vote is counted."),
    );
    return;
  }
  const settle = target.closest("[data-settle]");
  if (settle) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    send(
      { type: "settle", leg: legName(), departure_id: Number(settle.dataset.settle) },
      gettext("The train is chosen. Everyone's seats on the other trains are released."),
    );
    return;
  }
  if (target.closest("[data-sit-together]")) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    send(
      { type: "sit_together", leg: legName(), departure_id: settledOrShown() },
      gettext("Done: you are seated together."),
    );
    return;
  }
  if (target.closest("[data-release-seat]")) {
    event.preventDefault(); // the socket does it; the form is for pages without JavaScript
    send({ type: "release_seat", leg: legName() }, gettext("Your seat is free again."));
    return;
  }
  const show = target.closest("[data-show-option]");
  if (show && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
    event.preventDefault();
    history.replaceState(null, "", show.href);
    refreshHtml().then(() => root.querySelector("#plan-seats-title")?.scrollIntoView());
  }
}

function onKeydown(event) {
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

function onSubmit(event) {
  const form = event.target;
  if (form.matches("[data-fare-form]")) {
    event.preventDefault();
    const data = new FormData(form);
    const age = String(data.get("age") || "").trim();
    if (age && !/^\d{1,3}$/.test(age)) {
      announce(gettext("Your age is a whole number."), "error");
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
      gettext("Your ticket is saved."),
    );
  } else if (form.matches("[data-propose-form]")) {
    event.preventDefault();
    const ids = new FormData(form).getAll("departure_ids").map(Number);
    if (ids.length < 2 || ids.length > 5) {
      announce(gettext("Pick two to five trains."), "error");
      return;
    }
    send({ type: "propose", leg: legName(), departure_ids: ids }, gettext("The trains are put to the vote."));
  }
}

function start() {
  state.snapshot = readSnapshot();
  if (!state.snapshot) return;
  state.version = state.snapshot.version;
  readSeatStatuses();
  setUpGrids();
  root.addEventListener("click", onClick);
  root.addEventListener("keydown", onKeydown);
  root.addEventListener("submit", onSubmit);
  // The browser knows first when the network goes: drop the socket at once and come
  // back (with the last version seen, to catch up) as soon as it returns.
  window.addEventListener("offline", () => { dropSocket(); setConnection("offline"); });
  window.addEventListener("online", () => { state.attempt = 0; connect(); });
  connect();
}

if (root) start();
