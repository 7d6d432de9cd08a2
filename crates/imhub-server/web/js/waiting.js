// The 等待回复 view: customers waiting for a human reply, longest wait
// first (GET /api/v1/waiting), each with a live "已等 2:40" ticking every
// second, the warning colour past the workspace's warning threshold and
// the breach colour past the reply-time target. The queue is re-read on
// live events (a turn opening or closing emits conversation.updated).

import { api, qs } from "./api.js";
import { $, $$, h, t, avatar, fullTime, parseTime } from "./dom.js";
import { state, emit, on, agentName, myId } from "./state.js";
import { useStyles, clockDuration } from "./pages.js";

const queue = { open: false, items: [], fetchedAt: 0, counting: true, warnMs: 120000, targetMs: 180000, gen: 0 };
let reloadTimer = null;

/** Whether the 等待回复 view is showing (the other list views are hidden then). */
export const waitingOpen = () => queue.open;

/** The queue as last read: items with their counted wait. */
export const waitingItems = () => queue.items;

/** The counted wait of an item now: the server's count plus the time since, while the window counts. */
export function waitedNow(item) {
  return item.waited_ms + (queue.counting ? Date.now() - queue.fetchedAt : 0);
}

export function level(ms) {
  if (ms > queue.targetMs) return "breach";
  if (ms >= queue.warnMs) return "warning";
  return "ok";
}

async function load() {
  if (!state.me) return;
  const gen = ++queue.gen;
  try {
    const res = await api("GET", `/api/v1/waiting${qs({ account_id: state.filters.account_id, limit: 200 })}`);
    if (gen !== queue.gen) return;
    queue.items = res.items;
    // The waits were counted at the server's `now`, moments ago: taken as ours.
    queue.fetchedAt = Date.now();
    queue.counting = res.counting_now;
    queue.warnMs = res.warning_seconds * 1000;
    queue.targetMs = res.target_seconds * 1000;
    renderCount();
    if (queue.open) render();
  } catch (ex) {
    if (queue.open && gen === queue.gen) $("#waiting-list").replaceChildren(h("li", { class: "list-empty", text: t("common.load_failed", { reason: ex.message }) }));
  }
}

/** Re-reads the queue soon (many live events, one request). */
export function reloadWaiting() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(load, 250);
}

function renderCount() {
  const n = queue.items.length;
  const el = $("#waiting-count");
  el.textContent = n ? (n > 99 ? "99+" : String(n)) : "";
  el.classList.toggle("hot", queue.items.some((i) => level(waitedNow(i)) === "breach"));
}

function render() {
  const list = $("#waiting-list");
  if (!queue.items.length) {
    list.replaceChildren(h("li", { class: "list-empty", text: t("waiting.empty") }));
    return;
  }
  list.replaceChildren(...queue.items.map((it) => {
    const name = agentName(it.assignee_id);
    return h("li", {
      class: `conv waiting-row ${it.id === state.currentId ? "active" : ""}`, role: "option", tabindex: "0", "data-id": String(it.id),
      onclick: () => emit("open", { id: it.id }),
      onkeydown: (e) => { if (e.key === "Enter") emit("open", { id: it.id }); },
    },
    avatar(it.title, it.avatar, { platform: it.platform }),
    h("div", { class: "conv-body" },
      h("div", { class: "conv-top" }, h("span", { class: "conv-name", text: it.title }),
        h("span", { class: "wait-clock", "data-id": String(it.id), title: t("waiting.since", { time: fullTime(parseTime(it.waiting_since)) }) })),
      h("div", { class: "conv-bottom" }, h("span", { class: "conv-preview", text: it.last_message_preview || "" })),
      h("div", { class: "conv-meta" }, h("span", { class: `assignee ${it.assignee_id ? (it.assignee_id === myId() ? "mine" : "") : "none"}`, text: it.assignee_id ? (it.assignee_id === myId() ? t("assign.me") : name) : t("assign.unassigned") }))));
  }));
  paint();
}

/** Every second: the clocks tick and change colour. */
function paint() {
  const byId = new Map(queue.items.map((i) => [String(i.id), i]));
  for (const el of $$("#waiting-list .wait-clock")) {
    const it = byId.get(el.dataset.id);
    if (!it) continue;
    const ms = waitedNow(it);
    const lv = level(ms);
    el.textContent = t("waiting.waited", { d: clockDuration(ms) });
    el.dataset.level = lv;
    el.closest(".waiting-row").dataset.level = lv;
  }
  if (queue.items.length) renderCount();
}

function show(open) {
  queue.open = open;
  $("#waiting-tab").classList.toggle("on", open);
  $("#waiting-tab").setAttribute("aria-selected", String(open));
  $("#views").classList.toggle("waiting-on", open);
  $("#waiting-list").hidden = !open;
  $("#conv-list").hidden = open;
  $("#conv-more").hidden = open;
  if (open) { render(); load(); }
}

export function wireWaiting() {
  useStyles();
  const tab = h("button", { id: "waiting-tab", class: "view waiting-tab", type: "button", role: "tab", "aria-selected": "false", title: t("waiting.title"),
    onclick: (e) => { e.stopPropagation(); show(true); } },
  h("span", { text: t("waiting.tab") }), h("b", { id: "waiting-count", class: "wcount" }), h("b", { class: "count", hidden: true }));
  $("#views").append(tab);
  // Another view's tab closes the queue (list.js then shows its own view).
  $("#views").addEventListener("click", (e) => { const b = e.target.closest(".view"); if (b && b !== tab && queue.open) show(false); }, true);
  $("#conv-list").after(h("ul", { id: "waiting-list", class: "conv-list waiting-list", role: "listbox", "aria-label": t("waiting.title"), hidden: true }));
  on("live", (ev) => {
    if (["message.created", "conversation.updated", "conversation.assigned", "conversation.status_changed"].includes(ev.type)) reloadWaiting();
  });
  on("opened", () => { if (queue.open) render(); });
  setInterval(paint, 1000);
  setInterval(load, 30000);
  // Signed in: the team is loaded first, then the queue.
  on("agents", () => { if (!queue.items.length) reloadWaiting(); });
}
