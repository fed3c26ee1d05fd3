// The fetch wrapper: bearer auth, silent refresh, and the error envelope as ApiError.
//
// The access token lives only in memory. The refresh token is kept in localStorage so a reload
// or a second tab stays signed in; any script running on this origin could read it, which is
// why the page never renders data as HTML and our CSP allows only our own scripts. Refresh
// tokens rotate on every use and a reused one revokes its whole family, so tabs take a Web Lock
// before refreshing and always use the token currently stored (another tab may have rotated it).

const REFRESH_KEY = "omnichat.refresh_token";
const LOCK = "omnichat-refresh";
const RETRY_REFRESH_MS = 10_000;

let access = null; // {token, expiresAt (ms), lifetime (ms)}
let refreshTimer = 0;
let refreshing = null;
const authListeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Listen for "signed-out", "password-required" and "user" (a refresh brought the user's current
 * record, e.g. after a role change); returns the unsubscribe function.
 */
export function onAuth(listener) {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

function announce(what, detail) {
  for (const listener of [...authListeners]) listener(what, detail);
}

export function hasSession() {
  return Boolean(localStorage.getItem(REFRESH_KEY));
}

function accessToken() {
  return access && access.token;
}

async function send(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "network_error", "Cannot reach the server; check the connection.");
  }
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = `The server answered ${response.status}.`;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // Not our envelope (a proxy's error page): keep the generic sentence.
  }
  return new ApiError(response.status, code, message);
}

function adopt(tokens) {
  localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  const lifetime = Math.max(1, Number(tokens.expires_in) || 60) * 1000;
  access = { token: tokens.access_token, expiresAt: Date.now() + lifetime, lifetime };
  // Refresh a little before expiry: a minute early, or a quarter early for short lifetimes.
  scheduleRefresh(lifetime - Math.min(60_000, lifetime / 4));
}

function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(0, delay));
}

function forget() {
  clearTimeout(refreshTimer);
  access = null;
  localStorage.removeItem(REFRESH_KEY);
}

function withLock(work) {
  // Web Locks need a secure context; without them two tabs may rarely race a rotation.
  return navigator.locks ? navigator.locks.request(LOCK, work) : work();
}

/** Rotate the token pair once (concurrent callers share the attempt). */
export function refresh() {
  if (!refreshing) {
    refreshing = withLock(rotate).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function rotate() {
  const stored = localStorage.getItem(REFRESH_KEY);
  if (!stored) {
    signedOut();
    throw new ApiError(401, "signed_out", "Signed out.");
  }
  const response = await send("POST", "/api/v1/auth/refresh", { refresh_token: stored });
  if (response.status === 401 || response.status === 403) {
    const error = await errorFrom(response);
    // Another tab may have rotated the token while our request was in flight.
    if (localStorage.getItem(REFRESH_KEY) !== stored) return rotate();
    signedOut();
    throw error;
  }
  if (!response.ok) {
    scheduleRefresh(RETRY_REFRESH_MS);
    throw await errorFrom(response);
  }
  const tokens = await response.json();
  adopt(tokens);
  if (tokens.user) announce("user", tokens.user);
  return tokens;
}

function signedOut() {
  forget();
  announce("signed-out");
}

/** A fresh enough access token, refreshing first when there is none or it has expired. */
export async function ensureAccess() {
  if (!access || Date.now() > access.expiresAt - 5_000) await refresh();
  return access.token;
}

export async function login(email, password, tenant = "") {
  const body = tenant ? { email, password, tenant } : { email, password };
  const response = await send("POST", "/api/v1/auth/login", body);
  if (!response.ok) throw await errorFrom(response);
  const tokens = await response.json();
  adopt(tokens);
  return tokens;
}

/** A call that needs no sign-in (forgot, reset, accept); resolves to the decoded body. */
export async function anonymous(method, path, body) {
  const response = await send(method, path, body);
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

/** Sign in with a pair the server just issued (an accepted invitation). */
export function adoptTokens(tokens) {
  adopt(tokens);
}

/** End the session on the server (best effort) and forget the tokens here. */
export async function logout() {
  // An expired access token could not end the session: refresh first when needed.
  const token = await ensureAccess().catch(() => null);
  forget();
  if (token) await send("POST", "/api/v1/auth/logout", {}, token).catch(() => {});
  announce("signed-out");
}

async function authorized(method, path, body) {
  await ensureAccess();
  let response = await send(method, path, body, accessToken());
  if (response.status === 401) {
    // The token may have just expired or been revoked by a role change: refresh, retry once.
    await refresh();
    response = await send(method, path, body, accessToken());
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (error.status === 403 && error.code === "password_change_required") {
      announce("password-required");
    }
    throw error;
  }
  return response;
}

/** A JSON call with auth; resolves to the decoded body (null for 204). */
async function request(method, path, body) {
  const response = await authorized(method, path, body);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => request("GET", path);
export const post = (path, body = {}) => request("POST", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path, body) => request("DELETE", path, body);

/** Fetch a file with auth and hand it to the browser as a download named by the server. */
export async function download(path, fallbackName, method = "GET") {
  const response = await authorized(method, path, method === "GET" ? undefined : {});
  const blob = await response.blob();
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : fallbackName;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // Give the browser a moment to start the download before the URL is released.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { name: link.download, size: blob.size };
}

/** Sign out here when another tab signs out (it removes the shared refresh token). */
window.addEventListener("storage", (event) => {
  if (event.key === REFRESH_KEY && event.newValue === null && access) {
    clearTimeout(refreshTimer);
    access = null;
    announce("signed-out");
  }
});

/** Timers sleep in background tabs; check the token when the tab comes back. */
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && access && Date.now() > access.expiresAt - 60_000) {
    refresh().catch(() => {});
  }
});

/**
 * Upload one file (multipart) as the signed-in user, reporting progress (0..1):
 * {done: Promise<Attachment>, abort()}. Errors are ApiErrors with the server's envelope.
 */
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  let aborted = false;
  const done = ensureAccess().then(
    (token) =>
      new Promise((resolve, reject) => {
        if (aborted) return reject(new ApiError(0, "aborted", "Cancelled."));
        xhr.open("POST", "/api/v1/attachments");
        xhr.setRequestHeader("Authorization", `Bearer ${token}`);
        xhr.responseType = "json";
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) onProgress(event.loaded / event.total);
        });
        xhr.addEventListener("load", () => {
          const body = xhr.response || {};
          if (xhr.status === 201 && body.attachment) return resolve(body.attachment);
          const error = body.error || {};
          const fallback = `The server answered ${xhr.status}.`;
          reject(new ApiError(xhr.status, error.code || "upload_failed", error.message || fallback));
        });
        xhr.addEventListener("error", () =>
          reject(new ApiError(0, "network_error", "Cannot reach the server; check the connection.")),
        );
        xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "Cancelled.")));
        const form = new FormData();
        form.append("file", file, file.name || "pasted-image.png");
        xhr.send(form);
      }),
  );
  return {
    done,
    abort() {
      aborted = true;
      xhr.abort();
    },
  };
}
