//! The team inbox in real browsers: two agents, each in a headless Chromium
//! of their own (two WebDriver sessions), against one real imhub server on a
//! real SQLite file, with a Douyin channel connected to the Douyin emulator
//! of `imhub-sandbox` through imhub's QR authorization, and simulated Douyin
//! customers writing in.
//!
//! The scenario: auto-assignment respects availability and capacity (an
//! agent away gets nothing; with a capacity of one the second chat waits,
//! and goes to the other agent when she comes online); a private note with
//! an `@` mention never reaches the platform; a quick reply with variables,
//! picked with `/` and the keyboard, reaches the Douyin customer filled in
//! and edited; labels are applied in bulk from the list; contact notes are
//! saved from the contact panel; a snoozed chat comes back by itself; a
//! Chinese phrase is found from the list's search and opens the chat at the
//! message. Screenshots land in `target/screenshots/team-*.png`.

mod browser;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use browser::{Browser, ENTER, browser};
use imhub_core::{ChannelId, Role};
use imhub_sandbox::douyin::{CustomerMessage, DouyinSandbox};
use imhub_server::{Config, api::douyin::start_authorization, auth};
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

const KEY: &str = "awx_team_inbox";
const SECRET: &str = "douyin-team-secret";
const SHOP: &str = "b_open_team_shop";
/// Douyin redirects only to https: the authorize URL names this address,
/// and the test follows the emulator's redirect to imhub itself.
const PUBLIC_URL: &str = "https://imhub-team.localhost";
const PASSWORD: &str = "team-pa55word!";
const WANG_EMAIL: &str = "wang@shop.cn";
const ZHANG_EMAIL: &str = "zhang@shop.cn";
const BOSS_EMAIL: &str = "boss@shop.cn";
/// The customers: open id and nickname.
const MING: (&str, &str) = ("c_open_ming", "王小明");
const LI: (&str, &str) = ("c_open_li", "李女士");
/// Longer waits for what happens on the server's own schedule (timers).
const SLOW: Duration = Duration::from_secs(40);

struct Team {
    base: String,
    http: reqwest::Client,
    /// An admin API token of the workspace.
    token: String,
    sandbox: DouyinSandbox,
    account: i64,
    wang: i64,
    zhang: i64,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

impl Team {
    /// imhub with two agents (小王, 小张) and an admin token; a Douyin
    /// channel pointed at a fresh emulator and the shop authorized through
    /// the QR flow.
    async fn start() -> Team {
        let sandbox = DouyinSandbox::new();
        sandbox.add_app(KEY, SECRET);
        sandbox.add_account(SHOP, "抖音小店");
        for (id, nickname) in [MING, LI] {
            sandbox.add_customer(id, Some(nickname), None);
        }
        let platform = serve(imhub_sandbox::douyin::router(sandbox.clone())).await;

        let store = Arc::new(
            SqlStore::open(StoreOptions::new(testing::sqlite_database()))
                .await
                .unwrap(),
        );
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        config.delivery.backoff_base_ms = 20;
        config.delivery.backoff_max_ms = 100;
        config.delivery.max_attempts = 3;
        config.platforms.douyin.base_url = Some(platform);
        let platforms = config.platforms.clone();
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("团队小店").await.unwrap().id;
        let token = auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (email, name) in [(WANG_EMAIL, "小王"), (ZHANG_EMAIL, "小张")] {
            let user = auth::add_user(store.as_ref(), ws, email, name, Role::Agent, PASSWORD)
                .await
                .unwrap();
            ids.push(user.id.0);
        }
        auth::add_user(
            store.as_ref(),
            ws,
            BOSS_EMAIL,
            "李经理",
            Role::Admin,
            PASSWORD,
        )
        .await
        .unwrap();
        let mut team = Team {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            token,
            sandbox,
            account: 0,
            wang: ids[0],
            zhang: ids[1],
        };
        let channel = team
            .ok(
                "POST",
                "/api/v1/channels",
                json!({"platform": "douyin", "name": "抖音企业号",
                       "config": {"client_key": KEY, "client_secret": SECRET}}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        team.sandbox
            .set_webhook_url(KEY, &format!("{}/webhooks/douyin/{channel}", team.base));
        let store: Arc<dyn Store> = store;
        let authorize = start_authorization(&store, &platforms, ws, ChannelId(channel), PUBLIC_URL)
            .await
            .map_err(|e| e.code)
            .unwrap();
        let page = team.http.get(&authorize.url).send().await.unwrap();
        let back = page.headers()["location"]
            .to_str()
            .unwrap()
            .strip_prefix(PUBLIC_URL)
            .expect("the QR page redirects to imhub")
            .to_string();
        let res = team
            .http
            .get(format!("{}{back}", team.base))
            .send()
            .await
            .unwrap();
        let account: Value = res.json().await.unwrap();
        assert_eq!(account["external_id"], SHOP, "{account}");
        team.account = account["id"].as_i64().unwrap();
        team
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "PUT" => self.http.put(url).json(&body),
            "PATCH" => self.http.patch(url).json(&body),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let res = req.bearer_auth(&self.token).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A call that must succeed.
    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// The customer writes text to the shop, signed like Douyin pushes.
    async fn customer_says(&self, who: (&str, &str), text: &str) {
        self.sandbox
            .customer(KEY, SHOP, who.0)
            .send(CustomerMessage::Text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("the push of {text:?} failed: {e:?}"));
    }

    /// Waits for the conversation with `who` and returns it.
    async fn conversation(&self, who: (&str, &str)) -> Value {
        self.until_conversation(who, "to exist", |_| true, browser::WAIT)
            .await
    }

    /// Waits until the conversation with `who` satisfies `ok`.
    async fn until_conversation(
        &self,
        who: (&str, &str),
        what: &str,
        ok: impl Fn(&Value) -> bool,
        wait: Duration,
    ) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let list = self
                .ok(
                    "GET",
                    "/api/v1/conversations?view=all&limit=200",
                    json!(null),
                )
                .await;
            let found = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["peer_external_id"] == who.0)
                .cloned();
            let found = match found {
                Some(c) => Some(c),
                // Resolved and snoozed chats leave the default list.
                None => {
                    let snoozed = self
                        .ok("GET", "/api/v1/conversations?status=snoozed", json!(null))
                        .await;
                    snoozed["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["peer_external_id"] == who.0)
                        .cloned()
                }
            };
            if let Some(c) = found.filter(|c| ok(c)) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "the conversation with {} never came {what}",
                who.1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the shop sent on Douyin, as the texts the customers received.
    fn sent_texts(&self) -> Vec<String> {
        self.sandbox
            .sent_messages(SHOP)
            .iter()
            .flat_map(|m| m.contents.clone())
            .map(|c| {
                c["text"]["text"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| c.to_string())
            })
            .collect()
    }
}

fn row(id: i64) -> String {
    format!("#conv-list .conv[data-id=\"{id}\"]")
}

fn count(view: &str) -> String {
    format!("document.querySelector('#views [data-count={view}]').textContent")
}

/// Signs `email` in and waits for the live inbox.
async fn sign_in(b: &Browser, base: &str, email: &str) {
    b.client.goto(base).await.unwrap();
    b.until("the login form", "!document.querySelector('#login').hidden")
        .await;
    b.type_into("#login-email", email).await;
    b.type_into("#login-password", &format!("{PASSWORD}{ENTER}"))
        .await;
    b.until(
        "the live inbox",
        "!document.querySelector('#app').hidden && document.querySelector('#live').dataset.state === 'live'",
    )
    .await;
}

/// Picks an availability from the switch in the sidebar.
async fn set_availability(b: &Browser, value: &str) {
    b.click("#availability").await;
    b.click(&format!(
        ".availability-menu .menu-item[data-value={value}]"
    ))
    .await;
    b.until(
        &format!("availability {value}"),
        &format!("document.querySelector('#availability').dataset.state === '{value}'"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_the_douyin_inbox() {
    let team = Team::start().await;
    let (wang, zhang) = (team.wang, team.zhang);

    // The admin's setup: auto-assignment on the Douyin account (in the
    // settings, below), one chat at a time per agent, two labels and a
    // shared quick reply.
    for user in [wang, zhang] {
        team.ok(
            "PUT",
            &format!("/api/v1/users/{user}/capacity"),
            json!({"capacity": 1}),
        )
        .await;
    }
    let vip = team
        .ok(
            "POST",
            "/api/v1/labels",
            json!({"name": "VIP", "color": "#e5484d"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let after_sales = team
        .ok(
            "POST",
            "/api/v1/labels",
            json!({"name": "售后", "color": "#0090ff"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    team.ok(
        "POST",
        "/api/v1/quick-replies",
        json!({"scope": "shared", "folder": "售后", "title": "退款安抚", "shortcut": "tk",
               "text": "{{contact.nickname}} 您好，我是{{agent.name}}，马上为您处理退款"}),
    )
    .await;

    let Some(a) = browser(1440, 900).await else {
        return;
    };
    let Some(b) = browser(1280, 800).await else {
        a.close().await;
        return;
    };
    // The admin turns auto-assignment on for the account in 设置 → 分配
    // (pool left empty: every agent), after a refused team setting shows
    // the server's reason next to the form and keeps what was typed.
    sign_in(&a, &team.base, BOSS_EMAIL).await;
    a.click("#me-button").await;
    a.click("#open-settings").await;
    a.click("#settings-nav [data-page=assignment]").await;
    let form = format!(
        "#assign-accounts form[data-account-id=\"{}\"]",
        team.account
    );
    a.until(
        "the account's assignment form",
        &format!("document.querySelector('{form} .assign-auto')"),
    )
    .await;
    a.js("const i = document.querySelector('#team-offline-minutes'); i.value = '0'; return 0")
        .await;
    a.click("#team-settings-save").await;
    a.until(
        "the refusal next to the team settings",
        "!document.querySelector('#team-settings-error').hidden && document.querySelector('#team-offline-minutes').value === '0'",
    )
    .await;
    a.click(&format!("{form} .assign-auto")).await;
    a.click(&format!("{form} .assign-save")).await;
    a.until(
        "the assignment saved",
        &format!("document.querySelector('{form}').dataset.saved === '1'"),
    )
    .await;
    a.shot("team-00-assignment-settings").await;
    let cfg = team
        .ok(
            "GET",
            &format!("/api/v1/accounts/{}/assignment", team.account),
            json!(null),
        )
        .await;
    assert_eq!(cfg["auto_assign"], true, "{cfg}");
    assert_eq!(cfg["agent_ids"], json!([]), "{cfg}");
    a.click("#settings-close").await;
    a.click("#me-button").await;
    a.click("#logout").await;
    a.until("the login", "!document.querySelector('#login').hidden")
        .await;
    sign_in(&a, &team.base, WANG_EMAIL).await;
    sign_in(&b, &team.base, ZHANG_EMAIL).await;

    // 小王 comes online; 小张 takes a break.
    set_availability(&a, "online").await;
    set_availability(&b, "away").await;
    let agents = team.ok("GET", "/api/v1/team/agents", json!(null)).await;
    let availability = |id: i64| {
        let items = agents.as_array().or(agents["items"].as_array()).unwrap();
        items.iter().find(|x| x["id"] == id).unwrap()["availability"].clone()
    };
    assert_eq!(availability(wang), "online");
    assert_eq!(availability(zhang), "away");

    // The first customer goes to the one agent online, never to the one away.
    team.customer_says(MING, "你好，我想申请退款，订单号 DD-8848")
        .await;
    let ming = team
        .until_conversation(
            MING,
            "assigned to 小王",
            |c| c["assignee_id"] == wang,
            browser::WAIT,
        )
        .await;
    let ming_id = ming["id"].as_i64().unwrap();
    a.until("小王's 我的 count", &format!("{} === '1'", count("mine")))
        .await;
    a.until(
        "the row marked as mine",
        &format!("document.querySelector('{} .assignee.mine')", row(ming_id)),
    )
    .await;

    // 小王 is at capacity and 小张 is away: the second customer waits, unassigned.
    team.customer_says(LI, "请问什么时候发货？").await;
    let li = team.conversation(LI).await;
    let li_id = li["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let li = team.conversation(LI).await;
    assert!(li["assignee_id"].is_null(), "{li}");
    b.until(
        "the 未分配 count",
        &format!("{} === '1'", count("unassigned")),
    )
    .await;
    b.click("#views [data-view=unassigned]").await;
    b.until(
        "the waiting chat in 未分配, with its waiting time",
        &format!(
            "document.querySelectorAll('#conv-list .conv').length === 1 && document.querySelector('{} .waiting')",
            row(li_id)
        ),
    )
    .await;
    b.shot("team-03-unassigned-waiting").await;

    // 小张 comes back online and takes the waiting chat.
    set_availability(&b, "online").await;
    team.until_conversation(
        LI,
        "assigned to 小张",
        |c| c["assignee_id"] == zhang,
        browser::WAIT,
    )
    .await;
    b.click("#views [data-view=mine]").await;
    b.until(
        "小张's chat in 我的",
        &format!("document.querySelector('{}')", row(li_id)),
    )
    .await;

    // 小王 opens his chat: the activity line tells who got it.
    a.click(&row(ming_id)).await;
    a.until(
        "the customer's message",
        "[...document.querySelectorAll('.msg.in .text')].some(t => t.textContent.includes('申请退款'))",
    )
    .await;
    a.until(
        "the assignment's activity line",
        "[...document.querySelectorAll('#message-list .activity')].some(x => x.textContent.includes('小王'))",
    )
    .await;

    // A private note with an @ mention picked from the keyboard.
    a.click("#mode-note").await;
    a.type_into("#input", "@小").await;
    a.until(
        "the mention picker",
        "!document.querySelector('#picker').hidden && document.querySelector('#picker .mention-item.active')?.textContent.includes('小张')",
    )
    .await;
    a.type_into("#input", ENTER).await;
    a.until(
        "the mention inserted",
        "document.querySelector('#input').value === '@小张 '",
    )
    .await;
    a.type_into("#input", &format!("这位客户要开发票，退款后请跟进{ENTER}"))
        .await;
    a.until(
        "the note, yellow and labelled",
        "[...document.querySelectorAll('#message-list .msg.note')].some(n => n.querySelector('.note-label')?.textContent === '内部备注' && n.querySelector('.mention')?.textContent === '@小张' && n.textContent.includes('开发票') && !n.dataset.id.startsWith('local'))",
    )
    .await;
    let note_bg = a
        .js("return getComputedStyle(document.querySelector('.msg.note .bubble')).backgroundColor")
        .await;
    assert_eq!(note_bg, "rgb(255, 248, 219)", "notes look different");
    // 小张 sees the mention.
    b.until(
        "小张's 提及我的 count",
        &format!("{} === '1'", count("mentions")),
    )
    .await;
    // Nothing reached Douyin, and the API an integration reads has no note.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(team.sent_texts().is_empty(), "{:?}", team.sent_texts());
    let public = team
        .ok(
            "GET",
            &format!("/api/v1/conversations/{ming_id}/messages"),
            json!(null),
        )
        .await;
    assert!(
        public["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["direction"] == "in"),
        "{public}"
    );

    // The quick reply: `/`, type, Enter; variables filled; edited; sent to Douyin.
    a.click("#mode-reply").await;
    a.type_into("#input", "/tk").await;
    a.until(
        "the quick-reply picker",
        "!document.querySelector('#picker').hidden && document.querySelector('#picker .picker-item.active')?.textContent.includes('退款安抚')",
    )
    .await;
    a.type_into("#input", ENTER).await;
    a.until(
        "the filled quick reply",
        "document.querySelector('#input').value === '王小明 您好，我是小王，马上为您处理退款'",
    )
    .await;
    a.type_into("#input", &format!("，请稍等～{ENTER}")).await;
    let want = "王小明 您好，我是小王，马上为您处理退款，请稍等～";
    a.until(
        "the reply sent",
        &format!(
            "[...document.querySelectorAll('.msg.out[data-status=sent] .text')].some(t => t.textContent === '{want}')"
        ),
    )
    .await;
    assert_eq!(team.sent_texts(), [want]);

    // Labels in bulk from the list: tick the row, pick 售后 and VIP.
    a.click(&format!("{} .check-wrap", row(ming_id))).await;
    a.until("the bulk bar", "!document.querySelector('#bulk').hidden")
        .await;
    for name in ["售后", "VIP"] {
        a.click("#bulk-label").await;
        a.js(&format!(
            "[...document.querySelectorAll('.menu.popup .menu-item')].find(b => b.textContent === '{name}').click(); return 0"
        ))
        .await;
        a.until(
            &format!("the {name} label on the row"),
            &format!(
                "[...document.querySelectorAll('{} .label-chip')].some(l => l.textContent === '{name}')",
                row(ming_id)
            ),
        )
        .await;
    }
    let labelled = team
        .ok(
            "GET",
            &format!("/api/v1/conversations/{ming_id}"),
            json!(null),
        )
        .await;
    let mut labels: Vec<i64> = labelled["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_i64().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, [vip.min(after_sales), vip.max(after_sales)]);
    a.click("#bulk-clear").await;

    // The contact panel: who it is, the Douyin id to copy, notes saved.
    a.until(
        "the contact panel",
        &format!(
            "!document.querySelector('#contact').hidden && document.querySelector('#contact-body').textContent.includes('{}') && !document.querySelector('#contact-notes').disabled",
            MING.0
        ),
    )
    .await;
    a.click("#contact-body .copy").await;
    a.until(
        "the id copied",
        "[...document.querySelectorAll('.toast')].some(t => t.textContent === '已复制')",
    )
    .await;
    a.type_into("#contact-notes", "老客户，偏好顺丰").await;
    a.click("#input").await;
    let contact_id = ming["contact_id"].as_i64().unwrap();
    let deadline = Instant::now() + browser::WAIT;
    loop {
        let contact = team
            .ok(
                "GET",
                &format!("/api/v1/contacts/{contact_id}"),
                json!(null),
            )
            .await;
        if contact["notes"] == "老客户，偏好顺丰" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "contact notes not saved: {contact}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.js("document.querySelector('#messages').scrollTop = 1e9; document.querySelectorAll('.toast').forEach(t => t.remove()); return 0")
        .await;
    a.shot("team-01-inbox").await;

    // Keyboard only: s opens the status menu, arrows move, Enter picks.
    for (key, want) in [("\u{E015}", "pending"), ("\u{E013}", "open")] {
        a.js("document.activeElement.blur(); return 0").await;
        a.type_into("body", "s").await;
        a.until(
            "the status menu focused",
            "document.activeElement.closest('.status-menu')",
        )
        .await;
        for keys in [key, ENTER] {
            let focused = a.client.active_element().await.unwrap();
            focused.send_keys(keys).await.unwrap();
        }
        team.until_conversation(MING, want, |c| c["status"] == want, browser::WAIT)
            .await;
        a.until(
            &format!("the status pill {want}"),
            &format!("document.querySelector('#status-button').dataset.status === '{want}'"),
        )
        .await;
    }

    // 小张 snoozes his chat for a few seconds: it leaves the list and comes back.
    b.click("#views [data-view=all]").await;
    b.click(&row(li_id)).await;
    b.until(
        "李女士's chat",
        "[...document.querySelectorAll('.msg.in .text')].some(t => t.textContent.includes('发货'))",
    )
    .await;
    b.click("#status-button").await;
    b.click(".status-menu .menu-item[data-value=snooze-custom]")
        .await;
    b.until(
        "the snooze dialog",
        "document.querySelector('#snooze-dialog').open",
    )
    .await;
    b.js(
        "const d = new Date(Date.now() + 8000); const p = (n) => String(n).padStart(2, '0');
         document.querySelector('#snooze-at').value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
         return 0",
    )
    .await;
    b.click("#snooze-form button[value=ok]").await;
    team.until_conversation(LI, "snoozed", |c| c["status"] == "snoozed", browser::WAIT)
        .await;
    b.until(
        "the status pill",
        "document.querySelector('#status-button').dataset.status === 'snoozed'",
    )
    .await;
    team.until_conversation(LI, "back from the snooze", |c| c["status"] == "open", SLOW)
        .await;
    b.until(
        "the chat back in the list, open",
        &format!(
            "document.querySelector('{}') && document.querySelector('#status-button').dataset.status === 'open'",
            row(li_id)
        ),
    )
    .await;

    // 提及我的 lists the chat whose note mentions 小张.
    b.click("#views [data-view=mentions]").await;
    b.until(
        "the mentioning chat in 提及我的",
        &format!(
            "document.querySelector('#views [data-view=mentions]').classList.contains('active') && document.querySelectorAll('#conv-list .conv').length === 1 && document.querySelector('{}')",
            row(ming_id)
        ),
    )
    .await;
    b.click("#views [data-view=all]").await;

    // Search from the list finds the Chinese phrase and opens the chat at it.
    b.type_into("#search", "申请退款").await;
    b.until(
        "the message hit",
        "[...document.querySelectorAll('#search-list .result')].some(r => r.querySelector('mark')?.textContent === '申请退款')",
    )
    .await;
    b.shot("team-02-search").await;
    b.click("#search-list .result").await;
    b.until(
        "the chat opened at the message",
        "document.querySelector('#chat-name').textContent === '王小明' && document.querySelector('#message-list .msg.hit')?.textContent.includes('申请退款')",
    )
    .await;

    // Inside the conversation: the note is found too, and shown.
    b.click("#conv-search-toggle").await;
    b.type_into("#conv-search-input", "开发票").await;
    b.until(
        "the note found in the conversation",
        "document.querySelector('#conv-search-count').textContent === '1/1' && document.querySelector('#message-list .msg.note.hit')",
    )
    .await;
    // Opening the chat read 小张's mention.
    b.until(
        "the mention read",
        &format!("{} === '0'", count("mentions")),
    )
    .await;

    // On a phone: one pane at a time, the views and the waiting times on top.
    b.client.set_window_size(390, 844).await.unwrap();
    b.click("#back").await;
    b.type_into("#search", "\u{E00C}").await;
    b.until(
        "the phone list",
        "getComputedStyle(document.querySelector('.detail')).display === 'none' && document.querySelectorAll('#conv-list .conv').length === 2",
    )
    .await;
    b.shot("team-04-phone-list").await;
    b.click(&row(ming_id)).await;
    b.until(
        "the phone chat",
        "getComputedStyle(document.querySelector('.sidebar')).display === 'none' && document.querySelector('#message-list .msg.note')",
    )
    .await;
    b.shot("team-05-phone-chat").await;
    // Every agent keeps personal quick replies (settings on the phone too).
    b.click("#back").await;
    b.click("#me-button").await;
    b.click("#open-settings").await;
    b.click("#settings-nav [data-page=replies]").await;
    b.until("the quick replies", "document.querySelector('#new-reply')")
        .await;
    assert_eq!(
        b.js("return [...document.querySelectorAll('#new-reply [name=scope] option')].map(o => o.value).join()")
            .await,
        "personal",
        "agents add personal replies only"
    );
    b.type_into("#new-reply [name=title]", "我的签名").await;
    b.type_into("#new-reply [name=text]", "{{agent.name}} 为您服务")
        .await;
    b.click("#new-reply button[type=submit]").await;
    b.until(
        "the personal reply listed",
        "[...document.querySelectorAll('#settings-page [data-reply-id]')].some(r => r.textContent.includes('我的签名'))",
    )
    .await;
    b.close().await;

    // The admin manages labels and shared quick replies in the settings.
    a.click("#me-button").await;
    a.click("#logout").await;
    a.until("the login", "!document.querySelector('#login').hidden")
        .await;
    sign_in(&a, &team.base, BOSS_EMAIL).await;
    // The admin filters the list by assignee, and anyone by label.
    a.until(
        "both chats",
        "document.querySelectorAll('#conv-list .conv').length === 2 && !document.querySelector('#filter-assignee').hidden",
    )
    .await;
    a.select("#filter-assignee", &zhang.to_string()).await;
    a.until(
        "小张's chats only",
        &format!(
            "document.querySelectorAll('#conv-list .conv').length === 1 && document.querySelector('{}')",
            row(li_id)
        ),
    )
    .await;
    a.select("#filter-assignee", "").await;
    a.select("#filter-label", &vip.to_string()).await;
    a.until(
        "the VIP chats only",
        &format!(
            "document.querySelectorAll('#conv-list .conv').length === 1 && document.querySelector('{}')",
            row(ming_id)
        ),
    )
    .await;
    a.select("#filter-label", "").await;
    a.click("#me-button").await;
    a.click("#open-settings").await;
    a.until(
        "the labels page",
        "document.querySelector('#settings').open && document.querySelectorAll('#settings-page li[data-label-id]').length === 2",
    )
    .await;
    a.type_into("#new-label-name", &format!("待发货{ENTER}"))
        .await;
    a.until(
        "the new label",
        "document.querySelectorAll('#settings-page li[data-label-id]').length === 3",
    )
    .await;
    a.click("#settings-nav [data-page=replies]").await;
    a.until("the quick replies", "document.querySelector('#new-reply')")
        .await;
    a.type_into("#new-reply [name=title]", "发货时间").await;
    a.type_into("#new-reply [name=shortcut]", "fh").await;
    a.select("#new-reply [name=scope]", "shared").await;
    a.type_into(
        "#new-reply [name=text]",
        "{{contact.nickname}}，今天下单明天发货",
    )
    .await;
    a.click("#new-reply button[type=submit]").await;
    a.until(
        "the saved reply",
        "[...document.querySelectorAll('#settings-page [data-reply-id]')].some(r => r.textContent.includes('发货时间'))",
    )
    .await;
    // An unknown variable is refused with the variable named.
    a.type_into("#new-reply [name=title]", "错误").await;
    a.type_into("#new-reply [name=text]", "您好 {{contact.phone}}")
        .await;
    a.click("#new-reply button[type=submit]").await;
    a.until(
        "the refusal naming the variable",
        "!document.querySelector('#new-reply .form-error').hidden && document.querySelector('#new-reply .form-error').textContent.includes('contact.phone')",
    )
    .await;
    a.shot("team-06-settings-quick-replies").await;
    let labels = team.ok("GET", "/api/v1/labels", json!(null)).await;
    assert!(
        labels["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "待发货"),
        "{labels}"
    );
    let replies = team.ok("GET", "/api/v1/quick-replies", json!(null)).await;
    let saved = replies["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["title"] == "发货时间")
        .cloned()
        .unwrap_or_else(|| panic!("{replies}"));
    assert_eq!(saved["scope"], "shared");
    assert_eq!(saved["shortcut"], "fh");
    // 小张's personal reply is his alone: the admin's token does not list it.
    assert!(
        replies["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["title"] != "我的签名"),
        "{replies}"
    );

    // The language switch: the whole inbox in English, remembered on reload.
    a.click("#settings-nav [data-page=language]").await;
    a.js("[...document.querySelectorAll('#settings-page button')].find(b => b.textContent === 'English').click(); return 0")
        .await;
    a.until(
        "the inbox in English",
        "!document.querySelector('#app').hidden && document.querySelector('#views [data-view=mine] span').textContent === 'Mine' && document.documentElement.lang === 'en'",
    )
    .await;
    a.click(&row(ming_id)).await;
    a.until(
        "the note in English",
        "document.querySelector('.msg.note .note-label')?.textContent === 'Internal note' && [...document.querySelectorAll('.activity')].some(x => x.textContent.includes('System assigned it to 小王'))",
    )
    .await;
    a.shot("team-07-english").await;
    a.close().await;
}
