// Settings → 未处理推送 (admins): the pushes kept raw because they could not
// be processed (an unknown account, an event type not understood), each
// with its reason; filtered by channel; replayed one at a time or all at
// once after the cause was fixed.

import { api, qs } from "../api.js";
import { h, t, toast, platformBadge } from "../dom.js";
import { isAdmin } from "../state.js";
import { problemText } from "../pages.js";
import { adminOnly, fmtNumber, fmtTime, items, loadFailed, pageHead } from "./kit.js";

const TITLE = "settings.kept";
const PAGE_SIZE = 50;
let channelFilter = "";

export async function keptPage(box, notice = null) {
  if (!isAdmin()) { adminOnly(box, TITLE); return; }
  let channels, first;
  try {
    [channels, first] = await Promise.all([
      api("GET", "/api/v1/channels").then(items).catch(() => []),
      api("GET", `/api/v1/kept-pushes${qs({ channel_id: channelFilter, limit: PAGE_SIZE })}`),
    ]);
  } catch (ex) { loadFailed(box, TITLE, ex, () => keptPage(box)); return; }
  const redraw = (n = null) => keptPage(box, n);
  const byId = new Map(channels.map((c) => [c.id, c]));
  const filter = h("select", { id: "kept-channel", class: "input", "aria-label": t("kept.channel") },
    h("option", { value: "", text: t("kept.all_channels") }),
    channels.map((c) => h("option", { value: String(c.id), text: `${c.name} · ${t(`platform.${c.platform}`, {}, c.platform)}` })));
  filter.value = channelFilter;
  filter.addEventListener("change", () => { channelFilter = filter.value; redraw(); });
  const result = h("p", { id: "kept-result", class: "muted small", role: "status" });
  if (notice) result.textContent = notice;
  const list = h("ul", { id: "kept-list", class: "settings-list" });
  const more = h("div", { class: "list-foot" });
  const add = (page) => {
    list.append(...items(page).map((k) => keptRow(k, byId.get(k.channel_id))));
    more.replaceChildren(page.next_cursor ? h("button", { id: "kept-more", class: "btn btn-sm", type: "button", text: t("kept.more"), onclick: async (e) => {
      e.target.disabled = true;
      try { add(await api("GET", `/api/v1/kept-pushes${qs({ channel_id: channelFilter, limit: PAGE_SIZE, cursor: page.next_cursor })}`)); }
      catch (ex) { toast(problemText(ex), "error"); e.target.disabled = false; }
    } }) : "");
    if (!list.children.length) list.append(h("li", { class: "muted kept-none", text: t("kept.none") }));
  };
  add(first);
  const all = h("button", { id: "kept-replay-all", class: "btn btn-primary btn-sm", type: "button", disabled: !items(first).length,
    text: channelFilter ? t("kept.replay_channel") : t("kept.replay_all"), onclick: async () => {
      all.disabled = true;
      try {
        // At most 1000 a call: again while the server says there is `more`.
        let processed = 0, kept = 0;
        for (let i = 0; i < 50; i++) {
          const r = await api("POST", "/api/v1/kept-pushes/replay", channelFilter ? { channel_id: Number(channelFilter) } : {});
          processed += r.processed ?? 0;
          kept = r.still_kept ?? 0;
          if (!r.more) break;
        }
        redraw(t("kept.replayed", { processed: fmtNumber(processed), kept: fmtNumber(kept) }));
      } catch (ex) { result.textContent = problemText(ex); result.classList.add("bad"); all.disabled = false; }
    } });
  box.replaceChildren(...pageHead(TITLE, "kept.intro"),
    h("div", { class: "form-row kept-tools" }, filter, all), result, list, more);
}

function keptRow(k, channel) {
  const status = h("span", { class: "kept-outcome small", role: "status" });
  const reason = h("div", { class: "mono small kept-reason", text: k.reason || "" });
  const row = h("li", { class: "settings-row kept-row", "data-kept-id": String(k.id) },
    h("div", { class: "reply-main" },
      h("div", { class: "picker-top" }, k.platform ? platformBadge(k.platform) : null,
        h("strong", { text: channel?.name || t("kept.channel_n", { id: k.channel_id }) }),
        k.event_type ? h("span", { class: "tag mono", text: k.event_type }) : null,
        h("span", { class: "muted small", text: fmtTime(k.received_at) })),
      h("div", { class: "muted small", text: t(`kept.reason.${reasonCode(k.reason)}`, {}, t("kept.reason.other")) }),
      reason, status),
    h("button", { class: "btn btn-sm kept-replay", type: "button", text: t("kept.replay"), onclick: async (e) => {
      e.target.disabled = true;
      try {
        const r = await api("POST", `/api/v1/kept-pushes/${k.id}/replay`);
        if (r.outcome === "processed") {
          row.dataset.outcome = "processed";
          status.textContent = t("kept.processed");
          row.classList.add("done");
        } else {
          row.dataset.outcome = "still_kept";
          reason.textContent = r.reason || k.reason || "";
          status.textContent = t("kept.still_kept");
          e.target.disabled = false;
        }
      } catch (ex) { status.textContent = problemText(ex); e.target.disabled = false; }
    } }));
  return row;
}

/** The stable code at the front of a reason (`unknown_account: …`). */
function reasonCode(reason) {
  const code = String(reason || "").split(":")[0].trim();
  return ["unknown_account", "unknown_event_type", "bad_signature", "stale", "malformed"].includes(code) ? code : "other";
}
