// The string catalogue: every word a view shows comes from here. Chinese
// first (zh-CN is the default and the fallback); English when the browser
// prefers it or the agent switches in the settings.

import zhCN from "./i18n/zh-CN.js";
import en from "./i18n/en.js";

const CATALOGUES = { "zh-CN": zhCN, en };
const STORE_KEY = "imhub.lang";

function pick() {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (saved && CATALOGUES[saved]) return saved;
  } catch { /* storage may be off */ }
  for (const l of navigator.languages || [navigator.language || ""]) {
    if (/^zh\b/i.test(l)) return "zh-CN";
    if (/^en\b/i.test(l)) return "en";
  }
  return "zh-CN";
}

let current = pick();

/** The language in use: `zh-CN` or `en`. */
export const lang = () => current;
export const languages = () => Object.keys(CATALOGUES);

/** Switches language and remembers it; the page reloads to redraw. */
export function setLang(l) {
  if (!CATALOGUES[l]) return;
  try { localStorage.setItem(STORE_KEY, l); } catch { /* session only */ }
  current = l;
}

/** `t("list.unread", {n: 3})`: the string in the current language with `{n}` filled. */
export function t(key, vars = {}, fallback = undefined) {
  let s = CATALOGUES[current][key] ?? zhCN[key];
  if (s === undefined) return fallback !== undefined ? fallback : key;
  if (typeof s === "function") return s(vars);
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
}

/**
 * Translates the static page: `data-i18n` (text), `data-i18n-placeholder`,
 * `data-i18n-title`, `data-i18n-aria-label`.
 */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const [attr, data] of [["placeholder", "i18nPlaceholder"], ["title", "i18nTitle"], ["aria-label", "i18nAriaLabel"]]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.dataset[data]));
  }
  document.title = t("app.title");
}
