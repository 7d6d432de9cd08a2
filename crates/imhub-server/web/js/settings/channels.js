// Settings → 渠道 (admins): connect a Douyin, Tencent IM, Meituan or custom
// channel with a form that says what each field is and where the merchant
// finds it in the platform's console; after saving, the webhook URL to paste
// there (copy button) and the other values the platform needs
// (`platform_values`); secrets are write-only (已设置 / 未设置, replaceable);
// edit; disconnect after a confirmation naming the channel.
//
// Also registers the console's tabs (渠道, 抖音账号, 渠道状态, 账号) in the
// settings frame: `wireChannelPages()`, called once by main.js.

import { api } from "../api.js";
import { $, $$, h, t, toast, platformBadge, platformName } from "../dom.js";
import { isAdmin } from "../state.js";
import { addSettingsPage, showSettingsPage } from "../settings.js";
import { problemText } from "../pages.js";
import { field, validateAll, checks, showProblem, secretInput, copyBox, confirmDialog, useConsoleStyles } from "./forms.js";
import { douyinPage, accountsPage, authorizeDouyin, wireAccountFlags } from "./accounts.js";
import { healthPage } from "./health.js";

export const PLATFORMS = ["douyin", "tencent", "meituan", "custom"];
const TENCENT_REGIONS = ["china", "singapore", "seoul", "frankfurt", "silicon_valley", "mumbai", "jakarta", "tokyo"];
const NAME_MAX = 100;

/**
 * Each platform's configuration fields, as its adapter reads them
 * (imhub-douyin DouyinConfig, imhub-tencent TencentConfig, imhub-meituan
 * MeituanConfig, the custom channel's CustomConfig). Labels and hints are
 * `channel.f.<platform>.<name>` / `channel.h.<platform>.<name>`.
 */
const FIELDS = {
  douyin: [
    { name: "client_key", required: true, check: checks.maxChars(100) },
    { name: "client_secret", secret: true, required: true },
    { name: "webhook_secret", secret: true },
    { name: "renew_refresh_token", kind: "checkbox", initial: true },
    { name: "applet_app_id", advanced: true, check: checks.maxChars(100) },
  ],
  tencent: [
    { name: "sdkappid", required: true, kind: "integer", check: checks.all(checks.digits(), checks.range(1, 4294967295)) },
    { name: "key", secret: true, required: true },
    { name: "identifier", required: true, check: checks.maxChars(32) },
    { name: "region", kind: "select", options: TENCENT_REGIONS, initial: "china" },
    { name: "callback_token", secret: true, check: checks.maxChars(128) },
    { name: "merchant_accounts", kind: "list" },
    { name: "default_account", advanced: true, check: checks.maxChars(32) },
  ],
  meituan: [
    { name: "app_id", required: true, check: checks.digits() },
    { name: "app_secret", secret: true, required: true, check: checks.minChars(16) },
    { name: "b2c", kind: "checkbox", initial: false },
    { name: "access_token", secret: true },
    { name: "push_url", advanced: true, check: checks.url() },
    { name: "aes_mode", kind: "select", options: ["cbc", "ecb"], initial: "cbc", advanced: true },
    { name: "push_decode", kind: "select", options: ["auto", "always", "never"], initial: "auto", advanced: true },
  ],
  custom: [
    { name: "secret", secret: true, required: true, check: checks.minChars(16) },
    { name: "outbound_url", check: checks.url() },
    { name: "max_text_chars", kind: "integer", initial: 4000, check: checks.range(1, 100000), advanced: true },
  ],
};

/** Which field a refusal code is about. */
const FIELD_OF_CODE = { target_not_allowed: "outbound_url", invalid_request: "name", channel_disconnected: null };

const items = (r) => (Array.isArray(r) ? r : r?.items || []);

const PAGES = [
  ["channels", "settings.channels", channelsPage],
  ["douyin", "settings.douyin", douyinPage],
  ["health", "settings.health", healthPage],
  ["accounts", "settings.accounts", accountsPage],
];

/** Hides the admin tabs from agents whenever the settings open (each page says so on its own too). */
function syncAdminTabs() {
  for (const tab of $$("#settings-nav .settings-tab[data-admin]")) tab.hidden = !isAdmin();
}

/** The console's tabs (admin only), before 语言; called once by main.js. */
export function wireChannelPages() {
  useConsoleStyles();
  const nav = $("#settings-nav");
  const before = nav.querySelector('.settings-tab[data-page="language"]');
  for (const [key, label, render] of PAGES) {
    addSettingsPage(key, render);
    const tab = h("button", { type: "button", class: "settings-tab", "data-page": key, "data-i18n": label, "data-admin": "1", text: t(label), onclick: () => showSettingsPage(key) });
    if (before) before.before(tab); else nav.append(tab);
  }
  $("#open-settings").addEventListener("click", syncAdminTabs);
  wireAccountFlags();
}

// ---------- the page ----------

/** The channels page; `created` is a channel just connected (its next steps shown on top). */
export async function channelsPage(box, created = null) {
  const title = h("h3", { text: t("settings.channels") });
  if (!isAdmin()) { box.replaceChildren(title, h("p", { class: "muted", text: t("settings.admin_only") })); return; }
  let channels;
  try { channels = items(await api("GET", "/api/v1/channels")); }
  catch (ex) { box.replaceChildren(title, h("p", { class: "form-error", text: problemText(ex) })); return; }
  const redraw = (c = null) => channelsPage(box, c);
  const formHost = h("div", { id: "channel-form-host" });
  const pick = h("div", { class: "platform-pick", role: "group", "aria-label": t("channel.connect") },
    PLATFORMS.map((p) => h("button", { class: "btn btn-sm platform-connect", type: "button", "data-platform": p,
      text: t("channel.connect_platform", { platform: platformName(p) }),
      onclick: () => { formHost.replaceChildren(channelForm(p, null, redraw)); formHost.querySelector("input")?.focus(); } })));
  const list = h("ul", { id: "channel-list", class: "settings-list" },
    channels.length ? channels.map((c) => channelRow(c, redraw)) : h("li", { class: "muted", text: t("channel.none") }));
  box.replaceChildren(...[title, h("p", { class: "muted", text: t("channel.intro") }),
    created ? nextSteps(created, redraw) : null, pick, formHost, list].filter(Boolean));
}

/** After connecting: what to paste where, and for Douyin the QR authorization. */
function nextSteps(c, redraw) {
  return h("section", { id: "channel-created", class: "next-steps", "data-channel-id": String(c.id) },
    h("h4", { text: t("channel.created", { name: c.name }) }),
    h("p", { class: "small", text: t(`channel.next.${c.platform}`) }),
    channelValues(c),
    c.platform === "douyin" ? h("div", { class: "dialog-actions left" },
      h("button", { class: "btn btn-primary btn-sm douyin-authorize", type: "button", text: t("douyin.authorize"),
        onclick: () => authorizeDouyin(c.id, { onDone: () => showSettingsPage("douyin") }) })) : null,
    h("button", { class: "link-btn", type: "button", text: t("common.close"), onclick: () => redraw() }));
}

/** The webhook URL and the platform's other values, each with a copy button. */
function channelValues(c) {
  const values = platformValues(c.platform_values);
  // A platform value that is the webhook URL itself (Tencent's callback URL,
  // Meituan's push URL) replaces the generic row, under its own label.
  const same = values.find(([, value]) => value === c.webhook_url);
  const rows = same ? [] : [h("div", { class: "value-row" }, h("span", { class: "value-label", text: t(`channel.webhook_url.${c.platform}`, {}, t("channel.webhook_url")) }),
    copyBox(c.webhook_url, { input: { class: "input mono copy-value webhook-url", "data-channel-id": String(c.id) } }))];
  for (const [key, value, note] of values) {
    const isHook = value === c.webhook_url;
    rows.push(h("div", { class: "value-row platform-value", "data-key": key },
      h("span", { class: "value-label", text: t(`channel.pv.${key}`, {}, key) }),
      copyBox(value, isHook ? { input: { class: "input mono copy-value webhook-url", "data-channel-id": String(c.id) } } : {}),
      note ? h("p", { class: "field-hint", text: note }) : null));
  }
  return h("div", { class: "channel-values" }, rows);
}

/** A field's label without its "(optional)" remark, for the short secret line. */
const shortLabel = (platform, k) => t(`channel.f.${platform}.${k}`, {}, k).replace(/\s*[（(][^）)]*[）)]\s*$/, "");

/** `platform_values` as [key, value, note] whatever its shape (object of strings or of {value, note}, or a list). */
function platformValues(pv) {
  if (!pv) return [];
  const one = (key, v) => {
    if (v === null || v === undefined) return null;
    if (typeof v === "string" || typeof v === "number") return [key, String(v), null];
    const value = v.value ?? v.url ?? null;
    return value === null ? null : [v.key || v.name || key, String(value), v.note || v.description || null];
  };
  const out = Array.isArray(pv) ? pv.map((v, i) => one(String(i), v)) : Object.entries(pv).map(([k, v]) => one(k, v));
  return out.filter(Boolean);
}

function channelRow(c, redraw) {
  const secrets = Object.entries(c.secrets || {});
  const row = h("li", { class: "settings-row channel-row", "data-channel-id": String(c.id), "data-platform": c.platform },
    h("div", { class: "reply-main" },
      h("div", { class: "picker-top channel-top" }, platformBadge(c.platform), h("strong", { class: "channel-name", text: c.name }),
        h("span", { class: "muted small", text: `#${c.id}` })),
      secrets.length ? h("div", { class: "secret-line small" }, h("span", { class: "muted", text: t("channel.secrets") }),
        ...secrets.map(([k, set]) => h("span", { class: `secret-item ${set ? "set" : "unset"}`, "data-secret": k },
          h("span", { text: shortLabel(c.platform, k) }), h("span", { class: `tag secret-state ${set ? "set" : "unset"}`, text: set ? t("secret.set") : t("secret.unset") })))) : null,
      channelValues(c)),
    h("div", { class: "row-actions" },
      c.platform === "douyin" ? h("button", { class: "btn btn-sm douyin-authorize", type: "button", text: t("douyin.authorize"),
        onclick: () => authorizeDouyin(c.id, { onDone: () => showSettingsPage("douyin") }) }) : null,
      h("button", { class: "btn btn-sm channel-edit", type: "button", text: t("common.edit"),
        onclick: () => row.replaceWith(h("li", { class: "settings-row" }, channelForm(c.platform, c, redraw))) }),
      h("button", { class: "btn btn-sm danger channel-disconnect", type: "button", text: t("channel.disconnect"), onclick: async () => {
        const yes = await confirmDialog({ title: t("channel.disconnect_title", { name: c.name }), text: t("channel.disconnect_text", { name: c.name, platform: platformName(c.platform) }), confirm: t("channel.disconnect") });
        if (!yes) return;
        try { await api("DELETE", `/api/v1/channels/${c.id}`); toast(t("channel.disconnected", { name: c.name })); redraw(); }
        catch (ex) { toast(problemText(ex), "error"); }
      } })));
  return row;
}

// ---------- the form ----------

function inputFor(platform, spec, existing) {
  const settings = existing?.settings || {};
  const have = settings[spec.name];
  switch (spec.kind) {
    case "checkbox": return h("input", { type: "checkbox", checked: have ?? spec.initial ?? false });
    case "select": {
      const sel = h("select", { class: "input" }, spec.options.map((o) => h("option", { value: o, text: t(`channel.opt.${spec.name}.${o}`, {}, o) })));
      sel.value = have ?? spec.initial;
      return sel;
    }
    case "list": return h("input", { class: "input", value: Array.isArray(have) ? have.join(", ") : "", placeholder: t("channel.list_placeholder") });
    case "integer": return h("input", { class: "input", inputmode: "numeric", value: have ?? spec.initial ?? "" });
    default: return h("input", { class: `input ${spec.name.includes("url") ? "mono" : ""}`.trim(), value: have ?? "", spellcheck: "false", autocomplete: "off" });
  }
}

/** The connect (existing = null) or edit form of one platform's channel. */
function channelForm(platform, existing, redraw) {
  const editing = !!existing;
  const name = field({ name: "name", label: t("channel.name"), hint: t("channel.name_hint"), required: true, check: checks.maxChars(NAME_MAX),
    input: h("input", { class: "input", value: existing?.name || "", maxlength: String(NAME_MAX), autocomplete: "off" }) });
  const fields = [];
  const secretTags = {};
  for (const spec of FIELDS[platform]) {
    let input;
    let tag = null;
    if (spec.secret) {
      const s = secretInput(editing ? !!existing.secrets?.[spec.name] : null);
      input = s.input;
      tag = s.tag;
    } else {
      input = inputFor(platform, spec, existing);
    }
    const f = field({ name: spec.name, label: t(`channel.f.${platform}.${spec.name}`), hint: t(`channel.h.${platform}.${spec.name}`),
      // A stored secret need not be typed again.
      required: spec.required && !(spec.secret && editing && existing.secrets?.[spec.name] !== false),
      check: spec.check, input, wide: spec.kind === "list" });
    if (tag) { f.el.querySelector("label").append(tag); secretTags[spec.name] = tag; }
    f.spec = spec;
    fields.push(f);
  }
  const basic = fields.filter((f) => !f.spec.advanced);
  const advanced = fields.filter((f) => f.spec.advanced);
  const general = h("p", { class: "form-error channel-form-error", role: "alert", hidden: true });
  const submit = h("button", { class: "btn btn-primary btn-sm channel-save", type: "submit", text: editing ? t("common.save") : t("channel.connect_submit") });
  const form = h("form", { class: "settings-form reply-form channel-form", id: editing ? `edit-channel-${existing.id}` : "new-channel", "data-platform": platform, novalidate: true },
    h("h4", {}, platformBadge(platform), h("span", { text: editing ? t("channel.edit_title", { name: existing.name }) : t("channel.connect_title", { platform: platformName(platform) }) })),
    h("p", { class: "field-hint", text: t(`channel.where.${platform}`) }),
    h("div", { class: "cfields" }, name.el, basic.map((f) => f.el)),
    advanced.length ? h("details", { class: "advanced" }, h("summary", { text: t("channel.advanced") }), h("div", { class: "cfields" }, advanced.map((f) => f.el))) : null,
    general,
    h("div", { class: "dialog-actions" },
      h("button", { class: "btn btn-sm", type: "button", text: t("common.cancel"), onclick: () => redraw() }), submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    general.hidden = true;
    if (!validateAll([name, ...fields])) return;
    const config = {};
    for (const f of fields) {
      const { spec, input } = f;
      if (spec.kind === "checkbox") { config[spec.name] = input.checked; continue; }
      const v = String(input.value).trim();
      if (spec.secret) { if (input.value) config[spec.name] = input.value; continue; }
      if (spec.kind === "list") { const list = v.split(/[,，、;；\s]+/).filter(Boolean); if (list.length || editing) config[spec.name] = list; continue; }
      if (!v) {
        // Clearing an optional value that was set: null says "none" to the adapter.
        if (editing && existing.settings?.[spec.name] !== undefined && existing.settings?.[spec.name] !== null) config[spec.name] = null;
        continue;
      }
      config[spec.name] = spec.kind === "integer" ? Number(v) : v;
    }
    submit.disabled = true;
    try {
      const saved = editing
        ? await api("PATCH", `/api/v1/channels/${existing.id}`, { name: name.input.value.trim(), config })
        : await api("POST", "/api/v1/channels", { platform, name: name.input.value.trim(), config });
      toast(t("common.saved"));
      redraw(editing ? null : saved);
    } catch (ex) {
      showProblem(ex, [name, ...fields], general, (x) => FIELD_OF_CODE[x.code] ?? null);
      // An advanced field refused: open its section so the error shows.
      const bad = form.querySelector(".field-error:not([hidden])");
      if (bad) bad.closest("details")?.setAttribute("open", "");
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** The channels (for the other console pages). */
export async function loadChannels() {
  return items(await api("GET", "/api/v1/channels"));
}

