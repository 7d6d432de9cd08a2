// Full-text search: across the workspace from the list's search box
// (message hits under the matching chats, with highlighted snippets), and
// inside the open conversation (step through hits, jump to each).

import { api, qs } from "./api.js";
import { $, h, t, snippetNodes, relTime, parseTime, fullTime, platformBadge, toast } from "./dom.js";
import { state, emit, on } from "./state.js";
import { jumpTo } from "./conversation.js";

const ws = { q: "", cursor: null, gen: 0, loading: false, timer: null };

async function searchWorkspace(q, { more = false } = {}) {
  const box = $("#search-results");
  if (!q) { box.hidden = true; ws.q = ""; ws.gen++; return; }
  if (!more) { ws.q = q; ws.cursor = null; }
  const gen = more ? ws.gen : ++ws.gen;
  ws.loading = true;
  $("#search-more").textContent = t("common.loading");
  box.hidden = false;
  try {
    const page = await api("GET", `/api/v1/search${qs({ q, internal: true, limit: 20, cursor: more ? ws.cursor : "" })}`);
    if (gen !== ws.gen) return;
    const rows = page.items.map(resultRow);
    if (more) $("#search-list").append(...rows); else $("#search-list").replaceChildren(...rows);
    ws.cursor = page.next_cursor || null;
    const n = $("#search-list").children.length;
    $("#search-count").textContent = n ? String(n) + (ws.cursor ? "+" : "") : "";
    $("#search-more").replaceChildren(ws.cursor
      ? h("button", { class: "link-btn", type: "button", text: t("search.more"), onclick: () => searchWorkspace(ws.q, { more: true }) })
      : document.createTextNode(n ? "" : t("search.none")));
  } catch (ex) {
    if (gen !== ws.gen) return;
    $("#search-list").replaceChildren();
    $("#search-count").textContent = "";
    $("#search-more").textContent = ex.code === "query_too_long" ? t("error.query_too_long") : t("search.failed", { reason: ex.message });
  } finally {
    if (gen === ws.gen) ws.loading = false;
  }
}

function resultRow(r) {
  const at = parseTime(r.created_at);
  return h("li", {},
    h("button", {
      class: `result ${r.direction === "note" ? "note" : ""}`, type: "button", "data-conversation": String(r.conversation_id), "data-message": String(r.message_id),
      onclick: () => emit("open", { id: r.conversation_id, at: r.message_id }),
    },
    h("div", { class: "result-top" },
      h("strong", { class: "result-title", text: r.conversation_title || `#${r.conversation_id}` }),
      r.platform ? platformBadge(r.platform) : null,
      r.direction === "note" ? h("span", { class: "tag note-tag", text: t("note.label") }) : null,
      h("time", { title: fullTime(at), text: relTime(at) })),
    h("div", { class: "snippet" }, snippetNodes(r.snippet))));
}

// ---------- inside one conversation ----------

const inConv = { hits: [], idx: -1, gen: 0, timer: null };

function openConvSearch() {
  $("#conv-search").hidden = false;
  $("#conv-search-input").focus();
  $("#conv-search-input").select();
}

function closeConvSearch() {
  $("#conv-search").hidden = true;
  $("#conv-search-input").value = "";
  inConv.hits = [];
  inConv.idx = -1;
  $("#conv-search-count").textContent = "";
  for (const el of document.querySelectorAll("#message-list .hit")) el.classList.remove("hit");
}

async function searchConversation(q) {
  const gen = ++inConv.gen;
  inConv.q = q;
  if (!q) { inConv.hits = []; inConv.idx = -1; $("#conv-search-count").textContent = ""; return; }
  try {
    const page = await api("GET", `/api/v1/search${qs({ q, conversation_id: state.currentId, internal: true, limit: 100 })}`);
    if (gen !== inConv.gen) return;
    inConv.hits = page.items.map((r) => r.message_id);
    inConv.idx = inConv.hits.length ? 0 : -1;
    paintCount();
    if (inConv.hits.length) await jumpTo(inConv.hits[0]);
  } catch (ex) {
    if (gen !== inConv.gen) return;
    $("#conv-search-count").textContent = "";
    toast(t("search.failed", { reason: ex.message }), "error");
  }
}

function paintCount() {
  $("#conv-search-count").textContent = inConv.hits.length ? t("search.position", { i: inConv.idx + 1, n: inConv.hits.length }) : t("search.none_short");
}

/** Hits are newest first: "next" goes back in time (↓ / Enter), "prev" forward (↑ / Shift+Enter). */
function step(delta) {
  if (!inConv.hits.length) return;
  inConv.idx = (inConv.idx + delta + inConv.hits.length) % inConv.hits.length;
  paintCount();
  jumpTo(inConv.hits[inConv.idx]);
}

export function wireSearch() {
  on("search", ({ q, now }) => {
    clearTimeout(ws.timer);
    if (now || !q) return searchWorkspace(q);
    ws.timer = setTimeout(() => searchWorkspace(q), 250);
  });
  $("#conv-search-toggle").addEventListener("click", () => ($("#conv-search").hidden ? openConvSearch() : closeConvSearch()));
  $("#conv-search-close").addEventListener("click", closeConvSearch);
  $("#conv-search-next").addEventListener("click", () => step(1));
  $("#conv-search-prev").addEventListener("click", () => step(-1));
  $("#conv-search-input").addEventListener("input", (e) => {
    clearTimeout(inConv.timer);
    inConv.timer = setTimeout(() => searchConversation(e.target.value.trim()), 250);
  });
  $("#conv-search-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); const q = e.target.value.trim(); clearTimeout(inConv.timer); if (q === inConv.q && inConv.hits.length) step(e.shiftKey ? -1 : 1); else searchConversation(q); }
    else if (e.key === "ArrowDown") { e.preventDefault(); step(1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); step(-1); }
    else if (e.key === "Escape") { e.preventDefault(); closeConvSearch(); $("#input").focus(); }
  });
  document.addEventListener("keydown", (e) => {
    // Ctrl/⌘+F inside an open conversation searches it.
    if ((e.ctrlKey || e.metaKey) && e.key === "f" && !$("#chat").hidden) { e.preventDefault(); openConvSearch(); }
  });
  on("opened", ({ id }) => { if (inConv.forId !== id) { inConv.forId = id; closeConvSearch(); } });
}
