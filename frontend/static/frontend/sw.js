/* Sidebyside's service worker (served at /sw.js, scope "/"): shows the notifications the
   server pushes (notices/push.py: JSON with title, body, url, tag) and opens the trip's
   page when one is tapped. It caches nothing and handles no fetch. */

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// Only a page of this site is opened: the path of the pushed URL, on our own origin.
function ourPage(url) {
  try {
    const parsed = new URL(url, self.location.origin);
    return new URL(parsed.pathname + parsed.search + parsed.hash, self.location.origin).href;
  } catch {
    return new URL("/", self.location.origin).href;
  }
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Sidebyside", {
      body: data.body || "",
      tag: data.tag || undefined,
      icon: "/static/frontend/icon.svg",
      data: { url: ourPage(data.url || "/") },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || ourPage("/");
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if (client.url === url && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(url);
    })(),
  );
});
