// The departure page's seat map, live: anyone looking at a departure sees a seat turn
// held or free within the second, whoever took it (the socket carries seat statuses
// only, no names). Without it the page is as it was rendered; with it, it stays current.
// Reconnects by itself after the network drops.

const root = document.querySelector("[data-departure-live]");
const labelsNode = document.getElementById("seat-status-labels");

function apply(seats, labels) {
  for (const { seat_id: id, status } of seats) {
    const cell = root.querySelector(`[data-seat-id="${id}"]`);
    if (!cell || cell.dataset.seatStatus === status) continue;
    cell.classList.remove(`seat--${cell.dataset.seatStatus}`);
    cell.classList.add(`seat--${status}`);
    cell.dataset.seatStatus = status;
    const label = labels[status] || status;
    cell.dataset.seatStatusLabel = label;
    cell.setAttribute("aria-label", `${cell.dataset.seatDescription}, ${label.toLowerCase()}`);
  }
}

function connect(departureId, labels, delay = 1000) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/departures/${departureId}/`);
  socket.addEventListener("open", () => {
    delay = 1000;
    root.dataset.live = "on";
  });
  socket.addEventListener("message", (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "seats") apply(frame.seats, labels);
  });
  socket.addEventListener("close", (event) => {
    root.dataset.live = "off";
    if (event.code === 4404) return; // the departure is gone
    setTimeout(() => connect(departureId, labels, Math.min(delay * 2, 30000)), delay);
  });
}

if (root && labelsNode && "WebSocket" in window) {
  connect(root.dataset.departureLive, JSON.parse(labelsNode.textContent));
}
