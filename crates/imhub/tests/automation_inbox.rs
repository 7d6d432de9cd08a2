//! Automation, reply-time KPIs and leads in a real browser: headless
//! Chromium against one real imhub server on a real SQLite file, a Douyin
//! channel connected to the Douyin emulator of `imhub-sandbox` through
//! imhub's QR authorization, and simulated Douyin customers writing in.
//!
//! The scenario: an admin writes a keyword rule in the settings (a broken
//! regular expression first: the API's reason shows next to the field),
//! dry-runs it, and sees its automatic reply, marked 自动回复, appear in the
//! conversation after the customer writes — and reach Douyin; with a short
//! target and warning set in the KPI settings, the 等待回复 queue's clock
//! ticks every second, turns amber and then red, and the chat leaves the
//! queue when a human answers; a lead captured from a phone number in the
//! customer's text is edited from the contact panel and found in the
//! leads list; the reports page draws its SVG charts with the day's data.
//! Screenshots land in `target/screenshots/{rules,waiting,lead,reports}-*.png`.

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

const KEY: &str = "awx_automation_inbox";
const SECRET: &str = "douyin-automation-secret";
const SHOP: &str = "b_open_auto_shop";
/// Douyin redirects only to https: the authorize URL names this address,
/// and the test follows the emulator's redirect to imhub itself.
const PUBLIC_URL: &str = "https://imhub-auto.localhost";
const PASSWORD: &str = "auto-pa55word!";
const BOSS_EMAIL: &str = "boss@auto.cn";
const AGENT_EMAIL: &str = "wang@auto.cn";
/// The customers: open id and nickname.
const MING: (&str, &str) = ("c_open_ming", "王小明");
const LI: (&str, &str) = ("c_open_li", "李女士");
/// More customers for the reports: answered at once, after a while, late, never.
const MORE: [(&str, &str); 4] = [
    ("c_open_zhao", "赵先生"),
    ("c_open_qian", "钱女士"),
    ("c_open_sun", "孙同学"),
    ("c_open_zhou", "周阿姨"),
];
const REPLY: &str = "您好，退款请在订单页申请，1-3 个工作日到账";
/// Waits that span the KPI target (8 s) on a loaded machine.
const SLOW: Duration = Duration::from_secs(40);

struct Shop {
    base: String,
    http: reqwest::Client,
    /// An admin API token of the workspace.
    token: String,
    sandbox: DouyinSandbox,
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

impl Shop {
    /// imhub with an admin (李经理) and an admin token; a Douyin channel
    /// pointed at a fresh emulator and the shop authorized through the QR
    /// flow.
    async fn start() -> Shop {
        let sandbox = DouyinSandbox::new();
        sandbox.add_app(KEY, SECRET);
        sandbox.add_account(SHOP, "抖音小店");
        for (id, nickname) in [MING, LI].into_iter().chain(MORE) {
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
        // The fake 钉钉 robot of the alert test listens on 127.0.0.1.
        config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
        let platforms = config.platforms.clone();
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("自动化小店").await.unwrap().id;
        let token = auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
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
        auth::add_user(
            store.as_ref(),
            ws,
            AGENT_EMAIL,
            "小王",
            Role::Agent,
            PASSWORD,
        )
        .await
        .unwrap();
        let shop = Shop {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            token,
            sandbox,
        };
        let channel = shop
            .ok(
                "POST",
                "/api/v1/channels",
                json!({"platform": "douyin", "name": "抖音企业号",
                       "config": {"client_key": KEY, "client_secret": SECRET}}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        shop.sandbox
            .set_webhook_url(KEY, &format!("{}/webhooks/douyin/{channel}", shop.base));
        let store: Arc<dyn Store> = store;
        let authorize = start_authorization(&store, &platforms, ws, ChannelId(channel), PUBLIC_URL)
            .await
            .map_err(|e| e.code)
            .unwrap();
        let page = shop.http.get(&authorize.url).send().await.unwrap();
        let back = page.headers()["location"]
            .to_str()
            .unwrap()
            .strip_prefix(PUBLIC_URL)
            .expect("the QR page redirects to imhub")
            .to_string();
        let res = shop
            .http
            .get(format!("{}{back}", shop.base))
            .send()
            .await
            .unwrap();
        let account: Value = res.json().await.unwrap();
        assert_eq!(account["external_id"], SHOP, "{account}");
        shop
    }

    /// A call that must succeed.
    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "PUT" => self.http.put(url).json(&body),
            "PATCH" => self.http.patch(url).json(&body),
            _ => self.http.post(url).json(&body),
        };
        let res = req.bearer_auth(&self.token).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
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
        let deadline = Instant::now() + browser::WAIT;
        loop {
            let list = self
                .ok("GET", "/api/v1/conversations?limit=200", json!(null))
                .await;
            if let Some(c) = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["peer_external_id"] == who.0)
            {
                return c.clone();
            }
            assert!(Instant::now() < deadline, "no conversation with {}", who.1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the shop sent on Douyin, as texts.
    fn sent_texts(&self) -> Vec<String> {
        self.sandbox
            .sent_messages(SHOP)
            .iter()
            .flat_map(|m| m.contents.clone())
            .filter_map(|c| c["text"]["text"].as_str().map(str::to_string))
            .collect()
    }
}

/// Waits for `condition` (a JS expression) longer than the usual wait.
async fn until_slow(b: &Browser, what: &str, condition: &str) {
    let deadline = Instant::now() + SLOW;
    let script = format!("return !!({condition});");
    loop {
        if let Ok(Value::Bool(true)) = b.client.execute(&script, vec![]).await {
            return;
        }
        if Instant::now() > deadline {
            b.until(what, condition).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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

async fn open_settings(b: &Browser, page: &str) {
    if b.js("return document.querySelector('#settings').open")
        .await
        != Value::Bool(true)
    {
        b.click("#me-button").await;
        b.click("#open-settings").await;
    }
    b.click(&format!("#settings-nav [data-page={page}]")).await;
}

/// Replaces an input's value (typing would append).
async fn fill(b: &Browser, css: &str, value: &str) {
    b.js(&format!(
        "const el = document.querySelector({css:?}); el.value = ''; el.focus();"
    ))
    .await;
    b.type_into(css, value).await;
}

fn text_of(css: &str) -> String {
    format!("(document.querySelector({css:?})?.textContent || '')")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_waiting_leads_and_reports_in_the_inbox() {
    let shop = Shop::start().await;
    let Some(b) = browser(1440, 900).await else {
        return;
    };
    sign_in(&b, &shop.base, BOSS_EMAIL).await;

    // The KPI settings: counted all day, a warning after 4 s, the target 8 s.
    open_settings(&b, "kpi").await;
    b.until("the KPI form", "document.querySelector('#kpi-form')")
        .await;
    fill(&b, "#kpi-start", "00:00").await;
    fill(&b, "#kpi-end", "24:00").await;
    fill(&b, "#kpi-target", "8").await;
    fill(&b, "#kpi-warning", "4").await;
    b.click("#kpi-save").await;
    let deadline = Instant::now() + browser::WAIT;
    loop {
        let kpi = shop
            .ok("GET", "/api/v1/reports/settings", json!(null))
            .await;
        if kpi["target_seconds"] == 8 {
            assert_eq!(kpi["warning_seconds"], 4, "{kpi}");
            assert_eq!(kpi["window_end"], "24:00", "{kpi}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the KPI settings were not saved: {kpi}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A keyword rule in the settings; a broken expression first: the
    // API's reason is shown next to the trigger.
    open_settings(&b, "automation").await;
    b.click("#new-rule").await;
    b.until("the rule form", "document.querySelector('#rule-form')")
        .await;
    b.type_into("#rule-name", "退款自动回复").await;
    b.select("#rule-trigger", "regex").await;
    b.type_into("#rule-pattern", "退(款").await;
    b.select("#rule-reply-kind", "text").await;
    b.type_into("#rule-reply", REPLY).await;
    b.click("#rule-save").await;
    b.until(
        "the refusal next to the trigger",
        "!document.querySelector('#rule-form .field-error[data-field=trigger]').hidden && document.querySelector('#rule-form .field-error[data-field=trigger]').textContent.includes('正则表达式无效')",
    )
    .await;
    b.shot("rules-01-refused-pattern").await;
    b.select("#rule-trigger", "keywords").await;
    b.type_into("#rule-keywords", "退款，退货").await;
    b.click("#rule-save").await;
    b.until(
        "the rule listed",
        "[...document.querySelectorAll('#rule-list .rule-row')].some(r => r.textContent.includes('退款自动回复') && r.textContent.includes('退款、退货'))",
    )
    .await;
    let rules = shop
        .ok("GET", "/api/v1/automation/rules", json!(null))
        .await;
    let rule = &rules["items"][0];
    assert_eq!(rule["name"], "退款自动回复", "{rules}");
    assert_eq!(
        rule["trigger"],
        json!({"type": "keywords", "match": "contains_any", "keywords": ["退款", "退货"], "case_insensitive": true})
    );
    assert_eq!(rule["actions"], json!([{"type": "reply", "text": REPLY}]));
    let rule_id = rule["id"].as_i64().unwrap();

    // The dry run says what the rule would send, and sends nothing.
    b.type_into("#test-text", "请问怎么退款？").await;
    b.select("#test-platform", "douyin").await;
    b.click("#test-run").await;
    b.until(
        "the dry run's answer",
        &format!(
            "document.querySelector('#test-result li[data-rule-id=\"{rule_id}\"] .test-reply')?.textContent.includes({REPLY:?})"
        ),
    )
    .await;
    b.shot("rules-02-dry-run").await;
    assert!(shop.sent_texts().is_empty(), "a dry run sends nothing");
    b.click("#settings-close").await;

    // The customer asks; the automatic reply appears, marked 自动回复, and reaches Douyin.
    shop.customer_says(MING, "你好").await;
    shop.customer_says(MING, "请问怎么退款？").await;
    let ming = shop.conversation(MING).await;
    let ming_id = ming["id"].as_i64().unwrap();
    // The tab's title counts the unread chat; notifications were never
    // asked for by themselves, only a button in the account menu asks.
    b.until(
        "the unread count in the title",
        "document.title === '(1) imhub 收件箱'",
    )
    .await;
    assert_eq!(
        b.js("return Notification.permission").await,
        "default",
        "the inbox never asks for notifications on its own"
    );
    assert_eq!(
        b.js("return document.querySelector('#notify-toggle').textContent")
            .await,
        "开启桌面通知"
    );
    b.click(&format!("#conv-list .conv[data-id=\"{ming_id}\"]"))
        .await;
    b.until(
        "the automatic reply marked 自动回复",
        &format!(
            "[...document.querySelectorAll('#message-list .msg.out')].some(m => m.querySelector('.auto-tag')?.textContent === '自动回复' && m.textContent.includes({REPLY:?}))"
        ),
    )
    .await;
    let deadline = Instant::now() + browser::WAIT;
    while !shop.sent_texts().iter().any(|t| t == REPLY) {
        assert!(Instant::now() < deadline, "Douyin never got the reply");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("rules-03-auto-reply").await;
    let stats = shop
        .ok(
            "GET",
            &format!("/api/v1/automation/rules/{rule_id}/stats"),
            json!(null),
        )
        .await;
    assert_eq!(stats["fired"], 1, "{stats}");

    // The 等待回复 queue: an automatic reply does not end the wait. The
    // clock ticks every second, turns amber at 4 s and red past 8 s.
    shop.customer_says(LI, "我叫李娜，手机 138 1234 5678，想问一下价格")
        .await;
    let li = shop.conversation(LI).await;
    let li_id = li["id"].as_i64().unwrap();
    b.click("#waiting-tab").await;
    // 李女士 has just written: her clock is watched from the start.
    let clock = format!("#waiting-list .wait-clock[data-id=\"{li_id}\"]");
    b.until(
        "both customers waiting, the longest first",
        &format!(
            "(() => {{ const ids = [...document.querySelectorAll('#waiting-list .waiting-row')].map(r => r.dataset.id); return ids.length === 2 && ids[0] === '{ming_id}' && ids[1] === '{li_id}'; }})()"
        ),
    )
    .await;
    let first = b.js(&format!("return {}", text_of(&clock))).await;
    assert!(first.as_str().unwrap().starts_with("已等 0:"), "{first}");
    b.until(
        "the clock ticking",
        &format!("{} !== {first}", text_of(&clock)),
    )
    .await;
    until_slow(
        &b,
        "the warning colour",
        &format!("document.querySelector('{clock}')?.dataset.level === 'warning'"),
    )
    .await;
    b.shot("waiting-01-warning").await;
    until_slow(
        &b,
        "the breach colour",
        &format!("document.querySelector('{clock}')?.dataset.level === 'breach'"),
    )
    .await;
    let colour = b
        .js(&format!(
            "return getComputedStyle(document.querySelector('{clock}')).backgroundColor"
        ))
        .await;
    assert_eq!(colour, "rgb(229, 72, 77)", "the breach is red");
    b.shot("waiting-02-breach").await;

    // A human answers 王小明: the chat leaves the queue live.
    b.click(&format!(
        "#waiting-list .waiting-row[data-id=\"{ming_id}\"]"
    ))
    .await;
    b.until(
        "the chat open",
        &format!(
            "document.querySelector('#message-list .msg.out .auto-tag') && {}",
            "!document.querySelector('#chat').hidden"
        ),
    )
    .await;
    b.type_into("#input", &format!("我是李经理，已经帮您登记退款{ENTER}"))
        .await;
    b.until(
        "王小明 out of the queue",
        &format!(
            "!document.querySelector('#waiting-list .waiting-row[data-id=\"{ming_id}\"]') && document.querySelector('#waiting-list .waiting-row[data-id=\"{li_id}\"]')"
        ),
    )
    .await;

    // The lead captured from 李女士's phone number, edited in the contact panel.
    b.click(&format!("#waiting-list .waiting-row[data-id=\"{li_id}\"]"))
        .await;
    b.until(
        "the lead in the contact panel",
        "!document.querySelector('#contact').hidden && document.querySelector('#lead-form') && document.querySelector('#lead-phones').value === '13812345678'",
    )
    .await;
    fill(&b, "#lead-name", "李娜").await;
    fill(&b, "#lead-city", "杭州").await;
    fill(&b, "#lead-wechat", "lina_hz").await;
    b.select("#lead-stage", "following").await;
    b.type_into("#lead-notes", "想要两件，周末到店").await;
    b.click("#lead-save").await;
    b.until(
        "the lead saved",
        &format!("{} === '已保存'", text_of("#lead-save-state")),
    )
    .await;
    let lead_id = b
        .js("return Number(document.querySelector('#lead-form').dataset.lead)")
        .await
        .as_i64()
        .unwrap();
    let lead = shop
        .ok("GET", &format!("/api/v1/leads/{lead_id}"), json!(null))
        .await;
    assert_eq!(lead["name"], "李娜", "{lead}");
    assert_eq!(lead["city"], "杭州", "{lead}");
    assert_eq!(lead["wechat_id"], "lina_hz", "{lead}");
    assert_eq!(lead["stage"], "following", "{lead}");
    assert_eq!(lead["notes"], "想要两件，周末到店", "{lead}");
    assert_eq!(lead["phones"], json!(["13812345678"]), "{lead}");
    // The lead's history lists the edit: who, and what changed.
    b.js("document.querySelector('#lead-history').open = true; return 0")
        .await;
    b.until(
        "the edit in the lead's history",
        "[...document.querySelectorAll('#lead-history .history-entry')].some(e => e.textContent.includes('城市') && e.textContent.includes('杭州')) && document.querySelector('#lead-history .history-entry[data-actor=capture]')",
    )
    .await;
    b.shot("lead-01-contact-panel").await;

    // The leads list: filtered by stage, the phone in full for an admin.
    b.click("#me-button").await;
    b.click("#open-leads").await;
    b.until(
        "the lead listed",
        &format!(
            "document.querySelector('#lead-table tr[data-lead-id=\"{lead_id}\"] .lead-phones')?.textContent === '13812345678'"
        ),
    )
    .await;
    b.select("#lead-filter-stage", "converted").await;
    b.until(
        "no converted lead",
        "document.querySelector('#lead-table') && !document.querySelector('#lead-table tr[data-lead-id]')",
    )
    .await;
    b.select("#lead-filter-stage", "following").await;
    b.until(
        "the following lead",
        &format!("document.querySelector('#lead-table tr[data-lead-id=\"{lead_id}\"]')"),
    )
    .await;
    b.shot("lead-02-list").await;
    b.click("#leads .page-close").await;

    // More turns for the reports: two answered within the target by the
    // API (a human reply as well), one late, one not at all.
    let mut more = Vec::new();
    for who in MORE {
        shop.customer_says(who, "在吗？想咨询一下尺码").await;
        more.push(shop.conversation(who).await["id"].as_i64().unwrap());
    }
    let answer = |id: i64| {
        let shop = &shop;
        async move {
            shop.ok(
                "POST",
                &format!("/api/v1/conversations/{id}/messages"),
                json!({"content": {"type": "text", "text": "在的，请问您平时穿什么码？"}}),
            )
            .await;
        }
    };
    answer(more[0]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    answer(more[1]).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    answer(more[2]).await;

    // The reports page draws today's data as SVG.
    b.click("#me-button").await;
    b.click("#open-reports").await;
    b.until(
        "the reply-rate chart with today's bar",
        "[...document.querySelectorAll('#reports svg.rate-chart rect.bar[data-value]')].some(r => Number(r.dataset.value) >= 0) && document.querySelector('#reports svg.rate-chart line.ref')",
    )
    .await;
    b.until(
        "the histogram with the answered turn",
        "[...document.querySelectorAll('#reports svg.wait-histogram rect.bar[data-value]')].reduce((n, r) => n + Number(r.dataset.value), 0) >= 1",
    )
    .await;
    b.until(
        "the agent table",
        "[...document.querySelectorAll('#agent-table tbody tr[data-agent-id]')].some(r => r.textContent.includes('李经理'))",
    )
    .await;
    b.until(
        "the account table",
        "document.querySelectorAll('#account-table tbody tr[data-account-id]').length === 1",
    )
    .await;
    let turns = b
        .js(&format!("return {}", text_of("#tile-turns strong")))
        .await;
    let summary = shop.ok("GET", "/api/v1/reports/summary", json!(null)).await;
    assert_eq!(
        turns.as_str().unwrap(),
        summary["total"]["turns"].to_string(),
        "{summary}"
    );
    let href = b
        .js("return document.querySelector('#export-turns').getAttribute('href')")
        .await;
    assert!(
        href.as_str()
            .unwrap()
            .starts_with("/api/v1/reports/turns.csv?"),
        "{href}"
    );
    b.shot("reports-01-page").await;
    b.click("#reports .page-close").await;

    // An alert target: a 钉钉 robot that refuses the signature; the test
    // button shows the robot's own answer, the secret only as set.
    let robot = serve(axum::Router::new().route(
        "/robot/send",
        axum::routing::post(|| async {
            axum::Json(json!({"errcode": 310000, "errmsg": "sign not match"}))
        }),
    ))
    .await;
    open_settings(&b, "alerts").await;
    b.until(
        "the alert target form",
        "document.querySelector('#new-target')",
    )
    .await;
    b.select("#new-target .alert-kind", "dingtalk").await;
    b.type_into("#new-target .alert-name", "值班群").await;
    b.type_into(
        "#new-target .alert-url",
        &format!("{robot}/robot/send?access_token=tok-123"),
    )
    .await;
    b.type_into("#new-target .alert-secret", "SEC-not-the-robots")
        .await;
    b.click("#new-target button[type=submit]").await;
    b.until(
        "the target listed with its secret hidden",
        "[...document.querySelectorAll('#alert-targets .alert-row')].some(r => r.textContent.includes('值班群') && r.textContent.includes('access_token=***') && !r.textContent.includes('tok-123') && r.querySelector('.secret-state').textContent === '已设置密钥')",
    )
    .await;
    b.click("#alert-targets .alert-row .alert-test").await;
    b.until(
        "the robot's own answer",
        "document.querySelector('#alert-targets .alert-answer:not([hidden])')?.textContent.includes('310000') && document.querySelector('#alert-targets .alert-result').textContent.includes('sign not match')",
    )
    .await;
    b.shot("rules-04-alert-target").await;
    b.click("#settings-close").await;

    // An agent sees phone numbers masked in the list and no exports.
    b.click("#me-button").await;
    b.click("#logout").await;
    b.until("the login", "!document.querySelector('#login').hidden")
        .await;
    sign_in(&b, &shop.base, AGENT_EMAIL).await;
    b.click("#me-button").await;
    b.click("#open-leads").await;
    b.until(
        "the masked phone",
        &format!(
            "document.querySelector('#lead-table tr[data-lead-id=\"{lead_id}\"] .lead-phones')?.textContent === '138****5678'"
        ),
    )
    .await;
    assert_eq!(
        b.js("return !document.querySelector('#lead-export')").await,
        true,
        "agents do not export"
    );
    b.shot("lead-03-agent-masked").await;
    // A bulk change of stage from the list.
    b.click(&format!(
        "#lead-table tr[data-lead-id=\"{lead_id}\"] .lead-check"
    ))
    .await;
    b.until(
        "the bulk bar",
        "!document.querySelector('#lead-bulk').hidden",
    )
    .await;
    b.select("#lead-bulk-stage", "converted").await;
    b.click("#lead-bulk-apply").await;
    b.until(
        "the lead converted",
        &format!(
            "document.querySelector('#lead-table tr[data-lead-id=\"{lead_id}\"] .stage')?.textContent === '已转化'"
        ),
    )
    .await;
    let lead = shop
        .ok("GET", &format!("/api/v1/leads/{lead_id}"), json!(null))
        .await;
    assert_eq!(lead["stage"], "converted", "{lead}");

    // A second customer leaves the same phone: a merge proposal (a count on
    // the 线索 menu entry, both leads side by side, phones masked for an
    // agent), which the agent accepts.
    b.click("#leads .page-close").await;
    shop.customer_says(MORE[3], "帮我家人李娜登记一下，电话 13812345678")
        .await;
    b.until(
        "the merge badge",
        "document.querySelector('#open-leads .merge-badge')?.textContent === '1'",
    )
    .await;
    // The new lead in the contact panel says it has a pending proposal.
    let zhou = shop.conversation(MORE[3]).await["id"].as_i64().unwrap();
    b.click(&format!("#conv-list .conv[data-id=\"{zhou}\"]"))
        .await;
    b.until(
        "the pending-merge note on the lead",
        "!document.querySelector('#contact').hidden && document.querySelector('#contact .merge-note:not([hidden])')?.textContent.includes('待合并')",
    )
    .await;
    b.click("#me-button").await;
    b.click("#open-leads").await;
    b.until(
        "the proposal, both phones masked",
        "document.querySelectorAll('#merge-list li[data-proposal-id]').length === 1 && document.querySelector('#merge-count').textContent === '1' && [...document.querySelectorAll('#merge-list .merge-phones')].map(p => p.textContent).join('|') === '138****5678|138****5678'",
    )
    .await;
    assert_eq!(
        b.js("return document.querySelector('#merge-list').textContent.includes('13812345678')")
            .await,
        false,
        "no full phone number for an agent"
    );
    b.shot("lead-04-merge-proposal").await;
    b.click("#merge-list .merge-accept").await;
    b.until(
        "the proposal gone",
        "!document.querySelector('#merge-list li[data-proposal-id]') && document.querySelector('#merge-count').textContent === '0'",
    )
    .await;
    let merged = shop
        .ok("GET", &format!("/api/v1/leads/{lead_id}"), json!(null))
        .await;
    assert_eq!(
        merged["contacts"].as_array().map(Vec::len),
        Some(2),
        "{merged}"
    );
    let accepted = shop
        .ok(
            "GET",
            "/api/v1/leads/merge-proposals?status=accepted",
            json!(null),
        )
        .await;
    assert_eq!(
        accepted["items"].as_array().map(Vec::len),
        Some(1),
        "{accepted}"
    );
    assert_eq!(accepted["items"][0]["lead"]["id"], lead_id, "{accepted}");
    let other = accepted["items"][0]["other"]["id"].as_i64().unwrap();
    let other = shop
        .ok("GET", &format!("/api/v1/leads/{other}"), json!(null))
        .await;
    assert_eq!(other["merged_into"], lead_id, "{other}");
    b.click("#leads .page-close").await;

    // With the tab hidden and notifications allowed (both stood in for:
    // headless Chromium has neither), a customer's message and then the
    // breach of its target each raise a desktop notification.
    b.js("window.__notes = []; \
          window.Notification = class { \
            static get permission() { return 'granted'; } \
            static requestPermission() { return Promise.resolve('granted'); } \
            constructor(title, o) { window.__notes.push(title + '|' + (o && o.body)); } \
            close() {} }; \
          Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }); \
          document.dispatchEvent(new Event('visibilitychange'));")
        .await;
    shop.customer_says(MORE[0], "还在吗？我要 XL 码").await;
    b.until(
        "the new message's notification",
        "window.__notes.includes('赵先生 发来新消息|还在吗？我要 XL 码')",
    )
    .await;
    until_slow(
        &b,
        "the breach's notification",
        "window.__notes.includes('赵先生 等待超时|客户已超过回复目标时间，请尽快回复')",
    )
    .await;
    b.close().await;
}
