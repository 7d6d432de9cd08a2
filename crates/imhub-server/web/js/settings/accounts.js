// Settings → 抖音账号 and 账号 (admins), and the re-authorization flags the
// rest of the inbox shows.
//
// 抖音账号: per Douyin channel, "扫码授权" opens the platform's QR page
// (POST /douyin/channels/{id}/authorize-url; in the demo and the tests the
// sandbox's page) in a window of its own; the platform sends the merchant's
// browser back to imhub's callback, which creates or re-activates the
// account; this page polls the account list and shows the account when it
// appears, then closes that window. Accounts needing re-authorization are
// flagged with a 重新授权 button, here, in 账号, in the channel status, in the
// chat list's account filter, above the chat list and in the chat header.
//
// 账号: every account with rename, disable and a link to its
// auto-assignment settings (分配); accounts of custom and Tencent channels
// can be added by hand (their pushes name accounts imhub must know).

import { api } from "../api.js";
import { $, h, t, toast, platformBadge, platformName, lang } from "../dom.js";
import { state, isAdmin, on, emit } from "../state.js";
import { showSettingsPage } from "../settings.js";
import { problemText } from "../pages.js";
import { setAccounts } from "../list.js";
import { field, validateAll, checks, showProblem, formatDateTime } from "./forms.js";

const items = (r) => (Array.isArray(r) ? r : r?.items || []);
const NEEDS = "needs_reauthorization";
const POLL_MS = 1500;
const NAME_MAX = 100;

/** Re-reads the accounts into the shared state; the list's filter and the flags follow. */
export async function refreshAccounts() {
  const list = items(await api("GET", "/api/v1/accounts"));
  state.accounts = new Map(list.map((a) => [a.id, a]));
  setAccounts(list);
  emit("accounts");
  return list;
}

/** A state tag: 正常 / 需重新授权 / 已停用. */
export function accountStateTag(a) {
  if (a.disabled) return h("span", { class: "tag account-state disabled", text: t("account.disabled") });
  if (a.state === NEEDS) return h("span", { class: "tag account-state reauth", title: a.state_reason || "", text: t("account.needs_reauth") });
  return h("span", { class: "tag account-state ok", text: t("account.active") });
}

/** Why an account needs re-authorization: the push's event in words, else the platform's own text. */
export const reasonText = (r) => t(`account.reason.${r}`, {}, r);

function reauthButton(a) {
  return h("button", { class: "btn btn-sm btn-primary douyin-reauthorize", type: "button", "data-account-id": String(a.id), text: t("douyin.reauthorize"),
    onclick: () => authorizeDouyin(a.channel_id, { accountId: a.id }) });
}

// ---------- the QR authorization ----------

let running = null;

/** The status line of an authorization in progress, in the settings frame (kept across page redraws). */
function statusBox() {
  let el = $("#douyin-auth-status");
  if (!el) {
    el = h("div", { id: "douyin-auth-status", class: "auth-status", role: "status", "aria-live": "polite", hidden: true });
    const page = $("#settings-page");
    (page?.parentElement || document.body).insertBefore(el, page || null);
  }
  return el;
}

/**
 * Runs the QR flow for a Douyin channel: opens the platform's page, waits
 * until a new account of the channel (or `accountId` re-activated) shows up.
 * Must be called from a click, so the browser lets the window open.
 */
export async function authorizeDouyin(channelId, { accountId = null, onDone = null } = {}) {
  running?.stop();
  // Opened now, inside the click; pointed at the platform once the URL is known.
  let win = null;
  try { win = window.open("", "imhub-douyin-auth"); } catch { win = null; }
  const box = statusBox();
  const stopBtn = h("button", { class: "link-btn", type: "button", text: t("common.cancel") });
  let stopped = false;
  let timer = null;
  const stop = (text = null) => {
    stopped = true;
    clearTimeout(timer);
    if (text) { box.replaceChildren(h("span", { text })); setTimeout(() => { if (running?.box === box && stopped) box.hidden = true; }, 8000); }
    else box.hidden = true;
  };
  running = { stop, box };
  stopBtn.addEventListener("click", () => { win?.close(); stop(); });
  box.hidden = false;
  box.replaceChildren(h("span", { text: t("douyin.auth_starting") }));
  let before;
  let url;
  try {
    before = new Map(items(await api("GET", "/api/v1/accounts")).map((a) => [a.id, a]));
    url = await api("POST", `/api/v1/douyin/channels/${channelId}/authorize-url`);
  } catch (ex) {
    win?.close();
    stop();
    box.hidden = false;
    box.replaceChildren(h("span", { class: "bad", text: t("douyin.auth_failed", { reason: problemText(ex) }) }));
    toast(problemText(ex), "error");
    return;
  }
  if (win) win.location.href = url.url;
  box.replaceChildren(h("span", { text: accountId ? t("douyin.auth_waiting_reauth") : t("douyin.auth_waiting") }), " ",
    h("a", { class: "link-btn auth-link", href: url.url, target: "imhub-douyin-auth", rel: "noreferrer", text: t("douyin.auth_open") }), " ", stopBtn);
  const expires = Date.parse(url.expires_at) || Date.now() + 15 * 60000;
  const poll = async () => {
    if (stopped) return;
    if (Date.now() > expires) { stop(t("douyin.auth_expired")); return; }
    try {
      const now = items(await api("GET", "/api/v1/accounts"));
      const done = now.find((a) => a.channel_id === channelId && (accountId
        ? a.id === accountId && a.state !== NEEDS
        : !before.has(a.id) || (before.get(a.id).state === NEEDS && a.state !== NEEDS)));
      if (done) {
        try { win?.close(); } catch { /* another origin may refuse; harmless */ }
        stop(t("douyin.auth_done", { name: done.name }));
        toast(t("douyin.auth_done", { name: done.name }));
        await refreshAccounts();
        if (onDone) onDone(done);
        else if ($("#settings")?.open) showSettingsPage(currentPage());
        return;
      }
    } catch { /* a failed poll is retried */ }
    timer = setTimeout(poll, POLL_MS);
  };
  timer = setTimeout(poll, POLL_MS);
}

const currentPage = () => $("#settings-nav .settings-tab.active")?.dataset.page || "douyin";

// ---------- 抖音账号 ----------

export async function douyinPage(box) {
  const title = h("h3", { text: t("settings.douyin") });
  if (!isAdmin()) { box.replaceChildren(title, h("p", { class: "muted", text: t("settings.admin_only") })); return; }
  let channels, accounts, health = [];
  try {
    [channels, accounts] = await Promise.all([api("GET", "/api/v1/channels").then(items), refreshAccounts()]);
    health = await api("GET", "/api/v1/channels/health").then(items).catch(() => []);
  } catch (ex) { box.replaceChildren(title, h("p", { class: "form-error", text: problemText(ex) })); return; }
  const douyin = channels.filter((c) => c.platform === "douyin");
  const tokens = new Map(health.flatMap((hc) => hc.douyin_accounts || []).map((d) => [d.account_id, d]));
  if (!douyin.length) {
    box.replaceChildren(title, h("p", { class: "muted", text: t("douyin.intro") }),
      h("p", { class: "muted", text: t("douyin.no_channel") }),
      h("button", { class: "btn btn-sm", type: "button", text: t("douyin.go_channels"), onclick: () => showSettingsPage("channels") }));
    return;
  }
  const sections = douyin.map((c) => {
    const mine = accounts.filter((a) => a.channel_id === c.id);
    return h("section", { class: "settings-group douyin-channel", "data-channel-id": String(c.id) },
      h("div", { class: "picker-top" }, h("h4", { text: c.name }),
        h("button", { class: "btn btn-primary btn-sm douyin-authorize", type: "button", text: t("douyin.authorize"), onclick: () => authorizeDouyin(c.id) })),
      h("ul", { class: "settings-list douyin-accounts" }, mine.length ? mine.map((a) => {
        const tok = tokens.get(a.id);
        const needs = a.state === NEEDS || tok?.needs_reauthorization;
        return h("li", { class: `settings-row account-row ${needs ? "needs-reauth" : ""}`.trim(), "data-account-id": String(a.id), "data-state": needs ? NEEDS : a.state },
          h("div", { class: "reply-main" },
            h("div", { class: "picker-top" }, h("strong", { class: "account-name", text: a.name }), accountStateTag(needs ? { ...a, state: NEEDS } : a)),
            h("div", { class: "muted small mono", text: `open_id ${a.external_id}` }),
            tok?.token_expires_at && !needs ? h("div", { class: "muted small token-expiry", text: t("douyin.token_expires", { time: formatDateTime(tok.token_expires_at, lang()) }) }) : null,
            needs && a.state_reason ? h("div", { class: "small bad state-reason", text: reasonText(a.state_reason) }) : null),
          needs ? reauthButton(a) : null);
      }) : h("li", { class: "muted", text: t("douyin.no_accounts") })));
  });
  box.replaceChildren(title, h("p", { class: "muted", text: t("douyin.intro") }), ...sections);
}

// ---------- 账号 ----------

export async function accountsPage(box) {
  const title = h("h3", { text: t("settings.accounts") });
  if (!isAdmin()) { box.replaceChildren(title, h("p", { class: "muted", text: t("settings.admin_only") })); return; }
  let accounts, channels;
  try { [accounts, channels] = await Promise.all([refreshAccounts(), api("GET", "/api/v1/channels").then(items)]); }
  catch (ex) { box.replaceChildren(title, h("p", { class: "form-error", text: problemText(ex) })); return; }
  const channelName = new Map(channels.map((c) => [c.id, c.name]));
  const redraw = () => accountsPage(box);
  const rows = accounts.map((a) => accountRow(a, channelName.get(a.channel_id), redraw));
  const addable = channels.filter((c) => c.platform === "custom" || c.platform === "tencent");
  box.replaceChildren(...[title, h("p", { class: "muted", text: t("account.intro") }),
    h("p", {}, h("button", { id: "accounts-assignment-link", class: "link-btn", type: "button", text: t("account.assignment_link"), onclick: () => showSettingsPage("assignment") })),
    h("ul", { id: "account-list", class: "settings-list" }, rows.length ? rows : h("li", { class: "muted", text: t("account.none") })),
    addable.length ? addForm(addable, redraw) : null].filter(Boolean));
}

function accountRow(a, channel, redraw) {
  const name = field({ name: "name", label: t("account.name"), required: true, check: checks.maxChars(NAME_MAX),
    input: h("input", { class: "input account-name-input", value: a.name, maxlength: String(NAME_MAX) }) });
  const disabled = field({ name: "disabled", label: t("account.disable"), hint: t("account.disable_hint"),
    input: h("input", { type: "checkbox", class: "account-disabled", checked: !!a.disabled }) });
  const general = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "settings-form account-form", novalidate: true },
    h("div", { class: "cfields" }, name.el, disabled.el), general,
    h("div", { class: "dialog-actions" },
      h("button", { class: "link-btn account-assignment", type: "button", text: t("account.assignment"), onclick: () => showSettingsPage("assignment") }),
      h("button", { class: "btn btn-primary btn-sm account-save", type: "submit", text: t("common.save") })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    general.hidden = true;
    if (!validateAll([name])) return;
    const body = {};
    if (name.input.value.trim() !== a.name) body.name = name.input.value.trim();
    if (disabled.input.checked !== !!a.disabled) body.disabled = disabled.input.checked;
    if (!Object.keys(body).length) return;
    try {
      await api("PATCH", `/api/v1/accounts/${a.id}`, body);
      toast(t("common.saved"));
      await refreshAccounts();
      redraw();
    } catch (ex) {
      showProblem(ex, [name, disabled], general, (x) => (x.code === "invalid_request" ? "name" : null));
    }
  });
  return h("li", { class: `settings-row account-row ${a.state === NEEDS ? "needs-reauth" : ""}`.trim(), "data-account-id": String(a.id), "data-state": a.state },
    h("div", { class: "reply-main" },
      h("div", { class: "picker-top" }, platformBadge(a.platform), h("strong", { class: "account-name", text: a.name }), accountStateTag(a),
        h("span", { class: "muted small", text: channel ? t("account.in_channel", { channel }) : "" })),
      h("div", { class: "muted small mono", text: a.external_id }),
      form),
    a.state === NEEDS && a.platform === "douyin" ? reauthButton(a) : null);
}

function addForm(channels, redraw) {
  const channel = field({ name: "channel_id", label: t("account.channel"), required: true,
    input: h("select", { class: "input" }, channels.map((c) => h("option", { value: String(c.id), text: `${c.name} · ${platformName(c.platform)}` }))) });
  const external = field({ name: "external_id", label: t("account.external_id"), hint: t("account.external_id_hint"), required: true, check: checks.maxChars(200),
    input: h("input", { class: "input mono", autocomplete: "off" }) });
  const name = field({ name: "name", label: t("account.name"), required: true, check: checks.maxChars(NAME_MAX), input: h("input", { class: "input" }) });
  const general = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { id: "new-account", class: "settings-form reply-form", novalidate: true },
    h("h4", { text: t("account.add") }), h("div", { class: "cfields" }, channel.el, external.el, name.el), general,
    h("div", { class: "dialog-actions" }, h("button", { class: "btn btn-primary btn-sm", type: "submit", text: t("account.add") })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    general.hidden = true;
    if (!validateAll([channel, external, name])) return;
    try {
      await api("POST", "/api/v1/accounts", { channel_id: Number(channel.input.value), external_id: external.input.value.trim(), name: name.input.value.trim() });
      toast(t("common.saved"));
      redraw();
    } catch (ex) {
      showProblem(ex, [channel, external, name], general, (x) => (x.code === "conflict" ? "external_id" : x.code === "not_found" ? "channel_id" : null));
    }
  });
  return form;
}

// ---------- flags elsewhere in the inbox ----------

/** Above the chat list: the accounts that need re-authorization, with the button (admins). */
function renderNotice() {
  const needs = [...state.accounts.values()].filter((a) => a.state === NEEDS && !a.disabled);
  let el = $("#reauth-notice");
  if (!needs.length) { if (el) el.hidden = true; return; }
  if (!el) {
    el = h("div", { id: "reauth-notice", class: "reauth-notice", role: "status" });
    $(".sidebar .filters")?.after(el);
  }
  el.hidden = false;
  el.replaceChildren(...needs.map((a) => h("div", { class: "reauth-line", "data-account-id": String(a.id) },
    h("span", { text: t("account.reauth_notice", { name: a.name, platform: platformName(a.platform) }) }),
    isAdmin() && a.platform === "douyin" ? reauthButton(a) : h("span", { class: "muted small", text: t("account.reauth_ask_admin") }))));
}

/** Listens for account changes (main.js emits "accounts" after loading them) and re-checks now and then. */
export function wireAccountFlags() {
  on("accounts", renderNotice);
  // Tokens expire on the platform's clock; a background re-read catches that.
  setInterval(() => { if (state.me) refreshAccounts().catch(() => {}); }, 120000);
}
