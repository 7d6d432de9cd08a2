// The composer: a reply to the customer or an internal note (备注), with
// `/` for the quick-reply library and `@` to mention a colleague in a
// note; images, cards, retry and recall.

import { api, qs, newKey } from "./api.js";
import { $, h, t, toast, avatar } from "./dom.js";
import { state, on } from "./state.js";
import { renderMessages, refreshConversation, rank } from "./conversation.js";

const composer = { mode: "reply", closed: false, attached: null };
const picker = { kind: null, items: [], idx: 0, start: 0, query: "", gen: 0 };

export const mode = () => composer.mode;

export function setMode(m) {
  composer.mode = m;
  const note = m === "note";
  $("#mode-reply").classList.toggle("active", !note);
  $("#mode-note").classList.toggle("active", note);
  $("#mode-reply").setAttribute("aria-selected", String(!note));
  $("#mode-note").setAttribute("aria-selected", String(note));
  $("#composer").classList.toggle("note", note);
  $(".composer-wrap").classList.toggle("note", note);
  $("#send-text").textContent = note ? t("composer.add_note") : t("composer.send");
  closePicker();
  applyWindow();
}

/** The reply window closes the reply mode only: a note can always be written. */
function applyWindow() {
  const closed = composer.closed && composer.mode === "reply";
  const input = $("#input");
  $("#composer").classList.toggle("disabled", closed);
  input.disabled = closed;
  $("#send").disabled = closed;
  $("#attach").disabled = closed || composer.mode === "note";
  $("#card-button").disabled = closed || composer.mode === "note";
  const narrow = matchMedia("(max-width: 760px)").matches;
  input.placeholder = composer.mode === "note"
    ? t(narrow ? "composer.note_placeholder_short" : "composer.note_placeholder")
    : closed ? t(narrow ? "composer.closed_short" : "composer.closed") : t(narrow ? "composer.placeholder_short" : "composer.placeholder");
}

export function autosize() {
  const ta = $("#input");
  ta.style.height = "auto";
  ta.style.height = `${Math.min(200, ta.scrollHeight)}px`;
}

// ---------- sending ----------

/** Shows the message at once as queued, then hands it to the server. */
export async function sendContent(content, { local = null, preview = null } = {}) {
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
    if (state.currentId !== cid) return toast(t("chat.send_failed_reason", { reason: ex.message }), "error");
    Object.assign(pending, { status: "failed", error_code: ex.code || (ex.status ? `http_${ex.status}` : "network"), error_text: ex.message, retryLocal: () => sendContent(content, { local: { key, localId }, preview }) });
    renderMessages({ stick: "bottom" });
    if (ex.code === "reply_window_closed") refreshConversation(cid);
  }
}

/** A private note: never sent to the customer. */
async function sendNote(text) {
  const cid = state.currentId;
  if (cid === null) return;
  const localId = `local-${newKey()}`;
  const pending = { local: localId, key: localId, id: null, conversation_id: cid, direction: "note", status: "note", author_id: state.me?.user_id, author_name: state.me?.name, content: { type: "text", text }, created_at: new Date().toISOString() };
  state.msgs.set(localId, pending);
  renderMessages({ stick: "bottom" });
  try {
    const m = await api("POST", `/api/v1/conversations/${cid}/notes`, { text });
    state.msgs.delete(localId);
    if (state.currentId === cid) { state.msgs.set(String(m.id), m); renderMessages({ stick: "bottom" }); }
  } catch (ex) {
    Object.assign(pending, { status: "failed", error_text: t(`error.${ex.code}`, {}, t("note.failed", { reason: ex.message })) });
    if (state.currentId === cid) renderMessages({ stick: "bottom" });
  }
}

async function send() {
  const input = $("#input");
  const text = input.value;
  if (input.disabled) return;
  const attached = composer.attached;
  if (!text.trim() && !attached) return;
  input.value = "";
  setAttached(null);
  autosize();
  if (composer.mode === "note") return sendNote(text);
  if (attached) await sendContent(attached);
  if (text.trim()) await sendContent({ type: "text", text });
}

async function retry(m) {
  if (m.retryLocal) { state.msgs.delete(m.local); return m.retryLocal(); }
  try {
    const fresh = await api("POST", `/api/v1/messages/${m.id}/retry`);
    state.msgs.set(String(fresh.id), fresh);
    renderMessages();
  } catch (ex) {
    toast(t("chat.retry_failed", { reason: ex.message }), "error");
  }
}

async function recall(m) {
  try {
    await api("POST", `/api/v1/messages/${m.id}/recall`);
  } catch (ex) {
    toast(ex.code === "invalid_state" ? t("chat.cannot_recall") : t("chat.recall_failed", { reason: ex.message }), "error");
  }
}

async function sendImage(file) {
  if (!file || state.currentId === null || $("#input").disabled || composer.mode === "note") return;
  if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type)) return toast(t("composer.image_types"), "error");
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
      Object.assign(m, { status: "failed", uploading: false, error_code: ex.code || "upload_failed", error_text: t("composer.upload_failed", { reason: ex.message }), retryLocal: () => sendImage(file) });
      if (state.currentId === cid) renderMessages();
    }
  }
}

/** A quick reply's image or card rides along with the text, shown as a chip. */
function setAttached(content) {
  composer.attached = content;
  $("#attached")?.remove();
  if (!content) return;
  const label = content.type === "image" ? t("content.image") : t(`content.${content.type}`, {}, content.type);
  $("#composer").before(h("div", { id: "attached", class: "attached" },
    h("span", { text: t("composer.attached", { what: label }) }),
    h("button", { class: "chip-x", type: "button", "aria-label": t("common.remove"), text: "×", onclick: () => setAttached(null) })));
}

// ---------- the picker: `/` quick replies, `@` mentions ----------

function caretContext() {
  const ta = $("#input");
  const before = ta.value.slice(0, ta.selectionStart);
  const slash = before.match(/(^|\s)\/([^\s/]{0,30})$/);
  if (slash) return { kind: "reply", query: slash[2], start: before.length - slash[2].length - 1 };
  if (composer.mode === "note") {
    const at = before.match(/(^|\s)@([^\s@]{0,30})$/);
    if (at) return { kind: "mention", query: at[2], start: before.length - at[2].length - 1 };
  }
  return null;
}

async function updatePicker() {
  const ctx = caretContext();
  if (!ctx) return closePicker();
  Object.assign(picker, { kind: ctx.kind, start: ctx.start, query: ctx.query });
  const gen = ++picker.gen;
  if (ctx.kind === "mention") {
    const q = ctx.query.toLowerCase();
    picker.items = [...state.agents.values()].filter((a) => a.id !== state.me?.user_id && a.name.toLowerCase().includes(q)).slice(0, 8);
    picker.idx = 0;
    return renderPicker();
  }
  try {
    const res = await api("GET", `/api/v1/quick-replies${qs({ q: ctx.query })}`);
    if (gen !== picker.gen) return;
    const items = Array.isArray(res) ? res : res.items || [];
    const q = ctx.query.toLowerCase();
    // The server searches; the shortcut typed exactly comes first.
    picker.items = items.sort((a, b) => (b.shortcut?.toLowerCase() === q) - (a.shortcut?.toLowerCase() === q)).slice(0, 20);
  } catch {
    if (gen !== picker.gen) return;
    picker.items = [];
  }
  picker.idx = 0;
  renderPicker();
}

function renderPicker() {
  const box = $("#picker");
  if (!picker.kind) { box.hidden = true; return; }
  const head = h("div", { class: "picker-head", text: picker.kind === "reply" ? t("quick.picker_title") : t("mention.picker_title") });
  const rows = picker.items.map((it, i) => {
    const active = i === picker.idx;
    const row = picker.kind === "reply"
      ? h("div", { class: `picker-item ${active ? "active" : ""}`, role: "option", "aria-selected": String(active), "data-id": String(it.id), onmousedown: (e) => { e.preventDefault(); picker.idx = i; pick(); } },
        h("div", { class: "picker-top" },
          h("strong", { text: it.title }),
          it.shortcut ? h("span", { class: "shortcut", text: `/${it.shortcut}` }) : null,
          it.folder ? h("span", { class: "tag", text: it.folder }) : null,
          it.owner_user_id || it.scope === "personal" ? h("span", { class: "tag personal", text: t("quick.personal") }) : null),
        h("div", { class: "picker-text", text: it.text }))
      : h("div", { class: `picker-item mention-item ${active ? "active" : ""}`, role: "option", "aria-selected": String(active), "data-id": String(it.id), onmousedown: (e) => { e.preventDefault(); picker.idx = i; pick(); } },
        avatar(it.name, null, { size: "avatar-xxs" }), h("strong", { text: it.name }), h("span", { class: `presence ${it.availability || "offline"}`, text: t(`availability.${it.availability || "offline"}`) }));
    return row;
  });
  if (!rows.length) rows.push(h("div", { class: "picker-empty", text: picker.kind === "reply" ? t("quick.none") : t("mention.none") }));
  box.replaceChildren(head, ...rows, h("div", { class: "picker-foot", text: t("picker.keys") }));
  box.hidden = false;
  box.querySelector(".picker-item.active")?.scrollIntoView({ block: "nearest" });
}

export function closePicker() {
  picker.kind = null;
  picker.items = [];
  picker.gen++;
  $("#picker").hidden = true;
}

function replaceRange(text) {
  const ta = $("#input");
  const end = ta.selectionStart;
  ta.value = ta.value.slice(0, picker.start) + text + ta.value.slice(end);
  const caret = picker.start + text.length;
  ta.setSelectionRange(caret, caret);
  autosize();
}

async function pick() {
  const it = picker.items[picker.idx];
  if (!it) return;
  const kind = picker.kind;
  if (kind === "mention") {
    replaceRange(`@${it.name} `);
    closePicker();
    return;
  }
  const start = picker.start;
  closePicker();
  picker.start = start;
  let filled = { text: it.text, content: it.content || null };
  try {
    filled = await api("POST", `/api/v1/quick-replies/${it.id}/render`, { conversation_id: state.currentId });
  } catch (ex) {
    toast(t("quick.render_failed", { reason: ex.message }), "error");
  }
  replaceRange(filled.text || "");
  if (filled.content && filled.content.type && filled.content.type !== "text") setAttached(filled.content);
  $("#input").focus();
}

function pickerKeys(e) {
  if (!picker.kind) return false;
  if (e.key === "ArrowDown") { picker.idx = Math.min(picker.items.length - 1, picker.idx + 1); renderPicker(); }
  else if (e.key === "ArrowUp") { picker.idx = Math.max(0, picker.idx - 1); renderPicker(); }
  else if ((e.key === "Enter" || e.key === "Tab") && !e.isComposing && e.keyCode !== 229) { if (!picker.items.length) return false; pick(); }
  else if (e.key === "Escape") closePicker();
  else return false;
  e.preventDefault();
  return true;
}

export function wireComposer() {
  const input = $("#input");
  input.addEventListener("keydown", (e) => {
    if (pickerKeys(e)) return;
    // Never send while an IME is composing (Chinese input confirms with Enter).
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  input.addEventListener("input", () => { autosize(); updatePicker(); });
  input.addEventListener("click", updatePicker);
  // A blur closes the picker only when the focus stays away (a click on
  // the picker itself or a driver's refocus must not).
  input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== input) closePicker(); }, 150));
  input.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) { e.preventDefault(); sendImage(file); }
  });
  $("#composer").addEventListener("submit", (e) => { e.preventDefault(); send(); });
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
  $("#mode-reply").addEventListener("click", () => { setMode("reply"); input.focus(); });
  $("#mode-note").addEventListener("click", () => { setMode("note"); input.focus(); });
  // Alt+N switches between reply and note from the keyboard.
  document.addEventListener("keydown", (e) => {
    if (e.altKey && (e.key === "n" || e.key === "N") && !$("#chat").hidden) { e.preventDefault(); setMode(composer.mode === "note" ? "reply" : "note"); input.focus(); }
  });
  on("window", ({ closed }) => { composer.closed = closed; applyWindow(); });
  on("opened", ({ id }) => { if (composer.openFor !== id) { composer.openFor = id; setMode("reply"); setAttached(null); } });
  on("retry", ({ m }) => retry(m));
  on("recall", ({ m }) => recall(m));
  matchMedia("(max-width: 760px)").addEventListener("change", applyWindow);
  applyWindow();
}
