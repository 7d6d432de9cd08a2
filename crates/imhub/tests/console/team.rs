//! The console's team pages in real Chromium, from a fresh `imhub serve`
//! (the binary, a new SQLite file, the first admin added on the command
//! line), with a custom channel whose pushes the test signs and a webhook
//! receiver of its own:
//!
//! - 客服: the admin adds an agent (the form refuses a bad e-mail before
//!   sending and shows the server's `conflict` next to the e-mail, keeping
//!   what was typed); the generated first password is shown once; the agent
//!   logs in with it in a second browser and sees the conversation assigned
//!   to her; capacity, role, password reset, disable and delete (each
//!   destructive action confirmed in a dialog naming the agent);
//! - 我的资料 (the agent): only her own pages; name, avatar upload, a wrong
//!   current password shown next to its field, the password changed, the
//!   language kept in her profile, signed out everywhere;
//! - API 令牌: created (shown once), used, revoked after a confirmation, then 401;
//! - Webhooks: a refused target shown at the URL; subscribed to a local
//!   receiver that first answers 429; the delivery log shows the response
//!   code and the next retry; retry now delivers it;
//! - 未处理推送: pushes naming an account imhub does not know are kept with
//!   their reason; after the account is added, one is replayed from its row
//!   and the rest with 全部重放, and their messages arrive;
//! - every one of these pages in Chinese and in English, with no key of the
//!   catalogue left showing and both catalogues carrying the same keys.
//!
//! Screenshots land in `target/screenshots/console-team-*.png`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use fantoccini::Locator;
use serde_json::{Value, json};

use crate::{
    browser::{Browser, WAIT, browser},
    serve::{Imhub, fill, open_settings, serve, sign_in, text},
};

const SECRET: &str = "console-team-secret-0123";
const BOSS: &str = "boss@shop.cn";
const BOSS_PASSWORD: &str = "boss-pa55word!";
const WANG: &str = "wang@shop.cn";
/// The pages of this scenario, each with its heading in Chinese and English.
const PAGES: &[(&str, &str, &str)] = &[
    ("profile", "我的资料", "My profile"),
    ("agents", "客服", "Agents"),
    ("tokens", "API 令牌", "API tokens"),
    ("webhooks", "Webhooks", "Webhooks"),
    ("kept", "未处理推送", "Kept pushes"),
];
/// A 1×1 PNG: the avatar the agent uploads.
const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0,
    0, 0, 31, 21, 196, 137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 100, 248, 207, 80, 15, 0, 3,
    134, 1, 128, 90, 52, 125, 107, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// The merchant's webhook receiver: answers 429 (retry in an hour) while
/// `refuse` holds, else 200; counts what arrived.
#[derive(Clone, Default)]
struct Receiver {
    refuse: Arc<AtomicBool>,
    received: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
) -> (StatusCode, HeaderMap, &'static str) {
    r.received.fetch_add(1, Ordering::SeqCst);
    assert!(
        headers.contains_key("x-imhub-signature"),
        "a delivery without its signature"
    );
    let mut out = HeaderMap::new();
    if r.refuse.load(Ordering::SeqCst) {
        out.insert("retry-after", "3600".parse().unwrap());
        return (StatusCode::TOO_MANY_REQUESTS, out, "busy");
    }
    r.accepted.fetch_add(1, Ordering::SeqCst);
    (StatusCode::OK, out, "ok")
}

/// A customer's text on the custom channel, to `account`.
fn push(n: u32, account: &str, contact: &str, text: &str) -> Value {
    json!({
        "event_id": format!("e{n}"),
        "account": {"id": account},
        "contact": {"id": contact, "nickname": contact},
        "message": {"id": format!("m{n}"), "content": {"type": "text", "text": text}},
    })
}

/// Waits until the conversation with `peer` exists; its id.
async fn conversation(imhub: &Imhub, peer: &str) -> i64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = imhub
            .ok(
                "GET",
                "/api/v1/conversations?view=all&limit=200",
                Value::Null,
            )
            .await;
        if let Some(c) = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["peer_external_id"] == peer)
        {
            return c["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "no conversation with {peer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the confirmation dialog's confirm button after checking that it names `what`.
async fn confirm(b: &Browser, what: &str) {
    b.until(
        &format!("the confirmation naming {what}"),
        &format!("document.querySelector('dialog.confirm-dialog[open] .confirm-text')?.textContent.includes({what:?})"),
    )
    .await;
    b.click("dialog.confirm-dialog[open] .confirm-ok").await;
    b.until(
        "the confirmation closed",
        "!document.querySelector('dialog.confirm-dialog')",
    )
    .await;
}

/// No catalogue key shows on the open settings page (text, placeholders,
/// labels, titles): what `t()` returns for a key it does not have.
async fn no_missing_keys(b: &Browser, page: &str) {
    let found = b
        .js(r#"
            const root = document.querySelector('#settings');
            const re = /\b(settings|console|agents|profile|tokens|webhooks|kept|error|role|availability|team|language|common)\.[a-z_]+(\.[a-z_.]+)?\b/;
            const bad = [];
            const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            while (walk.nextNode()) { const s = walk.currentNode.textContent; if (re.test(s)) bad.push(s.trim()); }
            for (const el of root.querySelectorAll('[placeholder],[aria-label],[title]'))
              for (const a of ['placeholder', 'aria-label', 'title']) { const s = el.getAttribute(a); if (s && re.test(s)) bad.push(`${a}=${s}`); }
            return bad;"#)
        .await;
    assert_eq!(
        found,
        json!([]),
        "catalogue keys showing on the {page} page"
    );
}

/// Every page of this scenario in the language in use: its heading, and no key showing.
async fn every_page(b: &Browser, english: bool, admin: bool) {
    for (page, zh, en) in PAGES {
        if !admin && *page != "profile" {
            continue;
        }
        open_settings(b, page).await;
        let heading = text(b, "#settings-page h3").await;
        assert_eq!(
            heading,
            if english { *en } else { *zh },
            "the heading of {page}"
        );
        // Pages that load more after their heading (lists) have settled.
        tokio::time::sleep(Duration::from_millis(150)).await;
        no_missing_keys(b, page).await;
        b.shot(&format!(
            "console-team-{page}-{}",
            if english { "en" } else { "zh" }
        ))
        .await;
    }
}

/// The profile's language select, saved; waits for the page to come back in it.
async fn switch_language(b: &Browser, value: &str, settings_word: &str) {
    open_settings(b, "profile").await;
    b.select("#profile-language-form .profile-language", value)
        .await;
    b.click("#profile-language-form .console-submit").await;
    b.until(
        &format!("the inbox in {value}"),
        &format!("document.documentElement.lang === {value:?} && !document.querySelector('#app').hidden && document.querySelector('#open-settings').textContent === {settings_word:?}"),
    )
    .await;
}

/// `fetch` from the page (with its session cookie): the JSON answer.
async fn page_fetch(b: &Browser, path: &str) -> Value {
    b.client
        .execute_async(
            &format!("const done = arguments[arguments.length - 1]; fetch({path:?}).then(r => r.json()).then(done, e => done(String(e)));"),
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sets_up_the_team_tokens_webhooks_and_replays_kept_pushes() {
    let imhub = Imhub::start("team", "团队小店").await;
    imhub.add_user(BOSS, "李经理", "admin", BOSS_PASSWORD).await;
    let outbound = serve(Router::new().route("/replies", post(|| async { "ok" }))).await;
    let channel = imhub
        .ok(
            "POST",
            "/api/v1/channels",
            json!({"platform": "custom", "name": "官网客服",
                   "config": {"secret": SECRET, "outbound_url": format!("{outbound}/replies")}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    imhub
        .ok(
            "POST",
            "/api/v1/accounts",
            json!({"channel_id": channel, "external_id": "shop-1", "name": "旗舰店"}),
        )
        .await;
    let receiver = Receiver::default();
    receiver.refuse.store(true, Ordering::SeqCst);
    let hooks = serve(
        Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone()),
    )
    .await;

    let Some(a) = browser(1280, 900).await else {
        return;
    };
    let Some(b) = browser(1280, 860).await else {
        a.close().await;
        return;
    };

    // ---------- 客服: the admin adds 小王 ----------
    sign_in(&a, &imhub.base, BOSS, BOSS_PASSWORD).await;
    open_settings(&a, "agents").await;
    // Checked before sending: nothing typed yet, then a bad e-mail; the name stays.
    a.click("#agent-new .console-submit").await;
    a.until(
        "the e-mail refused before sending",
        "document.querySelector('#agent-new').dataset.state === 'invalid' && !document.querySelector('#agent-new [data-field=email] .field-error').hidden",
    )
    .await;
    fill(&a, "#agent-new .agent-new-name", "小王").await;
    fill(&a, "#agent-new .agent-new-email", "wang-at-shop").await;
    a.click("#agent-new .console-submit").await;
    a.until(
        "the bad e-mail refused, the name kept",
        "document.querySelector('#agent-new').dataset.state === 'invalid' && document.querySelector('#agent-new .agent-new-name').value === '小王' && document.querySelector('#agent-new [data-field=name] .field-error').hidden",
    )
    .await;
    fill(&a, "#agent-new .agent-new-email", WANG).await;
    a.click("#agent-new .console-submit").await;
    a.until(
        "the first password shown once",
        "document.querySelector('#agent-initial-password .secret-value')?.value.length >= 8",
    )
    .await;
    let password = text(&a, "#agent-initial-password .secret-value").await;
    assert!(
        text(&a, "#agent-initial-password").await.contains(WANG),
        "the notice names the e-mail to log in with"
    );
    a.shot("console-team-00-agent-added").await;
    let users = imhub.ok("GET", "/api/v1/users", Value::Null).await;
    let wang = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == WANG)
        .expect("小王 added")["id"]
        .as_i64()
        .unwrap();
    // The same e-mail again: the server's refusal next to the e-mail, what was typed kept.
    fill(&a, "#agent-new .agent-new-name", "小王二号").await;
    fill(&a, "#agent-new .agent-new-email", WANG).await;
    a.click("#agent-new .console-submit").await;
    a.until(
        "the conflict next to the e-mail",
        "document.querySelector('#agent-new').dataset.state === 'refused' && !document.querySelector('#agent-new [data-field=email] .field-error').hidden && document.querySelector('#agent-new .agent-new-name').value === '小王二号'",
    )
    .await;
    // Capacity from the agent's row.
    let row = format!("#agent-list .agent-row[data-user-id=\"{wang}\"]");
    fill(&a, &format!("{row} .agent-capacity"), "3").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let team = imhub.ok("GET", "/api/v1/team/agents", Value::Null).await;
        let items = team
            .as_array()
            .or(team["items"].as_array())
            .unwrap()
            .clone();
        if items.iter().any(|x| x["id"] == wang && x["capacity"] == 3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the capacity never reached the server: {team}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // ---------- a customer writes; the chat is 小王's ----------
    let (status, body) = imhub
        .custom_push(
            channel,
            SECRET,
            push(1, "shop-1", "visitor-ming", "你好，想问下发货时间"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ming = conversation(&imhub, "visitor-ming").await;
    imhub
        .ok(
            "PUT",
            &format!("/api/v1/conversations/{ming}/assignment"),
            json!({"assignee_id": wang}),
        )
        .await;

    // ---------- 小王 logs in with the first password and sees it ----------
    sign_in(&b, &imhub.base, WANG, &password).await;
    b.click("#views [data-view=mine]").await;
    b.until(
        "小王's chat in 我的",
        &format!("document.querySelector('#conv-list .conv[data-id=\"{ming}\"]')"),
    )
    .await;
    b.shot("console-team-01-agent-inbox").await;
    // An agent sees her profile, not the admin pages.
    open_settings(&b, "profile").await;
    let hidden = b
        .js("return ['agents','tokens','webhooks','kept'].every(p => document.querySelector(`#settings-nav [data-page=${p}]`).hidden)")
        .await;
    assert_eq!(hidden, json!(true), "admin tabs hidden from an agent");
    // Name and avatar.
    fill(&b, "#profile-basics .profile-name", "王小二").await;
    b.click("#profile-basics .console-submit").await;
    b.until("the name saved", "document.querySelector('#profile-basics').dataset.state === 'done' && document.querySelector('#me-name').textContent === '王小二'")
        .await;
    let png = std::env::temp_dir().join(format!("imhub-console-avatar-{}.png", std::process::id()));
    std::fs::write(&png, PNG).unwrap();
    b.client
        .find(Locator::Css("#profile-avatar-file"))
        .await
        .unwrap()
        .send_keys(png.to_str().unwrap())
        .await
        .unwrap();
    b.until(
        "the avatar in the sidebar",
        "document.querySelector('#me-avatar img')?.naturalWidth > 0",
    )
    .await;
    let _ = std::fs::remove_file(&png);
    let me = page_fetch(&b, "/api/v1/session").await;
    assert_eq!(me["name"], "王小二", "{me}");
    assert!(
        me["avatar_url"].as_str().is_some_and(|u| !u.is_empty()),
        "{me}"
    );
    // Password: the check before sending, then a wrong current password next to its field.
    open_settings(&b, "profile").await;
    fill(&b, "#profile-password .profile-current", "not-my-password").await;
    fill(&b, "#profile-password .profile-new", "new-pa55word!").await;
    fill(&b, "#profile-password .profile-repeat", "new-pa55word?").await;
    b.click("#profile-password .console-submit").await;
    b.until(
        "the mismatch refused before sending",
        "!document.querySelector('#profile-password [data-field=repeat] .field-error').hidden",
    )
    .await;
    fill(&b, "#profile-password .profile-repeat", "new-pa55word!").await;
    b.click("#profile-password .console-submit").await;
    b.until(
        "the wrong current password at its field",
        "document.querySelector('#profile-password').dataset.state === 'refused' && !document.querySelector('#profile-password [data-field=current_password] .field-error').hidden && document.querySelector('#profile-password .profile-new').value === 'new-pa55word!'",
    )
    .await;
    fill(&b, "#profile-password .profile-current", &password).await;
    b.click("#profile-password .console-submit").await;
    b.until(
        "the password changed",
        "document.querySelector('#profile-password').dataset.changed === '1'",
    )
    .await;
    // Availability from the profile.
    b.click("#profile-availability .profile-availability-away")
        .await;
    b.until(
        "away",
        "document.querySelector('#availability').dataset.state === 'away'",
    )
    .await;
    // Her pages in Chinese, then English (kept in her profile), then sign out everywhere.
    every_page(&b, false, false).await;
    switch_language(&b, "en", "Settings").await;
    let me = page_fetch(&b, "/api/v1/session").await;
    assert_eq!(
        me["language"], "en",
        "the language is kept in the profile: {me}"
    );
    every_page(&b, true, false).await;
    open_settings(&b, "profile").await;
    b.click("#profile-logout-everywhere").await;
    b.click("dialog.confirm-dialog[open] .confirm-ok").await;
    b.until(
        "小王 signed out",
        "!document.querySelector('#login').hidden",
    )
    .await;
    let me = page_fetch(&b, "/api/v1/session").await;
    assert_eq!(me["code"], "unauthorized", "{me}");

    // ---------- API 令牌 ----------
    open_settings(&a, "tokens").await;
    a.click("#token-new .console-submit").await;
    a.until(
        "the name required",
        "!document.querySelector('#token-new [data-field=name] .field-error').hidden",
    )
    .await;
    fill(&a, "#token-new .token-new-name", "ERP 同步").await;
    a.select("#token-new .token-new-expiry", "90").await;
    a.click("#token-new .console-submit").await;
    a.until(
        "the token shown once",
        "document.querySelector('#token-secret .secret-value')?.value.startsWith('imh_')",
    )
    .await;
    let token = text(&a, "#token-secret .secret-value").await;
    a.until(
        "the copy button",
        "document.querySelector('#token-secret .secret-copy')",
    )
    .await;
    let (status, _) = imhub
        .call_with(&token, "GET", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 200, "the new token works");
    a.shot("console-team-02-token").await;
    let token_row = "#token-list .token-row[data-name=\"ERP 同步\"]";
    // Refresh so the row shows when it was last used.
    open_settings(&a, "agents").await;
    open_settings(&a, "tokens").await;
    a.until(
        "the token listed",
        &format!("document.querySelector('{token_row}')"),
    )
    .await;
    a.click(&format!("{token_row} .token-revoke")).await;
    confirm(&a, "ERP 同步").await;
    a.until(
        "the token gone",
        &format!("!document.querySelector('{token_row}')"),
    )
    .await;
    let (status, _) = imhub
        .call_with(&token, "GET", "/api/v1/conversations", None)
        .await;
    assert_eq!(status, 401, "a revoked token is refused");

    // ---------- Webhooks ----------
    open_settings(&a, "webhooks").await;
    fill(
        &a,
        "#webhook-new .webhook-new-url",
        "ftp://example.com/hook",
    )
    .await;
    a.click("#webhook-new .console-submit").await;
    a.until(
        "a non-http URL refused before sending",
        "document.querySelector('#webhook-new').dataset.state === 'invalid'",
    )
    .await;
    // A target only the operator may allow: the server's refusal at the URL.
    fill(
        &a,
        "#webhook-new .webhook-new-url",
        "http://10.20.30.40/hook",
    )
    .await;
    a.click("#webhook-new .console-submit").await;
    a.until(
        "the refused target at the URL",
        "document.querySelector('#webhook-new').dataset.state === 'refused' && !document.querySelector('#webhook-new [data-field=url] .field-error').hidden",
    )
    .await;
    fill(
        &a,
        "#webhook-new .webhook-new-url",
        &format!("{hooks}/hook"),
    )
    .await;
    a.click("#webhook-new .webhook-all").await;
    a.click("#webhook-new .webhook-event[value=\"message.created\"]")
        .await;
    a.click("#webhook-new .console-submit").await;
    a.until(
        "the webhook secret shown once",
        "document.querySelector('#webhook-secret .secret-value')?.value.length >= 16",
    )
    .await;
    let hooks_list = imhub.ok("GET", "/api/v1/webhooks", Value::Null).await;
    let hook = &hooks_list["items"][0];
    assert_eq!(
        hook["event_types"],
        json!(["message.created"]),
        "{hooks_list}"
    );
    let hook_id = hook["id"].as_i64().unwrap();
    let (status, body) = imhub
        .custom_push(channel, SECRET, push(2, "shop-1", "visitor-ming", "在吗？"))
        .await;
    assert_eq!(status, 200, "{body}");
    let hook_row = format!("#webhook-list .webhook-row[data-webhook-id=\"{hook_id}\"]");
    a.click(&format!("{hook_row} .webhook-log-toggle")).await;
    a.until(
        "the refused delivery with its code and next retry",
        &format!("[...document.querySelectorAll('{hook_row} .delivery-row[data-status=pending]')].some(r => r.querySelector('.delivery-code').textContent === '429' && r.querySelector('.delivery-next').textContent.trim() !== '—')"),
    )
    .await;
    a.shot("console-team-03-webhook-log").await;
    receiver.refuse.store(false, Ordering::SeqCst);
    a.click(&format!(
        "{hook_row} .delivery-row[data-status=pending] .delivery-retry"
    ))
    .await;
    a.until(
        "the delivery delivered after retry now",
        &format!("document.querySelector('{hook_row} .delivery-row[data-status=delivered]')"),
    )
    .await;
    assert_eq!(
        receiver.accepted.load(Ordering::SeqCst),
        1,
        "retry now delivered it"
    );
    assert!(receiver.received.load(Ordering::SeqCst) >= 2);
    // Deleted after a confirmation naming its URL.
    a.click(&format!("{hook_row} .webhook-delete")).await;
    confirm(&a, &format!("{hooks}/hook")).await;
    a.until(
        "the subscription gone",
        &format!("!document.querySelector('{hook_row}')"),
    )
    .await;
    let left = imhub.ok("GET", "/api/v1/webhooks", Value::Null).await;
    assert_eq!(left["items"], json!([]), "{left}");

    // ---------- 未处理推送 ----------
    for (n, account, who) in [
        (3, "shop-9", "visitor-li"),
        (4, "shop-9", "visitor-zhao"),
        (5, "shop-9", "visitor-qian"),
    ] {
        let (status, body) = imhub
            .custom_push(channel, SECRET, push(n, account, who, "新店的客人"))
            .await;
        assert_eq!(
            status, 422,
            "a push for an unknown account is kept and refused: {body}"
        );
    }
    open_settings(&a, "kept").await;
    a.until(
        "three kept pushes",
        "document.querySelectorAll('#kept-list .kept-row').length === 3",
    )
    .await;
    let reason = text(&a, "#kept-list .kept-row .kept-reason").await;
    assert!(reason.contains("unknown_account"), "{reason}");
    a.select("#kept-channel", &channel.to_string()).await;
    a.until("filtered by the channel", "document.querySelectorAll('#kept-list .kept-row').length === 3 && document.querySelector('#kept-replay-all')")
        .await;
    a.shot("console-team-04-kept").await;
    // Still unknown: replaying keeps it, with its reason.
    a.click("#kept-list .kept-row .kept-replay").await;
    a.until(
        "still kept",
        "document.querySelector('#kept-list .kept-row').dataset.outcome === 'still_kept'",
    )
    .await;
    imhub
        .ok(
            "POST",
            "/api/v1/accounts",
            json!({"channel_id": channel, "external_id": "shop-9", "name": "新店"}),
        )
        .await;
    a.click("#kept-list .kept-row .kept-replay").await;
    a.until(
        "one replayed",
        "document.querySelector('#kept-list .kept-row').dataset.outcome === 'processed'",
    )
    .await;
    a.click("#kept-replay-all").await;
    a.until("the rest replayed", "document.querySelector('#kept-result').textContent.includes('2') && !document.querySelector('#kept-list .kept-row')")
        .await;
    for who in ["visitor-li", "visitor-zhao", "visitor-qian"] {
        conversation(&imhub, who).await;
    }

    // ---------- the agent's row: role, password reset, disable, delete ----------
    open_settings(&a, "agents").await;
    a.select(&format!("{row} .agent-role"), "admin").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let users = imhub.ok("GET", "/api/v1/users", Value::Null).await;
        if users["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == wang && u["role"] == "admin")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the role never changed: {users}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.select(&format!("{row} .agent-role"), "agent").await;
    a.click(&format!("{row} .agent-reset")).await;
    a.click(&format!("{row} .agent-reset-generate")).await;
    a.click(&format!("{row} .agent-reset-form .console-submit"))
        .await;
    a.until(
        "the new password shown once",
        &format!(
            "document.querySelector('#agent-reset-secret-{wang} .secret-value')?.value.length >= 8"
        ),
    )
    .await;
    let reset = text(&a, &format!("#agent-reset-secret-{wang} .secret-value")).await;
    sign_in(&b, &imhub.base, WANG, &reset).await;
    a.click(&format!("{row} .agent-toggle")).await;
    confirm(&a, WANG).await;
    a.until(
        "小王 disabled",
        &format!("document.querySelector('{row}.is-disabled')"),
    )
    .await;
    let me = page_fetch(&b, "/api/v1/session").await;
    assert_eq!(me["code"], "unauthorized", "disabling signs 小王 out: {me}");
    // Escape cancels a confirmation: nothing happens.
    a.click(&format!("{row} .agent-delete")).await;
    a.until(
        "the delete confirmation",
        "document.querySelector('dialog.confirm-dialog[open]')",
    )
    .await;
    a.client
        .find(Locator::Css("dialog.confirm-dialog[open] .confirm-cancel"))
        .await
        .unwrap()
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    a.until(
        "the confirmation cancelled",
        "!document.querySelector('dialog.confirm-dialog')",
    )
    .await;
    assert_eq!(a.count(&row).await, 1, "cancelled: 小王 stays");
    // The admin's own role is refused next to the row, the select put back.
    let own = format!("#agent-list .agent-row[data-email=\"{BOSS}\"]");
    a.select(&format!("{own} .agent-role"), "agent").await;
    a.until(
        "cannot demote oneself",
        &format!("!document.querySelector('{own} .row-error').hidden && document.querySelector('{own} .agent-role').value === 'admin'"),
    )
    .await;
    a.click(&format!("{row} .agent-delete")).await;
    confirm(&a, WANG).await;
    a.until("小王 deleted", &format!("!document.querySelector('{row}')"))
        .await;
    let users = imhub.ok("GET", "/api/v1/users", Value::Null).await;
    assert!(
        !users["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == wang),
        "{users}"
    );

    // ---------- every page in both languages ----------
    every_page(&a, false, true).await;
    switch_language(&a, "en", "Settings").await;
    every_page(&a, true, true).await;
    switch_language(&a, "zh-CN", "设置").await;
    every_page(&a, false, true).await;
    // Phone width: every page fits, nothing scrolls sideways.
    a.client.set_window_size(390, 844).await.unwrap();
    for (page, _, _) in PAGES {
        open_settings(&a, page).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let fits = a
            .js("const p = document.querySelector('#settings-page'); return p.scrollWidth <= p.clientWidth + 1")
            .await;
        assert_eq!(
            fits,
            json!(true),
            "the {page} page scrolls sideways at phone width"
        );
        a.shot(&format!("console-team-{page}-phone")).await;
    }
    // Both catalogues carry every key of these pages.
    let diff = a
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               Promise.all([import('/inbox/js/i18n/zh-CN.js'), import('/inbox/js/i18n/en.js')]).then(([zh, en]) => {
                 const mine = (k) => /^(settings\.(agents|profile|tokens|webhooks|kept)|console\.|agents\.|profile\.|tokens\.|webhooks\.|kept\.)/.test(k);
                 const z = Object.keys(zh.default).filter(mine), e = Object.keys(en.default).filter(mine);
                 done({ zh_only: z.filter((k) => !(k in en.default)), en_only: e.filter((k) => !(k in zh.default)), n: z.length });
               }, (err) => done(String(err)));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(diff["zh_only"], json!([]), "{diff}");
    assert_eq!(diff["en_only"], json!([]), "{diff}");
    assert!(diff["n"].as_u64().unwrap() > 100, "{diff}");

    a.close().await;
    b.close().await;
}
