// The contact panel beside the conversation: who the customer is (nickname,
// avatar, platform, ids to copy), labels, notes about them, their other
// conversations, the Meituan order the chat is about, and the place the
// leads issue fills.

import { api } from "./api.js";
import { $, h, t, svg, ICON, avatar, platformBadge, platformName, labelChip, copyText, toast, relTime, parseTime, fullTime, popupMenu } from "./dom.js";
import { state, emit, on, currentConv } from "./state.js";
import { leadSlot } from "./leads.js";

const STORE_KEY = "imhub.contact-panel";
const panel = { contact: null, forConv: null, gen: 0 };

function wantOpen() {
  try {
    const v = localStorage.getItem(STORE_KEY);
    if (v !== null) return v === "1";
  } catch { /* default below */ }
  return matchMedia("(min-width: 1200px)").matches;
}

export function setPanelOpen(open, { remember = true } = {}) {
  const show = open && state.currentId !== null;
  $("#contact").hidden = !show;
  $("#app").classList.toggle("with-contact", show);
  $("#contact-toggle").setAttribute("aria-pressed", String(open));
  if (remember) { try { localStorage.setItem(STORE_KEY, open ? "1" : "0"); } catch { /* session only */ } }
  if (show) load();
}

function idRow(label, value) {
  if (!value && value !== 0) return null;
  return h("div", { class: "id-row" },
    h("span", { class: "id-label", text: label }),
    h("code", { class: "id-value", text: String(value), title: String(value) }),
    h("button", { class: "icon-btn copy", type: "button", "aria-label": t("contact.copy", { what: label }), title: t("contact.copy", { what: label }), onclick: () => copyText(String(value)) }, svg(ICON.copy)));
}

function section(title, ...body) {
  return h("section", { class: "contact-section" }, h("h4", { text: title }), ...body);
}

async function load() {
  const c = currentConv();
  if (!c || $("#contact").hidden) return;
  const gen = ++panel.gen;
  panel.forConv = c.id;
  render(c, panel.contact && panel.contact.id === c.contact_id ? panel.contact : null);
  if (!c.contact_id) return;
  try {
    const contact = await api("GET", `/api/v1/conversations/${c.id}/contact`);
    if (gen !== panel.gen) return;
    panel.contact = contact;
    render(c, contact);
  } catch {
    if (gen !== panel.gen) return;
    panel.contact = null;
    render(c, null, true);
  }
}

function render(c, contact, failed = false) {
  const body = $("#contact-body");
  const name = contact?.nickname || c.title;
  const acct = state.accounts.get(c.account_id);
  const out = [];
  out.push(h("div", { class: "contact-card" },
    avatar(name, contact?.avatar || c.avatar, { group: c.kind === "group", platform: c.platform }),
    h("div", { class: "contact-name" }, h("strong", { text: name }),
      h("div", { class: "contact-sub" }, platformBadge(c.platform), acct ? h("span", { text: acct.name }) : null))));

  out.push(section(t("contact.ids"),
    idRow(t("contact.platform_id", { platform: platformName(c.platform) }), contact?.external_id || c.peer_external_id),
    contact?.channel_id ? idRow(t("contact.channel_id"), contact.channel_id) : null,
    c.contact_id ? idRow(t("contact.contact_id"), c.contact_id) : null,
    idRow(t("contact.conversation_id"), c.id)));

  if (c.contact_id) {
    const labels = (contact?.labels || []).map((x) => (typeof x === "object" ? x : state.labels.get(x))).filter(Boolean);
    const edit = state.labels.size ? h("button", { id: "contact-label-edit", class: "link-btn", type: "button", text: t("labels.edit"), onclick: (e) => { e.stopPropagation(); contactLabelMenu(e.currentTarget, labels.map((l) => l.id)); } }) : null;
    out.push(section(t("contact.labels"), h("div", { class: "chips contact-labels" }, labels.length ? labels.map((l) => labelChip(l)) : h("span", { class: "muted", text: t("contact.no_labels") })), h("div", { class: "menu-host" }, edit)));

    const notes = h("textarea", { id: "contact-notes", class: "contact-notes", rows: "4", placeholder: t("contact.notes_placeholder"), disabled: !contact });
    notes.value = contact?.notes || "";
    const status = h("span", { class: "save-state" });
    const save = async () => {
      if (!contact || notes.value === (contact.notes || "")) return;
      status.textContent = t("contact.saving");
      try {
        const fresh = await api("PATCH", `/api/v1/contacts/${contact.id}`, { notes: notes.value });
        contact.notes = fresh?.notes ?? notes.value;
        status.textContent = t("contact.saved");
      } catch (ex) {
        status.textContent = "";
        toast(t("contact.save_failed", { reason: ex.message }), "error");
      }
    };
    notes.addEventListener("blur", save);
    notes.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) { e.preventDefault(); save(); } });
    out.push(section(t("contact.notes"), notes, h("div", { class: "notes-foot" }, h("span", { class: "muted", text: t("contact.notes_hint") }), status)));

    const others = (contact?.conversations || []).filter((x) => x.id !== c.id);
    out.push(section(t("contact.other_conversations"), others.length
      ? h("ul", { class: "other-convs" }, others.map((o) => h("li", {},
        h("button", { class: "other-conv", type: "button", "data-id": String(o.id), onclick: () => emit("open", { id: o.id }) },
          platformBadge(o.platform), h("span", { class: "other-name", text: o.account_name || "" }),
          h("span", { class: `tag status-${o.status}`, text: t(`status.${o.status}`, {}, o.status) }),
          h("time", { title: fullTime(parseTime(o.last_activity_at)), text: relTime(parseTime(o.last_activity_at)) })))))
      : h("p", { class: "muted", text: t("contact.no_other") })));
  }

  if (c.platform === "meituan") {
    const order = contact?.order || (c.platform_context && c.platform_context.order_id ? { order_id: c.platform_context.order_id } : null);
    out.push(section(t("contact.order"), order ? orderView(order) : h("p", { class: "muted", text: t("contact.no_order") })));
  }

  out.push(section(t("contact.lead"), leadSlot(contact)));
  if (failed) out.push(h("p", { class: "muted small", text: t("contact.load_failed") }));
  body.replaceChildren(...out);
}

function orderView(order) {
  const rows = [];
  const add = (k, v) => { if (v !== undefined && v !== null && v !== "") rows.push(h("div", { class: "kv" }, h("span", { text: t(`order.${k}`, {}, k) }), h("span", { text: String(v) }))); };
  add("order_id", order.order_id ?? order.order_view_id ?? order.id);
  add("status", order.status_text ?? order.status);
  add("total", order.total ?? order.total_price ?? order.amount);
  add("created_at", order.created_at ? fullTime(parseTime(order.created_at)) : order.ctime);
  add("recipient", order.recipient_name);
  add("address", order.recipient_address);
  for (const it of order.items || order.detail || []) add("item", `${it.name ?? it.food_name ?? ""} × ${it.quantity ?? it.count ?? 1}`);
  return h("div", { class: "order" }, rows, order.order_id ? idRow(t("order.order_id"), order.order_id) : null);
}

function contactLabelMenu(anchor, have) {
  const c = currentConv();
  const set = new Set(have);
  const items = [...state.labels.values()].map((l) => ({
    label: l.name, value: String(l.id), checked: set.has(l.id),
    onclick: async () => {
      const next = set.has(l.id) ? [...set].filter((x) => x !== l.id) : [...set, l.id];
      try {
        await api("PUT", `/api/v1/contacts/${c.contact_id}/labels`, { label_ids: next });
        panel.contact = null;
        load();
      } catch (ex) {
        toast(t("labels.failed", { reason: ex.message }), "error");
      }
    },
  }));
  popupMenu(anchor, items, { className: "menu-scroll" });
}

export function wireContact() {
  $("#contact-toggle").addEventListener("click", () => setPanelOpen($("#contact").hidden));
  $("#contact-close").addEventListener("click", () => setPanelOpen(false));
  on("opened", ({ id }) => {
    if (panel.forConv !== id) panel.contact = null;
    setPanelOpen(wantOpen() && !matchMedia("(max-width: 760px)").matches, { remember: false });
  });
  on("conversation-changed", ({ c }) => { if (!$("#contact").hidden && c.id === panel.forConv) render(c, panel.contact); });
  on("labels", () => { const c = currentConv(); if (c && !$("#contact").hidden) render(c, panel.contact); });
  on("closed", () => setPanelOpen(false, { remember: false }));
  // A phone shows one pane at a time: the panel opens only when asked for.
  matchMedia("(max-width: 760px)").addEventListener("change", (e) => { if (e.matches) setPanelOpen(false, { remember: false }); });
}
