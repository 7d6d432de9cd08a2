// Leads (线索): the list with its filters (stage, owner, has phone, search),
// bulk stage/owner changes and the CSV export (admins); and the lead in the
// contact panel, editable (name, phones, WeChat, city, notes, stage,
// owner). Agents see phone numbers masked in the list (the server masks
// them); the lead itself shows them in full.

import { api, qs } from "./api.js";
import { h, t, toast, platformBadge, relTime, fullTime, parseTime } from "./dom.js";
import { state, emit, isAdmin } from "./state.js";
import { page, addMenuItem, problemText } from "./pages.js";
import { mergesSection, mergeNote, leadHistory, wireMerges } from "./merges.js";

export const STAGES = ["new", "following", "converted", "invalid"];
const filters = { stage: "", owner_id: "", has_phone: "", q: "" };
const selected = new Set();
let leadsPage = null;

const stageChip = (s) => h("span", { class: `stage stage-${s}`, text: t(`lead.stage.${s}`) });

function ownerSelect(value, { id = null, any = false } = {}) {
  const sel = h("select", { id, class: "input", "aria-label": t("lead.owner") },
    any ? h("option", { value: "", text: t("lead.any_owner") }) : h("option", { value: "", text: t("lead.no_owner") }),
    ...[...state.agents.values()].map((a) => h("option", { value: String(a.id), text: a.name })));
  sel.value = value === null || value === undefined ? "" : String(value);
  return sel;
}

function stageSelect(value, { id = null, any = false } = {}) {
  const sel = h("select", { id, class: "input", "aria-label": t("lead.stage") },
    any ? h("option", { value: "", text: t("lead.any_stage") }) : null,
    ...STAGES.map((s) => h("option", { value: s, text: t(`lead.stage.${s}`) })));
  sel.value = value || "";
  return sel;
}

// ---------- the list ----------

async function renderList(body) {
  const stage = stageSelect(filters.stage, { id: "lead-filter-stage", any: true });
  const owner = ownerSelect(filters.owner_id, { id: "lead-filter-owner", any: true });
  const phone = h("select", { id: "lead-filter-phone", class: "input", "aria-label": t("lead.has_phone") },
    h("option", { value: "", text: t("lead.phone_any") }), h("option", { value: "true", text: t("lead.phone_yes") }), h("option", { value: "false", text: t("lead.phone_no") }));
  phone.value = filters.has_phone;
  const search = h("input", { id: "lead-search", class: "input", type: "search", placeholder: t("lead.search"), value: filters.q });
  const apply = () => { filters.stage = stage.value; filters.owner_id = owner.value; filters.has_phone = phone.value; filters.q = search.value.trim(); selected.clear(); renderList(body); };
  for (const x of [stage, owner, phone]) x.addEventListener("change", apply);
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 300); });
  const q = qs({ ...filters, limit: 200 });
  const exportLink = isAdmin() ? h("a", { id: "lead-export", class: "btn btn-sm", href: `/api/v1/leads/export.csv${qs(filters)}`, download: "leads.csv", text: t("lead.export") }) : null;
  const table = h("div", { class: "table-wrap" }, h("p", { class: "muted", text: t("common.loading") }));
  const bulkStage = stageSelect("", { id: "lead-bulk-stage", any: true });
  const bulkOwner = h("select", { id: "lead-bulk-owner", class: "input", "aria-label": t("lead.owner") },
    h("option", { value: "keep", text: t("lead.keep_owner") }), h("option", { value: "", text: t("lead.no_owner") }),
    ...[...state.agents.values()].map((a) => h("option", { value: String(a.id), text: a.name })));
  const bulkCount = h("span", { id: "lead-bulk-count", class: "muted" });
  const bulk = h("div", { id: "lead-bulk", class: "lead-bulk", hidden: true }, bulkCount, bulkStage, bulkOwner,
    h("button", { id: "lead-bulk-apply", class: "btn btn-sm btn-primary", type: "button", text: t("lead.bulk_apply"), onclick: async () => {
      const req = { lead_ids: [...selected] };
      if (bulkStage.value) req.stage = bulkStage.value;
      if (bulkOwner.value !== "keep") req.owner_id = bulkOwner.value ? Number(bulkOwner.value) : null;
      try { const res = await api("POST", "/api/v1/leads/bulk", req); toast(t("lead.bulk_done", { n: res.changed.length })); selected.clear(); renderList(body); }
      catch (ex) { toast(problemText(ex), "error"); }
    } }));
  const syncBulk = () => { bulk.hidden = selected.size === 0; bulkCount.textContent = t("bulk.selected", { n: selected.size }); };
  body.replaceChildren(h("div", { class: "report-filters" }, search, stage, owner, phone, exportLink), mergesSection(() => renderList(body)), bulk, table);
  let res;
  try { res = await api("GET", `/api/v1/leads${q}`); } catch (ex) { table.replaceChildren(h("p", { class: "form-error", text: problemText(ex) })); return; }
  const rows = res.items.map((l) => {
    const check = h("input", { type: "checkbox", class: "lead-check", "aria-label": t("bulk.select", { name: l.name || "" }), checked: selected.has(l.id),
      onchange: (e) => { if (e.target.checked) selected.add(l.id); else selected.delete(l.id); syncBulk(); } });
    const contact = l.contacts?.[0];
    return h("tr", { "data-lead-id": String(l.id) },
      h("td", {}, check),
      h("td", {}, h("button", { class: "link-btn lead-open", type: "button", text: l.name || contact?.nickname || t("lead.unnamed"), onclick: () => {
        if (l.source?.conversation_id) { leadsPage.dialog.close(); emit("open", { id: l.source.conversation_id }); }
      } })),
      h("td", { class: "lead-phones", text: (l.phones || []).join(", ") || "—" }),
      h("td", { text: l.wechat_id || "—" }),
      h("td", { text: l.city || "—" }),
      h("td", {}, stageChip(l.stage)),
      h("td", { text: l.owner_id ? state.agents.get(l.owner_id)?.name || `#${l.owner_id}` : "—" }),
      h("td", {}, platformBadge(l.source.platform)),
      h("td", { title: fullTime(parseTime(l.created_at)), text: relTime(parseTime(l.created_at)) }));
  });
  table.replaceChildren(h("table", { id: "lead-table", class: "report-table" },
    h("thead", {}, h("tr", {}, h("th", {}), ...["lead.name", "lead.phones", "lead.wechat", "lead.city", "lead.stage", "lead.owner", "lead.source", "lead.created"].map((k) => h("th", { text: t(k) })))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "9", class: "muted", text: t("lead.none") })))));
  syncBulk();
}

// ---------- the contact panel ----------

/** The lead section of the contact panel: the lead, editable; or a line saying there is none yet. */
let shown = null;
export function leadSlot(contact) {
  const lead = contact?.lead;
  if (!lead) return h("div", { class: "lead-slot", "data-lead": "" }, h("p", { class: "muted", text: t("contact.lead_empty") }));
  // The panel re-renders on every change of the conversation: the form
  // being edited (or unchanged on the server) is kept, typing and all.
  if (shown && shown.leadId === lead.id && (shown.dirty || shown.updatedAt === lead.updated_at)) return shown.node;
  const slot = buildLeadSlot(lead);
  shown = { leadId: lead.id, updatedAt: lead.updated_at, dirty: false, node: slot };
  slot.addEventListener("input", () => { if (shown?.node === slot) shown.dirty = true; });
  slot.addEventListener("change", () => { if (shown?.node === slot) shown.dirty = true; });
  return slot;
}

function buildLeadSlot(lead) {
  const f = (name, value, attrs = {}) => h("label", { class: "lead-field" }, h("span", { text: t(`lead.${name}`) }),
    h("input", { id: `lead-${name}`, class: "input", value: value || "", ...attrs }));
  const name = f("name", lead.name, { maxlength: "100" });
  const phones = f("phones", (lead.phones || []).join(", "), { inputmode: "tel", placeholder: "138 0013 8000" });
  const wechat = f("wechat", lead.wechat_id, { maxlength: "100" });
  const city = f("city", lead.city, { maxlength: "100" });
  const notes = h("textarea", { id: "lead-notes", class: "input", rows: "3", maxlength: "10000" });
  notes.value = lead.notes || "";
  const stage = stageSelect(lead.stage, { id: "lead-stage" });
  const owner = ownerSelect(lead.owner_id, { id: "lead-owner" });
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const status = h("span", { class: "save-state", id: "lead-save-state" });
  const form = h("form", { id: "lead-form", class: "lead-form", "data-lead": String(lead.id) },
    mergeNote(lead.id),
    h("div", { class: "lead-top" }, stageChip(lead.stage), lead.fields?.length ? h("span", { class: "muted small", text: lead.fields.map((x) => `${x.label}: ${x.value}`).join(" · ") }) : null),
    name, phones, wechat, city,
    h("label", { class: "lead-field" }, h("span", { text: t("lead.stage") }), stage),
    h("label", { class: "lead-field" }, h("span", { text: t("lead.owner") }), owner),
    h("label", { class: "lead-field" }, h("span", { text: t("lead.notes") }), notes),
    err,
    h("div", { class: "notes-foot" }, status, h("button", { id: "lead-save", class: "btn btn-sm btn-primary", type: "submit", text: t("common.save") })),
    leadHistory(lead.id));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.hidden = true;
    const val = (x) => x.querySelector("input").value.trim() || null;
    const body = {
      name: val(name), wechat_id: val(wechat), city: val(city), notes: notes.value.trim() || null,
      phones: phones.querySelector("input").value.split(/[,，;；\n]+/).map((p) => p.trim()).filter(Boolean),
      stage: stage.value, owner_id: owner.value ? Number(owner.value) : null,
    };
    status.textContent = t("contact.saving");
    try {
      const fresh = await api("PATCH", `/api/v1/leads/${lead.id}`, body);
      Object.assign(lead, fresh);
      if (shown?.leadId === lead.id) { shown.updatedAt = fresh.updated_at; shown.dirty = false; }
      status.textContent = t("contact.saved");
      form.querySelector(".stage").replaceWith(stageChip(fresh.stage));
      phones.querySelector("input").value = (fresh.phones || []).join(", ");
      form.querySelector("#lead-history")?.replaceWith(leadHistory(lead.id));
    } catch (ex) {
      status.textContent = "";
      err.textContent = problemText(ex);
      err.hidden = false;
    }
  });
  return h("div", { class: "lead-slot", "data-lead": String(lead.id) }, form);
}

export function openLeads() {
  leadsPage.open();
}

export function wireLeads() {
  leadsPage = page("leads", "lead.title", (body) => renderList(body).catch((ex) => toast(problemText(ex), "error")));
  addMenuItem("open-leads", "lead.title", openLeads);
  wireMerges();
}
