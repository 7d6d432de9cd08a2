// Wires the automation, KPI, lead and alert views into the inbox: the
// settings pages (自动回复, 营业时间, 回复时效, 告警), the 等待回复 view, the
// reports and leads pages, and notifications. main.js calls
// `wireInsights()` once and forwards every live event as `emit("live")`.

import { $, h, t } from "./dom.js";
import { addSettingsPage, showSettingsPage } from "./settings.js";
import { rulesPage, hoursPage, kpiPage } from "./settings/automation.js";
import { alertsPage } from "./settings/alerts.js";
import { assignmentPage } from "./settings/assignment.js";
import { wireWaiting } from "./waiting.js";
import { wireReports } from "./reports.js";
import { wireLeads } from "./leads.js";
import { wireNotify } from "./notify.js";
import { useStyles } from "./pages.js";

const PAGES = [
  ["automation", "settings.automation", rulesPage],
  ["hours", "settings.hours", hoursPage],
  ["kpi", "settings.kpi", kpiPage],
  ["alerts", "settings.alerts", alertsPage],
  ["assignment", "settings.assignment", assignmentPage],
];

export function wireInsights() {
  useStyles();
  const before = $('#settings-nav .settings-tab[data-page="language"]');
  for (const [key, label, render] of PAGES) {
    addSettingsPage(key, render);
    const tab = h("button", { type: "button", class: "settings-tab", "data-page": key, "data-i18n": label, text: t(label), onclick: () => showSettingsPage(key) });
    if (before) before.before(tab); else $("#settings-nav").append(tab);
  }
  wireWaiting();
  wireLeads();
  wireReports();
  wireNotify();
}
