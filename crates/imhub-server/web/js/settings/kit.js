// The pieces the console's settings pages share (agents, profile, tokens,
// webhooks, kept pushes; any page may use them): a labelled field with its
// own error line, a form that validates before it sends and puts the API's
// problem next to the field it is about (keeping what was typed), a secret
// shown once with a copy button, a confirmation dialog naming the thing,
// and dates and numbers formatted for the language (Intl).

import { h, t, lang, toast } from "../dom.js";
import { problemText } from "../pages.js";

// ---------- formatting ----------

/** A date and time in the current language: 2026年12月2日 09:05 / Dec 2, 2026, 9:05 AM. */
export function fmtTime(x) {
  if (x === null || x === undefined) return "—";
  const d = new Date(typeof x === "number" ? x : Date.parse(x));
  if (Number.isNaN(d.getTime())) return "—";
  return new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "short" }).format(d);
}

/** A number in the current language (1,234). */
export const fmtNumber = (n) => new Intl.NumberFormat(lang()).format(n ?? 0);

/** How far away a time is, in words: 59 分钟后 / in 59 minutes, 3 秒前 / 3 seconds ago. */
export function fmtRelative(x) {
  if (x === null || x === undefined) return "—";
  const ms = (typeof x === "number" ? x : Date.parse(x)) - Date.now();
  if (Number.isNaN(ms)) return "—";
  const rtf = new Intl.RelativeTimeFormat(lang(), { numeric: "auto" });
  // The largest unit whose rounded count stays under the next one: 59 分钟, then 1 小时.
  const abs = Math.abs(ms);
  if (Math.round(abs / 1000) < 60) return rtf.format(Math.round(ms / 1000), "second");
  if (Math.round(abs / 60_000) < 60) return rtf.format(Math.round(ms / 60_000), "minute");
  if (Math.round(abs / 3_600_000) < 24) return rtf.format(Math.round(ms / 3_600_000), "hour");
  return rtf.format(Math.round(ms / 86_400_000), "day");
}

/** A time element with the absolute time as its title. */
export function timeEl(x, relative = false) {
  return h("time", { datetime: x ? new Date(typeof x === "number" ? x : Date.parse(x)).toISOString() : null, title: fmtTime(x), text: relative ? fmtRelative(x) : fmtTime(x) });
}

// ---------- fields and forms ----------

let seq = 0;

/**
 * A labelled field: `input` (any control) under `labelKey`, an optional
 * hint, and an error line of its own. `set(message)` shows the error and
 * marks the control invalid; `clear()` hides it.
 */
export function field(key, labelKey, input, { hintKey = null, hintText = null } = {}) {
  if (!input.id) input.id = `cf-${key}-${++seq}`;
  const err = h("span", { class: "field-error", role: "alert", id: `${input.id}-error`, hidden: true });
  const label = h("label", { class: "console-label", for: input.id, text: t(labelKey) });
  const hint = hintKey || hintText ? h("span", { class: "muted small", text: hintText ?? t(hintKey) }) : null;
  const wrap = h("div", { class: "console-field", "data-field": key }, label, input, hint, err);
  input.setAttribute("aria-describedby", err.id);
  return {
    key, wrap, input, err,
    set(message) { err.textContent = message; err.hidden = false; input.setAttribute("aria-invalid", "true"); },
    clear() { err.hidden = true; err.textContent = ""; input.removeAttribute("aria-invalid"); },
  };
}

/** An input with the console's look. */
export const input = (attrs = {}) => h("input", { class: "input", ...attrs });

/** A select of `[value, labelKey]` options with `value` picked. */
export function select(options, value, attrs = {}) {
  const el = h("select", { class: "input", ...attrs }, options.map(([v, k]) => h("option", { value: v, text: t(k) })));
  if (value !== undefined && value !== null) el.value = value;
  return el;
}

/** A plausible e-mail address (the server has the last word). */
export const looksLikeEmail = (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s);

/** An http(s) URL. */
export function looksLikeUrl(s) {
  try { const u = new URL(s); return u.protocol === "http:" || u.protocol === "https:"; } catch { return false; }
}

/** The message for a field that failed the check before sending. */
export const invalid = (key, vars = {}) => t(`console.invalid.${key}`, vars);

/**
 * A form that validates before sending and shows refusals where they
 * belong. `fields` are from [`field`]; `validate()` returns
 * `{fieldKey: message}` for what is wrong; `codes` maps a problem `code`
 * to the field it is about (else a field whose key the detail names, else
 * the form's own error line). Nothing typed is cleared on an error.
 * `submit()` returns a promise; while it runs the submit button is off.
 */
export function consoleForm({ id, className = "", fields, children = [], submitKey, validate = () => ({}), codes = {}, submit, extraActions = [] }) {
  const formErr = h("p", { class: "form-error", role: "alert", hidden: true });
  const button = h("button", { class: "btn btn-primary btn-sm console-submit", type: "submit", text: t(submitKey) });
  const form = h("form", { id, class: `console-form ${className}`.trim(), novalidate: true },
    ...children, formErr, h("div", { class: "dialog-actions" }, ...extraActions, button));
  const byKey = Object.fromEntries(fields.map((f) => [f.key, f]));
  const clear = () => { formErr.hidden = true; for (const f of fields) f.clear(); };
  const show = (ex) => {
    const text = problemText(ex);
    let target = byKey[codes[ex.code]];
    if (!target && (ex.status === 422 || ex.status === 400)) {
      const detail = String(ex.message || "");
      target = fields.find((f) => new RegExp(`\\b${f.key}\\b`).test(detail));
    }
    if (target) { target.set(text); target.input.focus(); } else { formErr.textContent = text; formErr.hidden = false; }
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear();
    const wrong = Object.entries(validate() || {}).filter(([, m]) => m);
    if (wrong.length) {
      for (const [k, m] of wrong) (byKey[k] ? byKey[k].set(m) : (formErr.textContent = m, formErr.hidden = false));
      byKey[wrong[0][0]]?.input.focus();
      form.dataset.state = "invalid";
      return;
    }
    button.disabled = true;
    form.dataset.state = "sending";
    try {
      await submit();
      form.dataset.state = "done";
    } catch (ex) {
      if (!ex || ex.status === undefined) throw ex;
      show(ex);
      form.dataset.state = "refused";
    } finally {
      button.disabled = false;
    }
  });
  return Object.assign(form, { showProblem: show, clearErrors: clear });
}

// ---------- secrets shown once ----------

/** Copies with the clipboard API, else selects the text for Ctrl+C. */
export async function copyValue(text, selectable) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("common.copied"));
  } catch {
    selectable.focus();
    selectable.select();
    toast(t("console.copy_manually"));
  }
}

/**
 * A secret (password, token, webhook secret) shown once: the value in a
 * read-only field, a copy button, and the warning that it is not shown
 * again. `extra` goes under it (e.g. the e-mail to log in with).
 */
export function secretOnce(id, titleKey, value, extra = null) {
  const box = h("input", { class: "input mono secret-value", readonly: true, value, "aria-label": t(titleKey), onfocus: (e) => e.target.select() });
  return h("div", { id, class: "secret-once", role: "status" },
    h("strong", { text: t(titleKey) }),
    h("div", { class: "secret-line" }, box,
      h("button", { class: "btn btn-sm secret-copy", type: "button", text: t("console.copy"), onclick: () => copyValue(value, box) })),
    h("p", { class: "muted small", text: t("console.shown_once") }),
    extra);
}

// ---------- confirmation ----------

/**
 * A confirmation dialog naming what is about to happen; resolves true on
 * the confirm button, false on cancel or Escape.
 */
export function confirmDialog({ titleKey, text, confirmKey = "common.delete", danger = true }) {
  return new Promise((resolve) => {
    let answer = false;
    const dlg = h("dialog", { class: "card-dialog confirm-dialog", "aria-label": t(titleKey) },
      h("h3", { text: t(titleKey) }),
      h("p", { class: "confirm-text", text }),
      h("div", { class: "dialog-actions" },
        h("button", { class: "btn confirm-cancel", type: "button", text: t("common.cancel"), onclick: () => dlg.close() }),
        h("button", { class: `btn ${danger ? "btn-danger" : "btn-primary"} confirm-ok`, type: "button", text: t(confirmKey), onclick: () => { answer = true; dlg.close(); } })));
    dlg.addEventListener("close", () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector(".confirm-cancel").focus();
  });
}

/** A page's heading and intro, and the admin-only notice for agents. */
export function pageHead(titleKey, introKey) {
  return [h("h3", { text: t(titleKey) }), introKey ? h("p", { class: "muted", text: t(introKey) }) : null];
}

/** A page that only admins see: the notice instead of the page. */
export function adminOnly(box, titleKey) {
  box.replaceChildren(...pageHead(titleKey), h("p", { class: "muted", text: t("console.admin_only") }));
}

/** A page that could not load: the reason and a retry button. */
export function loadFailed(box, titleKey, ex, retry) {
  box.replaceChildren(...pageHead(titleKey), h("p", { class: "form-error", role: "alert", text: problemText(ex) }),
    h("button", { class: "btn btn-sm", type: "button", text: t("console.retry"), onclick: retry }));
}

/** The items of a list answer (`{items}` or a bare array). */
export const items = (r) => (Array.isArray(r) ? r : r?.items || []);
