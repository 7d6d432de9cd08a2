//! The console's channel pages in Chromium, from a fresh `imhub serve`: an
//! admin logs in; a custom channel's form checks what is typed before
//! sending and shows the server's refusal next to its field, keeping what
//! was typed; a Douyin channel pointed at the sandbox is connected and its
//! webhook URL and platform values shown; an account is authorized through
//! the sandbox's QR page (the platform's redirect reaches imhub's callback
//! through the https front) and appears by itself; a customer writes in
//! (the sandbox's signed push to the webhook URL the page showed) and the
//! message appears in the inbox; channel health shows the push; the account
//! is renamed; a withdrawn authorization is flagged in the settings, above
//! the chat list and in the account filter, and re-authorized from there;
//! every page renders in Chinese and in English without a missing key; the
//! custom channel is disconnected after a confirmation naming it.
//! Screenshots land in `target/screenshots/console-*.png`.

use std::time::{Duration, Instant};

use imhub_sandbox::{
    douyin::{CustomerMessage, DouyinSandbox},
    meituan::{MeituanSandbox, SandboxApp},
};
use serde_json::Value;

use crate::{
    browser::{Browser, ENTER, browser_with},
    server::{ADMIN_EMAIL, Console, PASSWORD, chromium_args, serve},
};

const KEY: &str = "awx_console_app";
const SECRET: &str = "douyin-console-secret";
const SHOP: &str = "b_open_console_shop";
const MING: (&str, &str) = ("c_open_console_ming", "王小明");
const MEITUAN_APP: &str = "7788";
const MEITUAN_SECRET: &str = "meituan-console-secret-0123";
const MEITUAN_STORE: &str = "poi_console_01";

/// The settings pages of this module and words each shows in each language.
const PAGES: &[(&str, &str, &str)] = &[
    ("channels", "连接抖音", "Connect Douyin"),
    ("douyin", "扫码授权", "Authorize by QR"),
    ("health", "今日推送", "Pushes today"),
    ("accounts", "显示名称", "Display name"),
];

/// A JS expression: the settings dialog shows no catalogue key (`t()`
/// returns the key itself when a string is missing).
const NO_MISSING_KEYS: &str = r"!/(^|[\s(（])(settings|channel|douyin|health|account|form|secret|common|error)\.[a-z_]+(\.[a-z_]+)*/m.test(document.querySelector('#settings').innerText) && !/(^|\s)(null|undefined|NaN)(\s|$)/m.test(document.querySelector('#settings').innerText)";

async fn sign_in(b: &Browser, base: &str) {
    b.client.goto(base).await.unwrap();
    b.until("the login form", "!document.querySelector('#login').hidden")
        .await;
    b.type_into("#login-email", ADMIN_EMAIL).await;
    b.type_into("#login-password", &format!("{PASSWORD}{ENTER}"))
        .await;
    b.until(
        "the live inbox",
        "!document.querySelector('#app').hidden && document.querySelector('#live').dataset.state === 'live'",
    )
    .await;
}

async fn open_settings(b: &Browser, page: &str) {
    let open = b
        .js("return document.querySelector('#settings').open")
        .await;
    if open != Value::Bool(true) {
        b.click("#me-button").await;
        b.click("#open-settings").await;
    }
    b.click(&format!("#settings-nav .settings-tab[data-page={page}]"))
        .await;
    b.until(
        &format!("the {page} page"),
        &format!("document.querySelector('#settings-nav .settings-tab.active')?.dataset.page === '{page}' && !document.querySelector('#settings-page').innerText.includes('加载中') && !document.querySelector('#settings-page').innerText.includes('Loading')"),
    )
    .await;
}

/// Replaces an input's value as a person would (select all, type).
async fn retype(b: &Browser, css: &str, text: &str) {
    b.js(&format!(
        "const el = document.querySelector({css:?}); el.value = ''; el.focus(); return true"
    ))
    .await;
    b.type_into(css, text).await;
}

/// Waits until the API shows `ok` for the first account of the channel.
async fn until_account(console: &Console, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = console.ok("GET", "/api/v1/accounts", None).await;
        if let Some(a) = list["items"].as_array().unwrap().iter().find(|a| ok(a)) {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no account {what}: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_connects_douyin_authorizes_by_qr_and_sees_the_first_message() {
    let sandbox = DouyinSandbox::new();
    sandbox.add_app(KEY, SECRET);
    sandbox.add_account(SHOP, "抖音小店");
    sandbox.add_customer(MING.0, Some(MING.1), None);
    let platform = serve(imhub_sandbox::douyin::router(sandbox.clone())).await;
    let meituan = MeituanSandbox::new();
    meituan
        .add_app(SandboxApp::new(
            MEITUAN_APP,
            MEITUAN_SECRET,
            &[MEITUAN_STORE],
        ))
        .unwrap();
    // Meituan says three customers' messages could not be pushed lately.
    meituan.set_failed_user_count(MEITUAN_APP, 3);
    let meituan_api = serve(imhub_sandbox::meituan::router(meituan.clone())).await;
    let console = Console::start(
        "channels",
        &[
            ("IMHUB_PLATFORMS__DOUYIN__BASE_URL", platform),
            (
                "IMHUB_PLATFORMS__MEITUAN__BASE_URL",
                format!("{meituan_api}/api/v1/"),
            ),
        ],
    )
    .await;
    let args = chromium_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(b) = browser_with(1280, 900, &args).await else {
        return;
    };
    sign_in(&b, &console.base).await;

    // ---- a custom channel: checks before sending, the server's refusal at its field ----
    open_settings(&b, "channels").await;
    b.until(
        "no channel yet",
        "document.querySelector('#channel-list').innerText.includes('还没有连接渠道')",
    )
    .await;
    b.click(".platform-connect[data-platform=custom]").await;
    b.until(
        "the custom form",
        "!!document.querySelector('#new-channel[data-platform=custom]')",
    )
    .await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "the required fields flagged",
        "!document.querySelector('#new-channel [data-error-for=name]').hidden && !document.querySelector('#new-channel [data-error-for=secret]').hidden",
    )
    .await;
    b.type_into("#new-channel [name=name]", "官网客服").await;
    b.type_into("#new-channel [name=secret]", "short").await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "a short secret refused before sending",
        "document.querySelector('#new-channel [data-error-for=secret]').innerText.includes('16')",
    )
    .await;
    let (_, none) = console.call("GET", "/api/v1/channels", None).await;
    assert_eq!(
        none["items"].as_array().map(Vec::len),
        Some(0),
        "nothing may be sent yet: {none}"
    );
    retype(
        &b,
        "#new-channel [name=secret]",
        "custom-console-secret-0123",
    )
    .await;
    b.type_into(
        "#new-channel [name=outbound_url]",
        "http://169.254.169.254/reply",
    )
    .await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "the refused outbound URL shown at its field",
        "!document.querySelector('#new-channel [data-error-for=outbound_url]').hidden",
    )
    .await;
    let kept = b
        .js("return [document.querySelector('#new-channel [name=name]').value, document.querySelector('#new-channel [name=outbound_url]').value]")
        .await;
    assert_eq!(
        kept,
        serde_json::json!(["官网客服", "http://169.254.169.254/reply"]),
        "what was typed stays"
    );
    b.shot("console-channel-refused").await;
    retype(&b, "#new-channel [name=outbound_url]", "").await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "the custom channel connected",
        "!!document.querySelector('#channel-created')",
    )
    .await;
    b.until("its push URL", "document.querySelector('#channel-created .webhook-url').value.includes('/webhooks/custom/')").await;

    // ---- the Douyin channel ----
    b.click(".platform-connect[data-platform=douyin]").await;
    b.until(
        "the douyin form",
        "!!document.querySelector('#new-channel[data-platform=douyin]')",
    )
    .await;
    b.until(
        "the form says where to find the fields",
        "document.querySelector('#new-channel').innerText.includes('管理中心') && document.querySelector('#new-channel').innerText.includes('Client Secret')",
    )
    .await;
    b.type_into("#new-channel [name=name]", "抖音企业号").await;
    b.type_into("#new-channel [name=client_key]", KEY).await;
    b.type_into("#new-channel [name=client_secret]", SECRET)
        .await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "the douyin channel connected",
        "document.querySelector('#channel-created')?.innerText.includes('抖音企业号')",
    )
    .await;
    let webhook = b
        .js("return document.querySelector('#channel-created .webhook-url').value")
        .await
        .as_str()
        .unwrap()
        .to_string();
    let path = webhook
        .strip_prefix(&console.public_url)
        .unwrap_or_else(|| panic!("the webhook URL {webhook} is under public_url"))
        .to_string();
    assert!(path.starts_with("/webhooks/douyin/"), "{webhook}");
    let channel: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    b.until(
        "the OAuth redirect URI to paste",
        "document.querySelector('#channel-created .platform-value[data-key=douyin_oauth_redirect_uri] input')?.value.endsWith('/api/v1/douyin/oauth/callback')",
    )
    .await;
    // The secret is write-only: the list says it is set, and never shows it.
    b.until(
        "the secret shown as set",
        &format!("document.querySelector('.channel-row[data-channel-id=\"{channel}\"] [data-secret=client_secret]')?.classList.contains('set')"),
    )
    .await;
    let page = b
        .js("return document.querySelector('#settings').innerHTML")
        .await;
    assert!(
        !page.as_str().unwrap().contains(SECRET),
        "the secret never reaches the page"
    );
    b.shot("console-channel-created").await;
    // The platform pushes to the URL the page showed (the front's path on imhub itself).
    sandbox.set_webhook_url(KEY, &format!("{}{path}", console.base));

    // ---- QR authorization through the sandbox's page ----
    b.click("#channel-created .douyin-authorize").await;
    b.until(
        "the authorized account on 抖音账号",
        &format!("document.querySelector('.douyin-channel[data-channel-id=\"{channel}\"] .account-row')?.innerText.includes('{SHOP}')"),
    )
    .await;
    let account = until_account(&console, "authorized", |a| a["external_id"] == SHOP).await;
    let account_id = account["id"].as_i64().unwrap();
    assert_eq!(account["state"], "active", "{account}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.client.windows().await.unwrap().len() > 1 {
        assert!(
            Instant::now() < deadline,
            "the authorization window stays open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("console-douyin-authorized").await;

    // ---- edit the Douyin channel: the stored secret is kept when not typed ----
    open_settings(&b, "channels").await;
    let douyin_row = format!(".channel-row[data-channel-id=\"{channel}\"]");
    b.click(&format!("{douyin_row} .channel-edit")).await;
    let edit = format!("#edit-channel-{channel}");
    b.until(
        "the edit form with the secret shown as set",
        &format!("document.querySelector('{edit} [data-field=client_secret] .secret-state')?.classList.contains('set') && document.querySelector('{edit} [name=client_secret]').value === ''"),
    )
    .await;
    retype(&b, &format!("{edit} [name=name]"), "抖音旗舰店").await;
    b.click(&format!("{edit} .channel-save")).await;
    b.until(
        "the renamed channel",
        &format!(
            "document.querySelector('{douyin_row} .channel-name')?.innerText === '抖音旗舰店'"
        ),
    )
    .await;
    let saved = console
        .ok("GET", &format!("/api/v1/channels/{channel}"), None)
        .await;
    assert_eq!(saved["name"], "抖音旗舰店", "{saved}");
    assert_eq!(
        saved["secrets"]["client_secret"], true,
        "the secret is kept: {saved}"
    );

    // ---- a Meituan channel: checked before sending; its push URL and live status ----
    b.click(".platform-connect[data-platform=meituan]").await;
    b.until(
        "the meituan form",
        "!!document.querySelector('#new-channel[data-platform=meituan]')",
    )
    .await;
    b.type_into("#new-channel [name=name]", "美团外卖").await;
    b.type_into("#new-channel [name=app_id]", "app-7788").await;
    b.type_into("#new-channel [name=app_secret]", "too-short")
        .await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "a non-numeric app_id and a short secret refused before sending",
        "!document.querySelector('#new-channel [data-error-for=app_id]').hidden && !document.querySelector('#new-channel [data-error-for=app_secret]').hidden",
    )
    .await;
    retype(&b, "#new-channel [name=app_id]", MEITUAN_APP).await;
    retype(&b, "#new-channel [name=app_secret]", MEITUAN_SECRET).await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "the Meituan push URL to paste",
        "document.querySelector('#channel-created .platform-value[data-key=meituan_im_push_url] input')?.value.includes('/webhooks/meituan/')",
    )
    .await;
    let meituan_channel = b
        .js("return Number(document.querySelector('#channel-created').dataset.channelId)")
        .await
        .as_i64()
        .unwrap();

    // ---- rename the account ----
    open_settings(&b, "accounts").await;
    let row = format!(".account-row[data-account-id=\"{account_id}\"]");
    retype(&b, &format!("{row} .account-name-input"), "抖音小店").await;
    b.click(&format!("{row} .account-save")).await;
    until_account(&console, "renamed", |a| {
        a["id"] == account_id && a["name"] == "抖音小店"
    })
    .await;
    b.until(
        "the renamed account",
        &format!("document.querySelector('{row} .account-name')?.innerText === '抖音小店'"),
    )
    .await;
    // Disabled, then enabled again.
    for (disabled, tag) in [(true, "已停用"), (false, "正常")] {
        b.click(&format!("{row} .account-disabled")).await;
        b.click(&format!("{row} .account-save")).await;
        until_account(
            &console,
            if disabled { "disabled" } else { "enabled" },
            |a| a["id"] == account_id && a["disabled"] == disabled,
        )
        .await;
        b.until(
            &format!("the account shown {tag}"),
            &format!("document.querySelector('{row} .account-state')?.innerText === '{tag}'"),
        )
        .await;
    }

    // ---- a customer writes in; the message appears in the inbox ----
    b.click("#settings-close").await;
    sandbox
        .customer(KEY, SHOP, MING.0)
        .send(CustomerMessage::Text("你好，想问下什么时候发货".into()))
        .await
        .unwrap_or_else(|e| panic!("the push failed: {e:?}"));
    b.until(
        "the customer's message in the chat list",
        &format!("document.querySelector('#conv-list').innerText.includes('{}') && document.querySelector('#conv-list').innerText.includes('什么时候发货')", MING.1),
    )
    .await;
    b.shot("console-first-message").await;

    // ---- channel health shows the push ----
    open_settings(&b, "health").await;
    let health = format!(".health-row[data-channel-id=\"{channel}\"]");
    b.until(
        "today's push counted",
        &format!("document.querySelector('{health} [data-stat=pushes_today] strong')?.innerText !== '0' && !document.querySelector('{health} [data-stat=last_push]').innerText.includes('从未')"),
    )
    .await;
    b.until(
        "the douyin account with its token expiry",
        &format!(
            "document.querySelector('{health} .health-accounts')?.innerText.includes('抖音小店')"
        ),
    )
    .await;
    let meituan_health = format!(".health-row[data-channel-id=\"{meituan_channel}\"]");
    b.until(
        "Meituan's userCount and its warning",
        &format!("document.querySelector('{meituan_health} [data-stat=meituan_user_count] strong')?.innerText === '3' && document.querySelector('{meituan_health} .meituan-status').innerText.includes('3 位客户')"),
    )
    .await;
    b.shot("console-health").await;

    // ---- a withdrawn authorization is flagged everywhere and re-authorized ----
    sandbox
        .push_authorization(KEY, SHOP, "contract_unauthorize", &[])
        .await
        .unwrap_or_else(|e| panic!("the unauthorize push failed: {e:?}"));
    until_account(&console, "needing re-authorization", |a| {
        a["id"] == account_id && a["state"] == "needs_reauthorization"
    })
    .await;
    open_settings(&b, "douyin").await;
    let flagged = format!(
        ".douyin-channel .account-row[data-account-id=\"{account_id}\"][data-state=needs_reauthorization]"
    );
    b.until(
        "the flag on 抖音账号",
        &format!("!!document.querySelector('{flagged} .douyin-reauthorize')"),
    )
    .await;
    b.until("the flag above the chat list", "!document.querySelector('#reauth-notice')?.hidden && document.querySelector('#reauth-notice').innerText.includes('抖音小店')").await;
    b.until(
        "the flag in the account filter",
        &format!("document.querySelector('#filter-account option[value=\"{account_id}\"]')?.textContent.includes('需重新授权')"),
    )
    .await;
    b.until(
        "the reason in words",
        &format!("document.querySelector('{flagged} .state-reason')?.innerText.includes('取消了经营授权')"),
    )
    .await;
    b.shot("console-needs-reauth").await;
    b.click(&format!("{flagged} .douyin-reauthorize")).await;
    until_account(&console, "re-authorized", |a| {
        a["id"] == account_id && a["state"] == "active"
    })
    .await;
    b.until(
        "the flag gone",
        &format!("!!document.querySelector('.douyin-channel .account-row[data-account-id=\"{account_id}\"][data-state=active]') && (document.querySelector('#reauth-notice')?.hidden ?? true)"),
    )
    .await;

    // ---- every page in Chinese, then in English, with no missing key ----
    for (page, zh, _) in PAGES {
        open_settings(&b, page).await;
        b.until(
            &format!("{page} in Chinese"),
            &format!("document.querySelector('#settings-page').innerText.includes('{zh}')"),
        )
        .await;
        b.until(&format!("{page} without a missing key"), NO_MISSING_KEYS)
            .await;
    }
    b.click("#settings-close").await;
    b.click("#me-button").await;
    b.click("#switch-lang").await;
    b.until(
        "the inbox in English",
        "document.documentElement.lang === 'en' && !document.querySelector('#app').hidden",
    )
    .await;
    for (page, _, en) in PAGES {
        open_settings(&b, page).await;
        b.until(
            &format!("{page} in English"),
            &format!("document.querySelector('#settings-page').innerText.includes('{en}')"),
        )
        .await;
        b.until(
            &format!("{page} in English without a missing key"),
            NO_MISSING_KEYS,
        )
        .await;
        b.shot(&format!("console-en-{page}")).await;
    }

    // ---- the Tencent form says where its values are and checks them ----
    open_settings(&b, "channels").await;
    b.click(".platform-connect[data-platform=tencent]").await;
    b.until("the tencent form", "document.querySelector('#new-channel[data-platform=tencent]')?.innerText.includes('SDKAppID')").await;
    b.type_into("#new-channel [name=sdkappid]", "14000x").await;
    b.click("#new-channel .channel-save").await;
    b.until(
        "a non-numeric SDKAppID refused before sending",
        "!document.querySelector('#new-channel [data-error-for=sdkappid]').hidden && !document.querySelector('#new-channel [data-error-for=key]').hidden",
    )
    .await;
    b.click("#new-channel .btn:not(.channel-save)").await;

    // ---- at phone width the pages fit the screen ----
    b.client.set_window_size(390, 844).await.unwrap();
    for (page, _, _) in PAGES {
        open_settings(&b, page).await;
        b.until(
            &format!("{page} fitting a phone"),
            "document.querySelector('#settings-page').scrollWidth <= document.querySelector('#settings-page').clientWidth + 1",
        )
        .await;
    }
    b.shot("console-phone").await;

    // ---- disconnect the custom channel, after a confirmation naming it ----
    open_settings(&b, "channels").await;
    let custom = console.ok("GET", "/api/v1/channels", None).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["platform"] == "custom")
        .cloned()
        .expect("the custom channel");
    let custom_row = format!(".channel-row[data-channel-id=\"{}\"]", custom["id"]);
    b.click(&format!("{custom_row} .channel-disconnect")).await;
    b.until(
        "the confirmation names the channel",
        "document.querySelector('.confirm-dialog[open]')?.innerText.includes('官网客服')",
    )
    .await;
    b.click(".confirm-dialog[open] .confirm-cancel").await;
    b.until("cancelled, the channel stays", &format!("!document.querySelector('.confirm-dialog[open]') && !!document.querySelector('{custom_row}')")).await;
    b.click(&format!("{custom_row} .channel-disconnect")).await;
    b.click(".confirm-dialog[open] .confirm-ok").await;
    b.until(
        "the channel gone from the list",
        &format!(
            "!document.querySelector('{custom_row}') && !!document.querySelector('#channel-list')"
        ),
    )
    .await;
    let hook = console
        .http
        .post(format!("{}/webhooks/custom/{}", console.base, custom["id"]))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hook.status().as_u16(),
        404,
        "a disconnected channel's webhook is unknown"
    );
    b.close().await;
}
