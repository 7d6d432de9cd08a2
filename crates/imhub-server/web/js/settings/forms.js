// What the console's forms share (channels, accounts, and any page that
// wants them): a labelled field with its hint and its own error line,
// checks before sending, the API's refusal shown next to the field it is
// about (what was typed stays), a write-only secret (已设置 / 未设置 and a
// replace field), a read-only value with a copy button, and a confirmation
// dialog naming what is about to go.

import { h, t, copyText } from "../dom.js";
import { problemText } from "../pages.js";

let styled = false;
/** Loads `console.css` once (a file of the server's own: the CSP allows it). */
export function useConsoleStyles() {
  if (styled) return;
  styled = true;
  document.head.append(h("link", { rel: "stylesheet", href: "/inbox/console.css" }));
}

/**
 * One field: `{name, label, hint, input, required, check}`. `check(value)`
 * returns an error sentence or null; `required` refuses a blank value.
 * Returns `{el, input, error, name, validate(), show(text)}`.
 */
export function field(spec) {
  const { name, label, hint = null, input, required = false, check = null, wide = false } = spec;
  const id = input.id || `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  input.id = id;
  input.name = name;
  input.dataset.field = name;
  const error = h("p", { class: "field-error", "data-error-for": name, role: "alert", hidden: true });
  const hintEl = hint ? h("p", { class: "field-hint", id: `${id}-hint`, text: hint }) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const isCheckbox = input.type === "checkbox";
  const el = isCheckbox
    ? h("div", { class: "cfield cfield-check", "data-field": name },
      h("label", { class: "check", for: id }, input, h("span", { text: label })), hintEl, error)
    : h("div", { class: `cfield ${wide ? "wide" : ""}`.trim(), "data-field": name },
      h("label", { for: id }, h("span", { text: label }), required ? h("b", { class: "req", "aria-hidden": "true", text: "*" }) : null),
      input, hintEl, error);
  const show = (text) => {
    error.textContent = text || "";
    error.hidden = !text;
    input.setAttribute("aria-invalid", text ? "true" : "false");
  };
  const validate = () => {
    if (isCheckbox) return true;
    const v = String(input.value ?? "").trim();
    let problem = null;
    if (required && !v) problem = t("form.required", { field: label });
    else if (v && check) problem = check(v);
    show(problem);
    return !problem;
  };
  input.addEventListener("input", () => { if (!error.hidden) show(null); });
  return { el, input, error, name, label, validate, show };
}

/** Checks every field, shows each problem at its field, focuses the first; true when all pass. */
export function validateAll(fields) {
  let first = null;
  for (const f of fields) if (!f.validate() && !first) first = f;
  first?.input.focus();
  return !first;
}

/** Common checks: each returns a `check` function for [`field`]. */
export const checks = {
  maxChars: (n) => (v) => ([...v].length > n ? t("form.too_long", { n }) : null),
  minChars: (n) => (v) => ([...v].length < n ? t("form.too_short", { n }) : null),
  digits: () => (v) => (/^\d+$/.test(v) ? null : t("form.digits")),
  url: () => (v) => {
    try {
      const u = new URL(v);
      return ["http:", "https:"].includes(u.protocol) && u.host ? null : t("form.url");
    } catch { return t("form.url"); }
  },
  range: (min, max) => (v) => (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? null : t("form.range", { min, max })),
  all: (...fs) => (v) => { for (const f of fs) { const p = f(v); if (p) return p; } return null; },
};

/**
 * Shows a refusal next to its field: `fieldOf(ex)` names the field (by
 * code, or by the field's name appearing in the detail), else `general`.
 */
export function showProblem(ex, fields, general, fieldOf = () => null) {
  const text = problemText(ex);
  let name = fieldOf(ex);
  if (!name && ex.message) {
    // Adapters name the config key they refuse ("app_secret must be…").
    const named = fields.filter((f) => new RegExp(`\\b${f.name}\\b`).test(ex.message));
    named.sort((a, b) => ex.message.indexOf(a.name) - ex.message.indexOf(b.name));
    name = named[0]?.name || null;
  }
  const target = fields.find((f) => f.name === name);
  if (target) { target.show(text); target.input.focus(); general.hidden = true; return; }
  general.textContent = text;
  general.hidden = false;
}

/**
 * A write-only secret: a password input that is sent only when typed, and
 * the stored state (已设置 / 未设置) beside it. `isSet` null = a new channel.
 */
export function secretInput(isSet) {
  const input = h("input", { class: "input", type: "password", autocomplete: "new-password", spellcheck: "false",
    placeholder: isSet ? t("secret.keep") : isSet === false ? t("secret.unset_placeholder") : "" });
  const tag = isSet === null || isSet === undefined ? null
    : h("span", { class: `tag secret-state ${isSet ? "set" : "unset"}`, text: isSet ? t("secret.set") : t("secret.unset") });
  return { input, tag };
}

/** A read-only value with a copy button (select-text fallback in dom.js). */
export function copyBox(value, attrs = {}) {
  const input = h("input", { class: "input mono copy-value", readonly: true, value, "aria-label": attrs.label || t("common.copy"), ...attrs.input });
  input.addEventListener("focus", () => input.select());
  return h("div", { class: "copy-box", ...attrs.box }, input,
    h("button", { class: "btn btn-sm copy-btn", type: "button", text: t("common.copy"), onclick: () => { input.select(); copyText(value); } }));
}

/**
 * Asks before something destructive, in a dialog naming the thing; resolves
 * true when confirmed. Escape or 取消 resolves false.
 */
export function confirmDialog({ title, text, confirm, danger = true }) {
  return new Promise((resolve) => {
    const ok = h("button", { class: `btn btn-sm ${danger ? "btn-danger" : "btn-primary"} confirm-ok`, type: "button", text: confirm || t("common.ok") });
    const cancel = h("button", { class: "btn btn-sm confirm-cancel", type: "button", text: t("common.cancel") });
    const dlg = h("dialog", { class: "card-dialog confirm-dialog", role: "alertdialog", "aria-label": title },
      h("h3", { text: title }), h("p", { class: "confirm-text", text }), h("div", { class: "dialog-actions" }, cancel, ok));
    let answered = false;
    const done = (v) => { if (answered) return; answered = true; dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    (document.querySelector("dialog[open]") || document.body).append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/** Intl formatting for the language in use. */
export function formatNumber(n, locale) {
  return new Intl.NumberFormat(locale).format(n);
}
export function formatDateTime(x, locale) {
  return new Intl.DateTimeFormat(locale, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(x));
}
