// The open conversation: its header (assignee, status, labels), the
// timeline of messages, notes and activity lines, older pages, live
// updates, and jumping to one message (from a search).

import { api, qs } from "./api.js";
import { $, $$, h, t, svg, ICON, avatar, platformBadge, platformName, labelChip, toast, parseTime, clock, dayLabel, fullTime, shortTime, popupMenu } from "./dom.js";
import { renderContent } from "./content.js";
import { state, PAGE, emit, on, isAdmin, myId, agentName, currentConv } from "./state.js";
import { upsertConversation, renderList, loadCounts } from "./list.js";

const RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, failed: 5, recalled: 5 };
export const rank = (s) => RANK[s] ?? 0;
const msgPath = (id, extra = {}) => `/api/v1/conversations/${id}/messages${qs({ internal: true, ...extra })}`;

export function showEmpty() {
  $("#chat").hidden = true;
  $("#empty").hidden = false;
  $("#app").classList.remove("show-detail");
  emit("closed");
}

/** Opens a conversation; `at` is a message to scroll to (from a search). */
export async function openConversation(id, { fromHash = false, at = null } = {}) {
  const gen = ++state.msgGen;
  const same = state.currentId === id;
  state.currentId = id;
  if (!same) {
    state.msgs.clear();
    state.msgCursor = null;
  }
  state.msgLoading = true;
  state.focusIdx = state.order.indexOf(id);
  state.focusId = id;
  if (!fromHash) history.replaceState(null, "", `#c${id}`);
  $("#empty").hidden = true;
  $("#chat").hidden = false;
  $("#app").classList.add("show-detail");
  if (!same) { $("#message-list").replaceChildren(); $("#older").textContent = ""; }
  let c = state.conv.get(id);
  state.openConv = c || null;
  if (c) renderChatHead(c);
  renderList();
  emit("opened", { id, c });
  try {
    const [page, fresh] = await Promise.all([
      api("GET", msgPath(id, { limit: PAGE })),
      c && c.unread_count === 0 ? Promise.resolve(c) : api("POST", `/api/v1/conversations/${id}/read`),
    ]);
    if (gen !== state.msgGen) return;
    c = fresh;
    state.openConv = c;
    if (state.conv.has(id)) upsertConversation(c); else renderChatHead(c);
    emit("opened", { id, c });
    for (const m of page.items) state.msgs.set(String(m.id), m);
    state.msgCursor = page.next_cursor || null;
    renderMessages({ stick: "bottom" });
    readMentions(id);
    if (at !== null) await jumpTo(at);
    else if (matchMedia("(min-width: 761px)").matches) $("#input").focus({ preventScroll: true });
  } catch (ex) {
    if (gen === state.msgGen) {
      if (ex.status === 404) { showEmpty(); state.currentId = null; renderList(); }
      toast(t("chat.open_failed", { reason: ex.message }), "error");
    }
  } finally {
    if (gen === state.msgGen) { state.msgLoading = false; if (at === null) fillMessages(); }
  }
}

/** Opening a conversation reads the notes in it that mention me. */
async function readMentions(id) {
  if (!state.counts.mentions || !myId()) return;
  try {
    const page = await api("GET", "/api/v1/mentions?unread=true&limit=200");
    const ids = page.items.filter((m) => m.conversation_id === id).map((m) => m.message_id);
    if (!ids.length) return;
    await api("POST", "/api/v1/mentions/read", { message_ids: ids });
    loadCounts();
  } catch { /* the count stays until the next open */ }
}

/** Loads older pages until `messageId` is in the timeline, then scrolls to it and flashes it. */
export async function jumpTo(messageId) {
  const key = String(messageId);
  const gen = state.msgGen;
  for (let i = 0; i < 40 && !state.msgs.has(key) && state.msgCursor; i++) {
    const page = await api("GET", msgPath(state.currentId, { before: state.msgCursor, limit: 100 }));
    if (gen !== state.msgGen) return;
    for (const m of page.items) if (!state.msgs.has(String(m.id))) state.msgs.set(String(m.id), m);
    state.msgCursor = page.next_cursor || null;
  }
  renderMessages({ stick: "none" });
  const el = $(`#message-list [data-id="${key}"]`);
  if (!el) return toast(t("search.not_in_timeline"), "error");
  for (const old of $$("#message-list .hit")) old.classList.remove("hit");
  el.classList.add("hit");
  el.scrollIntoView({ block: "center" });
}

// ---------- header ----------

export function renderChatHead(c) {
  const group = c.kind === "group";
  $("#chat-avatar").replaceWith(Object.assign(avatar(c.title, c.avatar, { group }), { id: "chat-avatar" }));
  $("#chat-name").textContent = c.title;
  const acct = state.accounts.get(c.account_id);
  $("#chat-sub").replaceChildren(...[platformBadge(c.platform),
    group ? h("span", { class: "tag group", text: t("chat.group") }) : null,
    acct ? h("span", { text: t("chat.via", { account: acct.name }) }) : null,
    acct?.state === "needs_reauthorization" ? h("span", { class: "tag account-state reauth", text: t("account.needs_reauth") }) : null].filter(Boolean));
  $("#card-button").hidden = c.platform !== "douyin";
  renderAssignment(c);
  renderStatus(c);
  renderChatLabels(c);
  renderWindow(c);
}

function renderAssignment(c) {
  const btn = $("#assign-button");
  const name = agentName(c.assignee_id);
  btn.replaceChildren(
    c.assignee_id ? avatar(name, null, { size: "avatar-xxs" }) : svg(ICON.person),
    h("span", { text: c.assignee_id ? (c.assignee_id === myId() ? t("assign.me") : name) : t("assign.unassigned") }),
    svg(ICON.chevron));
  btn.classList.toggle("empty", !c.assignee_id);
  btn.title = c.assignee_id ? t("assign.assigned_to", { name }) : t("assign.assign_to");
  btn.dataset.assignee = c.assignee_id ? String(c.assignee_id) : "";
  $("#take").hidden = !myId() || c.assignee_id === myId();
}

async function assign(assignee_id) {
  const id = state.currentId;
  try {
    const c = await api("PUT", `/api/v1/conversations/${id}/assignment`, { assignee_id });
    upsertConversation(c);
    refreshTimeline();
    loadCounts();
  } catch (ex) {
    toast(assignError(ex), "error");
  }
}

export async function take() {
  const id = state.currentId;
  if (id === null) return;
  try {
    const c = await api("POST", `/api/v1/conversations/${id}/assignment/take`);
    upsertConversation(c);
    refreshTimeline();
    loadCounts();
  } catch (ex) {
    toast(assignError(ex), "error");
  }
}

function assignError(ex) {
  return t(`error.${ex.code}`, {}, t("assign.failed", { reason: ex.message }));
}

function assignMenu(anchor) {
  const c = currentConv();
  if (!c) return;
  const me = myId();
  const items = [];
  if (me && c.assignee_id !== me) items.push({ label: t("assign.take"), icon: ICON.person, onclick: take });
  items.push({ heading: t("assign.assign_to") });
  const agents = [...state.agents.values()].sort((a, b) => (a.availability === "online" ? 0 : 1) - (b.availability === "online" ? 0 : 1));
  for (const a of agents) {
    const allowed = isAdmin() || a.id === me;
    items.push({
      label: a.name, value: String(a.id), checked: a.id === c.assignee_id, disabled: !allowed,
      hint: `${t(`availability.${a.availability || "offline"}`)}${a.open_assigned !== undefined ? ` · ${a.open_assigned}/${a.capacity ?? "∞"}` : ""}`,
      onclick: () => assign(a.id),
    });
  }
  if (c.assignee_id && (isAdmin() || c.assignee_id === me)) items.push({ separator: true }, { label: t("assign.unassign"), danger: true, onclick: () => assign(null) });
  popupMenu(anchor, items, { className: "menu-scroll assign-menu" });
}

const STATUSES = ["open", "pending", "resolved"];

function renderStatus(c) {
  const btn = $("#status-button");
  const text = c.status === "snoozed" && c.snoozed_until ? t("status.snoozed_until_short", { time: shortTime(parseTime(c.snoozed_until)) }) : t(`status.${c.status}`);
  btn.replaceChildren(h("i"), h("span", { text }), svg(ICON.chevron));
  btn.dataset.status = c.status;
}

async function setStatus(status, snoozed_until = undefined) {
  const id = state.currentId;
  try {
    const c = await api("PATCH", `/api/v1/conversations/${id}`, snoozed_until ? { status, snoozed_until } : { status });
    upsertConversation(c);
    refreshTimeline();
    loadCounts();
    if (status === "snoozed") toast(t("status.snoozed_toast", { time: shortTime(parseTime(snoozed_until)) }));
  } catch (ex) {
    toast(t(`error.${ex.code}`, {}, t("status.failed", { reason: ex.message })), "error");
  }
}

/** Snooze choices: in an hour, this evening, tomorrow morning, next Monday, or a time. */
function snoozeChoices() {
  const now = new Date();
  const at = (d, hh, mm = 0) => { const x = new Date(d); x.setHours(hh, mm, 0, 0); return x; };
  const out = [{ key: "status.snooze_1h", at: new Date(now.getTime() + 3600e3) }];
  const evening = at(now, 18);
  if (evening - now > 30 * 60e3) out.push({ key: "status.snooze_evening", at: evening });
  const tomorrow = new Date(now); tomorrow.setDate(now.getDate() + 1);
  out.push({ key: "status.snooze_tomorrow", at: at(tomorrow, 9) });
  const monday = new Date(now); monday.setDate(now.getDate() + ((8 - now.getDay()) % 7 || 7));
  out.push({ key: "status.snooze_monday", at: at(monday, 9) });
  return out;
}

function statusMenu(anchor) {
  const c = currentConv();
  if (!c) return;
  const items = STATUSES.map((s) => ({ label: t(`status.${s}`), value: s, checked: c.status === s, onclick: () => setStatus(s) }));
  items.push({ separator: true }, { heading: t("status.snoozed") });
  for (const s of snoozeChoices()) items.push({ label: t(s.key), value: `snooze-${s.key}`, hint: shortTime(s.at), onclick: () => setStatus("snoozed", s.at.toISOString()) });
  items.push({ label: t("status.snooze_custom"), value: "snooze-custom", onclick: () => {
    const input = $("#snooze-at");
    const d = new Date(Date.now() + 2 * 3600e3);
    input.value = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}T${clock(d)}`;
    $("#snooze-dialog").showModal();
  } });
  popupMenu(anchor, items, { className: "status-menu" });
}

function renderChatLabels(c) {
  const box = $("#chat-labels");
  const labels = (c.labels || []).map((id) => state.labels.get(id)).filter(Boolean);
  box.replaceChildren(...labels.map((l) => labelChip(l, h("button", { class: "chip-x", type: "button", "aria-label": t("labels.remove", { name: l.name }), text: "×", onclick: () => setLabels((c.labels || []).filter((x) => x !== l.id)) }))));
  box.hidden = labels.length === 0;
  $("#label-button").hidden = state.labels.size === 0;
}

async function setLabels(label_ids) {
  const id = state.currentId;
  try {
    const res = await api("PUT", `/api/v1/conversations/${id}/labels`, { label_ids });
    const c = res && res.id === id ? res : await api("GET", `/api/v1/conversations/${id}`);
    upsertConversation(c);
  } catch (ex) {
    toast(t("labels.failed", { reason: ex.message }), "error");
  }
}

function labelMenu(anchor) {
  const c = currentConv();
  if (!c) return;
  const have = new Set(c.labels || []);
  const items = [...state.labels.values()].map((l) => ({
    label: l.name, value: String(l.id), checked: have.has(l.id),
    onclick: () => setLabels(have.has(l.id) ? [...have].filter((x) => x !== l.id) : [...have, l.id]),
  }));
  popupMenu(anchor, items, { className: "menu-scroll label-menu" });
}

/** Shows the platform's reply window before the agent types: closing soon, or closed. */
export function renderWindow(c) {
  const banner = $("#window-banner");
  const deadline = c.reply_deadline ? parseTime(c.reply_deadline) : null;
  const left = deadline === null ? Infinity : deadline - Date.now();
  const closed = left <= 0;
  emit("window", { closed });
  if (closed) {
    banner.className = "window-banner closed";
    banner.replaceChildren(svg(ICON.lock), h("span", { text: t("window.closed", { platform: platformName(c.platform), time: fullTime(deadline) }) }));
    banner.hidden = false;
  } else if (left < 3 * 3600 * 1000) {
    const mins = Math.max(1, Math.round(left / 60000));
    banner.className = "window-banner";
    banner.replaceChildren(svg(ICON.timer), h("span", { text: t("window.closing", { left: mins >= 60 ? t("window.hours_minutes", { h: Math.floor(mins / 60), m: mins % 60 }) : t("window.minutes", { m: mins }), time: clock(deadline) }) }));
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

// ---------- timeline ----------

function sortedMessages() {
  return [...state.msgs.values()].sort((a, b) => parseTime(a.created_at) - parseTime(b.created_at) || (a.id || 0) - (b.id || 0));
}

export function renderMessages({ stick = "auto" } = {}) {
  const box = $("#messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  const prevHeight = box.scrollHeight;
  const prevTop = box.scrollTop;
  const c = currentConv();
  const group = c ? c.kind === "group" : false;
  const out = [];
  let lastDay = null;
  const all = sortedMessages();
  // Consecutive messages from one sender within a few minutes form a run:
  // one avatar and name at its start, one time at its end.
  const joins = (a, b) => a && b && a.direction === b.direction && a.direction !== "activity" && a.direction !== "note" &&
    a.sender_name === b.sender_name && a.status !== "recalled" && b.status !== "recalled" &&
    new Date(parseTime(a.created_at)).toDateString() === new Date(parseTime(b.created_at)).toDateString() &&
    parseTime(b.created_at) - parseTime(a.created_at) < 5 * 60000;
  const hit = $("#message-list .hit")?.dataset.id;
  all.forEach((m, i) => {
    const at = parseTime(m.created_at);
    const day = new Date(at).toDateString();
    if (day !== lastDay) { out.push(h("div", { class: "day", text: dayLabel(at) })); lastDay = day; }
    if (m.direction === "activity") { out.push(renderActivity(m)); return; }
    const follow = joins(all[i - 1], m);
    const quiet = m.direction === "in" || ["sent", "delivered", "read"].includes(m.status);
    const mid = quiet && joins(m, all[i + 1]);
    out.push(m.direction === "note" ? renderNote(m) : renderMessage(m, { group, follow, mid, c }));
  });
  $("#message-list").replaceChildren(...out);
  if (hit) $(`#message-list [data-id="${hit}"]`)?.classList.add("hit");
  $("#older").textContent = state.msgCursor ? "" : state.msgs.size > 12 ? t("chat.no_older") : "";
  if (stick === "bottom" || (stick === "auto" && nearBottom)) box.scrollTop = box.scrollHeight;
  else if (stick === "keep-top") box.scrollTop = prevTop + (box.scrollHeight - prevHeight);
}

function renderMessage(m, { group, follow, mid, c }) {
  const key = m.local || String(m.id);
  if (m.status === "recalled") {
    const who = m.direction === "out" ? t("chat.you") : m.sender_name || (c ? c.title : t("chat.them"));
    return h("div", { class: "notice msg-recalled", "data-id": key, "data-status": "recalled", text: t("chat.recalled", { who }) });
  }
  const el = h("div", { class: `msg ${m.direction} ${follow ? "follow" : ""} ${mid ? "mid" : ""}`, "data-id": key, "data-status": m.status, "data-kind": m.content.type });
  if (m.direction === "in") {
    const who = group ? m.sender_name || t("chat.member") : c ? c.title : "";
    el.append(avatar(who, group ? null : c && c.avatar, { size: "avatar-xs" }));
  }
  const col = h("div", { class: "msg-col" });
  if (group && m.direction === "in" && !follow) col.append(h("div", { class: "sender", text: m.sender_name || t("chat.member") }));
  if (m.direction === "out" && !follow && m.author_id && m.author_id !== myId()) col.append(h("div", { class: "sender", text: m.author_name || agentName(m.author_id) }));
  // Sent by an automation rule: marked 自动回复 (insights.css colours it).
  if (m.sender_kind === "automation") col.append(h("div", { class: "sender auto-sender" }, h("span", { class: "auto-tag", "data-rule-id": m.rule_id ?? "", text: t("auto.tag"), title: t("auto.title") })));
  col.append(renderContent(m));
  const meta = h("div", { class: "meta" }, h("time", { datetime: m.created_at, title: fullTime(parseTime(m.created_at)), text: clock(parseTime(m.created_at)) }));
  if (m.direction === "out") {
    meta.append(statusLabel(m));
    if (["sent", "delivered", "read"].includes(m.status) && m.id) {
      meta.append(h("span", { class: "msg-actions" }, h("button", { class: "link-btn recall", type: "button", text: t("chat.recall"), onclick: () => emit("recall", { m }) })));
    }
  }
  col.append(meta);
  if (m.status === "failed") {
    col.append(h("div", { class: "error-line", role: "alert" },
      h("span", { class: "reason", text: m.error_text || t("chat.send_failed") }),
      m.error_code ? h("span", { class: "code", text: m.error_code }) : null,
      h("button", { class: "retry", type: "button", text: t("chat.retry"), onclick: () => emit("retry", { m }) })));
  }
  el.append(col);
  return el;
}

/** A private note: yellow, labelled 内部备注, with its author and mentions. */
function renderNote(m) {
  const key = m.local || String(m.id);
  const author = m.author_name || agentName(m.author_id) || t("chat.agent");
  const text = m.content?.text ?? "";
  const body = h("div", { class: "text" });
  // Highlight @names of the team (longest first) without parsing HTML.
  const names = [...state.agents.values()].map((a) => a.name).filter(Boolean).sort((a, b) => b.length - a.length);
  let rest = text;
  while (rest) {
    let found = -1, name = null;
    for (const n of names) {
      const i = rest.indexOf(`@${n}`);
      if (i >= 0 && (found < 0 || i < found)) { found = i; name = n; }
    }
    if (found < 0) { body.append(rest); break; }
    body.append(rest.slice(0, found), h("span", { class: "mention", text: `@${name}` }));
    rest = rest.slice(found + name.length + 1);
  }
  return h("div", { class: `msg note ${m.status === "failed" ? "failed" : ""}`, "data-id": key, "data-status": m.status || "note", "data-kind": "note" },
    h("div", { class: "msg-col" },
      h("div", { class: "note-head" }, svg(ICON.note), h("span", { class: "note-label", text: t("note.label") }), h("span", { class: "note-author", text: author })),
      h("div", { class: "bubble note-bubble" }, body),
      h("div", { class: "meta" }, h("time", { datetime: m.created_at, title: fullTime(parseTime(m.created_at)), text: clock(parseTime(m.created_at)) }),
        m.status === "failed" ? h("span", { class: "state failed", text: m.error_text || t("chat.send_failed") }) : null)));
}

const person = (p) => (p && p.name) || (p && p.id ? agentName(p.id) : null);

/** The words of an activity line: "小李 把会话分配给 小王", "系统 分配给 小王", status changes. */
export function activityText(m) {
  const d = m.content?.data || {};
  const by = person(d.by) || t("activity.system");
  switch (d.activity) {
    case "assigned":
      if (!d.to) return t("activity.unassigned", { by });
      if (!d.by) return t("activity.auto_assigned", { to: person(d.to) });
      if (d.by && d.to && d.by.id === d.to.id) return t("activity.took", { by });
      return t("activity.assigned", { by, to: person(d.to) });
    case "status":
      if (d.status === "snoozed" && d.until) return t("activity.snoozed", { by, time: shortTime(parseTime(d.until)) });
      if (d.status === "open" && !d.by) return t("activity.woke");
      return t("activity.status", { by, status: t(`status.${d.status}`, {}, d.status) });
    case "labels":
      return t("activity.labels", { by });
    default:
      return m.content?.description || m.content?.text || t("activity.other");
  }
}

function renderActivity(m) {
  const at = parseTime(m.created_at);
  return h("div", { class: "activity", "data-id": String(m.id), "data-activity": m.content?.data?.activity || "" },
    h("span", { class: "activity-text", text: activityText(m) }),
    h("time", { datetime: m.created_at, title: fullTime(at), text: clock(at) }));
}

function statusLabel(m) {
  const map = {
    queued: [ICON.clock, "state.sending"], sending: [ICON.clock, "state.sending"], sent: [ICON.check, "state.sent"],
    delivered: [ICON.checks, "state.delivered"], read: [ICON.checks, "state.read"], failed: [ICON.alert, "state.failed"],
  };
  const [icon, key] = map[m.status] || [ICON.clock, null];
  const label = key ? t(key) : m.status;
  return h("span", { class: `state ${m.status}`, title: label }, svg(icon), h("span", { text: label }));
}

// ---------- older and newer ----------

async function loadOlder() {
  if (state.msgLoading || !state.msgCursor || state.currentId === null) return;
  const gen = state.msgGen;
  state.msgLoading = true;
  $("#older").textContent = t("chat.loading_older");
  try {
    const page = await api("GET", msgPath(state.currentId, { before: state.msgCursor, limit: PAGE }));
    if (gen !== state.msgGen) return;
    for (const m of page.items) if (!state.msgs.has(String(m.id))) state.msgs.set(String(m.id), m);
    state.msgCursor = page.next_cursor || null;
    renderMessages({ stick: "keep-top" });
  } catch (ex) {
    $("#older").textContent = t("common.load_failed", { reason: ex.message });
  } finally {
    if (gen === state.msgGen) { state.msgLoading = false; fillMessages(); }
  }
}

function fillMessages() {
  const box = $("#messages");
  if (state.msgCursor && box.scrollHeight <= box.clientHeight + 40) loadOlder();
}

let timelineTimer = null;
/** Re-reads the newest page (activity lines arrive without an event of their own). */
export function refreshTimeline() {
  clearTimeout(timelineTimer);
  const cid = state.currentId;
  timelineTimer = setTimeout(async () => {
    if (cid === null || state.currentId !== cid) return;
    try {
      const page = await api("GET", msgPath(cid, { limit: PAGE }));
      if (state.currentId !== cid) return;
      for (const m of page.items) {
        const known = state.msgs.get(String(m.id));
        if (!known || rank(m.status) >= rank(known.status)) state.msgs.set(String(m.id), m);
      }
      renderMessages();
    } catch { /* the next event will try again */ }
  }, 120);
}

const pendingConv = new Set();
let convTimer = null;
/** Re-reads conversations, coalescing the burst of events one message causes. */
export function refreshConversation(id) {
  pendingConv.add(id);
  if (convTimer) return;
  convTimer = setTimeout(async () => {
    convTimer = null;
    const ids = [...pendingConv];
    pendingConv.clear();
    for (const cid of ids) {
      try { upsertConversation(await api("GET", `/api/v1/conversations/${cid}`)); } catch { /* gone or offline */ }
    }
  }, 60);
}

let readTimer = null;
export function markReadSoon(id) {
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    if (state.currentId !== id || document.hidden) return;
    try { upsertConversation(await api("POST", `/api/v1/conversations/${id}/read`)); } catch { /* next open will */ }
  }, 80);
}

/** A live message or note of the open conversation. */
export async function liveMessage(cid, messageId) {
  try {
    const m = await api("GET", `/api/v1/messages/${messageId}?internal=true`);
    if (state.currentId !== cid) return;
    const known = state.msgs.get(String(m.id));
    if (known && rank(known.status) > rank(m.status)) return;
    // Drop the local placeholder once the server's copy arrives.
    for (const [k, v] of state.msgs) {
      if (v.local && v.id === null && v.key && (m.direction === "out" || m.direction === "note") && v.direction === m.direction && JSON.stringify(v.content) === JSON.stringify(m.content) && v.status !== "failed") { state.msgs.delete(k); break; }
    }
    state.msgs.set(String(m.id), m);
    renderMessages();
    if (m.direction === "in" && !known) markReadSoon(cid);
  } catch { /* the message may be gone; ignore */ }
}

export async function catchUpTimeline() {
  if (state.currentId === null) return;
  const cid = state.currentId;
  try {
    const page = await api("GET", msgPath(cid, { limit: PAGE }));
    if (state.currentId !== cid) return;
    for (const m of page.items) state.msgs.set(String(m.id), m);
    renderMessages();
  } catch { /* the next event will try again */ }
}

export function back() {
  $("#app").classList.remove("show-detail");
  const row = $(`#conv-list .conv[data-id="${state.currentId}"]`);
  if (row) row.focus();
}

export function wireConversation() {
  $("#messages").addEventListener("scroll", (e) => { if (e.target.scrollTop < 120) loadOlder(); }, { passive: true });
  $("#back").addEventListener("click", back);
  $("#take").addEventListener("click", take);
  $("#assign-button").addEventListener("click", (e) => { e.stopPropagation(); assignMenu(e.currentTarget); });
  $("#status-button").addEventListener("click", (e) => { e.stopPropagation(); statusMenu(e.currentTarget); });
  $("#label-button").addEventListener("click", (e) => { e.stopPropagation(); labelMenu(e.currentTarget); });
  $("#snooze-dialog").addEventListener("close", () => {
    if ($("#snooze-dialog").returnValue !== "ok") return;
    const at = new Date($("#snooze-at").value);
    if (Number.isNaN(at.getTime())) return;
    if (at <= new Date()) return toast(t("error.snooze_in_past"), "error");
    setStatus("snoozed", at.toISOString());
  });
  // Keys in an open conversation (not while typing): a assign, t take it,
  // s status, l labels; each menu then works with arrows, Enter and Escape.
  document.addEventListener("keydown", (e) => {
    if ($("#chat").hidden || e.ctrlKey || e.metaKey || e.altKey || document.querySelector("dialog[open]")) return;
    if (e.target.closest("input, textarea, select, [contenteditable]") || e.target.closest(".menu.popup")) return;
    const actions = { a: () => assignMenu($("#assign-button")), t: take, s: () => statusMenu($("#status-button")), l: () => !$("#label-button").hidden && labelMenu($("#label-button")) };
    const act = actions[e.key];
    if (act) { e.preventDefault(); act(); }
  });
  on("open", ({ id, at, fromHash }) => openConversation(id, { at: at ?? null, fromHash: !!fromHash }));
  on("conversation-changed", ({ c }) => renderChatHead(c));
  on("agents", () => { const c = currentConv(); if (c) { renderChatHead(c); renderMessages({ stick: "none" }); } });
  on("labels", () => { const c = currentConv(); if (c) renderChatLabels(c); });
}
