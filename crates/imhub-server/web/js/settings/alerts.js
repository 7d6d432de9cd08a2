// Settings → 告警: alert targets (企业微信 / 飞书 / 钉钉 robots, signed
// webhooks): kind, name, URL (shown with its query values hidden), the
// secret write-only (set / not set), the rules enabled on each, a test
// button showing the robot's own answer; and the alert settings (breach
// threshold, throttle, digest, silence). Admin only.

import { api } from "../api.js";
import { h, t, toast, fullTime, parseTime } from "../dom.js";
import { isAdmin } from "../state.js";
import { problemText } from "../pages.js";

const KINDS = ["wecom", "feishu", "dingtalk", "webhook"];
const RULES = ["breach", "new_lead", "needs_reauthorization", "reply_failed", "channel_silent"];

function resultText(r) {
  if (!r) return t("alert.never");
  if (r.ok) return t("alert.ok", { time: fullTime(parseTime(r.at)) });
  const parts = [r.http_status ? `HTTP ${r.http_status}` : null, r.code !== null && r.code !== undefined ? `code ${r.code}` : null, r.message, r.error].filter(Boolean);
  return t("alert.failed", { time: fullTime(parseTime(r.at)), reason: parts.join(" · ") });
}

function rulesChecks(have, prefix) {
  return h("div", { class: "checks" }, RULES.map((r) => h("label", { class: "check" },
    h("input", { type: "checkbox", class: `${prefix}-rule`, value: r, checked: have.includes(r) }), h("span", { text: t(`alert.rule.${r}`) }))));
}

export async function alertsPage(box) {
  if (!isAdmin()) { box.replaceChildren(h("h3", { text: t("settings.alerts") }), h("p", { class: "muted", text: t("settings.admin_only") })); return; }
  let targets, settings;
  try {
    [targets, settings] = await Promise.all([api("GET", "/api/v1/alert-targets").then((r) => r.items), api("GET", "/api/v1/alert-settings")]);
  } catch (ex) {
    box.replaceChildren(h("h3", { text: t("settings.alerts") }), h("p", { class: "form-error", text: problemText(ex) }));
    return;
  }
  const redraw = () => alertsPage(box);
  const rows = targets.map((tg) => targetRow(tg, redraw));
  box.replaceChildren(h("h3", { text: t("settings.alerts") }), h("p", { class: "muted", text: t("alert.intro") }),
    h("ul", { id: "alert-targets", class: "settings-list" }, rows.length ? rows : h("li", { class: "muted", text: t("alert.none") })),
    targetForm(null, redraw), settingsForm(settings));
}

function targetRow(tg, redraw) {
  const answer = h("pre", { class: "alert-answer", hidden: true });
  const result = h("div", { class: `muted small alert-result ${tg.last_result && !tg.last_result.ok ? "bad" : ""}`, text: resultText(tg.last_result) });
  const row = h("li", { class: "settings-row alert-row", "data-target-id": String(tg.id) },
    h("div", { class: "reply-main" },
      h("div", { class: "picker-top" }, h("strong", { text: tg.name }), h("span", { class: "tag", text: t(`alert.kind.${tg.kind}`) }),
        h("span", { class: `tag ${tg.secret_set ? "personal" : ""} secret-state`, text: tg.secret_set ? t("alert.secret_set") : t("alert.secret_unset") }),
        tg.enabled ? null : h("span", { class: "tag", text: t("alert.disabled") })),
      h("div", { class: "muted small mono", text: tg.url }),
      h("div", { class: "muted small", text: tg.rules.map((r) => t(`alert.rule.${r}`)).join("、") || t("alert.no_rules") }),
      result, answer),
    h("button", { class: "btn btn-sm alert-test", type: "button", text: t("alert.test"), onclick: async (e) => {
      e.target.disabled = true;
      try {
        const res = await api("POST", `/api/v1/alert-targets/${tg.id}/test`);
        result.textContent = resultText(res);
        result.classList.toggle("bad", !res.ok);
        answer.textContent = res.answer === null || res.answer === undefined ? t("alert.no_answer") : typeof res.answer === "string" ? res.answer : JSON.stringify(res.answer, null, 2);
        answer.hidden = false;
      } catch (ex) { toast(problemText(ex), "error"); }
      e.target.disabled = false;
    } }),
    h("button", { class: "btn btn-sm", type: "button", text: t("common.edit"), onclick: () => row.replaceWith(h("li", { class: "settings-row" }, targetForm(tg, redraw))) }),
    h("button", { class: "btn btn-sm danger", type: "button", text: t("common.delete"), onclick: async () => {
      if (!confirm(t("alert.confirm_delete", { name: tg.name }))) return;
      try { await api("DELETE", `/api/v1/alert-targets/${tg.id}`); redraw(); } catch (ex) { toast(problemText(ex), "error"); }
    } }));
  return row;
}

function targetForm(tg, done) {
  const kind = h("select", { class: "input alert-kind", disabled: !!tg }, KINDS.map((k) => h("option", { value: k, text: t(`alert.kind.${k}`) })));
  if (tg) kind.value = tg.kind;
  const name = h("input", { class: "input alert-name", value: tg?.name || "", placeholder: t("alert.name"), maxlength: "100" });
  const url = h("input", { class: "input alert-url mono", value: "", placeholder: tg ? t("alert.url_keep") : t("alert.url"), type: "url" });
  const secret = h("input", { class: "input alert-secret", type: "password", autocomplete: "new-password", placeholder: tg?.secret_set ? t("alert.secret_keep") : t("alert.secret") });
  const clearSecret = tg?.secret_set ? h("label", { class: "check" }, h("input", { type: "checkbox", class: "alert-secret-clear" }), h("span", { text: t("alert.secret_clear") })) : null;
  const format = h("select", { class: "input alert-format" }, ["text", "markdown"].map((f) => h("option", { value: f, text: t(`alert.format.${f}`) })));
  format.value = tg?.format || "text";
  const enabled = h("label", { class: "check" }, h("input", { type: "checkbox", class: "alert-enabled", checked: tg ? tg.enabled : true }), h("span", { text: t("alert.enabled") }));
  const rules = rulesChecks(tg?.rules || ["breach"], "alert");
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const syncKind = () => { secret.hidden = kind.value === "wecom"; format.hidden = !["wecom", "dingtalk"].includes(kind.value); };
  kind.addEventListener("change", syncKind);
  syncKind();
  const form = h("form", { class: "settings-form reply-form alert-form", id: tg ? `edit-target-${tg.id}` : "new-target" },
    h("h4", { text: tg ? t("alert.edit") : t("alert.add") }),
    h("div", { class: "form-row" }, kind, name, format), url, h("div", { class: "form-row" }, secret, clearSecret), rules, enabled, err,
    h("div", { class: "dialog-actions" }, tg ? h("button", { class: "btn btn-sm", type: "button", text: t("common.cancel"), onclick: done }) : null,
      h("button", { class: "btn btn-primary btn-sm", type: "submit", text: tg ? t("common.save") : t("alert.add") })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const body = { name: name.value.trim(), rules: [...form.querySelectorAll(".alert-rule:checked")].map((x) => x.value), enabled: enabled.querySelector("input").checked };
    if (["wecom", "dingtalk"].includes(kind.value)) body.format = format.value;
    if (url.value.trim()) body.url = url.value.trim();
    if (secret.value && kind.value !== "wecom") body.secret = secret.value;
    if (clearSecret?.querySelector("input").checked) body.secret = null;
    try {
      if (tg) await api("PATCH", `/api/v1/alert-targets/${tg.id}`, body);
      else await api("POST", "/api/v1/alert-targets", { kind: kind.value, url: "", ...body });
      toast(t("common.saved"));
      done();
    } catch (ex) { err.textContent = `${t(`error.${ex.code}`, {}, ex.code || "")} ${ex.message}`.trim(); err.hidden = false; }
  });
  return form;
}

function settingsForm(s) {
  const f = (key, value, min, max) => h("label", { class: "cap-label" }, h("span", { text: t(`alert.setting.${key}`) }),
    h("input", { class: "input alert-setting", "data-key": key, type: "number", min: String(min), max: String(max), value: String(value) }));
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { id: "alert-settings", class: "settings-form reply-form" }, h("h4", { text: t("alert.settings") }),
    h("div", { class: "form-row" }, f("breach_minutes", s.breach_minutes, 1, 1440), f("throttle_minutes", s.throttle_minutes, 0, 1440), f("digest_seconds", s.digest_seconds, 0, 3600), f("silence_hours", s.silence_hours, 1, 720)),
    err, h("div", { class: "dialog-actions" }, h("button", { class: "btn btn-primary btn-sm", type: "submit", text: t("common.save") })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const body = Object.fromEntries([...form.querySelectorAll(".alert-setting")].map((x) => [x.dataset.key, Number(x.value)]));
    try { await api("PUT", "/api/v1/alert-settings", body); toast(t("common.saved")); } catch (ex) { err.textContent = ex.message; err.hidden = false; }
  });
  return form;
}
