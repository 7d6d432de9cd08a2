// Settings → Webhooks (admins): subscribe the merchant's system to events
// (all, or the types picked; the signing secret generated or given, shown
// once), and per subscription the delivery log: status, attempts, the
// receiver's response code, the next retry, with a retry-now button. A
// subscription is deleted after a confirmation naming its URL.

import { api, EVENT_TYPES } from "../api.js";
import { h, t, toast } from "../dom.js";
import { isAdmin } from "../state.js";
import { problemText } from "../pages.js";
import { adminOnly, confirmDialog, consoleForm, field, fmtNumber, fmtRelative, fmtTime, input, invalid, items, loadFailed, looksLikeUrl, pageHead, secretOnce } from "./kit.js";

const TITLE = "settings.webhooks";
/** How often an open delivery log refreshes itself. */
const LOG_REFRESH_MS = 3000;

export async function webhooksPage(box, notice = null) {
  if (!isAdmin()) { adminOnly(box, TITLE); return; }
  let hooks;
  try { hooks = items(await api("GET", "/api/v1/webhooks")); } catch (ex) { loadFailed(box, TITLE, ex, () => webhooksPage(box)); return; }
  const redraw = (n = null) => webhooksPage(box, n);
  // The subscriptions first (the form is long), then the form to add one.
  box.replaceChildren(...pageHead(TITLE, "webhooks.intro"), notice || "",
    h("h4", { text: t("webhooks.list", { n: fmtNumber(hooks.length) }) }),
    h("ul", { id: "webhook-list", class: "settings-list" }, hooks.length ? hooks.map((w) => webhookRow(w, redraw)) : h("li", { class: "muted", text: t("webhooks.none") })),
    newWebhookForm(redraw));
}

const eventName = (e) => t(`webhooks.event.${e}`, {}, e);

function newWebhookForm(redraw) {
  const url = field("url", "webhooks.url", input({ type: "url", class: "input mono webhook-new-url", placeholder: "https://", maxlength: "2000" }), { hintKey: "webhooks.url_hint" });
  const all = h("input", { type: "checkbox", class: "webhook-all", checked: true });
  const boxes = EVENT_TYPES.map((e) => h("label", { class: "check" },
    h("input", { type: "checkbox", class: "webhook-event", value: e, disabled: true }), h("span", { text: eventName(e) }), h("code", { class: "muted small", text: e })));
  const events = h("div", { class: "checks webhook-events", id: "webhook-new-events", tabindex: "-1" }, boxes);
  all.addEventListener("change", () => { for (const b of events.querySelectorAll("input")) b.disabled = all.checked; });
  const eventsField = { key: "event_types", wrap: events, input: events, err: h("span", { class: "field-error", role: "alert", hidden: true }),
    set(m) { this.err.textContent = m; this.err.hidden = false; }, clear() { this.err.hidden = true; } };
  const secret = field("secret", "webhooks.secret", input({ type: "password", autocomplete: "new-password", class: "input webhook-new-secret", minlength: "16", maxlength: "200" }), { hintKey: "webhooks.secret_hint" });
  return consoleForm({
    id: "webhook-new", className: "reply-form",
    fields: [url, eventsField, secret],
    children: [h("h4", { text: t("webhooks.add") }), url.wrap,
      h("div", { class: "console-field", "data-field": "event_types" }, h("span", { class: "console-label", text: t("webhooks.events") }),
        h("label", { class: "check" }, all, h("span", { text: t("webhooks.all_events") })), events, eventsField.err),
      secret.wrap],
    submitKey: "webhooks.create",
    codes: { target_not_allowed: "url", invalid_url: "url", too_many_webhooks: null },
    validate: () => ({
      url: looksLikeUrl(url.input.value.trim()) ? null : invalid("url"),
      event_types: !all.checked && !events.querySelector(".webhook-event:checked") ? invalid("events") : null,
      secret: secret.input.value && secret.input.value.length < 16 ? invalid("secret_short") : null,
    }),
    submit: async () => {
      const body = { url: url.input.value.trim(), event_types: all.checked ? [] : [...events.querySelectorAll(".webhook-event:checked")].map((x) => x.value) };
      if (secret.input.value) body.secret = secret.input.value;
      const made = await api("POST", "/api/v1/webhooks", body);
      toast(t("webhooks.created"));
      redraw(secretOnce("webhook-secret", "webhooks.secret_once", made.secret, h("p", { class: "small", text: t("webhooks.verify_hint") })));
    },
  });
}

function webhookRow(w, redraw) {
  const err = h("p", { class: "form-error row-error", role: "alert", hidden: true });
  const log = h("div", { class: "webhook-log", hidden: true });
  const toggle = h("button", { class: "btn btn-sm webhook-log-toggle", type: "button", "aria-expanded": "false", text: t("webhooks.show_log"), onclick: () => {
    log.hidden = !log.hidden;
    toggle.setAttribute("aria-expanded", String(!log.hidden));
    toggle.textContent = log.hidden ? t("webhooks.show_log") : t("webhooks.hide_log");
    if (!log.hidden) deliveryLog(w, log);
  } });
  const types = w.event_types?.length && !w.event_types.includes("*") ? w.event_types.map(eventName).join("、") : t("webhooks.all_events");
  return h("li", { class: "settings-row webhook-row", "data-webhook-id": String(w.id) },
    h("div", { class: "webhook-line" },
      h("div", { class: "reply-main" },
        h("div", { class: "mono webhook-url", text: w.url }),
        h("div", { class: "muted small" }, h("span", { text: types }), " · ", h("span", { text: t("webhooks.created_at", { time: fmtTime(w.created_at) }) }),
          w.active === false ? h("span", { class: "tag", text: t("webhooks.inactive") }) : null)),
      toggle,
      h("button", { class: "btn btn-sm danger webhook-delete", type: "button", text: t("common.delete"), onclick: async () => {
        if (!(await confirmDialog({ titleKey: "webhooks.delete_title", text: t("webhooks.confirm_delete", { url: w.url }) }))) return;
        try { await api("DELETE", `/api/v1/webhooks/${w.id}`); toast(t("webhooks.deleted")); redraw(); } catch (ex) { err.textContent = problemText(ex); err.hidden = false; }
      } })),
    err, log);
}

/** The delivery log of one subscription, refreshed while it is open. */
async function deliveryLog(w, box) {
  clearTimeout(box._timer);
  if (box.hidden || !box.isConnected && box._drawn) return;
  let list;
  try { list = items(await api("GET", `/api/v1/webhooks/${w.id}/deliveries`)); } catch (ex) {
    box.replaceChildren(h("p", { class: "form-error", role: "alert", text: problemText(ex) }));
    return;
  }
  box._drawn = true;
  const rows = list.map((d) => deliveryRow(w, d, box));
  box.replaceChildren(
    h("div", { class: "webhook-log-head" }, h("strong", { text: t("webhooks.log", { n: fmtNumber(list.length) }) }),
      h("button", { class: "btn btn-sm webhook-log-refresh", type: "button", text: t("webhooks.refresh"), onclick: () => deliveryLog(w, box) })),
    list.length ? h("div", { class: "table-wrap" }, h("table", { class: "delivery-table" },
      h("thead", {}, h("tr", {}, ["time", "event", "status", "attempts", "code", "next", "error", ""].map((k) => h("th", { text: k ? t(`webhooks.col.${k}`) : "" })))),
      h("tbody", {}, rows))) : h("p", { class: "muted small", text: t("webhooks.no_deliveries") }));
  box._timer = setTimeout(() => { if (box.isConnected && !box.hidden) deliveryLog(w, box); }, LOG_REFRESH_MS);
}

function deliveryRow(w, d, box) {
  const retry = d.status !== "delivered" ? h("button", { class: "btn btn-sm delivery-retry", type: "button", text: t("webhooks.retry_now"), onclick: async (e) => {
    e.target.disabled = true;
    try {
      await api("POST", `/api/v1/webhooks/${w.id}/deliveries/${d.id}/retry`);
      toast(t("webhooks.retrying"));
    } catch (ex) { toast(problemText(ex), "error"); }
    deliveryLog(w, box);
  } }) : null;
  return h("tr", { class: "delivery-row", "data-delivery-id": String(d.id), "data-status": d.status },
    h("td", { text: fmtTime(d.created_at) }),
    h("td", { class: "mono", text: d.event_type }),
    h("td", {}, h("span", { class: `tag delivery-status status-${d.status}`, text: t(`webhooks.status.${d.status}`, {}, d.status) })),
    h("td", { class: "num", text: fmtNumber(d.attempts) }),
    h("td", { class: "num delivery-code", text: d.last_status === null || d.last_status === undefined ? "—" : String(d.last_status) }),
    h("td", { class: "delivery-next", title: d.next_attempt_at ? fmtTime(d.next_attempt_at) : "", text: d.status === "pending" && d.next_attempt_at ? fmtRelative(d.next_attempt_at) : d.delivered_at ? t("webhooks.delivered_at", { time: fmtTime(d.delivered_at) }) : "—" }),
    h("td", { class: "small delivery-error", text: d.last_error || "" }),
    h("td", {}, retry));
}
