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

/// The inbox's files, embedded at compile time: `cargo build` is all it takes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../web/style.css"),
    ),
];

/// `/` and `/inbox/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .route(
            "/inbox/{file}",
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
