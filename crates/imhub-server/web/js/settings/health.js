// Settings → 渠道状态 (admins): per channel the last push received, pushes
// today, the last send error with the platform's own code and text, a
// channel gone silent flagged (GET /channels/health, no platform calls);
// Douyin accounts with their token expiry and re-authorization flag; and
// for Meituan the live connection status with `userCount` (GET
// /meituan/channels/{id}/status, which asks Meituan).

import { api } from "../api.js";
import { h, t, platformBadge, relTime, parseTime, lang } from "../dom.js";
import { isAdmin } from "../state.js";
import { problemText } from "../pages.js";
import { formatNumber, formatDateTime } from "./forms.js";
import { authorizeDouyin } from "./accounts.js";

const items = (r) => (Array.isArray(r) ? r : r?.items || []);

export async function healthPage(box) {
  const title = h("h3", { text: t("settings.health") });
  if (!isAdmin()) { box.replaceChildren(title, h("p", { class: "muted", text: t("settings.admin_only") })); return; }
  let health;
  try { health = items(await api("GET", "/api/v1/channels/health")); }
  catch (ex) { box.replaceChildren(title, h("p", { class: "form-error", text: problemText(ex) })); return; }
  const refresh = h("button", { id: "health-refresh", class: "btn btn-sm", type: "button", text: t("health.refresh"), onclick: () => healthPage(box) });
  const cards = health.map(card);
  box.replaceChildren(title, h("p", { class: "muted", text: t("health.intro") }), refresh,
    h("ul", { id: "health-list", class: "settings-list health-list" }, cards.length ? cards : h("li", { class: "muted", text: t("channel.none") })));
}

const when = (x) => (x ? `${relTime(parseTime(x))} · ${formatDateTime(parseTime(x), lang())}` : t("health.never"));

function stat(key, value, cls = "") {
  return h("div", { class: `health-stat ${cls}`.trim(), "data-stat": key }, h("span", { class: "muted small", text: t(`health.${key}`) }), h("strong", { text: value }));
}

function card(c) {
  const silent = !!c.silent;
  const err = c.last_send_error;
  const mins = c.silent_after_secs ? Math.round(c.silent_after_secs / 60) : null;
  const meituan = c.platform === "meituan" ? h("div", { class: "meituan-status", "aria-live": "polite" }, h("span", { class: "muted small", text: t("common.loading") })) : null;
  if (meituan) loadMeituan(c.channel_id, meituan);
  return h("li", { class: `settings-row health-row ${silent ? "silent" : ""}`.trim(), "data-channel-id": String(c.channel_id), "data-silent": String(silent) },
    h("div", { class: "reply-main" },
      h("div", { class: "picker-top" }, platformBadge(c.platform), h("strong", { text: c.name }),
        silent ? h("span", { class: "tag silent-flag", text: t("health.silent") }) : h("span", { class: "tag ok", text: t("health.ok") })),
      silent ? h("p", { class: "small bad", text: mins ? t("health.silent_text", { n: formatNumber(mins, lang()) }) : t("health.silent_text_plain") }) : null,
      h("div", { class: "health-stats" },
        stat("last_push", when(c.last_push_at), "last-push"),
        stat("pushes_today", formatNumber(c.pushes_today ?? 0, lang()), "pushes-today")),
      err ? h("div", { class: "error-line send-error" },
        h("strong", { text: t("health.last_error") }), h("code", { text: String(err.code ?? "") }), h("span", { text: err.text || "" }),
        err.at ? h("span", { class: "muted small", text: when(err.at) }) : null)
        : h("div", { class: "muted small", text: t("health.no_errors") }),
      (c.douyin_accounts || []).length ? h("ul", { class: "health-accounts" }, c.douyin_accounts.map((a) => h("li", { "data-account-id": String(a.account_id) },
        h("span", { text: a.name }),
        a.token_expires_at ? h("span", { class: "muted small", text: t("douyin.token_expires", { time: formatDateTime(parseTime(a.token_expires_at), lang()) }) }) : null,
        a.needs_reauthorization ? h("span", { class: "tag account-state reauth", text: t("account.needs_reauth") }) : null,
        a.needs_reauthorization ? h("button", { class: "btn btn-sm btn-primary douyin-reauthorize", type: "button", text: t("douyin.reauthorize"),
          onclick: () => authorizeDouyin(c.channel_id, { accountId: a.account_id }) }) : null))) : null,
      meituan));
}

async function loadMeituan(id, el) {
  const render = (s) => el.replaceChildren(
    h("div", { class: "health-stats" },
      stat("meituan_user_count", formatNumber(s.user_count, lang()), s.failing ? "bad" : ""),
      stat("meituan_checked", formatDateTime(parseTime(s.checked_at), lang()))),
    h("p", { class: `small ${s.failing ? "bad" : "muted"}`, text: s.failing ? t("health.meituan_failing", { n: s.user_count }) : t("health.meituan_ok") }),
    h("p", { class: "muted small", text: t(`health.long_connection.${s.long_connection}`, {}, s.long_connection) }),
    h("button", { class: "btn btn-sm", type: "button", text: t("health.meituan_check"), onclick: () => loadMeituan(id, el) }));
  try { render(await api("GET", `/api/v1/meituan/channels/${id}/status`)); }
  catch (ex) {
    el.replaceChildren(h("p", { class: "small bad", text: t("health.meituan_unavailable", { reason: problemText(ex) }) }),
      h("button", { class: "btn btn-sm", type: "button", text: t("health.meituan_check"), onclick: () => loadMeituan(id, el) }));
  }
}
