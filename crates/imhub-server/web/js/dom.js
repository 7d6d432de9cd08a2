// Small DOM and formatting helpers shared by every view. No strings of
// their own: words come from the catalogue (i18n.js).

import { t, lang } from "./i18n.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Builds an element: attributes, `text`, `class`, `on*` listeners, children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    // CSSOM, not a style attribute: the Content-Security-Policy allows no inline styles.
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function svg(path, viewBox = "0 0 24 24") {
  const tpl = document.createElement("template");
  tpl.innerHTML = `<svg viewBox="${viewBox}" aria-hidden="true">${path}</svg>`;
  return tpl.content.firstChild;
}

export const ICON = {
  clock: '<circle cx="12" cy="12" r="8"/><path d="M12 8v4l2.5 2"/>',
  check: '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
  checks: '<path d="m2.5 12.5 4.5 4.5L16.5 7.5"/><path d="m11 16 1 1L21.5 7.5"/>',
  alert: '<circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.01"/>',
  group: '<circle cx="9" cy="9" r="3.2"/><path d="M3.5 19c.6-3 2.8-4.6 5.5-4.6s4.9 1.6 5.5 4.6"/><circle cx="17" cy="10" r="2.4"/><path d="M16 14.6c2.3.1 3.8 1.5 4.4 4.4"/>',
  person: '<circle cx="12" cy="9" r="3.6"/><path d="M5 20c.8-3.6 3.6-5.6 7-5.6s6.2 2 7 5.6"/>',
  lead: '<rect x="4" y="3.5" width="16" height="17" rx="3"/><path d="M8 8.5h8M8 12.5h8M8 16.5h5"/>',
  mini: '<circle cx="8.5" cy="15.5" r="3.5"/><circle cx="15.5" cy="8.5" r="3.5"/><path d="M12 15.5V8.5"/>',
  bag: '<path d="M5 8h14l-1 12H6z"/><path d="M9 8a3 3 0 0 1 6 0"/>',
  receipt: '<path d="M6 3.5h12v17l-3-2-3 2-3-2-3 2z"/><path d="M9 8.5h6M9 12.5h6"/>',
  puzzle: '<path d="M10 4h4v3a2 2 0 1 0 4 0V4h2v16H4V4h2v3a2 2 0 1 0 4 0z"/>',
  play: '<path d="M8 5v14l11-7z"/>',
  pause: '<path d="M7 5h4v14H7zM13 5h4v14h-4z"/>',
  lock: '<rect x="5" y="10.5" width="14" height="10" rx="2.5"/><path d="M8 10.5V8a4 4 0 0 1 8 0v2.5"/>',
  timer: '<circle cx="12" cy="13" r="8"/><path d="M12 9v4M9.5 2.5h5"/>',
  search: '<circle cx="11" cy="11" r="7"/><path d="m20 20-3.5-3.5"/>',
  tag: '<path d="M3.5 12.5V4.5a1 1 0 0 1 1-1h8l8 8-9 9z"/><circle cx="8" cy="8" r="1.5"/>',
  copy: '<rect x="8" y="8" width="12" height="12" rx="2.5"/><path d="M16 8V5.5A1.5 1.5 0 0 0 14.5 4h-9A1.5 1.5 0 0 0 4 5.5v9A1.5 1.5 0 0 0 5.5 16H8"/>',
  panel: '<rect x="3.5" y="4.5" width="17" height="15" rx="2.5"/><path d="M14.5 4.5v15"/>',
  note: '<path d="M5 4h14v11l-5 5H5z"/><path d="M14 20v-5h5"/>',
  chevron: '<path d="m6 9 6 6 6-6"/>',
  close: '<path d="M6 6l12 12M18 6 6 18"/>',
  gear: '<circle cx="12" cy="12" r="3"/><path d="M12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1"/>',
  up: '<path d="m6 15 6-6 6 6"/>',
  down: '<path d="m6 9 6 6 6-6"/>',
  moon: '<path d="M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z"/>',
};

/** A short message at the bottom of the screen. */
export function toast(message, kind = "") {
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 6000 : 3500);
}

export function hashHue(s) {
  let x = 0;
  for (const ch of String(s)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % 360;
}

/** Only web and local object URLs: a customer's content must never run script (`javascript:`). */
export function safeUrl(u) {
  if (!u) return null;
  try {
    const url = new URL(u, location.href);
    return ["http:", "https:", "blob:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

export function platformName(p) {
  return t(`platform.${p}`, {}, p);
}

/** An avatar: the image when there is one, else the name's first character on a stable colour. */
export function avatar(name, url, { group = false, platform = null, size = "" } = {}) {
  const el = h("span", { class: `avatar ${size} ${group ? "group" : ""}`.trim() });
  el.style.background = `hsl(${hashHue(name || "?")} 52% 62%)`;
  const first = [...(name || "").trim()][0];
  if (group) el.append(svg(ICON.group));
  else if (!first || name === "匿名") el.append(svg(ICON.person));
  else el.append(first.toUpperCase());
  if (safeUrl(url)) {
    const img = h("img", { alt: "", loading: "lazy", decoding: "async", referrerpolicy: "no-referrer" });
    img.addEventListener("error", () => img.remove());
    img.src = safeUrl(url);
    el.append(img);
  }
  if (platform) el.append(h("span", { class: `platform-dot ${platform}`, title: platformName(platform), text: t(`platform.short.${platform}`, {}, "?") }));
  return el;
}

export function platformBadge(p) {
  return h("span", { class: `platform ${p}`, text: platformName(p) });
}

/** A label chip in the label's own colour (set through CSSOM). */
export function labelChip(label, extra = null) {
  const el = h("span", { class: "label-chip", "data-label-id": String(label.id), title: label.name }, h("i"), h("span", { text: label.name }), extra);
  if (/^#[0-9a-fA-F]{6}$/.test(label.color || "")) el.style.setProperty("--label", label.color);
  return el;
}

export function parseTime(s) {
  if (typeof s === "number") return s;
  const x = Date.parse(s);
  return Number.isNaN(x) ? Date.now() : x;
}
export const pad = (n) => String(n).padStart(2, "0");
export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}
export function clock(x) {
  const d = new Date(x);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const weekday = (d) => t(`time.weekday.${d.getDay()}`);

/** Chat-list time: 刚刚, N 分钟前, 14:05, 昨天, 周三, 3/14, 2023/3/14. */
export function relTime(x) {
  const now = new Date();
  const d = new Date(x);
  const diff = (now - d) / 1000;
  if (diff < 60) return t("time.just_now");
  if (diff < 3600) return t("time.minutes_ago", { n: Math.floor(diff / 60) });
  if (sameDay(d, now)) return clock(x);
  const y = new Date(now); y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return t("time.yesterday");
  if (diff < 6 * 86400) return weekday(d);
  if (d.getFullYear() === now.getFullYear()) return `${d.getMonth() + 1}/${d.getDate()}`;
  return `${d.getFullYear()}/${d.getMonth() + 1}/${d.getDate()}`;
}

/** How long someone has waited: 30 秒, 5 分钟, 2 小时 10 分, 3 天. */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t("time.d_seconds", { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("time.d_minutes", { n: m });
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return t("time.d_hours", { n: hrs, m: m % 60 });
  return t("time.d_days", { n: Math.floor(hrs / 24) });
}

export function dayLabel(x) {
  const now = new Date();
  const d = new Date(x);
  if (sameDay(d, now)) return t("time.today");
  const y = new Date(now); y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return t("time.yesterday");
  return d.getFullYear() === now.getFullYear()
    ? t("time.day_this_year", { m: d.getMonth() + 1, d: d.getDate(), w: weekday(d) })
    : t("time.day_other_year", { y: d.getFullYear(), m: d.getMonth() + 1, d: d.getDate() });
}

export function fullTime(x) {
  const d = new Date(x);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(x)}`;
}

/** Short date and time for a snooze: 12/3 09:00. */
export function shortTime(x) {
  const d = new Date(x);
  return `${d.getMonth() + 1}/${d.getDate()} ${clock(x)}`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Copies text to the clipboard (with a fallback for non-secure origins). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h("textarea", { class: "visually-hidden" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  toast(t("common.copied"));
}

/**
 * A snippet from the search API: HTML-escaped text with `<mark>` tags. It
 * is rebuilt as text nodes and <mark> elements, never parsed as HTML.
 */
export function snippetNodes(snippet) {
  const unescape = (s) => s.replace(/&(lt|gt|amp|quot|#39|#x27);/g, (_, e) => ({ lt: "<", gt: ">", amp: "&", quot: '"', "#39": "'", "#x27": "'" })[e]);
  const out = [];
  const parts = String(snippet || "").split(/(<mark>|<\/mark>)/);
  let marked = false;
  for (const p of parts) {
    if (p === "<mark>") { marked = true; continue; }
    if (p === "</mark>") { marked = false; continue; }
    if (!p) continue;
    out.push(marked ? h("mark", { text: unescape(p) }) : document.createTextNode(unescape(p)));
  }
  return out;
}

/**
 * A popup menu anchored to a button: items are {label, onclick, checked?,
 * danger?, disabled?, sub?}; arrows move, Enter picks, Escape closes.
 */
export function popupMenu(anchor, items, { className = "" } = {}) {
  closeMenus();
  const menu = h("div", { class: `menu popup ${className}`.trim(), role: "menu" });
  for (const it of items) {
    if (it.heading) { menu.append(h("div", { class: "menu-heading", text: it.heading })); continue; }
    if (it.separator) { menu.append(h("div", { class: "menu-sep" })); continue; }
    if (it.node) { menu.append(it.node); continue; }
    const b = h("button", {
      class: `menu-item ${it.checked ? "checked" : ""} ${it.danger ? "danger" : ""}`.trim(), type: "button", role: "menuitem",
      disabled: it.disabled || false, "data-value": it.value ?? null,
      onclick: (e) => { e.stopPropagation(); if (!it.keepOpen) closeMenus(); it.onclick?.(e); },
    }, it.icon ? svg(it.icon) : null, h("span", { text: it.label }), it.hint ? h("span", { class: "menu-hint", text: it.hint }) : null);
    menu.append(b);
  }
  menu.addEventListener("keydown", (e) => {
    const buttons = $$(".menu-item:not(:disabled)", menu);
    const i = buttons.indexOf(document.activeElement);
    if (e.key === "ArrowDown") { e.preventDefault(); buttons[(i + 1) % buttons.length]?.focus(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); buttons[(i - 1 + buttons.length) % buttons.length]?.focus(); }
    else if (e.key === "Escape") { e.preventDefault(); closeMenus(); anchor.focus(); }
  });
  menu.addEventListener("click", (e) => e.stopPropagation());
  const host = anchor.closest(".menu-host") || anchor.parentElement;
  host.append(menu);
  anchor.setAttribute("aria-expanded", "true");
  menu._anchor = anchor;
  (menu.querySelector(".menu-item.checked:not(:disabled)") || menu.querySelector(".menu-item:not(:disabled)") || menu.querySelector("input"))?.focus();
  return menu;
}

export function closeMenus() {
  for (const m of $$(".menu.popup")) {
    m._anchor?.setAttribute("aria-expanded", "false");
    m.remove();
  }
}

export { t, lang };
