// imhub web inbox: plain ES modules, no build step, no framework.
//
// The server is the source of truth: live events over SSE carry only ids,
// and the inbox fetches what changed. This module signs in and out, wires
// the views together, and routes live events to them.

import { api, onSignedOut, LiveStream } from "./api.js";
import { $, t, toast, avatar, closeMenus, popupMenu } from "./dom.js";
import { lang, translatePage } from "./i18n.js";
import { state, on, myId, loadAgents, loadLabels, currentConv, emit } from "./state.js";
import { wireList, reloadList, loadCounts, setAccounts, tick, renderFilterOptions } from "./list.js";
import { wireConversation, showEmpty, refreshConversation, refreshTimeline, liveMessage, catchUpTimeline, renderWindow, back, markReadSoon } from "./conversation.js";
import { wireComposer } from "./composer.js";
import { wireContact } from "./contact.js";
import { wireSearch } from "./search.js";
import { wireSettings, openSettings } from "./settings.js";
import { wireInsights } from "./insights.js";
import { wireTeamConsole } from "./settings/console-team.js";
import { applyProfileLanguage, switchLanguage } from "./settings/profile.js";
import { wireChannelPages } from "./settings/channels.js";

const live = new LiveStream({
  onEvent: (ev) => onLive(ev),
  onState: setLive,
  onCatchUp: catchUp,
  stillSignedIn: () => !!state.me,
});

async function boot() {
  translatePage();
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
  live.close();
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-email").focus();
}

onSignedOut(() => {
  if (!state.me) return;
  state.me = null;
  resetData();
  showLogin();
  toast(t("login.expired"));
});

function resetData() {
  state.conv.clear();
  state.order = [];
  state.nextCursor = null;
  state.currentId = null;
  state.openConv = null;
  state.msgs.clear();
  state.selected.clear();
  $("#conv-list").replaceChildren();
  showEmpty();
}

async function login(e) {
  e.preventDefault();
  const email = $("#login-email").value.trim();
  const password = $("#login-password").value;
  const err = $("#login-error");
  if (!email || !password) {
    err.textContent = t("login.missing");
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
    err.textContent = ex.code === "invalid_credentials" ? t("login.invalid") : t("login.failed", { reason: ex.message });
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
  // The language kept in the profile (else the browser's) wins: reloads when it differs.
  if (applyProfileLanguage(me)) return;
  const name = me.name || me.email || t("chat.agent");
  $("#me-avatar").replaceWith(Object.assign(avatar(name, me.avatar_url || null, { size: "avatar-sm" }), { id: "me-avatar" }));
  $("#me-name").textContent = name;
  $("#me-email").textContent = me.email || "";
  $("#availability").parentElement.hidden = !me.user_id;
  try {
    const accounts = await api("GET", "/api/v1/accounts");
    state.accounts = new Map(accounts.items.map((a) => [a.id, a]));
    setAccounts(accounts.items);
    emit("accounts");
  } catch { /* the list still works without account names */ }
  await Promise.all([loadAgents(), loadLabels()]);
  renderAvailability();
  renderFilterOptions();
  live.open();
  await reloadList();
  const fromHash = Number(location.hash.match(/^#c(\d+)$/)?.[1]);
  if (fromHash) emit("open", { id: fromHash, fromHash: true });
}

// ---------- availability ----------

function myAvailability() {
  return state.agents.get(myId())?.availability || "offline";
}

function renderAvailability() {
  const a = myAvailability();
  const btn = $("#availability");
  btn.dataset.state = a;
  $("#availability-text").textContent = t(`availability.${a}`);
  btn.title = t("availability.title");
  $("#me-avatar").dataset.presence = a;
}

async function setAvailability(availability) {
  try {
    await api("PUT", "/api/v1/session/availability", { availability });
    const me = state.agents.get(myId());
    if (me) me.availability = availability;
    renderAvailability();
    loadAgents();
    loadCounts();
  } catch (ex) {
    toast(t("availability.failed", { reason: ex.message }), "error");
  }
}

function availabilityMenu(anchor) {
  const a = myAvailability();
  popupMenu(anchor, ["online", "away", "offline"].map((s) => ({
    label: t(`availability.${s}`), value: s, checked: a === s, hint: t(`availability.${s}_hint`),
    onclick: () => setAvailability(s),
  })), { className: "availability-menu" });
}

// ---------- live events ----------

function setLive(s) {
  const el = $("#live");
  el.dataset.state = s;
  $("#live-text").textContent = t(`live.${s}`);
  el.title = s === "live" ? t("live.title_on") : t("live.title_off");
}

async function catchUp() {
  await Promise.all([reloadList(), loadAgents()]);
  await catchUpTimeline();
}

function onLive(ev) {
  const cid = ev.conversation_id;
  // The waiting queue and notifications (insights.js) hear every event.
  emit("live", ev);
  switch (ev.type) {
    case "agent.availability_changed":
      loadAgents().then(renderAvailability);
      return;
    case "mention.created":
      loadCounts();
      if (ev.user_id === myId()) toast(t("mention.toast"));
      if (state.view === "mentions") reloadList();
      break;
    case "conversation.assigned":
    case "conversation.status_changed":
    case "conversation.labels_changed":
      loadCounts();
      if (cid === state.currentId) refreshTimeline();
      if (ev.type === "conversation.assigned" && ev.user_id === myId() && cid !== state.currentId) toast(t("assign.assigned_to_you_toast"));
      break;
    case "conversation.updated":
      loadCounts();
      break;
    default:
      break;
  }
  if (cid) refreshConversation(cid);
  if ((ev.type === "message.created" || ev.type === "message.updated" || ev.type === "note.created") && cid === state.currentId && ev.message_id) {
    liveMessage(cid, ev.message_id);
  }
  if (ev.type === "message.created") loadCounts();
}

// ---------- wiring ----------

function wireStatic() {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#me-button").addEventListener("click", (e) => {
    e.stopPropagation();
    closeMenus();
    const menu = $("#me-menu");
    menu.hidden = !menu.hidden;
    $("#me-button").setAttribute("aria-expanded", String(!menu.hidden));
  });
  $("#open-settings").addEventListener("click", () => { $("#me-menu").hidden = true; openSettings(); });
  $("#switch-lang").addEventListener("click", () => switchLanguage(lang() === "en" ? "zh-CN" : "en"));
  $("#availability").addEventListener("click", (e) => { e.stopPropagation(); availabilityMenu(e.currentTarget); });
  document.addEventListener("click", (e) => {
    if (!e.target.closest(".me")) $("#me-menu").hidden = true;
    if (!e.target.closest(".menu.popup")) closeMenus();
  });

  wireList();
  wireConversation();
  wireComposer();
  wireContact();
  wireSearch();
  wireSettings();
  wireInsights();
  wireTeamConsole();
  wireChannelPages();

  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest("input, textarea, select, [contenteditable]");
    if (e.key === "/" && !typing && !$("#app").hidden && !document.querySelector("dialog[open]")) { e.preventDefault(); $("#search").focus(); }
    if (e.key === "Escape" && !typing && document.querySelector(".menu.popup")) { closeMenus(); return; }
    if (e.key === "Escape" && !typing && $("#app").classList.contains("show-detail")) back();
  });

  const lb = $("#lightbox");
  lb.addEventListener("click", () => lb.close());

  // Relative times, waiting times and reply windows age even when nothing happens.
  setInterval(() => {
    tick();
    const c = currentConv();
    if (c) renderWindow(c);
  }, 30000);
  // A snooze ends on the server's clock; the live event brings it back,
  // and this catches up should that event have been missed.
  setInterval(() => {
    const c = currentConv();
    if (c && c.status === "snoozed" && c.snoozed_until && Date.parse(c.snoozed_until) < Date.now()) refreshConversation(c.id);
  }, 5000);
  matchMedia("(max-width: 760px)").addEventListener("change", () => {
    const c = currentConv();
    if (c) renderWindow(c);
  });
  document.addEventListener("visibilitychange", () => {
    const c = currentConv();
    if (!document.hidden && c && c.unread_count > 0) markReadSoon(c.id);
  });
  on("agents", renderAvailability);
}

boot();
