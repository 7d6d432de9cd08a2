// Settings, in one frame: labels (admins manage), quick replies (shared ones
// by admins, personal ones by everyone), the team (availability and
// capacity), and the language.

import { api } from "./api.js";
import { $, $$, h, t, toast, labelChip, avatar } from "./dom.js";
import { lang, languages } from "./i18n.js";
import { switchLanguage } from "./settings/profile.js";
import { state, isAdmin, loadLabels, loadAgents } from "./state.js";

const PALETTE = ["#e5484d", "#f76b15", "#ffc53d", "#30a46c", "#12a594", "#0090ff", "#3d5afe", "#8e4ec6", "#d6409f", "#8d8d8d"];
let page = "labels";

export function openSettings(which = null) {
  if (which) page = which;
  $("#settings").showModal();
  show(page);
}

/** Pages other modules add (automation, KPI, alerts): key → render(box). */
const extraPages = {};
export function addSettingsPage(key, render) { extraPages[key] = render; }
/** Switches the open settings frame to a page. */
export const showSettingsPage = (which) => show(which);

function show(which) {
  page = which;
  for (const b of $$("#settings-nav .settings-tab")) b.classList.toggle("active", b.dataset.page === which);
  const box = $("#settings-page");
  box.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
  ({ labels: labelsPage, replies: repliesPage, team: teamPage, language: languagePage, ...extraPages })[which]?.(box);
}

/** A refusal in words: the code's own sentence, naming the variable for `unknown_variable`. */
function problem(ex) {
  const detail = ex.code === "unknown_variable" ? (ex.message.match(/\{\{[^}]*\}\}/) || [ex.message])[0] : ex.message;
  return t(`error.${ex.code}`, { detail }, ex.message);
}

// ---------- labels ----------

async function labelsPage(box) {
  await loadLabels();
  const admin = isAdmin();
  const rows = [...state.labels.values()].map((l) => {
    const name = h("input", { class: "input", value: l.name, "aria-label": t("labels.name"), disabled: !admin, maxlength: "40" });
    const color = h("input", { type: "color", class: "color", value: l.color || "#8d8d8d", "aria-label": t("labels.color"), disabled: !admin });
    const save = async () => {
      if (name.value.trim() === l.name && color.value === l.color) return;
      try { await api("PATCH", `/api/v1/labels/${l.id}`, { name: name.value.trim(), color: color.value }); toast(t("common.saved")); await loadLabels(); }
      catch (ex) { toast(problem(ex), "error"); }
    };
    name.addEventListener("change", save);
    color.addEventListener("change", save);
    return h("li", { class: "settings-row", "data-label-id": String(l.id) },
      labelChip(l), admin ? name : null, admin ? color : null,
      admin ? h("button", { class: "btn btn-sm danger", type: "button", text: t("common.delete"), onclick: async () => {
        if (!confirm(t("labels.confirm_delete", { name: l.name }))) return;
        try { await api("DELETE", `/api/v1/labels/${l.id}`); await loadLabels(); show("labels"); } catch (ex) { toast(problem(ex), "error"); }
      } }) : null);
  });
  const form = admin ? labelForm() : h("p", { class: "muted", text: t("settings.admin_only") });
  box.replaceChildren(h("h3", { text: t("settings.labels") }), h("p", { class: "muted", text: t("labels.intro") }), form,
    rows.length ? h("ul", { class: "settings-list" }, rows) : h("p", { class: "muted", text: t("labels.none") }));
}

function labelForm() {
  const name = h("input", { id: "new-label-name", class: "input", placeholder: t("labels.name"), required: true, maxlength: "40" });
  const color = h("input", { id: "new-label-color", type: "color", class: "color", value: PALETTE[state.labels.size % PALETTE.length], "aria-label": t("labels.color") });
  const form = h("form", { class: "settings-form", id: "new-label" }, name, color, h("button", { class: "btn btn-primary btn-sm", type: "submit", text: t("labels.add") }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!name.value.trim()) return;
    try {
      await api("POST", "/api/v1/labels", { name: name.value.trim(), color: color.value });
      await loadLabels();
      show("labels");
    } catch (ex) { toast(problem(ex), "error"); }
  });
  return form;
}

// ---------- quick replies ----------

async function repliesPage(box) {
  let items = [];
  try {
    const res = await api("GET", "/api/v1/quick-replies");
    items = Array.isArray(res) ? res : res.items || [];
  } catch (ex) {
    box.replaceChildren(h("h3", { text: t("settings.quick_replies") }), h("p", { class: "muted", text: problem(ex) }));
    return;
  }
  const personal = (q) => q.scope === "personal" || (q.owner_user_id !== null && q.owner_user_id !== undefined);
  const groups = [["shared", items.filter((q) => !personal(q))], ["personal", items.filter(personal)]];
  const list = groups.map(([scope, qs]) => h("section", { class: "settings-group" },
    h("h4", { text: t(`quick.scope_${scope}`) }),
    qs.length ? h("ul", { class: "settings-list" }, qs.map((q) => replyRow(q, scope))) : h("p", { class: "muted", text: t("quick.none") })));
  box.replaceChildren(h("h3", { text: t("settings.quick_replies") }), h("p", { class: "muted", text: t("quick.intro") }), replyForm(), ...list);
}

function replyRow(q, scope) {
  const editable = scope === "personal" || isAdmin();
  return h("li", { class: "settings-row reply-row", "data-reply-id": String(q.id) },
    h("div", { class: "reply-main" },
      h("div", { class: "picker-top" }, h("strong", { text: q.title }), q.shortcut ? h("span", { class: "shortcut", text: `/${q.shortcut}` }) : null, q.folder ? h("span", { class: "tag", text: q.folder }) : null),
      h("div", { class: "picker-text", text: q.text })),
    editable ? h("button", { class: "btn btn-sm", type: "button", text: t("common.edit"), onclick: (e) => {
      const row = e.target.closest("li");
      row.replaceWith(h("li", { class: "settings-row" }, replyForm(q)));
    } }) : null,
    editable ? h("button", { class: "btn btn-sm danger", type: "button", text: t("common.delete"), onclick: async () => {
      if (!confirm(t("quick.confirm_delete", { title: q.title }))) return;
      try { await api("DELETE", `/api/v1/quick-replies/${q.id}`); show("replies"); } catch (ex) { toast(problem(ex), "error"); }
    } }) : null);
}

function replyForm(q = null) {
  const f = (attrs) => h("input", { class: "input", ...attrs });
  const title = f({ name: "title", placeholder: t("quick.title"), required: true, value: q?.title || "" });
  const shortcut = f({ name: "shortcut", placeholder: t("quick.shortcut"), value: q?.shortcut || "" });
  const folder = f({ name: "folder", placeholder: t("quick.folder"), value: q?.folder || "" });
  const text = h("textarea", { name: "text", class: "input", rows: "3", placeholder: t("quick.text_placeholder"), required: true });
  text.value = q?.text || "";
  const scope = h("select", { name: "scope", class: "input", disabled: !!q },
    h("option", { value: "personal", text: t("quick.scope_personal") }),
    isAdmin() ? h("option", { value: "shared", text: t("quick.scope_shared") }) : null);
  if (q) scope.value = q.owner_user_id || q.scope === "personal" ? "personal" : "shared";
  const vars = h("div", { class: "vars" }, h("span", { class: "muted", text: t("quick.variables") }),
    ...["contact.nickname", "contact.platform_id", "agent.name", "account.name", "conversation.platform"].map((v) => h("button", {
      class: "chip var", type: "button", text: `{{${v}}}`,
      onclick: () => { const s = text.selectionStart; text.setRangeText(`{{${v}}}`, s, text.selectionEnd, "end"); text.focus(); },
    })));
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "settings-form reply-form", id: q ? `edit-reply-${q.id}` : "new-reply" },
    h("div", { class: "form-row" }, title, shortcut, folder, scope), text, vars, err,
    h("div", { class: "dialog-actions" },
      q ? h("button", { class: "btn btn-sm", type: "button", text: t("common.cancel"), onclick: () => show("replies") }) : null,
      h("button", { class: "btn btn-primary btn-sm", type: "submit", text: q ? t("common.save") : t("quick.add") })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const body = { folder: folder.value.trim(), title: title.value.trim(), shortcut: shortcut.value.trim().replace(/^\//, "") || null, text: text.value };
    try {
      if (q) await api("PATCH", `/api/v1/quick-replies/${q.id}`, body);
      else await api("POST", "/api/v1/quick-replies", { scope: scope.value, ...body });
      show("replies");
    } catch (ex) {
      err.textContent = problem(ex);
      err.hidden = false;
    }
  });
  return form;
}

// ---------- team ----------

async function teamPage(box) {
  await loadAgents();
  const admin = isAdmin();
  const rows = [...state.agents.values()].map((a) => {
    const cap = h("input", { type: "number", class: "input capacity", min: "0", max: "1000", value: String(a.capacity ?? ""), disabled: !admin || a.capacity === undefined, "aria-label": t("team.capacity") });
    cap.addEventListener("change", async () => {
      try { await api("PUT", `/api/v1/users/${a.id}/capacity`, { capacity: Number(cap.value) }); toast(t("common.saved")); await loadAgents(); }
      catch (ex) { toast(problem(ex), "error"); }
    });
    return h("li", { class: "settings-row", "data-agent-id": String(a.id) },
      avatar(a.name, null, { size: "avatar-sm" }),
      h("div", { class: "reply-main" }, h("strong", { text: a.name }), h("div", { class: "muted", text: t(`role.${a.role}`, {}, a.role || "") })),
      h("span", { class: `presence ${a.availability || "offline"}`, text: t(`availability.${a.availability || "offline"}`) }),
      a.open_assigned !== undefined ? h("span", { class: "muted", text: t("team.open_assigned", { n: a.open_assigned }) }) : null,
      h("label", { class: "cap-label" }, h("span", { text: t("team.capacity") }), cap));
  });
  box.replaceChildren(h("h3", { text: t("settings.team") }), h("p", { class: "muted", text: t("team.intro") }), h("ul", { class: "settings-list" }, rows));
}

// ---------- language ----------

function languagePage(box) {
  const buttons = languages().map((l) => h("button", {
    class: `btn ${l === lang() ? "btn-primary" : ""}`, type: "button", text: t(`language.${l}`),
    onclick: () => switchLanguage(l),
  }));
  box.replaceChildren(h("h3", { text: t("settings.language") }), h("div", { class: "lang-buttons" }, buttons));
}

export function wireSettings() {
  for (const b of $$("#settings-nav .settings-tab")) b.addEventListener("click", () => show(b.dataset.page));
  $("#settings-close").addEventListener("click", () => $("#settings").close());
}
