// Settings → 自动回复: the workspace's automation rules in evaluation order
// (move up/down, enable, create, edit, delete), each with its trigger,
// conditions, actions and scope; the API's 422 detail shown next to the
// field it is about; a dry-run box (POST /automation/rules/test) that
// sends nothing; per rule the 7-day fired/sent/failed counts and recent
// failures. And Settings → 营业时间: business hours per weekday, dated
// exceptions, time zone, the daily cap and the human-takeover pause.
// Admins write; agents read and test.

import { api } from "../api.js";
import { h, t, toast, platformName, fullTime, parseTime } from "../dom.js";
import { state, isAdmin, loadLabels } from "../state.js";
import { problemText } from "../pages.js";

const PLATFORMS = ["douyin", "tencent", "meituan", "custom"];
const TRIGGERS = ["entered_chat", "keywords", "regex", "off_hours", "no_human_reply"];
const SIMPLE_CONDITIONS = ["within_business_hours", "outside_business_hours", "unassigned", "first_contact_ever"];
/** Which field a refusal is about: the detail is shown there. */
const FIELD_OF = {
  invalid_pattern: "trigger", pattern_too_long: "trigger", invalid_keywords: "trigger", invalid_minutes: "trigger",
  no_actions: "actions", invalid_reply: "reply", reply_too_long_for_douyin: "reply", several_replies: "reply",
  unknown_variable: "reply", invalid_template: "reply", unknown_quick_reply: "reply",
  unknown_label: "actions", unknown_agent: "actions", invalid_request: "name",
};

let sharedReplies = [];

/** A trigger in a few words: 关键词「退款、退货」. */
function triggerText(tr) {
  switch (tr.type) {
    case "keywords": return t("rule.trigger_keywords_short", { words: tr.keywords.join("、"), mode: t(`rule.match.${tr.match}`) });
    case "regex": return t("rule.trigger_regex_short", { pattern: tr.pattern });
    case "no_human_reply": return t("rule.trigger_escalation_short", { n: tr.minutes });
    default: return t(`rule.trigger.${tr.type}`);
  }
}

function actionText(a) {
  switch (a.type) {
    case "reply":
      if (a.text !== undefined) return t("rule.action_reply_short", { text: a.text });
      if (a.quick_reply_id) return t("rule.action_quick_short", { title: sharedReplies.find((q) => q.id === a.quick_reply_id)?.title || `#${a.quick_reply_id}` });
      return t("rule.action.reply");
    case "assign": return a.to === "auto" ? t("rule.assign_auto") : t("rule.assign_to", { name: state.agents.get(a.agent_id)?.name || `#${a.agent_id}` });
    case "add_label": return t("rule.add_label_short", { name: state.labels.get(a.label_id)?.name || `#${a.label_id}` });
    case "set_status": return t("rule.set_status_short", { status: t(`status.${a.status}`) });
    default: return t(`rule.action.${a.type}`);
  }
}

// ---------- the rules page ----------

export async function rulesPage(box) {
  let rules;
  try {
    [rules] = await Promise.all([api("GET", "/api/v1/automation/rules").then((r) => r.items), loadLabels()]);
    sharedReplies = await api("GET", "/api/v1/quick-replies").then((r) => (Array.isArray(r) ? r : r.items || []).filter((q) => !(q.scope === "personal" || (q.owner_user_id !== null && q.owner_user_id !== undefined)))).catch(() => []);
  } catch (ex) {
    box.replaceChildren(h("h3", { text: t("settings.automation") }), h("p", { class: "form-error", text: problemText(ex) }));
    return;
  }
  const admin = isAdmin();
  const list = h("ul", { id: "rule-list", class: "settings-list" });
  const redraw = () => rulesPage(box);
  const move = async (i, d) => {
    const ids = rules.map((r) => r.id);
    [ids[i], ids[i + d]] = [ids[i + d], ids[i]];
    try { await api("PUT", "/api/v1/automation/rules/order", { rule_ids: ids }); redraw(); } catch (ex) { toast(problemText(ex), "error"); }
  };
  rules.forEach((r, i) => {
    const toggle = h("input", { type: "checkbox", class: "rule-enabled", checked: r.enabled, disabled: !admin, "aria-label": t("rule.enabled") });
    toggle.addEventListener("change", async () => {
      try { await api("PUT", `/api/v1/automation/rules/${r.id}`, { ...bodyOf(r), enabled: toggle.checked }); toast(t("common.saved")); }
      catch (ex) { toggle.checked = !toggle.checked; toast(problemText(ex), "error"); }
    });
    const statsBox = h("div", { class: "rule-stats", hidden: true });
    const row = h("li", { class: `settings-row rule-row ${r.enabled ? "" : "disabled"}`, "data-rule-id": String(r.id) },
      h("span", { class: "rule-pos", text: String(i + 1) }),
      h("label", { class: "switch" }, toggle, h("i")),
      h("div", { class: "reply-main" },
        h("strong", { class: "rule-name", text: r.name }),
        h("div", { class: "muted small rule-summary", text: `${triggerText(r.trigger)} → ${r.actions.map(actionText).join("；")}` }),
        statsBox),
      h("button", { class: "btn btn-sm rule-stats-btn", type: "button", text: t("rule.stats"), onclick: () => toggleStats(r, statsBox) }),
      admin ? h("button", { class: "icon-btn", type: "button", "aria-label": t("rule.up"), disabled: i === 0, text: "↑", onclick: () => move(i, -1) }) : null,
      admin ? h("button", { class: "icon-btn", type: "button", "aria-label": t("rule.down"), disabled: i === rules.length - 1, text: "↓", onclick: () => move(i, 1) }) : null,
      admin ? h("button", { class: "btn btn-sm rule-edit", type: "button", text: t("common.edit"), onclick: () => row.replaceWith(h("li", { class: "settings-row" }, ruleForm(r, redraw))) }) : null,
      admin ? h("button", { class: "btn btn-sm danger", type: "button", text: t("common.delete"), onclick: async () => {
        if (!confirm(t("rule.confirm_delete", { name: r.name }))) return;
        try { await api("DELETE", `/api/v1/automation/rules/${r.id}`); redraw(); } catch (ex) { toast(problemText(ex), "error"); }
      } }) : null);
    list.append(row);
  });
  if (!rules.length) list.append(h("li", { class: "muted", text: t("rule.none") }));
  const add = admin ? h("button", { id: "new-rule", class: "btn btn-primary btn-sm", type: "button", text: t("rule.add"), onclick: (e) => e.target.replaceWith(ruleForm(null, redraw)) }) : h("p", { class: "muted", text: t("settings.admin_only") });
  box.replaceChildren(h("h3", { text: t("settings.automation") }), h("p", { class: "muted", text: t("rule.intro") }), add, list, dryRun());
}

async function toggleStats(r, el) {
  if (!el.hidden) { el.hidden = true; return; }
  el.hidden = false;
  el.replaceChildren(h("span", { class: "muted", text: t("common.loading") }));
  try {
    const s = await api("GET", `/api/v1/automation/rules/${r.id}/stats`);
    el.replaceChildren(...[
      h("div", { class: "rule-counts" },
        h("span", { text: t("rule.fired", { n: s.fired }) }), h("span", { text: t("rule.sent", { n: s.sent }) }),
        h("span", { class: s.failed ? "bad" : "", text: t("rule.failed", { n: s.failed }) })),
      s.days.length ? h("div", { class: "muted small", text: s.days.map((d) => `${d.day.slice(5)}: ${d.fired}/${d.sent}/${d.failed}`).join(" · ") }) : null,
      s.recent_failures.length ? h("ul", { class: "rule-failures" }, s.recent_failures.map((f) => h("li", {},
        h("time", { text: fullTime(parseTime(f.at)) }), h("code", { text: f.code }), h("span", { text: f.text })))) : h("div", { class: "muted small", text: t("rule.no_failures") })].filter(Boolean));
  } catch (ex) {
    el.replaceChildren(h("span", { class: "form-error", text: problemText(ex) }));
  }
}

/** The body the API takes (PUT replaces the whole rule). */
function bodyOf(r) {
  const b = { name: r.name, enabled: r.enabled, scope: r.scope, trigger: r.trigger, conditions: r.conditions, actions: r.actions };
  if (r.cooldown_secs !== undefined && r.cooldown_secs !== null) b.cooldown_secs = r.cooldown_secs;
  return b;
}

function check(name, label, on, attrs = {}) {
  return h("label", { class: "check" }, h("input", { type: "checkbox", name, checked: !!on, ...attrs }), h("span", { text: label }));
}

const fieldError = (field) => h("p", { class: "field-error", "data-field": field, role: "alert", hidden: true });

/** The create/edit form of one rule. */
function ruleForm(rule, done) {
  const r = rule || { name: "", enabled: true, scope: { platforms: [], account_ids: [], label_ids: [] }, trigger: { type: "keywords", match: "contains_any", keywords: [], case_insensitive: true }, conditions: [], actions: [{ type: "reply", text: "" }] };
  const tr = r.trigger;
  const name = h("input", { id: "rule-name", class: "input", name: "name", value: r.name, placeholder: t("rule.name"), maxlength: "100", required: true });
  const ttype = h("select", { id: "rule-trigger", class: "input", name: "trigger" }, TRIGGERS.map((k) => h("option", { value: k, text: t(`rule.trigger.${k}`) })));
  ttype.value = tr.type;
  const keywords = h("input", { id: "rule-keywords", class: "input", value: (tr.keywords || []).join("，"), placeholder: t("rule.keywords_placeholder") });
  const mode = h("select", { id: "rule-match", class: "input" }, ["contains_any", "exact"].map((k) => h("option", { value: k, text: t(`rule.match.${k}`) })));
  mode.value = tr.match || "contains_any";
  const pattern = h("input", { id: "rule-pattern", class: "input mono", value: tr.pattern || "", placeholder: "退(款|货)" });
  const ci = check("case_insensitive", t("rule.case_insensitive"), tr.case_insensitive ?? true, { id: "rule-ci" });
  const minutes = h("input", { id: "rule-minutes", class: "input", type: "number", min: "1", max: "10080", value: String(tr.minutes || 5) });
  const kwRow = h("div", { class: "form-row trig-keywords" }, keywords, mode);
  const reRow = h("div", { class: "form-row trig-regex" }, pattern);
  const minRow = h("label", { class: "cap-label trig-minutes" }, h("span", { text: t("rule.minutes") }), minutes);
  const syncTrigger = () => {
    kwRow.hidden = ttype.value !== "keywords";
    reRow.hidden = ttype.value !== "regex";
    ci.hidden = !["keywords", "regex"].includes(ttype.value);
    minRow.hidden = ttype.value !== "no_human_reply";
  };
  ttype.addEventListener("change", syncTrigger);
  syncTrigger();

  // Scope.
  const scope = r.scope || {};
  const platforms = PLATFORMS.map((p) => check(`platform-${p}`, platformName(p), (scope.platforms || []).includes(p), { value: p, class: "scope-platform" }));
  const accounts = [...state.accounts.values()].map((a) => check(`account-${a.id}`, a.name, (scope.account_ids || []).includes(a.id), { value: String(a.id), class: "scope-account" }));
  const labelOptions = () => [...state.labels.values()].map((l) => h("option", { value: String(l.id), text: l.name }));
  const scopeLabels = [...state.labels.values()].map((l) => check(`label-${l.id}`, l.name, (scope.label_ids || []).includes(l.id), { value: String(l.id), class: "scope-label" }));

  // Conditions.
  const has = (type) => (r.conditions || []).find((c) => c.type === type);
  const simple = SIMPLE_CONDITIONS.map((c) => check(`cond-${c}`, t(`rule.cond.${c}`), has(c), { value: c, class: "cond-simple" }));
  const labelCond = (type) => {
    const c = has(type);
    const box = h("input", { type: "checkbox", class: "cond-label-on", checked: !!c });
    const sel = h("select", { class: "input cond-label" }, labelOptions());
    if (c) sel.value = String(c.label_id);
    return { type, box, sel, node: state.labels.size ? h("label", { class: "check" }, box, h("span", { text: t(`rule.cond.${type}`) }), sel) : null };
  };
  const hasLabel = labelCond("contact_has_label");
  const lacksLabel = labelCond("contact_lacks_label");

  // Actions.
  const reply = (r.actions || []).find((a) => a.type === "reply");
  const replyKind = h("select", { id: "rule-reply-kind", class: "input" },
    h("option", { value: "none", text: t("rule.reply_none") }), h("option", { value: "text", text: t("rule.reply_text") }),
    sharedReplies.length ? h("option", { value: "quick", text: t("rule.reply_quick") }) : null);
  replyKind.value = reply ? (reply.quick_reply_id ? "quick" : "text") : "none";
  const replyText = h("textarea", { id: "rule-reply", class: "input", rows: "3", placeholder: t("rule.reply_placeholder") });
  replyText.value = reply?.text || "";
  const counter = h("span", { class: "muted small", id: "rule-reply-count" });
  const countChars = () => { counter.textContent = t("rule.chars", { n: [...replyText.value].length }); };
  replyText.addEventListener("input", countChars);
  countChars();
  const quick = h("select", { id: "rule-quick", class: "input" }, sharedReplies.map((q) => h("option", { value: String(q.id), text: q.title })));
  if (reply?.quick_reply_id) quick.value = String(reply.quick_reply_id);
  const syncReply = () => { replyText.hidden = counter.hidden = replyKind.value !== "text"; quick.hidden = replyKind.value !== "quick"; };
  replyKind.addEventListener("change", syncReply);
  syncReply();
  const assign = (r.actions || []).find((a) => a.type === "assign");
  const assignSel = h("select", { id: "rule-assign", class: "input" }, h("option", { value: "", text: t("rule.no_assign") }), h("option", { value: "auto", text: t("rule.assign_auto") }),
    ...[...state.agents.values()].map((a) => h("option", { value: String(a.id), text: t("rule.assign_to", { name: a.name }) })));
  assignSel.value = assign ? (assign.to === "auto" ? "auto" : String(assign.agent_id)) : "";
  const addLabel = (r.actions || []).find((a) => a.type === "add_label");
  const labelSel = h("select", { id: "rule-add-label", class: "input" }, h("option", { value: "", text: t("rule.no_label") }), labelOptions());
  labelSel.value = addLabel ? String(addLabel.label_id) : "";
  const setStatus = (r.actions || []).find((a) => a.type === "set_status");
  const statusSel = h("select", { id: "rule-status", class: "input" }, h("option", { value: "", text: t("rule.no_status") }), ["open", "pending", "resolved"].map((s) => h("option", { value: s, text: t("rule.set_status_short", { status: t(`status.${s}`) }) })));
  statusSel.value = setStatus ? setStatus.status : "";
  const webhook = check("emit_webhook", t("rule.action.emit_webhook"), (r.actions || []).some((a) => a.type === "emit_webhook"), { id: "rule-webhook" });
  const cooldown = h("input", { id: "rule-cooldown", class: "input", type: "number", min: "0", value: r.cooldown_secs ?? "", placeholder: t("rule.cooldown_default") });

  const errors = { name: fieldError("name"), trigger: fieldError("trigger"), reply: fieldError("reply"), actions: fieldError("actions"), general: fieldError("general") };
  const form = h("form", { id: rule ? `edit-rule-${rule.id}` : "rule-form", class: "settings-form reply-form rule-form", novalidate: true },
    h("div", { class: "form-row" }, name), errors.name,
    h("h4", { text: t("rule.when") }), h("div", { class: "form-row" }, ttype), kwRow, reRow, ci, minRow, errors.trigger,
    h("h4", { text: t("rule.scope") }), h("div", { class: "checks" }, h("span", { class: "muted small", text: t("rule.platforms") }), platforms),
    accounts.length > 1 ? h("div", { class: "checks" }, h("span", { class: "muted small", text: t("rule.accounts") }), accounts) : null,
    scopeLabels.length ? h("div", { class: "checks" }, h("span", { class: "muted small", text: t("rule.labels") }), scopeLabels) : null,
    h("h4", { text: t("rule.conditions") }), h("div", { class: "checks" }, simple, hasLabel.node, lacksLabel.node),
    h("h4", { text: t("rule.then") }), h("div", { class: "form-row" }, replyKind, quick), replyText, counter, errors.reply,
    h("div", { class: "form-row" }, assignSel, labelSel, statusSel), webhook, errors.actions,
    h("label", { class: "cap-label" }, h("span", { text: t("rule.cooldown") }), cooldown),
    errors.general,
    h("div", { class: "dialog-actions" },
      h("button", { class: "btn btn-sm", type: "button", text: t("common.cancel"), onclick: done }),
      h("button", { id: "rule-save", class: "btn btn-primary btn-sm", type: "submit", text: t("common.save") })));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const el of Object.values(errors)) el.hidden = true;
    const trigger = { type: ttype.value };
    const ciOn = ci.querySelector("input").checked;
    if (trigger.type === "keywords") Object.assign(trigger, { match: mode.value, keywords: keywords.value.split(/[,，、;；\n]+/).map((k) => k.trim()).filter(Boolean), case_insensitive: ciOn });
    if (trigger.type === "regex") Object.assign(trigger, { pattern: pattern.value, case_insensitive: ciOn });
    if (trigger.type === "no_human_reply") trigger.minutes = Number(minutes.value);
    const picked = (cls) => [...form.querySelectorAll(`input.${cls}:checked`)].map((x) => x.value);
    const conditions = picked("cond-simple").map((type) => ({ type }));
    for (const c of [hasLabel, lacksLabel]) if (c.node && c.box.checked) conditions.push({ type: c.type, label_id: Number(c.sel.value) });
    const actions = [];
    if (replyKind.value === "text") actions.push({ type: "reply", text: replyText.value });
    if (replyKind.value === "quick") actions.push({ type: "reply", quick_reply_id: Number(quick.value) });
    if (assignSel.value === "auto") actions.push({ type: "assign", to: "auto" });
    else if (assignSel.value) actions.push({ type: "assign", to: "agent", agent_id: Number(assignSel.value) });
    if (labelSel.value) actions.push({ type: "add_label", label_id: Number(labelSel.value) });
    if (statusSel.value) actions.push({ type: "set_status", status: statusSel.value });
    if (webhook.querySelector("input").checked) actions.push({ type: "emit_webhook" });
    const body = {
      name: name.value.trim(), enabled: rule ? rule.enabled : true, trigger, conditions, actions,
      scope: { platforms: picked("scope-platform"), account_ids: picked("scope-account").map(Number), label_ids: picked("scope-label").map(Number) },
    };
    if (cooldown.value !== "") body.cooldown_secs = Number(cooldown.value);
    try {
      if (rule) await api("PUT", `/api/v1/automation/rules/${rule.id}`, body);
      else await api("POST", "/api/v1/automation/rules", body);
      toast(t("common.saved"));
      done();
    } catch (ex) {
      const el = errors[FIELD_OF[ex.code]] || errors.general;
      el.textContent = ex.message && ex.message !== ex.code ? `${t(`error.${ex.code}`, {}, ex.code)}：${ex.message}` : problemText(ex);
      el.hidden = false;
      el.scrollIntoView({ block: "nearest" });
    }
  });
  return form;
}

/** The dry run: a sample message, platform, account, time → which rules fire and what they would send. */
function dryRun() {
  const text = h("input", { id: "test-text", class: "input", placeholder: t("rule.test_text") });
  const platform = h("select", { id: "test-platform", class: "input" }, PLATFORMS.map((p) => h("option", { value: p, text: platformName(p) })));
  const account = h("select", { id: "test-account", class: "input" }, h("option", { value: "", text: t("rule.test_any_account") }),
    ...[...state.accounts.values()].map((a) => h("option", { value: String(a.id), text: a.name })));
  account.addEventListener("change", () => { const a = state.accounts.get(Number(account.value)); if (a) platform.value = a.platform; });
  const at = h("input", { id: "test-at", class: "input", type: "datetime-local" });
  const entered = check("entered_chat", t("rule.test_entered"), false, { id: "test-entered" });
  const out = h("div", { id: "test-result", class: "test-result", "aria-live": "polite" });
  const form = h("form", { id: "rule-test", class: "settings-form reply-form" },
    h("h4", { text: t("rule.test_title") }), h("p", { class: "muted small", text: t("rule.test_hint") }),
    h("div", { class: "form-row" }, text, platform, account, at), entered,
    h("div", { class: "dialog-actions" }, h("button", { id: "test-run", class: "btn btn-sm", type: "submit", text: t("rule.test_run") })), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { platform: platform.value, entered_chat: entered.querySelector("input").checked };
    if (text.value.trim() && !body.entered_chat) body.text = text.value;
    if (account.value) body.account_id = Number(account.value);
    if (at.value) body.at = new Date(at.value).toISOString();
    try {
      const res = await api("POST", "/api/v1/automation/rules/test", body);
      out.replaceChildren(...[
        h("p", { class: "muted small", text: res.within_business_hours ? t("rule.test_within") : t("rule.test_outside") }),
        res.fired.length ? h("ul", { class: "test-fired" }, res.fired.map((f) => h("li", { "data-rule-id": String(f.rule_id) },
          h("strong", { text: f.name }),
          f.reply ? h("div", { class: "test-reply" }, h("span", { class: "auto-tag", text: t("auto.tag") }), h("span", { text: f.reply.type === "text" ? f.reply.text : `[${f.reply.type}]` })) : null,
          f.reply_held ? h("div", { class: "muted small", text: t(`rule.held.${f.reply_held}`, {}, f.reply_held) }) : null,
          h("div", { class: "muted small", text: f.actions.filter((a) => a.type !== "reply").map(actionText).join("；") })))) : h("p", { class: "muted", text: t("rule.test_none") }),
        res.escalations.length ? h("p", { class: "muted small", text: res.escalations.map((x) => t("rule.test_escalation", { time: fullTime(parseTime(x.due_at)) })).join(" · ") }) : null].filter(Boolean));
    } catch (ex) {
      out.replaceChildren(h("p", { class: "form-error", text: problemText(ex) }));
    }
  });
  return form;
}

// ---------- business hours ----------

const spansText = (list) => list.map((s) => `${s.start}-${s.end}`).join(", ");
function parseSpans(text) {
  return text.split(/[,，;；]+/).map((x) => x.trim()).filter(Boolean).map((x) => {
    const [start, end] = x.split(/\s*[-–~至]\s*/);
    return { start: (start || "").trim(), end: (end || "").trim() };
  });
}

export async function hoursPage(box) {
  let s;
  try { s = await api("GET", "/api/v1/automation/settings"); } catch (ex) { box.replaceChildren(h("p", { class: "form-error", text: problemText(ex) })); return; }
  const admin = isAdmin();
  const zone = h("input", { id: "hours-zone", class: "input", value: s.time_zone, disabled: !admin });
  const days = s.weekly.map((spans, i) => h("label", { class: "hours-day" }, h("span", { text: t(`time.weekday.${(i + 1) % 7}`) }),
    h("input", { class: "input hours-spans", "data-day": String(i), value: spansText(spans), placeholder: t("hours.closed"), disabled: !admin })));
  const exceptions = h("textarea", { id: "hours-exceptions", class: "input", rows: "4", disabled: !admin, placeholder: "2027-02-17: \n2027-02-20: 10:00-16:00" });
  exceptions.value = Object.entries(s.exceptions || {}).map(([d, spans]) => `${d}: ${spansText(spans)}`).join("\n");
  const cap = h("input", { id: "hours-cap", class: "input", type: "number", min: "0", max: "100", value: String(s.daily_reply_cap), disabled: !admin });
  const takeover = h("input", { id: "hours-takeover", class: "input", type: "number", min: "0", max: "1440", value: String(s.takeover_minutes), disabled: !admin });
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { id: "hours-form", class: "settings-form reply-form" },
    h("label", { class: "cap-label" }, h("span", { text: t("hours.zone") }), zone),
    h("h4", { text: t("hours.weekly") }), h("p", { class: "muted small", text: t("hours.weekly_hint") }), h("div", { class: "hours-grid" }, days),
    h("h4", { text: t("hours.exceptions") }), h("p", { class: "muted small", text: t("hours.exceptions_hint") }), exceptions,
    h("div", { class: "form-row" }, h("label", { class: "cap-label" }, h("span", { text: t("hours.cap") }), cap), h("label", { class: "cap-label" }, h("span", { text: t("hours.takeover") }), takeover)),
    err, admin ? h("div", { class: "dialog-actions" }, h("button", { id: "hours-save", class: "btn btn-primary btn-sm", type: "submit", text: t("common.save") })) : null);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const ex = {};
    for (const line of exceptions.value.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const m = line.match(/^(\S+?)\s*[:：]\s*(.*)$/);
      if (m) ex[m[1]] = parseSpans(m[2]); else ex[line] = [];
    }
    const body = { time_zone: zone.value.trim(), weekly: days.map((d) => parseSpans(d.querySelector("input").value)), exceptions: ex, daily_reply_cap: Number(cap.value), takeover_minutes: Number(takeover.value) };
    try { await api("PUT", "/api/v1/automation/settings", body); toast(t("common.saved")); }
    catch (x) { err.textContent = x.message || problemText(x); err.hidden = false; }
  });
  box.replaceChildren(h("h3", { text: t("settings.hours") }), h("p", { class: "muted", text: t("hours.intro") }), form);
}

// ---------- reply-time KPIs ----------

export async function kpiPage(box) {
  let s;
  try { s = await api("GET", "/api/v1/reports/settings"); } catch (ex) { box.replaceChildren(h("p", { class: "form-error", text: problemText(ex) })); return; }
  const admin = isAdmin();
  const f = (id, key, value, attrs = {}) => h("label", { class: "cap-label" }, h("span", { text: t(key) }), h("input", { id, class: "input", value: String(value), disabled: !admin, ...attrs }));
  const fields = [
    f("kpi-zone", "hours.zone", s.time_zone),
    f("kpi-start", "kpi.window_start", s.window_start, { placeholder: "08:00" }),
    f("kpi-end", "kpi.window_end", s.window_end, { placeholder: "23:00" }),
    f("kpi-target", "kpi.target", s.target_seconds, { type: "number", min: "1", max: "86400" }),
    f("kpi-warning", "kpi.warning", s.warning_seconds, { type: "number", min: "0" }),
  ];
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { id: "kpi-form", class: "settings-form reply-form" }, h("div", { class: "form-row" }, fields), err,
    admin ? h("div", { class: "dialog-actions" }, h("button", { id: "kpi-save", class: "btn btn-primary btn-sm", type: "submit", text: t("common.save") })) : null);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const v = (id) => form.querySelector(`#${id}`).value.trim();
    try {
      await api("PUT", "/api/v1/reports/settings", { time_zone: v("kpi-zone"), window_start: v("kpi-start"), window_end: v("kpi-end"), target_seconds: Number(v("kpi-target")), warning_seconds: Number(v("kpi-warning")) });
      toast(t("common.saved"));
    } catch (x) { err.textContent = x.message || problemText(x); err.hidden = false; }
  });
  box.replaceChildren(h("h3", { text: t("settings.kpi") }), h("p", { class: "muted", text: t("kpi.intro") }), form);
}
