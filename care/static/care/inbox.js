// The care team's inbox, live (docs/care.md): a new case appears at the top of the
// cases waiting for an answer, a changed one is updated in place. Texts are set with
// textContent only.
(function () {
  "use strict";
  const root = document.querySelector("[data-care-inbox]");
  if (!root) return;
  const active = root.querySelector("[data-care-inbox-active]");
  const status = root.querySelector("[data-care-inbox-status]");
  let retry = 1000;

  function row(caseData) {
    let item = active.querySelector(`[data-inbox-case="${caseData.id}"]`);
    if (!item) {
      item = document.createElement("li");
      item.dataset.inboxCase = String(caseData.id);
      const link = document.createElement("a");
      link.className = "care-inbox__link";
      link.href = `/care/inbox/${caseData.id}/`;
      for (const field of ["state", "trip_title", "opened_by", "preview", "assigned_to"]) {
        const span = document.createElement("span");
        span.className = "care-inbox__" + field.split("_")[0];
        span.dataset.field = field;
        if (field === "assigned_to") span.dataset.nobody = root.dataset.labelNobody;
        link.append(span);
      }
      item.append(link);
    }
    item.className = `care-inbox__row care-inbox__row--${caseData.state}`;
    item.dataset.state = caseData.state;
    for (const span of item.querySelectorAll("[data-field]")) {
      const value =
        span.dataset.field === "state"
          ? root.getAttribute(`data-label-${caseData.state}`) || caseData.state
          : caseData[span.dataset.field];
      if (span.dataset.field === "preview" && !value) continue; // a change keeps the last
      span.textContent = value || span.dataset.nobody || "";
    }
    return item;
  }

  function place(item, caseData) {
    const empty = active.querySelector("[data-care-inbox-empty]");
    if (empty) empty.remove();
    if (caseData.state === "resolved") {
      item.remove();
      return;
    }
    if (item.parentNode === active) return; // a change: updated in place
    if (caseData.state === "open") {
      // Waiting cases first, the longest waiting at the top: a new one after them.
      active.insertBefore(item, active.querySelector('[data-inbox-case]:not([data-state="open"])'));
    } else {
      active.append(item);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${root.dataset.wsPath}`);
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "ready") {
        retry = 1000;
      } else if (frame.type === "case_opened" || frame.type === "case_changed") {
        const item = row(frame.case);
        place(item, frame.case);
        if (frame.type === "case_opened") {
          item.dataset.fresh = "true";
          status.textContent = root.dataset.labelNew.replace("{trip}", frame.case.trip_title);
        }
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4404 || event.code === 4401) return;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
    setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
    }, 25000);
  }

  connect();
})();
