// The reports page: the reply rate within the target per day (SVG bars
// against the range's rate), the response-time distribution (SVG
// histogram), a table per agent and per account, a date range and an
// account filter, and the CSV exports (admins). Reads /api/v1/reports/*,
// which answer from daily rows kept on write.

import { api, qs } from "./api.js";
import { h, t, toast, platformName } from "./dom.js";
import { state, isAdmin } from "./state.js";
import { barChart, histogram } from "./charts.js";
import { page, addMenuItem, problemText, seconds, percent } from "./pages.js";

const DAY = 86400000;
const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
const filters = { from: "", to: "", account_id: "" };
let reports = null;

function bucketLabel(b) {
  const f = (ms) => (ms < 60000 ? t("kpi.secs_short", { n: ms / 1000 }) : ms < 3600000 ? t("kpi.mins_short", { n: ms / 60000 }) : t("kpi.hours_short", { n: ms / 3600000 }));
  return b.up_to_ms ? `≤${f(b.up_to_ms)}` : `>${f(b.above_ms)}`;
}

async function render(body) {
  if (!filters.to) {
    // The last seven days of the workspace's counting zone, which the
    // server knows ("today" in Asia/Shanghai is not the browser's today
    // everywhere); the browser's own days only when it cannot answer.
    try {
      const scope = await api("GET", "/api/v1/reports/summary");
      filters.from = scope.from;
      filters.to = scope.to;
    } catch {
      const now = new Date();
      filters.to = iso(now);
      filters.from = iso(new Date(now.getTime() - 6 * DAY));
    }
  }
  const from = h("input", { id: "report-from", class: "input", type: "date", value: filters.from, "aria-label": t("reports.from") });
  const to = h("input", { id: "report-to", class: "input", type: "date", value: filters.to, "aria-label": t("reports.to") });
  const account = h("select", { id: "report-account", class: "input", "aria-label": t("filters.account") },
    h("option", { value: "", text: t("reports.all_accounts") }),
    ...[...state.accounts.values()].map((a) => h("option", { value: String(a.id), text: `${a.name} · ${platformName(a.platform)}` })));
  account.value = filters.account_id;
  const apply = () => { filters.from = from.value; filters.to = to.value; filters.account_id = account.value; render(body); };
  for (const x of [from, to, account]) x.addEventListener("change", apply);
  const q = qs(filters);
  const csv = isAdmin() ? h("div", { class: "report-exports" },
    h("a", { id: "export-turns", class: "btn btn-sm", href: `/api/v1/reports/turns.csv${q}`, download: "turns.csv", text: t("reports.export_turns") }),
    h("a", { id: "export-conversations", class: "btn btn-sm", href: `/api/v1/reports/conversations.csv${q}`, download: "conversations.csv", text: t("reports.export_conversations") })) : null;
  const charts = h("div", { class: "report-grid" }, h("p", { class: "muted", text: t("common.loading") }));
  body.replaceChildren(h("div", { class: "report-filters" },
    h("label", { class: "cap-label" }, h("span", { text: t("reports.from") }), from),
    h("label", { class: "cap-label" }, h("span", { text: t("reports.to") }), to), account, csv), charts);
  let summary, dist, agents, accounts;
  try {
    [summary, dist, agents, accounts] = await Promise.all(["summary", "distribution", "agents", "accounts"].map((p) => api("GET", `/api/v1/reports/${p}${q}`)));
  } catch (ex) {
    charts.replaceChildren(h("p", { class: "form-error", role: "alert", text: problemText(ex) }));
    return;
  }
  const target = summary.target_seconds;
  const targetText = target % 60 === 0 ? t("kpi.mins", { n: target / 60 }) : t("kpi.secs", { n: target });
  const total = summary.total;
  const tiles = h("div", { class: "kpi-tiles" },
    tile("tile-rate", t("reports.rate", { target: targetText }), percent(total.rate)),
    tile("tile-turns", t("reports.turns"), String(total.turns)),
    tile("tile-median", t("reports.median"), seconds(dist.median_ms)),
    tile("tile-p90", t("reports.p90"), seconds(dist.p90_ms)),
    tile("tile-unanswered", t("reports.unanswered"), String(total.unanswered)),
    tile("tile-auto", t("reports.auto_only"), String(total.auto_only)));
  const rateChart = barChart({
    className: "rate-chart", max: 1, fmt: (v) => `${Math.round(v * 100)}%`,
    ref: total.rate, refLabel: t("reports.range_rate", { rate: percent(total.rate) }),
    items: summary.days.map((d) => ({
      label: d.date.slice(5), value: d.rate,
      tone: d.rate === null ? null : d.rate < 0.6 ? "bad" : d.rate < 0.8 ? "warn" : null,
      title: t("reports.day_title", { date: d.date, rate: percent(d.rate), within: d.within_target, turns: d.turns }),
    })),
  });
  const histo = histogram({
    className: "wait-histogram",
    items: dist.buckets.map((b) => ({
      label: bucketLabel(b), value: b.count,
      tone: b.up_to_ms && b.up_to_ms <= target * 1000 ? null : "warn",
      title: t("reports.bucket_title", { range: bucketLabel(b), n: b.count }),
    })),
  });
  const agentRows = agents.items.map((a) => h("tr", { "data-agent-id": String(a.agent_id) },
    h("td", { text: a.name || `#${a.agent_id}` }), h("td", { text: String(a.turns) }), h("td", { text: String(a.within_target) }),
    h("td", { text: percent(a.rate) }), h("td", { text: seconds(a.median_ms) }), h("td", { text: seconds(a.p90_ms) }),
    h("td", { text: String(a.carried_over) }), h("td", { text: String(a.auto_first) })));
  const accountRows = accounts.items.map((a) => h("tr", { "data-account-id": String(a.account_id) },
    h("td", { text: a.name || `#${a.account_id}` }), h("td", { text: String(a.turns) }), h("td", { text: String(a.answered) }),
    h("td", { text: String(a.within_target) }), h("td", { text: percent(a.rate) }), h("td", { text: seconds(a.median_ms) }),
    h("td", { text: seconds(a.p90_ms) }), h("td", { text: String(a.unanswered) }), h("td", { text: String(a.auto_only) })));
  const table = (id, heads, rows) => h("div", { class: "table-wrap" }, h("table", { id, class: "report-table" },
    h("thead", {}, h("tr", {}, heads.map((k) => h("th", { text: t(k) })))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: String(heads.length), class: "muted", text: t("reports.no_data") })))));
  charts.replaceChildren(tiles,
    h("section", { class: "report-card" }, h("h3", { text: t("reports.rate_per_day", { target: targetText }) }), h("p", { class: "muted", text: t("reports.rate_hint", { zone: summary.time_zone }) }), rateChart),
    h("section", { class: "report-card" }, h("h3", { text: t("reports.distribution") }), h("p", { class: "muted", text: t("reports.distribution_hint", { n: dist.answered }) }), histo),
    h("section", { class: "report-card wide" }, h("h3", { text: t("reports.by_agent") }),
      table("agent-table", ["reports.col_agent", "reports.turns", "reports.within", "reports.col_rate", "reports.median", "reports.p90", "reports.carried_over", "reports.auto_first"], agentRows)),
    h("section", { class: "report-card wide" }, h("h3", { text: t("reports.by_account") }),
      table("account-table", ["reports.col_account", "reports.turns", "reports.answered", "reports.within", "reports.col_rate", "reports.median", "reports.p90", "reports.unanswered", "reports.auto_only"], accountRows)));
}

function tile(id, label, value) {
  return h("div", { id, class: "kpi-tile" }, h("span", { class: "kpi-label", text: label }), h("strong", { text: value }));
}

export function openReports() {
  reports.open();
}

export function wireReports() {
  reports = page("reports", "reports.title", (body) => render(body).catch((ex) => toast(problemText(ex), "error")));
  addMenuItem("open-reports", "reports.title", openReports);
}
