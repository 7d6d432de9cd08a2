// Settings → 我的资料 (everyone): name and avatar (an uploaded image), the
// password (the current one needed), availability, the language (kept in
// the profile; by default the browser's), and signing out everywhere.

import { api } from "../api.js";
import { $, h, t, toast, avatar } from "../dom.js";
import { lang, setLang, translatePage } from "../i18n.js";
import { state, myId, loadAgents } from "../state.js";
import { problemText } from "../pages.js";
import { confirmDialog, consoleForm, field, input, invalid, loadFailed, pageHead, select } from "./kit.js";

const TITLE = "settings.profile";
const MAX_AVATAR_BYTES = 5 * 1024 * 1024;
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** The browser's language among ours: zh-CN unless it prefers English. */
export function browserLanguage() {
  for (const l of navigator.languages || [navigator.language || ""]) {
    if (/^zh\b/i.test(l)) return "zh-CN";
    if (/^en\b/i.test(l)) return "en";
  }
  return "zh-CN";
}

/**
 * After signing in: the profile's language (or the browser's when it has
 * none) replaces the one in use; true when the page reloads for it.
 */
export function applyProfileLanguage(me) {
  if (!me || !me.user_id || !("language" in me)) return false;
  const want = me.language || browserLanguage();
  if (want === lang()) return false;
  setLang(want);
  let kept = false;
  try { kept = localStorage.getItem("imhub.lang") === want; } catch { /* storage off */ }
  // Without storage a reload would come back in the old language, and again: redraw in place.
  if (!kept) { translatePage(); return false; }
  location.reload();
  return true;
}

/** Switches the language, keeps the choice in the profile (null = the browser's), and reloads. */
export async function switchLanguage(choice) {
  if (state.me?.user_id) {
    try { await api("PATCH", "/api/v1/session/profile", { language: choice }); } catch (ex) { toast(problemText(ex), "error"); return; }
  }
  setLang(choice || browserLanguage());
  location.reload();
}

/** Shows the signed-in user's name and avatar in the sidebar. */
function refreshMe() {
  const me = state.me || {};
  const name = me.name || me.email || t("chat.agent");
  const old = $("#me-avatar");
  if (old) old.replaceWith(Object.assign(avatar(name, me.avatar_url || null, { size: "avatar-sm" }), { id: "me-avatar" }));
  const n = $("#me-name");
  if (n) n.textContent = name;
}

export async function profilePage(box) {
  let me;
  try { me = await api("GET", "/api/v1/session"); } catch (ex) { loadFailed(box, TITLE, ex, () => profilePage(box)); return; }
  state.me = { ...state.me, ...me };
  if (!me.user_id) { box.replaceChildren(...pageHead(TITLE), h("p", { class: "muted", text: t("profile.token_session") })); return; }
  box.replaceChildren(...pageHead(TITLE, "profile.intro"),
    h("p", { class: "muted small" }, h("span", { class: "mono", text: me.email || "" }), " · ", h("span", { text: t(`role.${me.role}`, {}, me.role) })),
    basicsForm(me, () => profilePage(box)), availabilityForm(), passwordForm(), languageForm(me), everywhere());
}

function basicsForm(me, redraw) {
  const name = field("name", "profile.name", input({ value: me.name || "", maxlength: "100", class: "input profile-name", autocomplete: "name" }));
  const preview = h("span", { class: "profile-avatar" }, avatar(me.name || me.email, me.avatar_url || null));
  const file = h("input", { type: "file", accept: IMAGE_TYPES.join(","), class: "visually-hidden profile-avatar-file", id: "profile-avatar-file" });
  const avatarField = field("avatar_media_id", "profile.avatar", file);
  avatarField.wrap.querySelector("label").classList.add("btn", "btn-sm", "profile-avatar-pick");
  avatarField.wrap.querySelector("label").textContent = t("profile.avatar_pick");
  const remove = me.avatar_url ? h("button", { class: "btn btn-sm profile-avatar-remove", type: "button", text: t("profile.avatar_remove"), onclick: async () => {
    try { await api("PATCH", "/api/v1/session/profile", { avatar_media_id: null }); state.me.avatar_url = null; refreshMe(); redraw(); } catch (ex) { avatarField.set(problemText(ex)); }
  } }) : null;
  file.addEventListener("change", async () => {
    avatarField.clear();
    const f = file.files?.[0];
    if (!f) return;
    if (!IMAGE_TYPES.includes(f.type)) { avatarField.set(invalid("image_type")); return; }
    if (f.size > MAX_AVATAR_BYTES) { avatarField.set(invalid("image_size", { mb: 5 })); return; }
    try {
      const up = await api("POST", "/api/v1/media", f, { "content-type": f.type });
      const res = await api("PATCH", "/api/v1/session/profile", { avatar_media_id: up.id ?? up.media_id ?? up.key });
      state.me.avatar_url = res?.avatar_url ?? res?.user?.avatar_url ?? up.url;
      refreshMe();
      loadAgents();
      toast(t("profile.avatar_saved"));
      redraw();
    } catch (ex) { avatarField.set(problemText(ex)); }
  });
  return consoleForm({
    id: "profile-basics", className: "reply-form",
    fields: [name, avatarField],
    children: [h("h4", { text: t("profile.basics") }), h("div", { class: "profile-avatar-line" }, preview, avatarField.wrap, remove), name.wrap],
    submitKey: "common.save",
    codes: { invalid_name: "name", invalid_avatar: "avatar_media_id" },
    validate: () => ({ name: name.input.value.trim() ? null : invalid("required") }),
    submit: async () => {
      const v = name.input.value.trim();
      await api("PATCH", "/api/v1/session/profile", { name: v });
      state.me.name = v;
      refreshMe();
      loadAgents();
      toast(t("common.saved"));
    },
  });
}

function availabilityForm() {
  const now = state.agents.get(myId())?.availability || "offline";
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const group = h("div", { class: "checks", role: "radiogroup", "aria-label": t("profile.availability") },
    ["online", "away", "offline"].map((s) => h("label", { class: "check" },
      h("input", { type: "radio", name: "profile-availability", value: s, checked: s === now, class: `profile-availability-${s}` }),
      h("span", { text: `${t(`availability.${s}`)} · ${t(`availability.${s}_hint`)}` }))));
  group.addEventListener("change", async (e) => {
    err.hidden = true;
    try {
      await api("PUT", "/api/v1/session/availability", { availability: e.target.value });
      await loadAgents();
      toast(t("common.saved"));
    } catch (ex) { err.textContent = problemText(ex); err.hidden = false; }
  });
  return h("section", { id: "profile-availability", class: "console-form reply-form" }, h("h4", { text: t("profile.availability") }), group, err);
}

function passwordForm() {
  const current = field("current_password", "profile.current_password", input({ type: "password", autocomplete: "current-password", class: "input profile-current" }));
  const next = field("new_password", "profile.new_password", input({ type: "password", autocomplete: "new-password", class: "input profile-new" }), { hintKey: "agents.password_hint" });
  const again = field("repeat", "profile.repeat_password", input({ type: "password", autocomplete: "new-password", class: "input profile-repeat" }));
  const form = consoleForm({
    id: "profile-password", className: "reply-form",
    fields: [current, next, again],
    children: [h("h4", { text: t("profile.password") }), h("div", { class: "form-grid" }, current.wrap, next.wrap, again.wrap)],
    submitKey: "profile.change_password",
    codes: { wrong_password: "current_password", weak_password: "new_password", too_many_attempts: "current_password" },
    validate: () => ({
      current_password: current.input.value ? null : invalid("required"),
      new_password: next.input.value.length < 8 ? invalid("password_short") : null,
      repeat: again.input.value !== next.input.value ? invalid("password_mismatch") : null,
    }),
    submit: async () => {
      await api("PUT", "/api/v1/session/password", { current_password: current.input.value, new_password: next.input.value });
      for (const f of [current, next, again]) f.input.value = "";
      form.dataset.changed = "1";
      toast(t("profile.password_changed"));
    },
  });
  return form;
}

function languageForm(me) {
  const choice = select([["", "profile.language_browser"], ["zh-CN", "language.zh-CN"], ["en", "language.en"]], me.language || "", { class: "input profile-language" });
  const lf = field("language", "profile.language", choice, { hintText: t("profile.language_now", { lang: t(`language.${lang()}`) }) });
  return consoleForm({
    id: "profile-language-form", className: "reply-form",
    fields: [lf], children: [h("h4", { text: t("profile.language") }), lf.wrap],
    submitKey: "common.save",
    submit: () => switchLanguage(choice.value || null),
  });
}

function everywhere() {
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  return h("section", { class: "console-form reply-form" }, h("h4", { text: t("profile.sessions") }), h("p", { class: "muted small", text: t("profile.everywhere_hint") }), err,
    h("div", { class: "dialog-actions" }, h("button", { id: "profile-logout-everywhere", class: "btn btn-sm danger", type: "button", text: t("profile.logout_everywhere"), onclick: async () => {
      if (!(await confirmDialog({ titleKey: "profile.logout_everywhere", text: t("profile.confirm_everywhere"), confirmKey: "profile.logout_everywhere" }))) return;
      try {
        await api("POST", "/api/v1/session/logout-everywhere");
        location.reload();
      } catch (ex) { err.textContent = problemText(ex); err.hidden = false; }
    } })));
}
