// A care conversation, live (docs/care.md). The page is served with the messages and a
// form that works without this script; here the socket (/ws/care/cases/<id>/) brings each
// new message and state, and the form sends through it when it is open. Every text is
// set with textContent: a message is shown as written, never read as HTML.
(function () {
  "use strict";
  const root = document.querySelector("[data-care-case]");
  if (!root) return;
  const list = root.querySelector("[data-care-messages]");
  const form = root.querySelector("[data-care-form]");
  const body = root.querySelector("[data-care-body]");
  const errorBox = root.querySelector("[data-care-error]");
  const conn = root.querySelector("[data-care-conn]");
  const stateBox = root.querySelector("[data-care-state]");
  let socket = null;
  let retry = 1000;
  let heartbeat = null;
  let nextId = 1;
  const pending = new Map();

  function authorLabel(message) {
    if (!message.by_staff) return message.author || root.dataset.labelTraveller;
    if (!message.author) return root.dataset.labelStaff;
    return root.dataset.labelStaffNamed.replace("{name}", message.author);
  }

  function render(message) {
    if (list.querySelector(`[data-message-id="${message.id}"]`)) return;
    const item = document.createElement("li");
    item.className = "care-msg" + (message.by_staff ? " care-msg--staff" : "");
    item.dataset.messageId = String(message.id);
    const who = document.createElement("p");
    who.className = "care-msg__who";
    const author = document.createElement("span");
    author.dataset.author = "";
    author.textContent = authorLabel(message);
    const time = document.createElement("time");
    time.dateTime = message.at;
    time.textContent = new Date(message.at).toLocaleString(document.documentElement.lang, {
      dateStyle: "short",
      timeStyle: "short",
    });
    who.append(author, " · ", time);
    const text = document.createElement("p");
    text.className = "care-msg__body";
    text.textContent = message.body;
    item.append(who, text);
    list.append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function showCase(caseData) {
    if (!stateBox || !caseData) return;
    stateBox.dataset.careState = caseData.state;
    stateBox.textContent = root.getAttribute(`data-label-${caseData.state}`) || caseData.state;
  }

  function setConn(state) {
    conn.dataset.state = state;
    conn.textContent = state === "live" ? root.dataset.labelLive : root.dataset.labelOffline;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${root.dataset.wsPath}`);
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "conversation") {
        setConn("live");
        retry = 1000;
        frame.messages.forEach(render);
        showCase(frame.case);
      } else if (frame.type === "message") {
        render(frame.message);
        showCase(frame.case);
      } else if (frame.type === "case") {
        showCase(frame.case);
      } else if (frame.type === "ack" && pending.has(frame.id)) {
        pending.delete(frame.id);
        body.value = "";
        errorBox.textContent = "";
        body.removeAttribute("aria-invalid");
      } else if (frame.type === "error") {
        if (frame.id !== null && pending.has(frame.id)) pending.delete(frame.id);
        errorBox.textContent = frame.message;
        body.setAttribute("aria-invalid", "true");
      }
    });
    socket.addEventListener("close", (event) => {
      setConn("offline");
      clearInterval(heartbeat);
      if (event.code === 4404 || event.code === 4401) return;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
    clearInterval(heartbeat);
    heartbeat = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
    }, 25000);
  }

  form.addEventListener("submit", (event) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return; // the form posts itself
    event.preventDefault();
    const id = nextId++;
    pending.set(id, true);
    socket.send(JSON.stringify({ type: "post", id, body: body.value }));
  });

  connect();
})();
