// The one module that talks to the server: fetch with the session cookie,
// problem+json errors as ApiError, and the live event stream (SSE).

import { t } from "./i18n.js";

/** A refused or failed request: HTTP status and the problem's stable `code`. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

let signedOut = () => {};
/** Called when any request (but the login itself) answers 401. */
export function onSignedOut(fn) { signedOut = fn; }

/** One API call. `body` is JSON unless it is a Blob (uploads). */
export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body instanceof Blob) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", t("error.network"));
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401 && path !== "/api/v1/session") signedOut();
    throw new ApiError(res.status, data && data.code, (data && data.detail) || text);
  }
  return data;
}

export const get = (path) => api("GET", path);

/** A query string from the set values of `params` (arrays become comma lists). */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === "" || v === null || v === undefined || v === false) continue;
    if (Array.isArray(v)) { if (v.length) p.set(k, v.join(",")); continue; }
    p.set(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

/** Every live event type the inbox listens to. */
export const EVENT_TYPES = [
  "message.created", "message.updated", "conversation.updated",
  "conversation.assigned", "conversation.status_changed", "conversation.labels_changed",
  "note.created", "mention.created", "agent.availability_changed",
  "automation.fired", "lead.created", "lead.updated",
];

/**
 * The live stream. EventSource retries by itself after a dropped
 * connection, but gives up for good when a reconnect gets an HTTP error (a
 * restarting server, a proxy's 502). Then we reconnect ourselves, with
 * backoff, and after any gap `onCatchUp` runs, because events sent while we
 * were away are gone.
 */
export class LiveStream {
  constructor({ onEvent, onState, onCatchUp, stillSignedIn }) {
    Object.assign(this, { onEvent, onState, onCatchUp, stillSignedIn });
    this.es = null;
    this.retry = 0;
    this.timer = null;
    this.wasDisconnected = false;
  }

  close() {
    if (this.es) { this.es.close(); this.es = null; }
    clearTimeout(this.timer);
  }

  open() {
    this.close();
    this.onState(this.wasDisconnected ? "offline" : "connecting");
    const es = new EventSource("/api/v1/events");
    this.es = es;
    es.addEventListener("ready", () => {
      this.retry = 0;
      this.onState("live");
      if (this.wasDisconnected) {
        this.wasDisconnected = false;
        this.onCatchUp();
      }
    });
    for (const kind of EVENT_TYPES) {
      es.addEventListener(kind, (e) => {
        let data;
        try { data = JSON.parse(e.data); } catch { return; /* ignore a malformed event */ }
        this.onEvent({ type: kind, ...data });
      });
    }
    es.onerror = () => {
      if (this.es !== es) return;
      this.wasDisconnected = true;
      this.onState("offline");
      if (es.readyState === EventSource.CLOSED) {
        const delay = Math.min(15000, 500 * 2 ** this.retry++);
        this.timer = setTimeout(async () => {
          if (this.es !== es || !this.stillSignedIn()) return;
          try { await api("GET", "/api/v1/session"); } catch (ex) { if (ex.status === 401) return; }
          this.open();
        }, delay);
      }
    };
  }
}
