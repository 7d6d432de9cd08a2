//! The web inbox: static files built into the binary, served at `/`; and
//! the browser-hardening headers every response of the server carries.

use axum::{
    Router,
    extract::{Path, Request},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::AppState;

/// The inbox's files, embedded at compile time: `cargo build` is all it
/// takes. One ES module per view under `js/`, over `js/api.js` (fetch and
/// SSE) and `js/i18n.js` with one catalogue per language; `app.js` is the
/// old entry point, kept as a one-line import of `js/main.js`.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    ("app.js", JS, include_str!("../web/app.js")),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
    ("js/api.js", JS, include_str!("../web/js/api.js")),
    ("js/i18n.js", JS, include_str!("../web/js/i18n.js")),
    ("js/state.js", JS, include_str!("../web/js/state.js")),
    ("js/dom.js", JS, include_str!("../web/js/dom.js")),
    ("js/content.js", JS, include_str!("../web/js/content.js")),
    ("js/list.js", JS, include_str!("../web/js/list.js")),
    (
        "js/conversation.js",
        JS,
        include_str!("../web/js/conversation.js"),
    ),
    ("js/composer.js", JS, include_str!("../web/js/composer.js")),
    ("js/contact.js", JS, include_str!("../web/js/contact.js")),
    ("js/search.js", JS, include_str!("../web/js/search.js")),
    ("js/settings.js", JS, include_str!("../web/js/settings.js")),
    ("js/main.js", JS, include_str!("../web/js/main.js")),
    (
        "js/i18n/zh-CN.js",
        JS,
        include_str!("../web/js/i18n/zh-CN.js"),
    ),
    ("js/i18n/en.js", JS, include_str!("../web/js/i18n/en.js")),
    // Automation, reply-time KPIs, leads and alerts (issues 13 and 14).
    (
        "insights.css",
        "text/css; charset=utf-8",
        include_str!("../web/insights.css"),
    ),
    ("js/insights.js", JS, include_str!("../web/js/insights.js")),
    ("js/pages.js", JS, include_str!("../web/js/pages.js")),
    ("js/charts.js", JS, include_str!("../web/js/charts.js")),
    ("js/reports.js", JS, include_str!("../web/js/reports.js")),
    ("js/waiting.js", JS, include_str!("../web/js/waiting.js")),
    ("js/leads.js", JS, include_str!("../web/js/leads.js")),
    ("js/notify.js", JS, include_str!("../web/js/notify.js")),
    (
        "js/settings/automation.js",
        JS,
        include_str!("../web/js/settings/automation.js"),
    ),
    (
        "js/settings/alerts.js",
        JS,
        include_str!("../web/js/settings/alerts.js"),
    ),
    (
        "js/settings/assignment.js",
        JS,
        include_str!("../web/js/settings/assignment.js"),
    ),
    ("js/merges.js", JS, include_str!("../web/js/merges.js")),
    // The operator page (issue 15): `GET /operator`.
    (
        "operator.html",
        "text/html; charset=utf-8",
        include_str!("../web/operator.html"),
    ),
    ("js/operator.js", JS, include_str!("../web/js/operator.js")),
    // The console's team pages (issue 15): agents, my profile, API tokens,
    // webhooks, kept pushes, and the form kit they share.
    (
        "js/settings/kit.js",
        JS,
        include_str!("../web/js/settings/kit.js"),
    ),
    (
        "js/settings/console-team.js",
        JS,
        include_str!("../web/js/settings/console-team.js"),
    ),
    (
        "js/settings/agents.js",
        JS,
        include_str!("../web/js/settings/agents.js"),
    ),
    (
        "js/settings/profile.js",
        JS,
        include_str!("../web/js/settings/profile.js"),
    ),
    (
        "js/settings/tokens.js",
        JS,
        include_str!("../web/js/settings/tokens.js"),
    ),
    (
        "js/settings/webhooks.js",
        JS,
        include_str!("../web/js/settings/webhooks.js"),
    ),
    (
        "js/settings/kept.js",
        JS,
        include_str!("../web/js/settings/kept.js"),
    ),
    // The console's channel pages (issue 15): channels, Douyin accounts,
    // channel health, accounts, and their forms and stylesheet.
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../web/console.css"),
    ),
    (
        "js/settings/forms.js",
        JS,
        include_str!("../web/js/settings/forms.js"),
    ),
    (
        "js/settings/channels.js",
        JS,
        include_str!("../web/js/settings/channels.js"),
    ),
    (
        "js/settings/accounts.js",
        JS,
        include_str!("../web/js/settings/accounts.js"),
    ),
    (
        "js/settings/health.js",
        JS,
        include_str!("../web/js/settings/health.js"),
    ),
];

/// Browsers run ES modules only when served with a JavaScript type
/// (`nosniff` is on).
const JS: &str = "text/javascript; charset=utf-8";

/// `/` and `/inbox/{path}` (`js/list.js`, `js/i18n/en.js`…): only the
/// embedded names answer, so no path can reach the file system.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .route("/operator", get(|| async { file("operator.html") }))
        .route(
            "/inbox/{*path}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The Content-Security-Policy of every response: scripts and styles only
/// from the server's own files (no inline script, no `eval`, no inline
/// style attributes), no plugins, no framing by anyone (`frame-ancestors
/// 'none'`), forms and `<base>` pinned. Images and media may come from the
/// platforms' CDNs (avatars, pictures customers sent), so any http(s) URL,
/// `data:` and `blob:` (previews of an upload) are allowed for those only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data: blob: http: https:; \
media-src 'self' blob: http: https:; connect-src 'self'; font-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the hardening headers to a response that does not set its own:
/// [`CONTENT_SECURITY_POLICY`], `X-Content-Type-Options: nosniff`,
/// `Referrer-Policy: no-referrer` (media URLs carry their key, which must
/// not leak to another site) and `X-Frame-Options: DENY` for browsers
/// older than `frame-ancestors`.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_import_is_an_embedded_file() {
        let names: Vec<&str> = FILES.iter().map(|(n, _, _)| *n).collect();
        for (name, _, body) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split('"').nth(1) else {
                    continue;
                };
                let mut parts: Vec<&str> = if dir.is_empty() {
                    Vec::new()
                } else {
                    dir.split('/').collect()
                };
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    names.contains(&target.as_str()),
                    "{name} imports {spec}: not embedded"
                );
            }
        }
        assert!(
            FILES
                .iter()
                .all(|(n, mime, _)| !n.ends_with(".js") || *mime == JS)
        );
    }

    #[test]
    fn inbox_files_have_no_inline_script_or_style() {
        for (name, _, body) in FILES {
            if name.ends_with(".html") {
                let lower = body.to_ascii_lowercase();
                for script in lower.split("<script").skip(1) {
                    let tag = script.split('>').next().unwrap_or_default();
                    assert!(tag.contains("src="), "{name}: inline <script>");
                }
                assert!(!lower.contains(" style="), "{name}: inline style attribute");
                assert!(!lower.contains("<style"), "{name}: inline <style>");
                assert!(!lower.contains("javascript:"), "{name}: javascript: URL");
                for attr in [
                    " onclick=",
                    " onload=",
                    " onerror=",
                    " onsubmit=",
                    " oninput=",
                ] {
                    assert!(!lower.contains(attr), "{name}: inline handler {attr}");
                }
            }
            if name.ends_with(".js") {
                assert!(
                    !body.contains("setAttribute(\"style\""),
                    "{name}: style attribute"
                );
                assert!(!body.contains("eval("), "{name}: eval");
            }
        }
    }
}
