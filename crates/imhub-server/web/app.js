// imhub web inbox: plain ES module, no build step, no framework.
//
// State lives in one object; the chat list and the open conversation are
// rendered from it. The server is the source of truth: live events over SSE
// carry only ids, and the inbox fetches what changed.

const $ = (sel, root = document) => root.querySelector(sel);

const PLATFORM = {
  douyin: { name: "抖音", short: "抖" },
  tencent: { name: "腾讯 IM", short: "腾" },
  meituan: { name: "美团", short: "美" },
  custom: { name: "自有渠道", short: "自" },
};
const STATUS = { open: "进行中", pending: "待跟进", resolved: "已解决" };
const PAGE = 30;

const state = {
  me: null,
  accounts: new Map(),
  filters: { account_id: "", platform: "", status: "", unread: false, q: "" },
  conv: new Map(), // id -> ConversationView
  order: [], // conversation ids, newest activity first
  nextCursor: null,
  listLoading: false,
  listGen: 0, // bumps when the filters change, so stale pages are dropped
  focusIdx: -1,
  currentId: null,
  msgs: new Map(), // id (or local key) -> Message
  msgCursor: null,
  msgLoading: false,
  msgGen: 0,
  events: null,
  eventsRetry: 0,
  wasDisconnected: false,
};

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body instanceof Blob) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "无法连接服务器");
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    if (res.status === 401 && path !== "/api/v1/session") onSignedOut();
    throw new ApiError(res.status, data && data.code, (data && data.detail) || text);
  }
  return data;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined && v !== false) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

// ---------- small helpers ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    // CSSOM, not a style attribute: the Content-Security-Policy allows no inline styles.
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function svg(path, viewBox = "0 0 24 24") {
  const t = document.createElement("template");
  t.innerHTML = `<svg viewBox="${viewBox}" aria-hidden="true">${path}</svg>`;
  return t.content.firstChild;
}
const ICON = {
  clock: '<circle cx="12" cy="12" r="8"/><path d="M12 8v4l2.5 2"/>',
  check: '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
  checks: '<path d="m2.5 12.5 4.5 4.5L16.5 7.5"/><path d="m11 16 1 1L21.5 7.5"/>',
  alert: '<circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.01"/>',
  group: '<circle cx="9" cy="9" r="3.2"/><path d="M3.5 19c.6-3 2.8-4.6 5.5-4.6s4.9 1.6 5.5 4.6"/><circle cx="17" cy="10" r="2.4"/><path d="M16 14.6c2.3.1 3.8 1.5 4.4 4.4"/>',
  person: '<circle cx="12" cy="9" r="3.6"/><path d="M5 20c.8-3.6 3.6-5.6 7-5.6s6.2 2 7 5.6"/>',
  lead: '<rect x="4" y="3.5" width="16" height="17" rx="3"/><path d="M8 8.5h8M8 12.5h8M8 16.5h5"/>',
  mini: '<circle cx="8.5" cy="15.5" r="3.5"/><circle cx="15.5" cy="8.5" r="3.5"/><path d="M12 15.5V8.5"/>',
  bag: '<path d="M5 8h14l-1 12H6z"/><path d="M9 8a3 3 0 0 1 6 0"/>',
  receipt: '<path d="M6 3.5h12v17l-3-2-3 2-3-2-3 2z"/><path d="M9 8.5h6M9 12.5h6"/>',
  puzzle: '<path d="M10 4h4v3a2 2 0 1 0 4 0V4h2v16H4V4h2v3a2 2 0 1 0 4 0z"/>',
  pin: '<path d="M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21z"/><circle cx="12" cy="9.5" r="2.5"/>',
  play: '<path d="M8 5v14l11-7z"/>',
  pause: '<path d="M7 5h4v14H7zM13 5h4v14h-4z"/>',
  lock: '<rect x="5" y="10.5" width="14" height="10" rx="2.5"/><path d="M8 10.5V8a4 4 0 0 1 8 0v2.5"/>',
  timer: '<circle cx="12" cy="13" r="8"/><path d="M12 9v4M9.5 2.5h5"/>',
};

function toast(message, kind = "") {
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 6000 : 3500);
}

function hashHue(s) {
  let x = 0;
  for (const ch of String(s)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % 360;
}

/** An avatar: the image when there is one, else the name's first character on a stable colour. */
function avatar(name, url, { group = false, platform = null, size = "" } = {}) {
  const el = h("span", { class: `avatar ${size} ${group ? "group" : ""}`.trim() });
  el.style.background = `hsl(${hashHue(name || "?")} 52% 62%)`;
  const first = [...(name || "").trim()][0];
  if (group) el.append(svg(ICON.group));
  else if (!first || name === "匿名") el.append(svg(ICON.person));
  else el.append(first.toUpperCase());
  if (safeUrl(url)) {
    const img = h("img", { alt: "", loading: "lazy", decoding: "async", referrerpolicy: "no-referrer" });
    img.addEventListener("error", () => img.remove());
    img.src = safeUrl(url);
    el.append(img);
  }
  if (platform) el.append(h("span", { class: `platform-dot ${platform}`, title: PLATFORM[platform]?.name || platform, text: PLATFORM[platform]?.short || "?" }));
  return el;
}

function platformBadge(p) {
  return h("span", { class: `platform ${p}`, text: PLATFORM[p]?.name || p });
}

function parseTime(s) {
  const t = Date.parse(s);
  return Number.isNaN(t) ? Date.now() : t;
}
const pad = (n) => String(n).padStart(2, "0");
function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}
function clock(t) {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
/** Chat-list time: 刚刚, N 分钟前, 14:05, 昨天, 周三, 3/14, 2023/3/14. */
function relTime(t) {
  const now = new Date();
  const d = new Date(t);
  const diff = (now - d) / 1000;
  if (diff < 60) return "刚刚";
  if (diff < 3600) return `${Math.floor(diff / 60)} 分钟前`;
  if (sameDay(d, now)) return clock(t);
  const y = new Date(now); y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return "昨天";
  if (diff < 6 * 86400) return "周" + "日一二三四五六"[d.getDay()];
  if (d.getFullYear() === now.getFullYear()) return `${d.getMonth() + 1}/${d.getDate()}`;
  return `${d.getFullYear()}/${d.getMonth() + 1}/${d.getDate()}`;
}
function dayLabel(t) {
  const now = new Date();
  const d = new Date(t);
  if (sameDay(d, now)) return "今天";
  const y = new Date(now); y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return "昨天";
  const wd = "周" + "日一二三四五六"[d.getDay()];
  return d.getFullYear() === now.getFullYear() ? `${d.getMonth() + 1}月${d.getDate()}日 ${wd}` : `${d.getFullYear()}年${d.getMonth() + 1}月${d.getDate()}日`;
}
function fullTime(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(t)}`;
}

// ---------- session ----------

async function boot() {
  wireStatic();
  try {
    state.me = await api("GET", "/api/v1/session");
    await enterApp();
  } catch {
    showLogin();
  } finally {
    $("#boot").hidden = true;
  }
}

function showLogin() {
  closeEvents();
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-email").focus();
}

function onSignedOut() {
  if (!state.me) return;
  state.me = null;
  resetData();
  showLogin();
  toast("登录已过期，请重新登录");
}

function resetData() {
  state.conv.clear();
  state.order = [];
  state.nextCursor = null;
  state.currentId = null;
  state.msgs.clear();
  $("#conv-list").replaceChildren();
  showEmpty();
}

async function login(e) {
  e.preventDefault();
  const email = $("#login-email").value.trim();
  const password = $("#login-password").value;
  const err = $("#login-error");
  if (!email || !password) {
    err.textContent = "请输入邮箱和密码";
    err.hidden = false;
    return;
  }
  const btn = $("#login-submit");
  btn.disabled = true;
  err.hidden = true;
  try {
    state.me = await api("POST", "/api/v1/session", { email, password });
    $("#login-password").value = "";
    await enterApp();
  } catch (ex) {
    err.textContent = ex.code === "invalid_credentials" ? "邮箱或密码不正确" : `登录失败：${ex.message}`;
    err.hidden = false;
    $("#login-password").select();
  } finally {
    btn.disabled = false;
  }
}

async function logout() {
  $("#me-menu").hidden = true;
  try { await api("DELETE", "/api/v1/session"); } catch { /* signed out either way */ }
  state.me = null;
  resetData();
  showLogin();
}

async function enterApp() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  const me = state.me || {};
  const name = me.name || me.email || "客服";
  $("#me-avatar").replaceWith(Object.assign(avatar(name, null, { size: "avatar-sm" }), { id: "me-avatar" }));
  $("#me-name").textContent = name;
  $("#me-email").textContent = me.email || "";
  try {
    const accounts = await api("GET", "/api/v1/accounts");
    state.accounts = new Map(accounts.items.map((a) => [a.id, a]));
    const sel = $("#filter-account");
    sel.replaceChildren(h("option", { value: "", text: "账号" }),
      ...accounts.items.map((a) => h("option", { value: String(a.id), text: `${a.name} · ${PLATFORM[a.platform]?.name || a.platform}` })));
    sel.hidden = accounts.items.length < 2 && !state.filters.account_id;
  } catch { /* the list still works without account names */ }
  openEvents();
  await reloadList();
  const fromHash = Number(location.hash.match(/^#c(\d+)$/)?.[1]);
  if (fromHash) openConversation(fromHash, { fromHash: true });
}

// ---------- chat list ----------

function matchesFilters(c) {
  const f = state.filters;
  if (f.account_id && String(c.account_id) !== f.account_id) return false;
  if (f.platform && c.platform !== f.platform) return false;
  if (f.status && c.status !== f.status) return false;
  if (f.unread && c.unread_count === 0 && c.id !== state.currentId) return false;
  if (f.q && !c.title.toLowerCase().includes(f.q.toLowerCase())) return false;
  return true;
}

function sortOrder() {
  state.order.sort((a, b) => {
    const ca = state.conv.get(a), cb = state.conv.get(b);
    return parseTime(cb.last_activity_at) - parseTime(ca.last_activity_at) || b - a;
  });
}

async function reloadList() {
  const gen = ++state.listGen;
  state.nextCursor = null;
  state.listLoading = true;
  $("#conv-more").textContent = "加载中…";
  try {
    const f = state.filters;
    const page = await api("GET", `/api/v1/conversations${qs({ ...f, limit: PAGE })}`);
    if (gen !== state.listGen) return;
    state.conv.clear();
    state.order = [];
    for (const c of page.items) { state.conv.set(c.id, c); state.order.push(c.id); }
    // Keep the open conversation's row even when a new filter hides it? No:
    // the list shows exactly what the filters say; the detail stays open.
    state.nextCursor = page.next_cursor || null;
    renderList();
  } catch (ex) {
    if (gen === state.listGen) $("#conv-more").textContent = `加载失败：${ex.message}`;
  } finally {
    if (gen === state.listGen) state.listLoading = false;
    fillList();
  }
}

async function loadMore() {
  if (state.listLoading || !state.nextCursor) return;
  const gen = state.listGen;
  state.listLoading = true;
  $("#conv-more").textContent = "加载中…";
  try {
    const page = await api("GET", `/api/v1/conversations${qs({ ...state.filters, cursor: state.nextCursor, limit: PAGE })}`);
    if (gen !== state.listGen) return;
    for (const c of page.items) {
      if (!state.conv.has(c.id)) state.order.push(c.id);
      state.conv.set(c.id, c);
    }
    state.nextCursor = page.next_cursor || null;
    renderList();
  } catch (ex) {
    $("#conv-more").textContent = `加载失败：${ex.message}`;
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

function renderList() {
  sortOrder();
  const list = $("#conv-list");
  const rows = state.order.map((id, i) => convRow(state.conv.get(id), i));
  list.replaceChildren(...rows);
  if (!rows.length) {
    const filtered = Object.values(state.filters).some(Boolean);
    list.append(h("li", { class: "list-empty", text: filtered ? "没有符合筛选条件的会话" : "还没有会话。客户发来的消息会实时出现在这里。" }));
  }
  $("#conv-more").textContent = state.nextCursor ? "" : rows.length > 8 ? "没有更多了" : "";
}

function convRow(c, i) {
  // The open conversation is being read right now (it is marked read on
  // open and on each live message), so its badge would only flicker.
  const unread = c.unread_count > 0 && !(c.id === state.currentId && !document.hidden);
  const classes = ["conv", unread && "unread", c.id === state.currentId && "active", i === state.focusIdx && "focused"].filter(Boolean).join(" ");
  const group = c.kind === "group";
  const row = h("li", {
    class: classes, role: "option", tabindex: i === Math.max(state.focusIdx, 0) ? "0" : "-1",
    "data-id": String(c.id), "data-platform": c.platform, "aria-selected": String(c.id === state.currentId),
    onclick: () => openConversation(c.id),
  },
  avatar(c.title, c.avatar, { group, platform: c.platform }),
  h("div", { class: "conv-body" },
    h("div", { class: "conv-top" },
      h("span", { class: "conv-name", title: c.title }, c.title,
        group ? h("span", { class: "tag group", text: "群" }) : null,
        c.status !== "open" ? h("span", { class: `tag status-${c.status}`, text: STATUS[c.status] }) : null),
      h("time", { class: "conv-time", datetime: c.last_activity_at, title: fullTime(parseTime(c.last_activity_at)), "data-t": String(parseTime(c.last_activity_at)), text: relTime(parseTime(c.last_activity_at)) })),
    h("div", { class: "conv-bottom" },
      h("span", { class: "conv-preview", text: c.last_message_preview || "" }),
      unread ? h("span", { class: "unread-badge", "aria-label": `${c.unread_count} 条未读`, text: c.unread_count > 99 ? "99+" : String(c.unread_count) }) : null)));
  return row;
}

function upsertConversation(c) {
  const had = state.conv.has(c.id);
  if (!matchesFilters(c)) {
    if (had) { state.conv.delete(c.id); state.order = state.order.filter((x) => x !== c.id); }
  } else {
    state.conv.set(c.id, c);
    if (!had) state.order.push(c.id);
  }
  renderList();
  if (c.id === state.currentId) renderChatHead(c);
}

function moveFocus(delta) {
  if (!state.order.length) return;
  let i = state.focusIdx;
  if (i < 0) i = Math.max(0, state.order.indexOf(state.currentId));
  else i = Math.min(state.order.length - 1, Math.max(0, i + delta));
  state.focusIdx = i;
  renderList();
  const row = $(`#conv-list .conv[data-id="${state.order[i]}"]`);
  if (row) { row.focus(); row.scrollIntoView({ block: "nearest" }); }
}

// ---------- conversation ----------

function showEmpty() {
  $("#chat").hidden = true;
  $("#empty").hidden = false;
  $("#app").classList.remove("show-detail");
}

async function openConversation(id, { fromHash = false } = {}) {
  const gen = ++state.msgGen;
  state.currentId = id;
  state.msgs.clear();
  state.msgCursor = null;
  state.msgLoading = true;
  state.focusIdx = state.order.indexOf(id);
  if (!fromHash) history.replaceState(null, "", `#c${id}`);
  $("#empty").hidden = true;
  $("#chat").hidden = false;
  $("#app").classList.add("show-detail");
  $("#message-list").replaceChildren();
  $("#older").textContent = "";
  let c = state.conv.get(id);
  if (c) renderChatHead(c);
  renderList();
  try {
    const [page, fresh] = await Promise.all([
      api("GET", `/api/v1/conversations/${id}/messages${qs({ limit: PAGE })}`),
      c && c.unread_count === 0 ? Promise.resolve(c) : api("POST", `/api/v1/conversations/${id}/read`),
    ]);
    if (gen !== state.msgGen) return;
    c = fresh;
    state.conv.has(id) ? upsertConversation(c) : renderChatHead(c);
    for (const m of page.items) state.msgs.set(String(m.id), m);
    state.msgCursor = page.next_cursor || null;
    renderMessages({ stick: "bottom" });
    if (matchMedia("(min-width: 761px)").matches) $("#input").focus({ preventScroll: true });
  } catch (ex) {
    if (gen === state.msgGen) {
      if (ex.status === 404) { showEmpty(); state.currentId = null; renderList(); }
      toast(`无法打开会话：${ex.message}`, "error");
    }
  } finally {
    if (gen === state.msgGen) { state.msgLoading = false; fillMessages(); }
  }
}

function renderChatHead(c) {
  const group = c.kind === "group";
  $("#chat-avatar").replaceWith(Object.assign(avatar(c.title, c.avatar, { group }), { id: "chat-avatar" }));
  $("#chat-name").textContent = c.title;
  const acct = state.accounts.get(c.account_id);
  $("#chat-sub").replaceChildren(...[platformBadge(c.platform),
    group ? h("span", { class: "tag group", text: "群聊" }) : null,
    acct ? h("span", { text: `经由 ${acct.name}` }) : null].filter(Boolean));
  $("#chat-status").value = c.status;
  $("#card-button").hidden = c.platform !== "douyin";
  renderWindow(c);
}

/** Shows the platform's reply window before the agent types: closing soon, or closed. */
function renderWindow(c) {
  const banner = $("#window-banner");
  const composer = $("#composer");
  const input = $("#input");
  const deadline = c.reply_deadline ? parseTime(c.reply_deadline) : null;
  const left = deadline === null ? Infinity : deadline - Date.now();
  const closed = left <= 0;
  composer.classList.toggle("disabled", closed);
  input.disabled = closed;
  $("#send").disabled = closed;
  $("#attach").disabled = closed;
  $("#card-button").disabled = closed;
  const narrow = matchMedia("(max-width: 760px)").matches;
  input.placeholder = closed ? (narrow ? "回复窗口已关闭" : "回复窗口已关闭，客户再次发消息后才能回复") : narrow ? "输入消息…" : "输入消息，Enter 发送，Shift+Enter 换行";
  if (closed) {
    banner.className = "window-banner closed";
    banner.replaceChildren(svg(ICON.lock), h("span", { text: `${PLATFORM[c.platform]?.name || c.platform} 的回复窗口已于 ${fullTime(deadline)} 关闭。客户再次发消息后才能回复。` }));
    banner.hidden = false;
  } else if (left < 3 * 3600 * 1000) {
    const mins = Math.max(1, Math.round(left / 60000));
    banner.className = "window-banner";
    banner.replaceChildren(svg(ICON.timer), h("span", { text: `回复窗口将在 ${mins >= 60 ? `${Math.floor(mins / 60)} 小时 ${mins % 60} 分钟` : `${mins} 分钟`}后关闭（${clock(deadline)}）` }));
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function sortedMessages() {
  return [...state.msgs.values()].sort((a, b) => parseTime(a.created_at) - parseTime(b.created_at) || (a.id || 0) - (b.id || 0));
}

function renderMessages({ stick = "auto" } = {}) {
  const box = $("#messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  const prevHeight = box.scrollHeight;
  const prevTop = box.scrollTop;
  const c = state.conv.get(state.currentId);
  const group = c ? c.kind === "group" : false;
  const out = [];
  let lastDay = null;
  const all = sortedMessages();
  // Consecutive messages from one sender within a few minutes form a run:
  // one avatar and name at its start, one time at its end.
  const joins = (a, b) => a && b && a.direction === b.direction && a.sender_name === b.sender_name &&
    a.status !== "recalled" && b.status !== "recalled" &&
    new Date(parseTime(a.created_at)).toDateString() === new Date(parseTime(b.created_at)).toDateString() &&
    parseTime(b.created_at) - parseTime(a.created_at) < 5 * 60000;
  all.forEach((m, i) => {
    const t = parseTime(m.created_at);
    const day = new Date(t).toDateString();
    if (day !== lastDay) { out.push(h("div", { class: "day", text: dayLabel(t) })); lastDay = day; }
    const follow = joins(all[i - 1], m);
    const quiet = ["in", "sent", "delivered", "read"].includes(m.direction === "in" ? "in" : m.status);
    const mid = quiet && joins(m, all[i + 1]);
    out.push(renderMessage(m, { group, follow, mid, c }));
  });
  $("#message-list").replaceChildren(...out);
  $("#older").textContent = state.msgCursor ? "" : state.msgs.size > 12 ? "没有更早的消息了" : "";
  if (stick === "bottom" || (stick === "auto" && nearBottom)) box.scrollTop = box.scrollHeight;
  else if (stick === "keep-top") box.scrollTop = prevTop + (box.scrollHeight - prevHeight);
}

function renderMessage(m, { group, follow, mid, c }) {
  const key = m.local || String(m.id);
  if (m.status === "recalled") {
    const who = m.direction === "out" ? "你" : m.sender_name || (c ? c.title : "对方");
    return h("div", { class: "notice msg-recalled", "data-id": key, "data-status": "recalled", text: `${who}撤回了一条消息` });
  }
  const el = h("div", { class: `msg ${m.direction} ${follow ? "follow" : ""} ${mid ? "mid" : ""}`, "data-id": key, "data-status": m.status, "data-kind": m.content.type });
  if (m.direction === "in") {
    const who = group ? m.sender_name || "群成员" : c ? c.title : "";
    el.append(avatar(who, group ? null : c && c.avatar, { size: "avatar-xs" }));
  }
  const col = h("div", { class: "msg-col" });
  if (group && m.direction === "in" && !follow) col.append(h("div", { class: "sender", text: m.sender_name || "群成员" }));
  col.append(renderContent(m));
  const meta = h("div", { class: "meta" }, h("time", { datetime: m.created_at, title: fullTime(parseTime(m.created_at)), text: clock(parseTime(m.created_at)) }));
  if (m.direction === "out") {
    meta.append(statusLabel(m));
    if (["sent", "delivered", "read"].includes(m.status) && m.id) {
      meta.append(h("span", { class: "msg-actions" }, h("button", { class: "link-btn recall", type: "button", text: "撤回", onclick: () => recall(m) })));
    }
  }
  col.append(meta);
  if (m.status === "failed") {
    col.append(h("div", { class: "error-line", role: "alert" },
      h("span", { class: "reason", text: m.error_text || "发送失败" }),
      m.error_code ? h("span", { class: "code", text: m.error_code }) : null,
      h("button", { class: "retry", type: "button", text: "重试", onclick: () => retry(m) })));
  }
  el.append(col);
  return el;
}

function statusLabel(m) {
  const map = {
    queued: [ICON.clock, "发送中"], sending: [ICON.clock, "发送中"], sent: [ICON.check, "已发送"],
    delivered: [ICON.checks, "已送达"], read: [ICON.checks, "已读"], failed: [ICON.alert, "发送失败"],
  };
  const [icon, label] = map[m.status] || [ICON.clock, m.status];
  return h("span", { class: `state ${m.status}`, title: label }, svg(icon), h("span", { text: label }));
}

// ---------- content ----------

const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\u200d|\ufe0f|\u20e3|\s)+$/u;
const HAS_EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;

/** Only web and local object URLs: a customer's content must never run script (`javascript:`). */
function safeUrl(u) {
  if (!u) return null;
  try {
    const url = new URL(u, location.href);
    return ["http:", "https:", "blob:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function renderContent(m) {
  const x = m.content || {};
  const bare = (node) => h("div", { class: "bubble bare" }, node);
  switch (x.type) {
    case "text": {
      const jumbo = EMOJI_ONLY.test(x.text) && HAS_EMOJI.test(x.text) && [...x.text.trim()].length <= 6;
      return h("div", { class: "bubble" }, h("div", { class: `text ${jumbo ? "jumbo" : ""}`, text: x.text }));
    }
    case "image": return bare(imageBox(x, m));
    case "emoji":
      return safeUrl(x.url) ? bare(imageBox({ url: x.url, width: 120, height: 120 }, m, 120)) : h("div", { class: "bubble" }, h("div", { class: "text", text: /^\[.*\]$/.test(x.code) ? x.code : `[${x.code}]` }));
    case "video": {
      const box = h("div", { class: "media video" });
      if (safeUrl(x.url)) box.append(h("video", { src: safeUrl(x.url), poster: safeUrl(x.cover_url), controls: true, preload: "metadata", playsinline: true }));
      else {
        // Only the platform's media id: show the cover (if any) and what it is.
        if (safeUrl(x.cover_url)) box.append(h("img", { src: safeUrl(x.cover_url), alt: "视频封面", loading: "lazy" }));
        box.append(h("span", { class: "play-overlay" }, svg(ICON.play)), h("span", { class: "video-label", text: "视频" }));
      }
      if (x.duration_secs) box.append(h("span", { class: "duration", text: mmss(x.duration_secs) }));
      return bare(box);
    }
    case "voice": return h("div", { class: "bubble" }, voice(x));
    case "location": {
      const href = `https://uri.amap.com/marker?position=${x.longitude},${x.latitude}&name=${encodeURIComponent(x.title || "")}`;
      return bare(h("a", { class: "card location", href, target: "_blank", rel: "noopener noreferrer", style: "text-decoration:none;display:block" },
        h("span", { class: "map", "aria-hidden": "true" }),
        h("div", { class: "card-body" }, h("div", { class: "card-title", text: x.title || "位置" }), h("div", { class: "card-sub", text: `${x.latitude.toFixed(5)}, ${x.longitude.toFixed(5)}` }))));
    }
    case "file":
      return bare(h("a", { class: "card file-card", href: safeUrl(x.url), target: "_blank", rel: "noopener noreferrer", download: x.name || "" },
        h("span", { class: "file-icon", text: (x.name || "").split(".").pop().slice(0, 4).toUpperCase() || "FILE" }),
        h("div", {}, h("div", { class: "card-title", text: x.name || "文件" }), h("div", { class: "card-sub", text: x.size ? bytes(x.size) : "" }))));
    case "lead_card":
      return bare(card("lead", ICON.lead, "留资卡片", x.title || "填写联系方式，我们尽快联系您", `卡片 ${x.card_id}`));
    case "mini_program_card": {
      const el = card("mini", ICON.mini, "小程序", x.title || "小程序", [x.app_id, x.path].filter(Boolean).join(" · ") || `卡片 ${x.card_id}`);
      if (safeUrl(x.cover_url)) el.querySelector(".card-head").after(h("img", { class: "card-cover", src: safeUrl(x.cover_url), alt: "", loading: "lazy" }));
      return bare(el);
    }
    case "goods_card": {
      const el = card("goods", ICON.bag, "商品", `${(x.product_codes || []).length} 件商品`, null);
      el.querySelector(".card-body").append(h("div", { class: "chips" }, (x.product_codes || []).map((p) => h("span", { class: "chip", text: p }))));
      return bare(el);
    }
    case "order_card":
      return bare(card("order", ICON.receipt, "订单", x.title || "订单咨询", `订单号 ${x.order_id}`));
    case "custom": {
      const el = card("custom", ICON.puzzle, "自定义消息", x.description || "自定义消息", null);
      el.querySelector(".card-body").append(h("details", {}, h("summary", { text: "查看数据" }), h("pre", { text: JSON.stringify(x.data, null, 2) })));
      return bare(el);
    }
    default:
      return h("div", { class: "bubble" }, h("div", { class: "text", text: `[${x.type || "未知消息"}]` }));
  }
}

function card(kind, icon, label, title, sub) {
  return h("div", { class: `card ${kind}` },
    h("div", { class: "card-head" }, svg(icon), h("span", { text: label })),
    h("div", { class: "card-body" }, h("div", { class: "card-title", text: title }), sub ? h("div", { class: "card-sub", text: sub }) : null));
}

/** An image in a box sized before it loads (from width/height when known), opening a larger view. */
function imageBox(x, m, maxW = 240) {
  // Tiny pictures are shown at a readable size; large ones at most maxW wide.
  const w = x.width && x.height ? Math.max(Math.min(120, maxW), Math.min(maxW, x.width)) : maxW;
  const ratio = x.width && x.height ? Math.min(2.5, Math.max(0.4, x.width / x.height)) : 4 / 3;
  const box = h("button", { class: `media ${m.uploading ? "uploading" : ""}`, type: "button", "aria-label": "查看大图", style: `width:${w}px;aspect-ratio:${ratio}` });
  const src = safeUrl(x.url) || "";
  if (src) {
    const img = h("img", { alt: "图片", loading: "lazy", decoding: "async" });
    img.addEventListener("error", () => { img.remove(); box.classList.add("broken"); });
    img.src = src;
    box.append(img);
    box.addEventListener("click", () => openLightbox(src));
  } else {
    box.classList.add("broken");
  }
  return box;
}

function voice(x) {
  const secs = x.duration_secs || 0;
  const wrap = h("div", { class: "voice", style: `width:${Math.min(260, 120 + secs * 4)}px` });
  const btn = h("button", { class: "play", type: "button", "aria-label": "播放语音" }, svg(ICON.play));
  wrap.append(btn, h("span", { class: "wave" }), h("span", { text: `${secs}″` }));
  if (safeUrl(x.url)) {
    let audio = null;
    btn.addEventListener("click", () => {
      if (!audio) {
        audio = new Audio(safeUrl(x.url));
        audio.addEventListener("ended", () => btn.replaceChildren(svg(ICON.play)));
        audio.addEventListener("error", () => { toast("语音无法播放", "error"); btn.replaceChildren(svg(ICON.play)); });
      }
      if (audio.paused) { audio.play().catch(() => {}); btn.replaceChildren(svg(ICON.pause)); }
      else { audio.pause(); btn.replaceChildren(svg(ICON.play)); }
    });
  } else {
    btn.disabled = true;
  }
  return wrap;
}

const mmss = (s) => `${Math.floor(s / 60)}:${pad(s % 60)}`;
function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function openLightbox(src) {
  $("#lightbox-img").src = safeUrl(src) || "";
  $("#lightbox").showModal();
}

// ---------- older messages ----------

async function loadOlder() {
  if (state.msgLoading || !state.msgCursor || state.currentId === null) return;
  const gen = state.msgGen;
  state.msgLoading = true;
  $("#older").textContent = "加载更早的消息…";
  try {
    const page = await api("GET", `/api/v1/conversations/${state.currentId}/messages${qs({ before: state.msgCursor, limit: PAGE })}`);
    if (gen !== state.msgGen) return;
    for (const m of page.items) if (!state.msgs.has(String(m.id))) state.msgs.set(String(m.id), m);
    state.msgCursor = page.next_cursor || null;
    renderMessages({ stick: "keep-top" });
  } catch (ex) {
    $("#older").textContent = `加载失败：${ex.message}`;
  } finally {
    if (gen === state.msgGen) { state.msgLoading = false; fillMessages(); }
  }
}

function fillMessages() {
  const box = $("#messages");
  if (state.msgCursor && box.scrollHeight <= box.clientHeight + 40) loadOlder();
}

// ---------- sending ----------

function currentConv() {
  return state.currentId === null ? null : state.conv.get(state.currentId);
}

/** Shows the message at once as queued, then hands it to the server. */
async function sendContent(content, { local = null, preview = null } = {}) {
  const cid = state.currentId;
  if (cid === null) return;
  const key = local?.key || newKey();
  const localId = local?.localId || `local-${key}`;
  const pending = {
    local: localId, key, id: null, conversation_id: cid, direction: "out", status: "queued",
    content: preview || content, created_at: new Date().toISOString(),
  };
  state.msgs.set(localId, pending);
  renderMessages({ stick: "bottom" });
  try {
    const m = await api("POST", `/api/v1/conversations/${cid}/messages`, { content }, { "idempotency-key": key });
    state.msgs.delete(localId);
    // A live update may already have brought a newer status.
    const known = state.msgs.get(String(m.id));
    if (state.currentId === cid) {
      state.msgs.set(String(m.id), known && rank(known.status) > rank(m.status) ? known : m);
      renderMessages({ stick: "bottom" });
      refreshConversation(cid);
    }
  } catch (ex) {
    if (state.currentId !== cid) return toast(`发送失败：${ex.message}`, "error");
    Object.assign(pending, { status: "failed", error_code: ex.code || (ex.status ? `http_${ex.status}` : "network"), error_text: ex.message, retryLocal: () => sendContent(content, { local: { key, localId }, preview }) });
    renderMessages({ stick: "bottom" });
    if (ex.code === "reply_window_closed") refreshConversation(cid);
  }
}

const RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, failed: 5, recalled: 5 };
const rank = (s) => RANK[s] ?? 0;

async function sendText() {
  const input = $("#input");
  const text = input.value;
  if (!text.trim() || input.disabled) return;
  input.value = "";
  autosize();
  await sendContent({ type: "text", text });
}

async function retry(m) {
  if (m.retryLocal) { state.msgs.delete(m.local); return m.retryLocal(); }
  try {
    const fresh = await api("POST", `/api/v1/messages/${m.id}/retry`);
    state.msgs.set(String(fresh.id), fresh);
    renderMessages();
  } catch (ex) {
    toast(`重试失败：${ex.message}`, "error");
  }
}

async function recall(m) {
  try {
    await api("POST", `/api/v1/messages/${m.id}/recall`);
  } catch (ex) {
    toast(ex.code === "invalid_state" ? "这条消息不能撤回" : `撤回失败：${ex.message}`, "error");
  }
}

async function sendImage(file) {
  if (!file || state.currentId === null || $("#input").disabled) return;
  if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type)) return toast("只能发送 PNG、JPEG、GIF 或 WebP 图片", "error");
  const localUrl = URL.createObjectURL(file);
  const dims = await new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => resolve({});
    img.src = localUrl;
  });
  const key = newKey();
  const localId = `local-${key}`;
  const cid = state.currentId;
  state.msgs.set(localId, {
    local: localId, key, id: null, conversation_id: cid, direction: "out", status: "queued", uploading: true,
    content: { type: "image", url: localUrl, ...dims }, created_at: new Date().toISOString(),
  });
  renderMessages({ stick: "bottom" });
  try {
    const up = await api("POST", "/api/v1/media", file, { "content-type": file.type });
    state.msgs.delete(localId);
    await sendContent({ type: "image", url: up.url, ...dims }, { local: { key, localId } });
  } catch (ex) {
    const m = state.msgs.get(localId);
    if (m) {
      Object.assign(m, { status: "failed", uploading: false, error_code: ex.code || "upload_failed", error_text: `上传失败：${ex.message}`, retryLocal: () => sendImage(file) });
      if (state.currentId === cid) renderMessages();
    }
  }
}

// ---------- live events ----------

function setLive(s) {
  const el = $("#live");
  el.dataset.state = s;
  $("#live-text").textContent = { live: "在线", connecting: "连接中", offline: "连接中断，正在重连…" }[s];
  el.title = s === "live" ? "实时更新已连接" : "实时更新未连接";
}

function closeEvents() {
  if (state.events) { state.events.close(); state.events = null; }
  clearTimeout(state.eventsTimer);
}

/**
 * EventSource retries by itself after a dropped connection, but gives up
 * for good when a reconnect gets an HTTP error (a restarting server, a
 * proxy's 502). Then we reconnect ourselves, with backoff, and after any
 * gap we reload, because events sent while we were away are gone.
 */
function openEvents() {
  closeEvents();
  setLive(state.wasDisconnected ? "offline" : "connecting");
  const es = new EventSource("/api/v1/events");
  state.events = es;
  es.addEventListener("ready", () => {
    state.eventsRetry = 0;
    setLive("live");
    if (state.wasDisconnected) {
      state.wasDisconnected = false;
      catchUp();
    }
  });
  for (const kind of ["message.created", "message.updated", "conversation.updated"]) {
    es.addEventListener(kind, (e) => {
      try { onLive(JSON.parse(e.data)); } catch { /* ignore a malformed event */ }
    });
  }
  es.onerror = () => {
    if (state.events !== es) return;
    state.wasDisconnected = true;
    setLive("offline");
    if (es.readyState === EventSource.CLOSED) {
      const delay = Math.min(15000, 500 * 2 ** state.eventsRetry++);
      state.eventsTimer = setTimeout(async () => {
        if (state.events !== es || !state.me) return;
        try { await api("GET", "/api/v1/session"); } catch (ex) { if (ex.status === 401) return; }
        openEvents();
      }, delay);
    }
  };
}

async function catchUp() {
  await reloadList();
  if (state.currentId !== null) {
    const cid = state.currentId;
    try {
      const page = await api("GET", `/api/v1/conversations/${cid}/messages${qs({ limit: PAGE })}`);
      if (state.currentId !== cid) return;
      for (const m of page.items) state.msgs.set(String(m.id), m);
      renderMessages();
    } catch { /* the next event will try again */ }
  }
}

const pendingConv = new Set();
let convTimer = null;
function refreshConversation(id) {
  pendingConv.add(id);
  if (convTimer) return;
  // Coalesce the burst of events one message causes into one fetch per conversation.
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
function markReadSoon(id) {
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    if (state.currentId !== id || document.hidden) return;
    try { upsertConversation(await api("POST", `/api/v1/conversations/${id}/read`)); } catch { /* next open will */ }
  }, 80);
}

async function onLive(ev) {
  const cid = ev.conversation_id;
  if (ev.type === "conversation.updated") return refreshConversation(cid);
  refreshConversation(cid);
  if (cid !== state.currentId || !ev.message_id) return;
  try {
    const m = await api("GET", `/api/v1/messages/${ev.message_id}`);
    if (state.currentId !== cid) return;
    const known = state.msgs.get(String(m.id));
    if (known && rank(known.status) > rank(m.status)) return;
    // Drop the local placeholder once the server's copy arrives.
    for (const [k, v] of state.msgs) if (v.local && v.id === null && v.key && m.direction === "out" && JSON.stringify(v.content) === JSON.stringify(m.content) && v.status !== "failed") { state.msgs.delete(k); break; }
    state.msgs.set(String(m.id), m);
    renderMessages();
    if (m.direction === "in" && !known) markReadSoon(cid);
  } catch { /* the message may be gone; ignore */ }
}

// ---------- wiring ----------

function autosize() {
  const t = $("#input");
  t.style.height = "auto";
  t.style.height = `${Math.min(200, t.scrollHeight)}px`;
}

function wireStatic() {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#me-button").addEventListener("click", (e) => {
    e.stopPropagation();
    const menu = $("#me-menu");
    menu.hidden = !menu.hidden;
    $("#me-button").setAttribute("aria-expanded", String(!menu.hidden));
  });
  document.addEventListener("click", (e) => { if (!e.target.closest(".me")) $("#me-menu").hidden = true; });

  let searchTimer = null;
  $("#search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.filters.q = e.target.value.trim(); reloadList(); }, 200);
  });
  $("#search").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); state.focusIdx = -1; moveFocus(0); }
    if (e.key === "Escape") { e.target.value = ""; state.filters.q = ""; reloadList(); }
  });
  for (const [id, key] of [["#filter-account", "account_id"], ["#filter-platform", "platform"], ["#filter-status", "status"]]) {
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
    if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); moveFocus(1); }
    else if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); moveFocus(-1); }
    else if (e.key === "Home") { e.preventDefault(); state.focusIdx = 0; moveFocus(0); }
    else if (e.key === "End") { e.preventDefault(); state.focusIdx = state.order.length - 1; moveFocus(0); }
    else if (e.key === "Enter" || e.key === " ") {
      const row = e.target.closest(".conv");
      if (row) { e.preventDefault(); openConversation(Number(row.dataset.id)); }
    }
  });
  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest("input, textarea, select");
    if (e.key === "/" && !typing && !$("#app").hidden) { e.preventDefault(); $("#search").focus(); }
    if (e.key === "Escape" && !typing && $("#app").classList.contains("show-detail")) back();
  });

  $("#messages").addEventListener("scroll", (e) => { if (e.target.scrollTop < 120) loadOlder(); }, { passive: true });

  const input = $("#input");
  input.addEventListener("keydown", (e) => {
    // Never send while an IME is composing (Chinese input confirms with Enter).
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendText();
    }
  });
  input.addEventListener("input", autosize);
  input.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) { e.preventDefault(); sendImage(file); }
  });
  $("#composer").addEventListener("submit", (e) => { e.preventDefault(); sendText(); });
  $("#composer").addEventListener("dragover", (e) => { e.preventDefault(); e.currentTarget.classList.add("dragging"); });
  $("#composer").addEventListener("dragleave", (e) => e.currentTarget.classList.remove("dragging"));
  $("#composer").addEventListener("drop", (e) => {
    e.preventDefault();
    e.currentTarget.classList.remove("dragging");
    const file = [...(e.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) sendImage(file);
  });
  $("#attach").addEventListener("click", () => $("#file").click());
  $("#file").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    e.target.value = "";
    sendImage(file);
  });
  $("#card-button").addEventListener("click", () => { $("#card-form").reset(); $("#card-dialog").showModal(); });
  $("#card-dialog").addEventListener("close", () => {
    const d = $("#card-dialog");
    if (d.returnValue !== "send") return;
    const card_id = $("#card-id").value.trim();
    const title = $("#card-title").value.trim() || undefined;
    if (card_id) sendContent({ type: $("#card-kind").value, card_id, title });
  });

  $("#chat-status").addEventListener("change", async (e) => {
    const id = state.currentId;
    try { upsertConversation(await api("PATCH", `/api/v1/conversations/${id}`, { status: e.target.value })); }
    catch (ex) { toast(`无法更新状态：${ex.message}`, "error"); }
  });
  $("#back").addEventListener("click", back);

  const lb = $("#lightbox");
  lb.addEventListener("click", () => lb.close());

  // Relative times and reply windows age even when nothing happens.
  setInterval(() => {
    for (const t of document.querySelectorAll(".conv-time[data-t]")) t.textContent = relTime(Number(t.dataset.t));
    const c = currentConv();
    if (c) renderWindow(c);
  }, 30000);
  matchMedia("(max-width: 760px)").addEventListener("change", () => {
    const c = currentConv();
    if (c) renderWindow(c);
  });
  document.addEventListener("visibilitychange", () => {
    const c = currentConv();
    if (!document.hidden && c && c.unread_count > 0) markReadSoon(c.id);
  });
}

function back() {
  $("#app").classList.remove("show-detail");
  const row = $(`#conv-list .conv[data-id="${state.currentId}"]`);
  if (row) row.focus();
}

boot();
