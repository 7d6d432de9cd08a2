// The inbox's state, shared by the views, and a small event bus so views
// ask each other for things ("open this conversation") without importing
// each other in a circle.

import { api } from "./api.js";

export const PAGE = 30;

export const state = {
  me: null, // SessionInfo: {user_id, workspace_id, role, email, name}
  accounts: new Map(),
  agents: new Map(), // id -> {id, name, role, availability, capacity, open_assigned}
  labels: new Map(), // id -> {id, name, color}
  counts: { mine: null, unassigned: null, all: null, mentions: null },
  view: "all", // mine | unassigned | all | mentions
  filters: { account_id: "", platform: "", status: "", unread: false, q: "", label_id: "", assignee_id: "" },
  conv: new Map(), // id -> ConversationView
  order: [], // conversation ids, newest activity first
  nextCursor: null,
  listLoading: false,
  listGen: 0, // bumps when the filters change, so stale pages are dropped
  focusIdx: -1,
  selected: new Set(), // conversation ids ticked for a bulk action
  currentId: null,
  msgs: new Map(), // id (or local key) -> Message
  msgCursor: null,
  msgLoading: false,
  msgGen: 0,
  features: {}, // which team-inbox routes this server answers
};

const bus = new EventTarget();
/** Asks whoever listens: `emit("open", {id})`. */
export const emit = (name, detail = {}) => bus.dispatchEvent(new CustomEvent(name, { detail }));
export const on = (name, fn) => bus.addEventListener(name, (e) => fn(e.detail));

export const isAdmin = () => state.me?.role === "admin";
export const myId = () => state.me?.user_id ?? null;
export const currentConv = () => (state.currentId === null ? null : state.conv.get(state.currentId) || state.openConv || null);

export function agentName(id) {
  if (id === null || id === undefined) return null;
  const a = state.agents.get(id);
  if (a) return a.name;
  if (id === myId()) return state.me.name || state.me.email;
  return `#${id}`;
}

/** The team: who exists and who is online. Every role may read it. */
export async function loadAgents() {
  try {
    const list = await api("GET", "/api/v1/team/agents");
    const items = Array.isArray(list) ? list : list.items || [];
    state.agents = new Map(items.map((a) => [a.id, a]));
    state.features.team = true;
  } catch {
    state.features.team = false;
    // Before the team routes exist: admins can still list users.
    if (isAdmin()) {
      try {
        const users = await api("GET", "/api/v1/users");
        state.agents = new Map((users.items || users).filter((u) => !u.disabled).map((u) => [u.id, { ...u, availability: "offline" }]));
      } catch { /* only me then */ }
    }
  }
  if (state.me?.user_id && !state.agents.has(state.me.user_id)) {
    state.agents.set(state.me.user_id, { id: state.me.user_id, name: state.me.name || state.me.email, role: state.me.role, availability: "offline" });
  }
  emit("agents");
}

export async function loadLabels() {
  try {
    const list = await api("GET", "/api/v1/labels");
    const items = Array.isArray(list) ? list : list.items || [];
    state.labels = new Map(items.map((l) => [l.id, l]));
    state.features.labels = true;
  } catch {
    state.features.labels = false;
  }
  emit("labels");
}
