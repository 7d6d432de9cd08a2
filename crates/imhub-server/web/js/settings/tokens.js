// Settings → API 令牌 (admins): create a token for the merchant's own
// systems (the secret shown once, with a copy button), see when each was
// last used and when it expires, and revoke one after a confirmation.

import { api } from "../api.js";
import { h, t, toast } from "../dom.js";
import { isAdmin } from "../state.js";
import { problemText } from "../pages.js";
import { adminOnly, confirmDialog, consoleForm, field, fmtNumber, fmtTime, input, invalid, items, loadFailed, pageHead, secretOnce, select } from "./kit.js";

const TITLE = "settings.tokens";
const EXPIRY = [["", "tokens.never"], ["30", "tokens.days_30"], ["90", "tokens.days_90"], ["365", "tokens.days_365"]];

export async function tokensPage(box, notice = null) {
  if (!isAdmin()) { adminOnly(box, TITLE); return; }
  let tokens;
  try { tokens = items(await api("GET", "/api/v1/tokens")); } catch (ex) { loadFailed(box, TITLE, ex, () => tokensPage(box)); return; }
  const redraw = (n = null) => tokensPage(box, n);
  box.replaceChildren(...pageHead(TITLE, "tokens.intro"), notice || "", newTokenForm(redraw),
    h("h4", { text: t("tokens.list", { n: fmtNumber(tokens.length) }) }),
    h("ul", { id: "token-list", class: "settings-list" }, tokens.length ? tokens.map((tk) => tokenRow(tk, redraw)) : h("li", { class: "muted", text: t("tokens.none") })));
}

function newTokenForm(redraw) {
  const name = field("name", "tokens.name", input({ maxlength: "200", class: "input token-new-name", placeholder: t("tokens.name_placeholder") }));
  const role = field("role", "tokens.role", select([["admin", "role.admin"], ["agent", "role.agent"]], "admin", { class: "input token-new-role" }));
  const expiry = field("expires_in_secs", "tokens.expires", select(EXPIRY, "", { class: "input token-new-expiry" }));
  return consoleForm({
    id: "token-new", className: "reply-form",
    fields: [name, role, expiry],
    children: [h("h4", { text: t("tokens.add") }), h("div", { class: "form-grid" }, name.wrap, role.wrap, expiry.wrap)],
    submitKey: "tokens.create",
    codes: { invalid_name: "name", invalid_expiry: "expires_in_secs" },
    validate: () => ({ name: name.input.value.trim() ? null : invalid("required") }),
    submit: async () => {
      const body = { name: name.input.value.trim(), role: role.input.value };
      if (expiry.input.value) body.expires_in_secs = Number(expiry.input.value) * 86400;
      const made = await api("POST", "/api/v1/tokens", body);
      toast(t("tokens.created"));
      redraw(secretOnce("token-secret", "tokens.secret", made.token, h("p", { class: "small", text: t("tokens.how_to_use") })));
    },
  });
}

function tokenRow(tk, redraw) {
  const err = h("p", { class: "form-error row-error", role: "alert", hidden: true });
  const expired = tk.expires_at && Date.parse(tk.expires_at) < Date.now();
  return h("li", { class: "settings-row token-row", "data-token-id": String(tk.id), "data-name": tk.name },
    h("div", { class: "reply-main" },
      h("div", { class: "picker-top" }, h("strong", { text: tk.name }), h("span", { class: "tag", text: t(`role.${tk.role}`, {}, tk.role) }),
        expired ? h("span", { class: "tag status-pending", text: t("tokens.expired") }) : null),
      h("div", { class: "muted small" },
        h("span", { text: t("tokens.created_at", { time: fmtTime(tk.created_at) }) }), " · ",
        h("span", { text: tk.last_used_at ? t("tokens.last_used", { time: fmtTime(tk.last_used_at) }) : t("tokens.never_used") }), " · ",
        h("span", { text: tk.expires_at ? t("tokens.expires_at", { time: fmtTime(tk.expires_at) }) : t("tokens.no_expiry") })),
      err),
    h("button", { class: "btn btn-sm danger token-revoke", type: "button", text: t("tokens.revoke"), onclick: async () => {
      if (!(await confirmDialog({ titleKey: "tokens.revoke_title", text: t("tokens.confirm_revoke", { name: tk.name }), confirmKey: "tokens.revoke" }))) return;
      try { await api("DELETE", `/api/v1/tokens/${tk.id}`); toast(t("tokens.revoked", { name: tk.name })); redraw(); } catch (ex) { err.textContent = problemText(ex); err.hidden = false; }
    } }));
}
