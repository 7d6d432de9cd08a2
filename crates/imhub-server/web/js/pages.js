// Full-size pages over the inbox (报表, 线索): one dialog each, opened from
// the account menu, and the stylesheet of the KPI, lead, automation and
// alert views. Shared by reports.js and leads.js.

import { $, h, t } from "./dom.js";

let styled = false;
/** Loads `insights.css` once (a file of the server's own: the CSP allows it). */
export function useStyles() {
  if (styled) return;
  styled = true;
  document.head.append(h("link", { rel: "stylesheet", href: "/inbox/insights.css" }));
}

/** A menu entry in the account menu, before 设置. */
export function addMenuItem(id, key, onclick) {
  const item = h("button", { id, class: "menu-item", type: "button", role: "menuitem", "data-i18n": key, text: t(key),
    onclick: () => { $("#me-menu").hidden = true; onclick(); } });
  $("#open-settings").before(item);
  return item;
}

/** A page dialog: `open()` shows it and calls `render(body)`. */
export function page(id, titleKey, render) {
  useStyles();
  const body = h("div", { class: "page-body" });
  const dlg = h("dialog", { id, class: "page-dialog", "aria-label": t(titleKey) },
    h("header", { class: "page-head" }, h("h2", { text: t(titleKey) }),
      h("button", { class: "icon-btn page-close", type: "button", "aria-label": t("common.close"), text: "×", onclick: () => dlg.close() })),
    body);
  document.body.append(dlg);
  return {
    dialog: dlg,
    body,
    open() {
      if (!dlg.open) dlg.showModal();
      render(body);
    },
    refresh() { if (dlg.open) render(body); },
  };
}

/** A refusal in words: the code's sentence when the catalogue has one, else the server's detail. */
export function problemText(ex) {
  const detail = ex.message && ex.message !== ex.code ? ex.message : "";
  const sentence = ex.code ? t(`error.${ex.code}`, { detail }, null) : null;
  if (sentence === null) return detail || String(ex);
  return detail && !sentence.includes(detail) ? `${sentence}（${detail}）` : sentence;
}

/** Minutes and seconds: 2:40, 1:02:05. */
export function clockDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** A response time for a table: 45 秒, 2.5 分, 1.2 小时. */
export function seconds(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 60000) return t("kpi.secs", { n: Math.round(ms / 1000) });
  if (ms < 3600000) return t("kpi.mins", { n: (ms / 60000).toFixed(1).replace(/\.0$/, "") });
  return t("kpi.hours", { n: (ms / 3600000).toFixed(1).replace(/\.0$/, "") });
}

export const percent = (r) => (r === null || r === undefined ? "—" : `${Math.round(r * 1000) / 10}%`);
