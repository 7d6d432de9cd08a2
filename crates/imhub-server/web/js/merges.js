// Leads: merge proposals (待合并: two leads that left the same phone, side
// by side, 合并 / 不是同一人, a count badge on the leads menu entry), the note
// on a lead in the contact panel when it has a pending proposal, and the
// lead's history (who, when, what changed). Phones come as the API gives
// them (masked for agents in proposals).

import { api } from "./api.js";
import { $, h, t, toast, platformBadge, relTime, fullTime, parseTime } from "./dom.js";
import { state, on, isAdmin } from "./state.js";
import { problemText } from "./pages.js";

async function pending() {
  const res = await api("GET", "/api/v1/leads/merge-proposals?status=pending&limit=200");
  return res.items || [];
}

/** Puts the number of pending proposals on the 线索 menu entry. */
export async function updateMergeBadge() {
  const item = $("#open-leads");
  if (!item) return;
  let n = 0;
  try { n = (await pending()).length; } catch { return; }
  let badge = item.querySelector(".merge-badge");
  if (!badge) { badge = h("span", { class: "count merge-badge" }); item.append(badge); }
  badge.textContent = String(n);
  badge.hidden = n === 0;
}

/** The shared phone: agents see it masked like the leads' own (`138****8000`). */
const shownPhone = (p) => (!p ? "" : isAdmin() ? p : String(p).replace(/^(\d{3})\d+(\d{4})$/, "$1****$2"));

function leadCard(lead) {
  const acct = lead.source?.account_id ? state.accounts.get(lead.source.account_id) : null;
  return h("div", { class: "merge-lead", "data-lead-id": String(lead.id) },
    h("strong", { text: lead.name || lead.contacts?.[0]?.nickname || t("lead.unnamed") }),
    h("div", { class: "merge-phones", text: (lead.phones || []).join(", ") || "—" }),
    h("div", { class: "muted small" }, lead.source?.platform ? platformBadge(lead.source.platform) : null, h("span", { text: ` ${acct?.name || (lead.source?.account_id ? `#${lead.source.account_id}` : "")}` })));
}

/** The 待合并 section of the leads page; `changed()` runs after a decision. */
export function mergesSection(changed) {
  const count = h("span", { id: "merge-count", class: "count", text: "0" });
  const list = h("ul", { id: "merge-list", class: "settings-list" }, h("li", { class: "muted", text: t("common.loading") }));
  const box = h("section", { id: "lead-merges", class: "settings-group" }, h("h4", {}, h("span", { text: t("merge.title") }), " ", count), list);
  const draw = async () => {
    let items;
    try { items = await pending(); } catch (ex) { list.replaceChildren(h("li", { class: "form-error", text: problemText(ex) })); return; }
    count.textContent = String(items.length);
    updateMergeBadge();
    list.replaceChildren(...(items.length ? items.map((p) => {
      const decide = (what) => async (e) => {
        e.target.disabled = true;
        try { await api("POST", `/api/v1/leads/merge-proposals/${p.id}/${what}`); toast(t(what === "accept" ? "merge.merged" : "merge.rejected")); await draw(); changed?.(); }
        catch (ex) { toast(problemText(ex), "error"); e.target.disabled = false; }
      };
      return h("li", { class: "settings-row merge-row", "data-proposal-id": String(p.id) },
        leadCard(p.lead), h("span", { class: "muted", text: "⇄" }), leadCard(p.other),
        h("span", { class: "muted small", text: t("merge.same_phone", { phone: shownPhone(p.phone) }) }),
        h("button", { class: "btn btn-sm btn-primary merge-accept", type: "button", text: t("merge.accept"), onclick: decide("accept") }),
        h("button", { class: "btn btn-sm merge-reject", type: "button", text: t("merge.reject"), onclick: decide("reject") }));
    }) : [h("li", { class: "muted", text: t("merge.none") })]));
  };
  draw();
  return box;
}

/** A note on a lead (contact panel) when it is in a pending proposal. */
export function mergeNote(leadId) {
  const note = h("p", { class: "muted small merge-note", hidden: true });
  pending().then((items) => {
    const n = items.filter((p) => p.lead?.id === leadId || p.other?.id === leadId).length;
    if (n) { note.textContent = t("merge.pending_note", { n }); note.hidden = false; }
  }).catch(() => {});
  return note;
}

const show = (v) => (v === null || v === undefined || v === "" ? "—" : Array.isArray(v) ? v.map((x) => (typeof x === "object" ? (x.label ? `${x.label}: ${x.value}` : JSON.stringify(x)) : String(x))).join(", ") || "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

function fieldValue(field, v) {
  if (field === "stage" && v) return t(`lead.stage.${v}`, {}, v);
  if (field === "owner_id" && v) return state.agents.get(v)?.name || `#${v}`;
  return show(v);
}

/** The lead's history, oldest first, in a collapsible block. */
export function leadHistory(leadId) {
  const list = h("ul", { class: "lead-history-list" }, h("li", { class: "muted", text: t("common.loading") }));
  const box = h("details", { class: "lead-history", id: "lead-history" }, h("summary", { text: t("history.title") }), list);
  api("GET", `/api/v1/leads/${leadId}/history`).then((res) => {
    const items = res.items || [];
    list.replaceChildren(...(items.length ? items.map((e) => {
      const who = e.user_id ? state.agents.get(e.user_id)?.name || `#${e.user_id}` : t(`history.actor.${e.actor}`, {}, e.actor);
      return h("li", { class: "history-entry", "data-actor": e.actor },
        h("div", { class: "muted small" }, h("strong", { text: who }), " ", h("time", { title: fullTime(parseTime(e.at)), text: relTime(parseTime(e.at)) })),
        h("ul", {}, (e.changes || []).map((c) => h("li", { class: "history-change", text: `${t(`history.field.${c.field}`, {}, c.field)}: ${fieldValue(c.field, c.from)} → ${fieldValue(c.field, c.to)}` }))));
    }) : [h("li", { class: "muted", text: t("history.none") })]));
  }).catch((ex) => list.replaceChildren(h("li", { class: "form-error", text: problemText(ex) })));
  return box;
}

/** Keeps the badge current: a lead created or updated may bring a proposal. */
export function wireMerges() {
  let timer = null;
  on("live", (ev) => {
    if (ev.type !== "lead.created" && ev.type !== "lead.updated") return;
    clearTimeout(timer);
    timer = setTimeout(updateMergeBadge, 300);
  });
  // Signing in as someone else happens without a reload: the menu recounts.
  $("#me-button")?.addEventListener("click", updateMergeBadge);
  updateMergeBadge();
}
