// Settings → 客服 (admins): the workspace's people. Add an agent (the first
// password generated and shown once, or set by the admin), change the role
// or name, disable and enable, reset the password, set the capacity, and
// delete with a confirmation naming the agent.

import { api } from "../api.js";
import { h, t, toast, avatar } from "../dom.js";
import { isAdmin, loadAgents, state, myId } from "../state.js";
import { problemText } from "../pages.js";
import { adminOnly, confirmDialog, consoleForm, field, fmtNumber, fmtTime, input, invalid, items, loadFailed, looksLikeEmail, pageHead, secretOnce, select } from "./kit.js";

const TITLE = "settings.agents";
const ROLES = [["agent", "role.agent"], ["admin", "role.admin"]];
const MAX_NAME = 100;

/** A random password of 14 characters from an unambiguous alphabet. */
export function generatePassword() {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(14));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
}

/** The page; `notice` (a node) stays on top after a re-render, e.g. a password shown once. */
export async function agentsPage(box, notice = null) {
  if (!isAdmin()) { adminOnly(box, TITLE); return; }
  let users;
  try {
    [users] = await Promise.all([api("GET", "/api/v1/users").then(items), loadAgents()]);
  } catch (ex) { loadFailed(box, TITLE, ex, () => agentsPage(box)); return; }
  const redraw = (n = null) => agentsPage(box, n);
  const rows = users.map((u) => agentRow(u, state.agents.get(u.id), redraw));
  box.replaceChildren(...pageHead(TITLE, "agents.intro"), notice || "", newAgentForm(redraw),
    h("h4", { text: t("agents.list", { n: fmtNumber(users.length) }) }),
    h("ul", { id: "agent-list", class: "settings-list" }, rows));
}

function newAgentForm(redraw) {
  const email = field("email", "agents.email", input({ type: "email", autocomplete: "off", maxlength: "254", class: "input agent-new-email" }));
  const name = field("name", "agents.name", input({ maxlength: String(MAX_NAME), class: "input agent-new-name" }));
  const role = field("role", "agents.role", select(ROLES, "agent", { class: "input agent-new-role" }));
  const mode = h("div", { class: "checks agent-password-mode", role: "radiogroup", "aria-label": t("agents.password") },
    ...[["generate", "agents.password_generate"], ["set", "agents.password_set"]].map(([v, k]) => h("label", { class: "check" },
      h("input", { type: "radio", name: "agent-password-mode", value: v, checked: v === "generate", class: `agent-mode-${v}` }), h("span", { text: t(k) }))));
  const password = field("password", "agents.password", input({ type: "password", autocomplete: "new-password", class: "input agent-new-password" }), { hintKey: "agents.password_hint" });
  const sync = () => { password.wrap.hidden = mode.querySelector("input:checked").value !== "set"; };
  mode.addEventListener("change", sync);
  sync();
  const form = consoleForm({
    id: "agent-new", className: "reply-form",
    fields: [email, name, role, password],
    children: [h("h4", { text: t("agents.add") }), h("div", { class: "form-grid" }, email.wrap, name.wrap, role.wrap), mode, password.wrap],
    submitKey: "agents.add_submit",
    codes: { conflict: "email", invalid_email: "email", weak_password: "password", invalid_name: "name", quota_exceeded: null },
    validate: () => {
      const setting = !password.wrap.hidden;
      return {
        email: looksLikeEmail(email.input.value.trim()) ? null : invalid("email"),
        name: name.input.value.trim() ? null : invalid("required"),
        password: setting && password.input.value.length < 8 ? invalid("password_short") : null,
      };
    },
    submit: async () => {
      const body = { email: email.input.value.trim(), name: name.input.value.trim(), role: role.input.value };
      if (!password.wrap.hidden) body.password = password.input.value;
      const made = await api("POST", "/api/v1/users", body);
      toast(t("agents.added", { name: made.name || body.name }));
      const login = h("p", { class: "small", text: t("agents.login_with", { email: made.email || body.email }) });
      redraw(made.initial_password
        ? secretOnce("agent-initial-password", "agents.initial_password", made.initial_password, login)
        : h("div", { id: "agent-added", class: "secret-once", role: "status" }, h("strong", { text: t("agents.added", { name: made.name || body.name }) }), login));
    },
  });
  return form;
}

function agentRow(u, team, redraw) {
  const me = u.id === myId();
  const err = h("p", { class: "form-error row-error", role: "alert", hidden: true });
  const fail = (ex) => { err.textContent = problemText(ex); err.hidden = false; };
  const patch = async (body) => { err.hidden = true; const r = await api("PATCH", `/api/v1/users/${u.id}`, body); toast(t("common.saved")); return r; };

  const name = input({ value: u.name, maxlength: String(MAX_NAME), class: "input agent-name", "aria-label": t("agents.name") });
  name.addEventListener("change", async () => {
    const v = name.value.trim();
    if (!v) { fail({ message: invalid("required") }); return; }
    if (v === u.name) return;
    try { await patch({ name: v }); u.name = v; } catch (ex) { fail(ex); }
  });
  const role = select(ROLES, u.role, { class: "input agent-role", "aria-label": t("agents.role") });
  role.addEventListener("change", async () => {
    try { await patch({ role: role.value }); u.role = role.value; } catch (ex) { role.value = u.role; fail(ex); }
  });
  const cap = input({ type: "number", min: "0", max: "1000", class: "input capacity agent-capacity", value: team?.capacity !== undefined ? String(team.capacity) : "", disabled: u.disabled || !team, "aria-label": t("team.capacity") });
  cap.addEventListener("change", async () => {
    err.hidden = true;
    const n = Number(cap.value);
    if (!Number.isInteger(n) || n < 0 || n > 1000) { fail({ message: invalid("capacity") }); return; }
    try { await api("PUT", `/api/v1/users/${u.id}/capacity`, { capacity: n }); toast(t("common.saved")); } catch (ex) { fail(ex); }
  });
  const reset = h("div", { class: "agent-reset-box", hidden: true });
  const row = h("li", { class: `settings-row agent-row ${u.disabled ? "is-disabled" : ""}`.trim(), "data-user-id": String(u.id), "data-email": u.email },
    h("div", { class: "agent-line" },
      avatar(u.name, u.avatar_url || null, { size: "avatar-sm" }),
      h("div", { class: "reply-main" },
        h("div", { class: "picker-top" }, name,
          me ? h("span", { class: "tag personal", text: t("agents.you") }) : null,
          u.disabled ? h("span", { class: "tag agent-disabled-tag", text: t("agents.disabled") }) : null,
          team?.availability && !u.disabled ? h("span", { class: `presence ${team.availability}`, text: t(`availability.${team.availability}`) }) : null),
        h("div", { class: "muted small" }, h("span", { class: "mono", text: u.email }), " · ", h("span", { text: t("agents.since", { time: fmtTime(u.created_at) }) }),
          team?.open_assigned !== undefined ? h("span", { text: ` · ${t("team.open_assigned", { n: fmtNumber(team.open_assigned) })}` }) : null)),
      h("label", { class: "cap-label" }, h("span", { text: t("agents.role") }), role),
      h("label", { class: "cap-label" }, h("span", { text: t("team.capacity") }), cap)),
    h("div", { class: "row-actions" },
      h("button", { class: "btn btn-sm agent-toggle", type: "button", disabled: me, text: u.disabled ? t("agents.enable") : t("agents.disable"), onclick: async () => {
        if (!u.disabled && !(await confirmDialog({ titleKey: "agents.disable_title", text: t("agents.confirm_disable", { name: u.name, email: u.email }), confirmKey: "agents.disable" }))) return;
        try { await patch({ disabled: !u.disabled }); redraw(); } catch (ex) { fail(ex); }
      } }),
      h("button", { class: "btn btn-sm agent-reset", type: "button", text: t("agents.reset_password"), onclick: () => { reset.hidden = !reset.hidden; if (!reset.hidden) reset.replaceChildren(resetForm(u)); } }),
      h("button", { class: "btn btn-sm danger agent-delete", type: "button", disabled: me, text: t("common.delete"), onclick: async () => {
        if (!(await confirmDialog({ titleKey: "agents.delete_title", text: t("agents.confirm_delete", { name: u.name, email: u.email }) }))) return;
        try { await api("DELETE", `/api/v1/users/${u.id}`); toast(t("agents.deleted", { name: u.name })); redraw(); } catch (ex) { fail(ex); }
      } })),
    err, reset);
  return row;
}

function resetForm(u) {
  const pw = field("password", "agents.new_password", input({ type: "password", autocomplete: "new-password", class: "input agent-reset-password" }), { hintKey: "agents.password_hint" });
  const out = h("div");
  let generated = null;
  const gen = h("button", { class: "btn btn-sm agent-reset-generate", type: "button", text: t("agents.generate"), onclick: () => {
    generated = generatePassword();
    pw.input.type = "text";
    pw.input.value = generated;
  } });
  const form = consoleForm({
    id: `agent-reset-${u.id}`, className: "agent-reset-form",
    fields: [pw], children: [pw.wrap], submitKey: "agents.reset_submit", extraActions: [gen],
    codes: { weak_password: "password" },
    validate: () => ({ password: pw.input.value.length < 8 ? invalid("password_short") : null }),
    submit: async () => {
      const value = pw.input.value;
      await api("PUT", `/api/v1/users/${u.id}/password`, { password: value });
      toast(t("agents.password_reset", { name: u.name }));
      form.replaceWith(value === generated
        ? secretOnce(`agent-reset-secret-${u.id}`, "agents.new_password", value, h("p", { class: "small", text: t("agents.login_with", { email: u.email }) }))
        : h("p", { class: "muted small agent-reset-done", text: t("agents.password_reset", { name: u.name }) }));
    },
  });
  out.append(form);
  return out;
}
