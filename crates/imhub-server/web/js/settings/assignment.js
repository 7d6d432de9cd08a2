// Settings → 分配 (admins): per account, auto-assignment on/off and the
// agents in its pool; and the team settings (requeue on 小休, offline after
// N minutes without the inbox open). Capacities live in the team page,
// linked from here. A 422 shows the server's detail next to the form and
// keeps what the admin typed.

import { api } from "../api.js";
import { h, t, toast, platformBadge } from "../dom.js";
import { isAdmin, loadAgents, state } from "../state.js";
import { showSettingsPage } from "../settings.js";
import { problemText } from "../pages.js";

const items = (r) => (Array.isArray(r) ? r : r?.items || []);

/** The page: one form per account, then the team settings. */
export async function assignmentPage(box) {
  const title = h("h3", { text: t("settings.assignment") });
  if (!isAdmin()) { box.replaceChildren(title, h("p", { class: "muted", text: t("settings.admin_only") })); return; }
  let accounts, settings;
  try {
    [accounts, settings] = await Promise.all([api("GET", "/api/v1/accounts").then(items), api("GET", "/api/v1/team/settings"), loadAgents()]);
  } catch (ex) {
    box.replaceChildren(title, h("p", { class: "form-error", text: problemText(ex) }));
    return;
  }
  const forms = await Promise.all(accounts.map(async (a) => {
    try { return accountForm(a, await api("GET", `/api/v1/accounts/${a.id}/assignment`)); }
    catch (ex) { return h("li", { class: "settings-row form-error", text: `${a.name}: ${problemText(ex)}` }); }
  }));
  box.replaceChildren(title, h("p", { class: "muted", text: t("assign.intro") }),
    h("p", {}, h("button", { id: "assign-team-link", class: "link-btn", type: "button", text: t("assign.capacity_link"), onclick: () => showSettingsPage("team") })),
    h("ul", { id: "assign-accounts", class: "settings-list" }, forms.length ? forms : h("li", { class: "muted", text: t("assign.no_accounts") })),
    teamForm(settings));
}

function accountForm(account, cfg) {
  const pool = new Set(cfg.agent_ids || []);
  const auto = h("input", { type: "checkbox", class: "assign-auto", checked: !!cfg.auto_assign });
  const agents = [...state.agents.values()].map((a) => h("label", { class: "check" },
    h("input", { type: "checkbox", class: "assign-agent", value: String(a.id), checked: pool.has(a.id) }),
    h("span", { text: `${a.name}${a.capacity !== undefined ? ` · ${t("team.capacity")} ${a.capacity}` : ""}` })));
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "settings-form assign-form", "data-account-id": String(account.id) },
    h("div", { class: "picker-top" }, platformBadge(account.platform), h("strong", { text: account.name })),
    h("label", { class: "check" }, auto, h("span", { text: t("assign.auto") })),
    h("div", { class: "muted small", text: t("assign.pool_hint") }),
    h("div", { class: "checks assign-pool" }, agents),
    err,
    h("div", { class: "dialog-actions" }, h("button", { class: "btn btn-primary btn-sm assign-save", type: "submit", text: t("common.save") })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const body = { auto_assign: auto.checked, agent_ids: [...form.querySelectorAll(".assign-agent:checked")].map((x) => Number(x.value)) };
    try { await api("PUT", `/api/v1/accounts/${account.id}/assignment`, body); toast(t("common.saved")); form.dataset.saved = "1"; }
    catch (ex) { err.textContent = problemText(ex); err.hidden = false; }
  });
  return h("li", { class: "settings-row" }, form);
}

function teamForm(s) {
  const requeue = h("input", { id: "team-requeue", type: "checkbox", checked: !!s.requeue_on_away });
  const offline = h("input", { id: "team-offline-minutes", class: "input", type: "number", min: "1", max: "1440", value: String(s.offline_after_minutes ?? "") });
  const err = h("p", { id: "team-settings-error", class: "form-error", role: "alert", hidden: true });
  const form = h("form", { id: "team-settings", class: "settings-form assign-form", novalidate: true },
    h("h4", { text: t("assign.team_settings") }),
    h("label", { class: "check" }, requeue, h("span", { text: t("assign.requeue") })),
    h("label", { class: "lead-field" }, h("span", { text: t("assign.offline_after") }), offline),
    err,
    h("div", { class: "dialog-actions" }, h("button", { id: "team-settings-save", class: "btn btn-primary btn-sm", type: "submit", text: t("common.save") })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    try { await api("PUT", "/api/v1/team/settings", { requeue_on_away: requeue.checked, offline_after_minutes: Number(offline.value) }); toast(t("common.saved")); }
    catch (ex) { err.textContent = problemText(ex); err.hidden = false; }
  });
  return form;
}
