// Desktop notifications and a short sound for new customer messages and
// for chats that breach the reply-time target, while the inbox's tab is
// hidden; the unread count in the tab's title. Permission is asked only
// from a button in the account menu, never on load.

import { api } from "./api.js";
import { $, t } from "./dom.js";
import { state, on, emit } from "./state.js";
import { addMenuItem } from "./pages.js";
import { waitingItems, waitedNow, level } from "./waiting.js";

const STORE_KEY = "imhub.notify";
const breached = new Set();
let audio = null;

const supported = () => "Notification" in window;
function enabled() {
  try { return supported() && Notification.permission === "granted" && localStorage.getItem(STORE_KEY) !== "0"; } catch { return false; }
}

/** A short two-tone chime made with WebAudio (no sound file to fetch). */
export function chime() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const now = audio.currentTime;
    for (const [i, f] of [880, 1320].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = f;
      osc.type = "sine";
      gain.gain.setValueAtTime(0.0001, now + i * 0.14);
      gain.gain.exponentialRampToValueAtTime(0.18, now + i * 0.14 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.14 + 0.22);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.14);
      osc.stop(now + i * 0.14 + 0.25);
    }
  } catch { /* no audio: the notification still shows */ }
}

/** Shows one notification (and plays the chime) when the tab is hidden and notifications are on. */
export function notify(title, body, convId, tag) {
  if (!document.hidden || !enabled()) return false;
  try {
    const n = new Notification(title, { body, tag, silent: true });
    n.onclick = () => { window.focus(); if (convId) emit("open", { id: convId }); n.close(); };
  } catch { /* some browsers only allow notifications from a service worker */ }
  chime();
  return true;
}

async function onMessage(ev) {
  if (!document.hidden || !enabled() || !ev.message_id) return;
  try {
    const m = await api("GET", `/api/v1/messages/${ev.message_id}`);
    if (m.direction !== "in") return;
    const c = state.conv.get(ev.conversation_id) || await api("GET", `/api/v1/conversations/${ev.conversation_id}`);
    const text = m.content?.type === "text" ? m.content.text : t("notify.new_content");
    notify(t("notify.new_message", { name: c.title }), text, c.id, `c${c.id}`);
  } catch { /* gone or offline */ }
}

/** Every second: a chat that just crossed the target is announced once. */
function checkBreaches() {
  const items = waitingItems();
  const live = new Set(items.map((i) => i.id));
  for (const id of [...breached]) if (!live.has(id)) breached.delete(id);
  for (const it of items) {
    if (level(waitedNow(it)) !== "breach" || breached.has(it.id)) continue;
    breached.add(it.id);
    notify(t("notify.breach", { name: it.title }), t("notify.breach_body"), it.id, `b${it.id}`);
  }
}

/** The unread count in the tab title: (3) imhub 收件箱. */
function renderTitle() {
  let n = 0;
  for (const c of state.conv.values()) n += c.unread_count > 0 ? 1 : 0;
  const base = t("app.title");
  const want = n ? `(${n > 99 ? "99+" : n}) ${base}` : base;
  if (document.title !== want) document.title = want;
}

function renderButton(btn) {
  const p = supported() ? Notification.permission : "unsupported";
  btn.textContent = p === "granted" ? (enabled() ? t("notify.on") : t("notify.off")) : p === "denied" ? t("notify.denied") : p === "unsupported" ? t("notify.unsupported") : t("notify.ask");
  btn.dataset.permission = p;
  btn.disabled = p === "denied" || p === "unsupported";
}

export function wireNotify() {
  const btn = addMenuItem("notify-toggle", "notify.ask", async () => {
    if (!supported()) return;
    if (Notification.permission === "default") {
      await Notification.requestPermission();
      try { localStorage.setItem(STORE_KEY, "1"); } catch { /* session only */ }
      if (Notification.permission === "granted") chime();
    } else if (Notification.permission === "granted") {
      try { localStorage.setItem(STORE_KEY, enabled() ? "0" : "1"); } catch { /* session only */ }
    }
    renderButton(btn);
  });
  renderButton(btn);
  $("#me-button").addEventListener("click", () => renderButton(btn));
  on("live", (ev) => { if (ev.type === "message.created") onMessage(ev); });
  setInterval(() => { checkBreaches(); renderTitle(); }, 1000);
  document.addEventListener("visibilitychange", renderTitle);
}
