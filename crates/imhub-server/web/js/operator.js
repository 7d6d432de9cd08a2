// The operator page (GET /operator): workspaces of this server through the
// operator API, with the operator token kept in this tab's sessionStorage
// only (never localStorage, never a cookie). List with status and usage,
// create, rename, suspend/resume, quotas, first admin (password shown
// once), delete with the workspace's name typed.

import { t, lang, setLang, translatePage } from "./i18n.js";

const TOKEN_KEY = "imhub.operator_token";
const API = "/api/v1/operator/workspaces";
const $ = (id) => document.getElementById(id);

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage off: the token lives in this page only */ }
  memoryToken = value || "";
}

let memoryToken = "";

/** A problem from the API, with its `code` and `detail`. */
class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || String(status));
    this.status = status;
    this.code = body?.code || "";
  }
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token() || memoryToken}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Problem(res.status, data);
  return data;
}

function message(err) {
  if (err instanceof Problem) {
    const known = t(`operator.err.${err.code}`, {}, "");
    return known ? `${known}（${err.message}）` : err.message;
  }
  return t("operator.err.network");
}

function showError(err, where = $("op-error")) {
  where.textContent = typeof err === "string" ? err : message(err);
  where.hidden = false;
}

function clearError(where = $("op-error")) {
  where.hidden = true;
  where.textContent = "";
}

function notice(text) {
  const el = $("op-notice");
  el.textContent = text;
  el.hidden = !text;
}

const number = (n) => new Intl.NumberFormat(lang()).format(n);

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${new Intl.NumberFormat(lang(), { maximumFractionDigits: 1 }).format(v)} ${units[i]}`;
}

const limit = (n, fmt = number) => (n === 0 ? t("operator.unlimited") : fmt(n));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function usageText(q) {
  const u = q.usage;
  const e = q.effective;
  return [
    t("operator.u_channels", { used: number(u.channels), limit: limit(e.channels) }),
    t("operator.u_agents", { used: number(u.agents), limit: limit(e.agents) }),
    t("operator.u_messages", { used: number(u.messages_today), limit: limit(e.messages_per_day) }),
    t("operator.u_media", { used: bytes(u.media_bytes), limit: limit(e.media_bytes, bytes) }),
  ];
}

function row(w) {
  const status = el("span", { class: `operator-status status-${w.status}`, text: t(`operator.status.${w.status}`) });
  const statusCell = el("td", {}, status);
  if (w.held_pushes > 0) statusCell.append(el("div", { class: "login-sub", text: t("operator.held", { n: number(w.held_pushes) }) }));
  const usage = el("td", {});
  for (const line of usageText(w.quotas)) usage.append(el("div", { text: line }));
  const actions = el("td", { class: "operator-actions" });
  const button = (key, handler, cls = "btn") => {
    const b = el("button", { type: "button", class: cls, text: t(key) });
    b.addEventListener("click", () => handler(w, b));
    actions.append(b);
  };
  button("operator.rename", rename);
  if (w.status === "active") button("operator.suspend", suspend);
  else button("operator.resume", resume);
  button("operator.quotas", quotas);
  button("operator.first_admin", admin);
  button("operator.delete", remove, "btn btn-danger");
  return el("tr", { "data-id": String(w.id) },
    el("td", { text: String(w.id) }),
    el("td", { text: w.name }),
    statusCell, usage, actions);
}

async function refresh() {
  const data = await call("GET", API);
  const rows = $("op-rows");
  rows.replaceChildren(...data.items.map(row));
  $("op-empty").hidden = data.items.length > 0;
}

/** Opens a dialog's form, resolves with its values on OK (null on cancel);
 * `submit(values)` may throw a Problem, shown in the dialog, which stays. */
function ask(id, fill, submit) {
  const dialog = $(id);
  const form = dialog.querySelector("form");
  const error = form.querySelector("[role=alert]");
  form.reset();
  clearError(error);
  fill?.(form);
  return new Promise((resolve) => {
    const onSubmit = async (ev) => {
      const ok = ev.submitter?.value === "ok";
      if (!ok) { finish(null); return; }
      ev.preventDefault();
      if (!form.checkValidity()) { showError(t("operator.err.form"), error); return; }
      try {
        const result = await submit(new FormData(form));
        finish(result ?? true);
        dialog.close();
      } catch (err) {
        showError(err, error); // what was typed stays
      }
    };
    const onClose = () => finish(null);
    function finish(v) {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("close", onClose);
      resolve(v);
    }
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
  });
}

function showSecret(label, value) {
  $("op-secret-label").textContent = label;
  $("op-secret-value").value = value;
  $("op-secret").showModal();
}

async function rename(w) {
  const done = await ask("op-rename", (f) => { f.elements.name.value = w.name; },
    (v) => call("PATCH", `${API}/${w.id}`, { name: String(v.get("name")) }));
  if (done) await refresh();
}

async function suspend(w, b) {
  b.disabled = true;
  try {
    await call("POST", `${API}/${w.id}/suspend`);
    notice(t("operator.suspended", { name: w.name }));
    await refresh();
  } catch (err) { showError(err); b.disabled = false; }
}

async function resume(w, b) {
  b.disabled = true;
  try {
    const r = await call("POST", `${API}/${w.id}/resume`);
    notice(t(r.status === "active" ? "operator.resumed" : "operator.resuming", { name: w.name }));
    await refresh();
  } catch (err) { showError(err); b.disabled = false; }
}

const QUOTA_FIELDS = ["channels", "agents", "messages_per_day", "media_bytes"];

async function quotas(w) {
  const done = await ask("op-quotas", (f) => {
    for (const k of QUOTA_FIELDS) {
      const v = w.quotas[k];
      f.elements[k].value = v === null || v === undefined ? "" : String(v);
      f.elements[k].placeholder = t("operator.default_is", { n: limit(w.quotas.effective[k]) });
    }
  }, (v) => {
    const body = {};
    for (const k of QUOTA_FIELDS) {
      const text = String(v.get(k) ?? "").trim();
      body[k] = text === "" ? null : Number(text);
    }
    return call("PUT", `${API}/${w.id}/quotas`, body);
  });
  if (done) await refresh();
}

async function admin(w) {
  const created = await ask("op-admin", null, (v) => {
    const body = { email: String(v.get("email")).trim(), name: String(v.get("name")).trim() };
    const password = String(v.get("password") || "");
    if (password) body.password = password;
    return call("POST", `${API}/${w.id}/admins`, body);
  });
  if (!created) return;
  if (created.initial_password) {
    showSecret(t("operator.password_for", { email: created.user.email }), created.initial_password);
  } else {
    notice(t("operator.admin_created", { email: created.user.email }));
  }
  await refresh();
}

async function remove(w) {
  const done = await ask("op-delete", () => {
    $("op-delete-text").textContent = t("operator.delete_warning", { name: w.name });
  }, (v) => {
    const typed = String(v.get("confirm"));
    if (typed !== w.name) throw new Problem(422, { code: "confirmation_mismatch", detail: t("operator.err.confirmation_mismatch") });
    return call("DELETE", `${API}/${w.id}?confirm=${encodeURIComponent(typed)}`);
  });
  if (done) {
    notice(t("operator.deleted", { name: w.name }));
    await refresh();
  }
}

async function signIn(value) {
  setToken(value);
  try {
    await refresh();
    $("op-token-form").hidden = true;
    $("op-main").hidden = false;
    $("op-signout").hidden = false;
    clearError();
  } catch (err) {
    setToken("");
    showError(err);
  }
}

function signOut() {
  setToken("");
  $("op-main").hidden = true;
  $("op-signout").hidden = true;
  $("op-token-form").hidden = false;
  $("op-rows").replaceChildren();
  notice("");
}

function start() {
  translatePage();
  document.title = t("operator.title");
  $("op-lang").textContent = lang() === "en" ? "中文" : "English";
  $("op-lang").addEventListener("click", () => {
    setLang(lang() === "en" ? "zh-CN" : "en");
    location.reload();
  });
  $("op-token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("op-token").value.trim();
    $("op-token").value = "";
    if (value.length < 16) { showError(t("operator.err.short_token")); return; }
    signIn(value);
  });
  $("op-signout").addEventListener("click", signOut);
  $("op-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("op-create-name");
    const name = input.value.trim();
    if (!name) { showError(t("operator.err.invalid_name")); input.focus(); return; }
    try {
      const w = await call("POST", API, { name });
      input.value = "";
      notice(t("operator.created", { name: w.name, id: w.id }));
      clearError();
      await refresh();
    } catch (err) { showError(err); }
  });
  $("op-secret-copy").addEventListener("click", async () => {
    const input = $("op-secret-value");
    try { await navigator.clipboard.writeText(input.value); } catch { input.select(); }
  });
  if (token()) signIn(token());
}

start();
