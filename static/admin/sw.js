// The admin page's service worker: shows staff notifications pushed while Omnichat is closed,
// and opens what a clicked one is about. It caches nothing: the page always loads fresh.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const path = typeof data.url === "string" && data.url.startsWith("/admin") ? data.url : "/admin";
  event.waitUntil(
    self.registration.showNotification(String(data.title || "Omnichat"), {
      body: String(data.body || ""),
      tag: String(data.tag || "omnichat"),
      icon: "/static/admin/icon-192.png",
      badge: "/static/admin/icon-192.png",
      data: { path },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const path = (event.notification.data && event.notification.data.path) || "/admin";
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => new URL(client.url).pathname.startsWith("/admin"));
      if (open) {
        open.postMessage({ type: "open", path });
        return open.focus();
      }
      return self.clients.openWindow(path);
    })(),
  );
});
