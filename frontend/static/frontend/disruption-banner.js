// The trip page's disruption banner (trips/_disruption_banner.html): drawn by the server,
// fetched again when the live plan (plan.js) applies an event about a disruption, so every
// traveller on the page sees a cancelled or late train at once.
const KINDS = new Set(["departure_disrupted", "disruption_chosen", "reroute_proposed", "rerouted"]);

let fetching = null;

async function refresh() {
  if (fetching) return fetching;
  fetching = (async () => {
    try {
      const response = await fetch(location.href, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.querySelector("[data-disruption-banner]");
      const current = document.querySelector("[data-disruption-banner]");
      if (fresh && current) current.innerHTML = fresh.innerHTML;
    } finally {
      fetching = null;
    }
  })();
  return fetching;
}

document.addEventListener("sidebyside:trip-event", (event) => {
  if (KINDS.has(event.detail?.kind)) refresh();
});
