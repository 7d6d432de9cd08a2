// The chat list: views (我的 / 未分配 / 全部 / 提及我的) with live counts,
// filters, rows that show who is waiting and for how long and who has the
// chat, keyboard moves, and ticking rows for a bulk action.

import { api, qs } from "./api.js";
import { $, $$, h, t, avatar, labelChip, parseTime, relTime, fullTime, shortTime, duration, toast, popupMenu } from "./dom.js";
import { state, PAGE, emit, on, isAdmin, myId, agentName } from "./state.js";

const WAIT_WARN_MS = 5 * 60000;
const WAIT_LATE_MS = 30 * 60000;

/** The query of the list as the server takes it; the defaults are left out. */
function listQuery(extra = {}) {
  const f = state.filters;
  return qs({
    view: state.view === "all" ? "" : state.view,
    account_id: f.account_id, platform: f.platform, status: f.status, unread: f.unread, q: f.q,
    label_id: f.label_id, assignee_id: f.assignee_id, ...extra,
  });
}

/** Whether a conversation (after a live change) still belongs in the list as filtered. */
function matchesFilters(c) {
  const f = state.filters;
  if (f.account_id && String(c.account_id) !== f.account_id) return false;
  if (f.platform && c.platform !== f.platform) return false;
  if (f.status ? c.status !== f.status : ["resolved", "snoozed"].includes(c.status) && c.id !== state.currentId && state.features.team) return false;
  if (f.unread && c.unread_count === 0 && c.id !== state.currentId) return false;
  if (f.q && !c.title.toLowerCase().includes(f.q.toLowerCase())) return false;
  if (f.label_id && !(c.labels || []).includes(Number(f.label_id))) return false;
  if (f.assignee_id && String(c.assignee_id ?? "") !== f.assignee_id) return false;
  if (state.view === "mine" && c.assignee_id !== myId()) return false;
  if (state.view === "unassigned" && c.assignee_id) return false;
  return true;
}

function sortOrder() {
  state.order.sort((a, b) => {
    const ca = state.conv.get(a), cb = state.conv.get(b);
    return parseTime(cb.last_activity_at) - parseTime(ca.last_activity_at) || b - a;
  });
}

export async function reloadList() {
  const gen = ++state.listGen;
  state.nextCursor = null;
  state.listLoading = true;
  $("#conv-more").textContent = t("common.loading");
  try {
    const page = await api("GET", `/api/v1/conversations${listQuery({ limit: PAGE })}`);
    if (gen !== state.listGen) return;
    state.conv.clear();
    state.order = [];
    for (const c of page.items) { state.conv.set(c.id, c); state.order.push(c.id); }
    for (const id of [...state.selected]) if (!state.conv.has(id)) state.selected.delete(id);
    state.nextCursor = page.next_cursor || null;
    renderList();
  } catch (ex) {
    if (gen === state.listGen) $("#conv-more").textContent = t("common.load_failed", { reason: ex.message });
  } finally {
    if (gen === state.listGen) state.listLoading = false;
    fillList();
  }
  loadCounts();
}

async function loadMore() {
  if (state.listLoading || !state.nextCursor) return;
  const gen = state.listGen;
  state.listLoading = true;
  $("#conv-more").textContent = t("common.loading");
  try {
    const page = await api("GET", `/api/v1/conversations${listQuery({ cursor: state.nextCursor, limit: PAGE })}`);
    if (gen !== state.listGen) return;
    for (const c of page.items) {
      if (!state.conv.has(c.id)) state.order.push(c.id);
      state.conv.set(c.id, c);
    }
    state.nextCursor = page.next_cursor || null;
    renderList();
  } catch (ex) {
    $("#conv-more").textContent = t("common.load_failed", { reason: ex.message });
  } finally {
    if (gen === state.listGen) state.listLoading = false;
    fillList();
  }
}

/** Loads pages until the list overflows its box, so scrolling can load the rest. */
function fillList() {
  const box = $("#conv-scroll");
  if (state.nextCursor && !state.listLoading && box.scrollHeight <= box.clientHeight + 80) loadMore();
}

// ---------- counts ----------

let countsTimer = null;
/** The views' counts, coalesced: many live events cause one request. */
export function loadCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    try {
      state.counts = await api("GET", "/api/v1/conversations/counts");
    } catch {
      state.counts = { mine: null, unassigned: null, all: null, mentions: null };
    }
    renderViews();
  }, 150);
}

function renderViews() {
  for (const b of $$("#views .view")) {
    const active = b.dataset.view === state.view;
    b.classList.toggle("active", active);
    b.setAttribute("aria-selected", String(active));
    const n = state.counts[b.dataset.view];
    const count = b.querySelector(".count");
    count.textContent = n === null || n === undefined ? "" : n > 999 ? "999+" : String(n);
    count.classList.toggle("hot", b.dataset.view === "mentions" && n > 0);
  }
}

export function setView(view) {
  if (state.view === view) return;
  state.view = view;
  renderViews();
  reloadList();
}

// ---------- rows ----------

/** When the customer started waiting for an answer, or null. */
export function waitingSince(c) {
  // Pending is waiting on the customer, not the other way round.
  if (c.status !== "open" || !c.last_inbound_at) return null;
  if (c.waiting_since) return parseTime(c.waiting_since);
  const inbound = parseTime(c.last_inbound_at);
  // The customer spoke last: nobody has answered since.
  return inbound >= parseTime(c.last_activity_at) - 1000 ? inbound : null;
}

function waitingBadge(c) {
  const since = waitingSince(c);
  if (since === null) return null;
  const el = h("span", { class: "waiting", "data-since": String(since), title: t("list.waiting_since", { time: fullTime(since) }) });
  paintWaiting(el);
  return el;
}

function paintWaiting(el) {
  const ms = Date.now() - Number(el.dataset.since);
  el.textContent = t("list.waiting", { d: duration(ms) });
  el.classList.toggle("warn", ms >= WAIT_WARN_MS && ms < WAIT_LATE_MS);
  el.classList.toggle("late", ms >= WAIT_LATE_MS);
}

function assigneeBadge(c) {
  if (!state.features.team && !c.assignee_id) return null;
  if (!c.assignee_id) return h("span", { class: "assignee none", text: t("assign.unassigned") });
  const name = agentName(c.assignee_id);
  const mine = c.assignee_id === myId();
  return h("span", { class: `assignee ${mine ? "mine" : ""}`, title: t("assign.assigned_to", { name }) },
    avatar(name, null, { size: "avatar-xxs" }), h("span", { text: mine ? t("assign.me") : name }));
}

function labelChips(c) {
  const labels = (c.labels || []).map((id) => state.labels.get(id)).filter(Boolean);
  if (!labels.length) return null;
  const shown = labels.slice(0, 2).map((l) => labelChip(l));
  if (labels.length > 2) shown.push(h("span", { class: "label-more", text: `+${labels.length - 2}` }));
  return h("span", { class: "conv-labels" }, shown);
}

export function renderList() {
  sortOrder();
  // The focus follows its conversation when the list re-sorts.
  if (state.focusId !== undefined && state.focusId !== null) state.focusIdx = state.order.indexOf(state.focusId);
  const list = $("#conv-list");
  const rows = state.order.map((id, i) => convRow(state.conv.get(id), i));
  list.replaceChildren(...rows);
  list.classList.toggle("selecting", state.selected.size > 0);
  if (!rows.length) {
    const filtered = Object.values(state.filters).some(Boolean) || state.view !== "all";
    // While searching, message hits follow below: a short line is enough.
    if (state.filters.q) list.append(h("li", { class: "list-empty compact", text: t("list.no_contact_match") }));
    else list.append(h("li", { class: "list-empty", text: filtered ? t("list.empty_filtered") : t("list.empty") }));
  }
  $("#conv-more").textContent = state.nextCursor ? "" : rows.length > 8 ? t("list.no_more") : "";
  renderBulk();
}

function convRow(c, i) {
  // The open conversation is being read right now (it is marked read on
  // open and on each live message), so its badge would only flicker.
  const unread = c.unread_count > 0 && !(c.id === state.currentId && !document.hidden);
  const selected = state.selected.has(c.id);
  const classes = ["conv", unread && "unread", c.id === state.currentId && "active", i === state.focusIdx && "focused", selected && "selected"].filter(Boolean).join(" ");
  const group = c.kind === "group";
  const last = parseTime(c.last_activity_at);
  const check = h("input", {
    type: "checkbox", class: "conv-check", tabindex: "-1", "aria-label": t("bulk.select", { name: c.title }), checked: selected,
    onclick: (e) => { e.stopPropagation(); toggleSelected(c.id, e.target.checked); },
  });
  const statusTag = c.status !== "open" ? h("span", { class: `tag status-${c.status}`, text: c.status === "snoozed" && c.snoozed_until ? t("status.snoozed_until_short", { time: shortTime(parseTime(c.snoozed_until)) }) : t(`status.${c.status}`) }) : null;
  const meta = [assigneeBadge(c), waitingBadge(c), labelChips(c)].filter(Boolean);
  return h("li", {
    class: classes, role: "option", tabindex: i === Math.max(state.focusIdx, 0) ? "0" : "-1",
    "data-id": String(c.id), "data-platform": c.platform, "aria-selected": String(c.id === state.currentId),
    onclick: () => emit("open", { id: c.id }),
  },
  h("label", { class: "check-wrap", onclick: (e) => e.stopPropagation() }, check),
  avatar(c.title, c.avatar, { group, platform: c.platform }),
  h("div", { class: "conv-body" },
    h("div", { class: "conv-top" },
      h("span", { class: "conv-name", title: c.title }, c.title,
        group ? h("span", { class: "tag group", text: t("list.group_tag") }) : null, statusTag),
      h("time", { class: "conv-time", datetime: c.last_activity_at, title: fullTime(last), "data-t": String(last), text: relTime(last) })),
    h("div", { class: "conv-bottom" },
      h("span", { class: "conv-preview", text: c.last_message_preview || "" }),
      unread ? h("span", { class: "unread-badge", "aria-label": t("list.unread_count", { n: c.unread_count }), text: c.unread_count > 99 ? "99+" : String(c.unread_count) }) : null),
    meta.length ? h("div", { class: "conv-meta" }, meta) : null));
}

/** A changed conversation: updated in place, added, or dropped when the filters no longer match. */
export function upsertConversation(c) {
  const had = state.conv.has(c.id);
  if (!matchesFilters(c)) {
    if (had) { state.conv.delete(c.id); state.order = state.order.filter((x) => x !== c.id); state.selected.delete(c.id); }
  } else {
    state.conv.set(c.id, c);
    if (!had) state.order.push(c.id);
  }
  if (c.id === state.currentId) state.openConv = c;
  renderList();
  if (c.id === state.currentId) emit("conversation-changed", { c });
}

export function moveFocus(delta) {
  if (!state.order.length) return;
  let i = state.focusIdx;
  if (i < 0) i = Math.max(0, state.order.indexOf(state.currentId));
  else i = Math.min(state.order.length - 1, Math.max(0, i + delta));
  state.focusIdx = i;
  state.focusId = state.order[i];
  renderList();
  const row = $(`#conv-list .conv[data-id="${state.order[i]}"]`);
  if (row) { row.focus(); row.scrollIntoView({ block: "nearest" }); }
}

// ---------- bulk ----------

function toggleSelected(id, on) {
  if (on) state.selected.add(id); else state.selected.delete(id);
  renderList();
}

function renderBulk() {
  const n = state.selected.size;
  $("#bulk").hidden = n === 0;
  $("#bulk-count").textContent = t("bulk.selected", { n });
  const all = $("#bulk-all");
  all.checked = n > 0 && n === state.order.length;
  all.indeterminate = n > 0 && n < state.order.length;
  $("#bulk-assign").hidden = !isAdmin();
  $("#bulk-label").hidden = !state.labels.size;
}

async function bulkLabels(add, remove) {
  const ids = [...state.selected];
  try {
    for (let i = 0; i < ids.length; i += 200) {
      await api("POST", "/api/v1/conversations/labels", { conversation_ids: ids.slice(i, i + 200), add, remove });
    }
    toast(t("bulk.done", { n: ids.length }));
    await refreshSelected(ids);
  } catch (ex) {
    toast(t("bulk.failed", { reason: ex.message }), "error");
  }
}

async function refreshSelected(ids) {
  for (const id of ids) {
    try { upsertConversation(await api("GET", `/api/v1/conversations/${id}`)); } catch { /* gone */ }
  }
  loadCounts();
}

function bulkLabelMenu(anchor) {
  const items = [{ heading: t("bulk.add_label") }];
  for (const l of state.labels.values()) items.push({ label: l.name, node: null, onclick: () => bulkLabels([l.id], []) });
  items.push({ separator: true }, { heading: t("bulk.remove_label") });
  for (const l of state.labels.values()) items.push({ label: l.name, onclick: () => bulkLabels([], [l.id]) });
  popupMenu(anchor, items, { className: "menu-scroll" });
}

function bulkAssignMenu(anchor) {
  const ids = [...state.selected];
  const assign = async (assignee_id) => {
    let failed = 0;
    for (const id of ids) {
      try { upsertConversation(await api("PUT", `/api/v1/conversations/${id}/assignment`, { assignee_id })); } catch { failed++; }
    }
    if (failed) toast(t("bulk.failed", { reason: failed }), "error"); else toast(t("bulk.done", { n: ids.length }));
    loadCounts();
  };
  const items = [...state.agents.values()].map((a) => ({ label: a.name, hint: t(`availability.${a.availability || "offline"}`), onclick: () => assign(a.id) }));
  items.push({ separator: true }, { label: t("assign.unassign"), onclick: () => assign(null) });
  popupMenu(anchor, items, { className: "menu-scroll" });
}

async function bulkResolve() {
  const ids = [...state.selected];
  let failed = 0;
  for (const id of ids) {
    try { upsertConversation(await api("PATCH", `/api/v1/conversations/${id}`, { status: "resolved" })); } catch { failed++; }
  }
  state.selected.clear();
  renderList();
  if (failed) toast(t("bulk.failed", { reason: failed }), "error"); else toast(t("bulk.done", { n: ids.length }));
  loadCounts();
}

// ---------- filter options ----------

export function renderFilterOptions() {
  const sel = $("#filter-label");
  const keep = sel.value;
  sel.replaceChildren(h("option", { value: "", text: t("filters.label") }),
    ...[...state.labels.values()].map((l) => h("option", { value: String(l.id), text: l.name })));
  sel.value = keep;
  sel.hidden = state.labels.size === 0 && !state.filters.label_id;
  const asel = $("#filter-assignee");
  const akeep = asel.value;
  asel.replaceChildren(h("option", { value: "", text: t("filters.assignee") }),
    ...[...state.agents.values()].map((a) => h("option", { value: String(a.id), text: a.name })));
  asel.value = akeep;
  asel.hidden = !isAdmin() || state.agents.size < 2;
}

export function setAccounts(items) {
  const sel = $("#filter-account");
  sel.replaceChildren(h("option", { value: "", text: t("filters.account") }),
    ...items.map((a) => h("option", { value: String(a.id), "data-state": a.state || null,
      // Accounts needing re-authorization are flagged wherever they show.
      text: `${a.name} · ${t(`platform.${a.platform}`, {}, a.platform)}${a.state === "needs_reauthorization" ? ` · ⚠ ${t("account.needs_reauth")}` : ""}` })));
  sel.hidden = items.length < 2 && !state.filters.account_id;
}

/** Every 30 s: relative times and waiting times age even when nothing happens. */
export function tick() {
  for (const el of $$(".conv-time[data-t]")) el.textContent = relTime(Number(el.dataset.t));
  for (const el of $$(".waiting[data-since]")) paintWaiting(el);
}

export function wireList() {
  let searchTimer = null;
  $("#search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.filters.q = e.target.value.trim();
      reloadList();
      emit("search", { q: state.filters.q });
    }, 200);
  });
  $("#search").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); state.focusIdx = -1; state.focusId = null; moveFocus(0); }
    if (e.key === "Enter") { e.preventDefault(); emit("search", { q: e.target.value.trim(), now: true }); }
    if (e.key === "Escape") { e.target.value = ""; state.filters.q = ""; reloadList(); emit("search", { q: "" }); }
  });
  for (const b of $$("#views .view")) b.addEventListener("click", () => setView(b.dataset.view));
  $("#views").addEventListener("keydown", (e) => {
    const tabs = $$("#views .view");
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      setView(next.dataset.view);
    }
  });
  for (const [id, key] of [["#filter-account", "account_id"], ["#filter-platform", "platform"], ["#filter-status", "status"], ["#filter-label", "label_id"], ["#filter-assignee", "assignee_id"]]) {
    $(id).addEventListener("change", (e) => {
      state.filters[key] = e.target.value;
      e.target.classList.toggle("active", e.target.value !== "");
      reloadList();
    });
  }
  $("#filter-unread").addEventListener("change", (e) => { state.filters.unread = e.target.checked; reloadList(); });

  $("#conv-scroll").addEventListener("scroll", (e) => {
    const b = e.target;
    if (b.scrollTop + b.clientHeight > b.scrollHeight - 200) loadMore();
  }, { passive: true });
  $("#conv-list").addEventListener("keydown", (e) => {
    if (e.target.closest(".conv-check")) return;
    if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); moveFocus(1); }
    else if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); moveFocus(-1); }
    else if (e.key === "Home") { e.preventDefault(); state.focusIdx = 0; state.focusId = null; moveFocus(0); }
    else if (e.key === "End") { e.preventDefault(); state.focusIdx = state.order.length - 1; state.focusId = null; moveFocus(0); }
    else if (e.key === "x") {
      const row = e.target.closest(".conv");
      if (row) { e.preventDefault(); const id = Number(row.dataset.id); toggleSelected(id, !state.selected.has(id)); $(`#conv-list .conv[data-id="${id}"]`)?.focus(); }
    } else if (e.key === "Enter" || e.key === " ") {
      const row = e.target.closest(".conv");
      if (row) { e.preventDefault(); emit("open", { id: Number(row.dataset.id) }); }
    }
  });

  $("#bulk-all").addEventListener("change", (e) => {
    if (e.target.checked) for (const id of state.order) state.selected.add(id); else state.selected.clear();
    renderList();
  });
  $("#bulk-clear").addEventListener("click", () => { state.selected.clear(); renderList(); });
  $("#bulk-label").addEventListener("click", (e) => { e.stopPropagation(); bulkLabelMenu(e.currentTarget); });
  $("#bulk-assign").addEventListener("click", (e) => { e.stopPropagation(); bulkAssignMenu(e.currentTarget); });
  $("#bulk-resolve").addEventListener("click", bulkResolve);

  on("agents", () => { renderFilterOptions(); renderList(); });
  on("labels", () => { renderFilterOptions(); renderList(); });
  renderViews();
}
