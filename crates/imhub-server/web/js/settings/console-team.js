// Wires the team pages of the console into the settings frame: 我的资料
// (everyone), and for admins 客服, API 令牌, Webhooks, 未处理推送. Admin tabs
// are hidden from agents each time the settings open; the account menu
// gains 我的资料.

import { $, $$, h, t } from "../dom.js";
import { isAdmin } from "../state.js";
import { addSettingsPage, showSettingsPage, openSettings } from "../settings.js";
import { addMenuItem } from "../pages.js";
import { agentsPage } from "./agents.js";
import { profilePage } from "./profile.js";
import { tokensPage } from "./tokens.js";
import { webhooksPage } from "./webhooks.js";
import { keptPage } from "./kept.js";

/** key, label, render, admins only. */
const PAGES = [
  ["profile", "settings.profile", profilePage, false],
  ["agents", "settings.agents", agentsPage, true],
  ["tokens", "settings.tokens", tokensPage, true],
  ["webhooks", "settings.webhooks", webhooksPage, true],
  ["kept", "settings.kept", keptPage, true],
];

/** Hides the admin tabs from agents (every admin page says so on its own too). */
export function syncConsoleTabs() {
  const admin = isAdmin();
  for (const tab of $$("#settings-nav .settings-tab[data-admin]")) tab.hidden = !admin;
}

export function wireTeamConsole() {
  const nav = $("#settings-nav");
  const first = nav.querySelector(".settings-tab");
  const before = nav.querySelector('.settings-tab[data-page="language"]');
  for (const [key, label, render, admin] of PAGES) {
    addSettingsPage(key, render);
    const tab = h("button", { type: "button", class: "settings-tab", "data-page": key, "data-i18n": label, "data-admin": admin ? "1" : null, text: t(label), onclick: () => showSettingsPage(key) });
    // My profile first; the admin pages before 语言.
    if (key === "profile" && first) first.before(tab);
    else if (before) before.before(tab);
    else nav.append(tab);
  }
  $("#open-settings").addEventListener("click", syncConsoleTabs);
  addMenuItem("open-profile", "settings.profile", () => { openSettings("profile"); syncConsoleTabs(); });
}
