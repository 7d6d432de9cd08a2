//! The web inbox in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver), against a real server on a real SQLite file,
//! with customers' messages pushed through the signed custom channel and the
//! agent's replies received by a real HTTP endpoint.
//!
//! Without chromium and chromedriver these tests say so loudly and skip,
//! except under `CI=true`, where they fail. Screenshots of the main screens
//! land in `target/screenshots/`.

mod browser;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use browser::{ENTER, RELEASE, SHIFT, WAIT, browser};
use imhub_core::Role;
use imhub_server::{Config, channels::custom::sign};
use imhub_store::{SqlStore, Store, StoreOptions, testing};
use serde_json::{Value, json};

const SECRET: &str = "browser-test-secret-0123";
const EMAIL: &str = "ann@shop.cn";
const PASSWORD: &str = "pa55word!";

// ---------- the merchant's system: receives the agent's replies ----------

/// How the receiver answers one delivery: status, body, delay.
type Answer = (u16, &'static str, u64);

#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    /// Answers to give, in order; 200 at once when they run out.
    script: Arc<Mutex<Vec<Answer>>>,
}

impl Receiver {
    fn then(&self, answer: Answer) {
        self.script.lock().unwrap().push(answer);
    }

    fn kinds(&self) -> Vec<String> {
        let bodies = self.bodies.lock().unwrap();
        bodies
            .iter()
            .map(|b| b["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let signature = headers
        .get("x-imhub-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !imhub_server::channels::custom::verify(SECRET, &body, signature) {
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    let (status, text, delay) = {
        let mut script = r.script.lock().unwrap();
        if script.is_empty() {
            (200, "", 0)
        } else {
            script.remove(0)
        }
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if status == 200 {
        r.bodies
            .lock()
            .unwrap()
            .push(serde_json::from_slice(&body).unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), text.to_string())
}

// ---------- the server ----------

/// imhub on its own runtime, so a test can stop it the hard way (every
/// connection cut, as when the process dies) and start it again.
struct Server {
    base: String,
    http: reqwest::Client,
    token: String,
    receiver: Receiver,
    channel: i64,
    accounts: Vec<i64>,
    next_event: std::sync::atomic::AtomicU64,
    database: String,
    addr: std::net::SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Starts imhub on `database` at `listen` on a runtime of its own.
async fn launch(
    database: String,
    listen: std::net::SocketAddr,
) -> (tokio::runtime::Runtime, std::net::SocketAddr, Arc<SqlStore>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, store) = rt
        .spawn(async move {
            let store = Arc::new(SqlStore::open(StoreOptions::new(database)).await.unwrap());
            let mut config = Config {
                listen,
                ..Config::default()
            };
            config.delivery.backoff_base_ms = 20;
            config.delivery.backoff_max_ms = 100;
            config.delivery.max_attempts = 2;
            // The test's receiver listens on loopback, which only the operator can allow.
            config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
            let running = imhub_server::start(config, store.clone(), std::future::pending())
                .await
                .unwrap();
            (running.addr, store)
        })
        .await
        .unwrap();
    (rt, addr, store)
}

impl Server {
    async fn start() -> Server {
        let database = testing::sqlite_database();
        let (rt, addr, store) = launch(database.clone(), "127.0.0.1:0".parse().unwrap()).await;
        let token = rt
            .spawn(async move {
                let ws = store.create_workspace("shop").await.unwrap().id;
                imhub_server::auth::add_user(
                    store.as_ref(),
                    ws,
                    EMAIL,
                    "Ann 客服",
                    Role::Agent,
                    PASSWORD,
                )
                .await
                .unwrap();
                imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
                    .await
                    .unwrap()
            })
            .await
            .unwrap();
        let receiver = Receiver::default();
        let app = Router::new()
            .route("/inbox", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let outbound_url = format!("http://{}/inbox", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut server = Server {
            base: format!("http://{addr}"),
            database,
            addr,
            runtime: Some(rt),
            http: reqwest::Client::new(),
            token,
            receiver,
            channel: 0,
            accounts: Vec::new(),
            next_event: 1.into(),
        };
        let channel = server
            .api(
                "POST",
                "/api/v1/channels",
                json!({"platform": "custom", "name": "Website",
                "config": {"secret": SECRET, "outbound_url": outbound_url}}),
            )
            .await;
        server.channel = channel["id"].as_i64().unwrap();
        for (id, name) in [("shop-1", "旗舰店"), ("shop-2", "上海店")] {
            let account = server
                .api(
                    "POST",
                    "/api/v1/accounts",
                    json!({"channel_id": server.channel, "external_id": id, "name": name}),
                )
                .await;
            server.accounts.push(account["id"].as_i64().unwrap());
        }
        server
    }

    async fn api(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let res = req.bearer_auth(&self.token).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// A signed custom-channel push: `who` writes `content` to `account`,
    /// in `group` when given.
    async fn push(
        &self,
        account: &str,
        who: (&str, Option<&str>),
        group: Option<(&str, &str)>,
        content: Value,
    ) {
        let n = self
            .next_event
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut body = json!({
            "event_id": format!("e{n}"),
            "account": {"id": account},
            "contact": {"id": who.0},
            "message": {"id": format!("m{n}"), "content": content},
        });
        if let Some(nickname) = who.1 {
            body["contact"]["nickname"] = json!(nickname);
        }
        if let Some((id, name)) = group {
            body["group"] = json!({"id": id, "name": name});
        }
        let body = body.to_string();
        let res = self
            .http
            .post(format!("{}/webhooks/custom/{}", self.base, self.channel))
            .header("x-imhub-signature", sign(SECRET, body.as_bytes()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }

    async fn text(&self, account: &str, who: (&str, Option<&str>), text: &str) {
        self.push(account, who, None, json!({"type": "text", "text": text}))
            .await;
    }

    /// Stops the server as if its process died, and starts it again on the
    /// same address and database.
    async fn restart(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            // The old listener may take a moment to let go of the port.
            let bound = std::net::TcpListener::bind(self.addr).is_ok();
            if bound {
                break;
            }
            assert!(Instant::now() < deadline, "{} stayed taken", self.addr);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (rt, addr, _) = launch(self.database.clone(), self.addr).await;
        assert_eq!(addr, self.addr);
        self.runtime = Some(rt);
    }

    /// Waits until the server counts `n` unread messages in `peer`'s conversation.
    async fn unread_becomes(&self, peer: &str, n: i64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let unread = self.conversation(peer).await["unread_count"].as_i64();
            if unread == Some(n) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{peer} has {unread:?} unread, wanted {n}"
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    async fn conversation(&self, peer: &str) -> Value {
        let list = self.api("GET", "/api/v1/conversations", json!(null)).await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["peer_external_id"] == peer)
            .cloned()
            .unwrap()
    }
}

/// A valid 4×3 PNG (orange), for the attachment: stored (uncompressed)
/// deflate blocks, so it needs no image crate.
fn png() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    }
    let (w, h) = (4u32, 3u32);
    // Each row: filter type 0 (none), then w orange RGB pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain([0xff, 0x8a, 0x3d].repeat(w as usize))
        .collect();
    let raw = row.repeat(h as usize);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend((raw.len() as u16).to_le_bytes());
    zlib.extend((!(raw.len() as u16)).to_le_bytes());
    zlib.extend(&raw);
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn row(id: i64) -> String {
    format!("#conv-list .conv[data-id=\"{id}\"]")
}

// ---------- the tests ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_answers_a_customer_from_login_to_logout() {
    let server = Server::start().await;
    let Some(b) = browser(1280, 800).await else {
        return;
    };

    // Log in: a wrong password is refused in place, the right one opens the inbox.
    b.client.goto(&server.base).await.unwrap();
    b.until("the login form", "!document.querySelector('#login').hidden")
        .await;
    b.shot("01-login").await;
    b.type_into("#login-email", EMAIL).await;
    b.type_into("#login-password", &format!("wrong{ENTER}"))
        .await;
    b.until(
        "the login error",
        "!document.querySelector('#login-error').hidden",
    )
    .await;
    b.js("document.querySelector('#login-password').value = ''; return 0")
        .await;
    b.type_into("#login-password", &format!("{PASSWORD}{ENTER}"))
        .await;
    b.until("the inbox", "!document.querySelector('#app').hidden")
        .await;
    b.until(
        "the live connection",
        "document.querySelector('#live').dataset.state === 'live'",
    )
    .await;

    // A customer writes: the conversation appears live, with its unread badge.
    server
        .text(
            "shop-2",
            ("u-emily", Some("Emily Chen")),
            "Hi, where is my order? 📦",
        )
        .await;
    server
        .text("shop-1", ("u-wang", Some("王小明")), "你好，在吗？")
        .await;
    server
        .text("shop-1", ("u-wang", Some("王小明")), "这款耳机还有货吗 🎧")
        .await;
    let wang = server.conversation("u-wang").await["id"].as_i64().unwrap();
    let emily = server.conversation("u-emily").await["id"].as_i64().unwrap();
    b.until(
        "the pushed conversation",
        &format!(
            "document.querySelector('{} .unread-badge')?.textContent === '2'",
            row(wang)
        ),
    )
    .await;
    b.until("both rows, newest first", &format!(
        "[...document.querySelectorAll('#conv-list .conv')].map(r => r.dataset.id).join() === '{wang},{emily}'"
    )).await;
    assert!(
        b.js(&format!(
            "return document.querySelector('{} .conv-name').textContent",
            row(wang)
        ))
        .await
        .as_str()
        .unwrap()
        .contains("王小明")
    );
    b.shot("02-list-live").await;

    // Opening it shows the messages and clears the badge, on the server too.
    b.click(&row(wang)).await;
    b.until(
        "the messages",
        "document.querySelectorAll('#message-list .msg.in').length === 2",
    )
    .await;
    b.until(
        "the badge to clear",
        &format!("!document.querySelector('{} .unread-badge')", row(wang)),
    )
    .await;
    server.unread_becomes("u-wang", 0).await;

    // Enter sends, Shift+Enter is a new line; the reply shows queued, then sent.
    server.receiver.then((200, "", 1200));
    b.type_into(
        "#input",
        &format!("在的！{SHIFT}{ENTER}{RELEASE}今天下单明天发货 "),
    )
    .await;
    // ChromeDriver types only characters of the BMP: the emoji is pasted in.
    b.js("document.querySelector('#input').setRangeText('😊', 1e9, 1e9, 'end'); return 0")
        .await;
    b.type_into("#input", ENTER).await;
    b.until("the queued reply", "['queued', 'sending'].includes(document.querySelector('#message-list .msg.out')?.dataset.status) && document.querySelector('.msg.out .state').textContent === '发送中'").await;
    b.until(
        "the reply to be sent",
        "document.querySelector('#message-list .msg.out[data-status=sent]')",
    )
    .await;
    let text = b
        .js("return document.querySelector('.msg.out .text').textContent")
        .await;
    assert_eq!(text, "在的！\n今天下单明天发货 😊");
    assert_eq!(
        server.receiver.bodies.lock().unwrap()[0]["content"]["text"],
        "在的！\n今天下单明天发货 😊"
    );
    assert_eq!(
        b.js("return document.querySelector('#input').value").await,
        ""
    );

    // Recall it.
    b.js("document.querySelector('.msg.out[data-status=sent] .recall').click(); return 0")
        .await;
    b.until("the recall", "document.querySelector('#message-list [data-status=recalled]')?.textContent.includes('撤回')").await;
    assert_eq!(server.receiver.kinds(), ["message", "recall"]);

    // A refused send fails with a reason of imhub's own (the receiver's
    // body is never shown: it could carry anything) and can be retried.
    server
        .receiver
        .then((400, "the customer blocked this shop", 0));
    b.type_into("#input", &format!("这条会失败{ENTER}")).await;
    b.until("the failure with its reason", "document.querySelector('.msg.out[data-status=failed] .error-line')?.textContent.includes('HTTP 400')").await;
    b.shot("03-failed").await;
    b.click(".msg.out[data-status=failed] .retry").await;
    b.until("the retried message to be sent", "[...document.querySelectorAll('.msg.out[data-status=sent] .text')].some(t => t.textContent === '这条会失败')").await;

    // Attach an image: uploaded, sent as {type: image, url}, shown from the server.
    let png_file =
        std::env::temp_dir().join(format!("imhub-inbox-test-{}.png", std::process::id()));
    std::fs::write(&png_file, png()).unwrap();
    b.type_into("#file", png_file.to_str().unwrap()).await;
    b.until("the image to be sent", &format!(
        "[...document.querySelectorAll('.msg.out[data-kind=image][data-status=sent] img')].some(i => i.src.startsWith('{}/media/') && i.complete && i.naturalWidth === 4)",
        server.base
    )).await;
    let _ = std::fs::remove_file(&png_file);
    let last = server
        .receiver
        .bodies
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["content"]["type"], "image");
    assert_eq!(
        (
            last["content"]["width"].as_u64(),
            last["content"]["height"].as_u64()
        ),
        (Some(4), Some(3))
    );

    // The customer answers while the conversation is open: it shows at once and stays read.
    server
        .text(
            "shop-1",
            ("u-wang", Some("王小明")),
            "收到，谢谢！\n我现在就下单",
        )
        .await;
    b.until("the live answer", "[...document.querySelectorAll('.msg.in .text')].some(t => t.textContent.includes('我现在就下单'))").await;
    b.shot("04-conversation").await;

    // Filters: account, unread only, search.
    b.select("#filter-account", &server.accounts[1].to_string())
        .await;
    b.until("the account filter", &format!("document.querySelectorAll('#conv-list .conv').length === 1 && document.querySelector('{}')", row(emily))).await;
    b.select("#filter-account", "").await;
    b.until(
        "the filter cleared",
        "document.querySelectorAll('#conv-list .conv').length === 2",
    )
    .await;
    server.unread_becomes("u-wang", 0).await;
    b.click("#filter-unread").await;
    b.until("unread only", &format!("document.querySelectorAll('#conv-list .conv').length === 1 && document.querySelector('{}')", row(emily))).await;
    b.click("#filter-unread").await;
    b.type_into("#search", "王小").await;
    b.until("the search", &format!("document.querySelectorAll('#conv-list .conv').length === 1 && document.querySelector('{}')", row(wang))).await;
    b.shot("05-search").await;
    b.type_into("#search", "\u{E00C}").await; // Escape clears the search.
    b.until(
        "the search cleared",
        "document.querySelectorAll('#conv-list .conv').length === 2",
    )
    .await;

    // A reload keeps the session and the open conversation.
    b.client.refresh().await.unwrap();
    b.until(
        "the inbox after reload",
        "!document.querySelector('#app').hidden && document.querySelector('#login').hidden",
    )
    .await;
    b.until(
        "the conversation after reload",
        "document.querySelectorAll('#message-list .msg').length >= 4",
    )
    .await;

    // Keyboard: / focuses search, ↓ enters the list, ↓ moves, Enter opens.
    b.js("document.activeElement.blur(); return 0").await;
    b.type_into("body", "/").await;
    b.until("search focused", "document.activeElement.id === 'search'")
        .await;
    b.type_into("#search", "\u{E015}").await; // ArrowDown
    b.until(
        "a focused row",
        "document.activeElement.classList.contains('conv')",
    )
    .await;
    b.js("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown', bubbles: true})); return 0").await;
    b.until(
        "the second row focused",
        &format!("document.activeElement.dataset.id === '{emily}'"),
    )
    .await;
    b.js("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true})); return 0").await;
    b.until(
        "Emily's conversation",
        "document.querySelector('#chat-name').textContent === 'Emily Chen'",
    )
    .await;
    b.until(
        "Emily's badge to clear",
        &format!("!document.querySelector('{} .unread-badge')", row(emily)),
    )
    .await;
    server.unread_becomes("u-emily", 0).await;

    // The server restarts: the live stream comes back by itself and catches up.
    let mut server = server;
    server.restart().await;
    server
        .text(
            "shop-2",
            ("u-emily", Some("Emily Chen")),
            "Are you still there?",
        )
        .await;
    b.until(
        "the live stream back after the restart",
        "document.querySelector('#live').dataset.state === 'live' && [...document.querySelectorAll('.msg.in .text')].some(t => t.textContent === 'Are you still there?')",
    )
    .await;

    // Log out: back to the login, and a reload does not bring the inbox back.
    b.click("#me-button").await;
    b.click("#logout").await;
    b.until(
        "the login after logout",
        "!document.querySelector('#login').hidden",
    )
    .await;
    b.client.refresh().await.unwrap();
    b.until(
        "the login after reload",
        "!document.querySelector('#login').hidden && document.querySelector('#app').hidden",
    )
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_content_kind_and_groups_render_on_desktop_and_phone() {
    let server = Server::start().await;
    let media = server.base.clone();
    let kinds = [
        json!({"type": "text", "text": "第一行\n第二行 👋"}),
        json!({"type": "image", "url": format!("{media}/no-such-image.png"), "width": 800, "height": 600}),
        json!({"type": "video", "media_id": "v1", "duration_secs": 42}),
        json!({"type": "voice", "media_id": "a1", "duration_secs": 8}),
        json!({"type": "emoji", "code": "[微笑]"}),
        json!({"type": "location", "latitude": 31.2304, "longitude": 121.4737, "title": "上海市人民广场"}),
        json!({"type": "file", "url": format!("{media}/f.pdf"), "name": "报价单.pdf", "size": 248_000}),
        json!({"type": "lead_card", "card_id": "lead-1", "title": "赵敏 · 想了解加盟"}),
        json!({"type": "mini_program_card", "card_id": "mp-1", "title": "夏季新品菜单", "app_id": "tt123", "path": "pages/menu"}),
        json!({"type": "goods_card", "product_codes": ["SKU-1", "SKU-2"]}),
        json!({"type": "order_card", "order_id": "DD-8848", "title": "礼盒 × 2"}),
        json!({"type": "custom", "data": {"coupon": "NEW50"}, "description": "领取了优惠券 NEW50"}),
    ];
    // Older history than one page, then one message of every kind.
    const OLDER: usize = 25;
    for i in 0..OLDER {
        let text = json!({"type": "text", "text": format!("较早的消息 {i}")});
        server
            .push("shop-1", ("u-zhao", Some("赵敏")), None, text)
            .await;
    }
    for content in &kinds {
        server
            .push("shop-1", ("u-zhao", Some("赵敏")), None, content.clone())
            .await;
    }
    let group = Some(("g-vip", "老客户福利群"));
    server
        .push(
            "shop-1",
            ("u-li", Some("李娜")),
            group,
            json!({"type": "text", "text": "今晚直播几点开始？"}),
        )
        .await;
    server
        .push(
            "shop-1",
            ("u-tom", Some("Tom Lee")),
            group,
            json!({"type": "text", "text": "Any discounts tonight? ☕️"}),
        )
        .await;
    server
        .push(
            "shop-1",
            ("u-anon", None),
            None,
            json!({"type": "text", "text": "在吗"}),
        )
        .await;
    let zhao = server.conversation("u-zhao").await["id"].as_i64().unwrap();
    let vip = server.conversation("g-vip").await;
    assert_eq!(vip["kind"], "group");
    let vip = vip["id"].as_i64().unwrap();
    let anon = server.conversation("u-anon").await["id"].as_i64().unwrap();

    let Some(b) = browser(1280, 860).await else {
        return;
    };
    b.client.goto(&server.base).await.unwrap();
    b.until("the login form", "!document.querySelector('#login').hidden")
        .await;
    b.type_into("#login-email", EMAIL).await;
    b.type_into("#login-password", &format!("{PASSWORD}{ENTER}"))
        .await;
    b.until(
        "three rows",
        "document.querySelectorAll('#conv-list .conv').length === 3",
    )
    .await;
    assert_eq!(
        b.js(&format!(
            "return document.querySelector('{} .conv-name').textContent",
            row(anon)
        ))
        .await,
        "匿名"
    );
    assert_eq!(b.count(&format!("{} .tag.group", row(vip))).await, 1);

    b.click(&row(zhao)).await;
    b.until(
        "the newest page",
        "document.querySelectorAll('#message-list .msg').length === 30",
    )
    .await;
    // Older messages load when scrolling up.
    b.js("document.querySelector('#messages').scrollTop = 0; return 0")
        .await;
    b.until(
        "the older messages",
        &format!(
            "document.querySelectorAll('#message-list .msg').length === {}",
            OLDER + kinds.len()
        ),
    )
    .await;
    for content in &kinds {
        let kind = content["type"].as_str().unwrap();
        let want = if kind == "text" { OLDER + 1 } else { 1 };
        assert_eq!(
            b.count(&format!("#message-list .msg[data-kind={kind}]"))
                .await,
            want as u64,
            "{kind}"
        );
    }
    // Line breaks are kept; the image's box is sized before it loads (240 × 800/600).
    assert_eq!(
        b.js("return [...document.querySelectorAll('.msg[data-kind=text] .text')].pop().innerText")
            .await,
        "第一行\n第二行 👋"
    );
    let (w, h) = {
        let r = b.js("const r = document.querySelector('.msg[data-kind=image] .media').getBoundingClientRect(); return [r.width, r.height]").await;
        (r[0].as_f64().unwrap(), r[1].as_f64().unwrap())
    };
    assert!(
        (w - 240.0).abs() < 1.0 && (h - 180.0).abs() < 1.0,
        "image box {w}×{h}"
    );
    b.js("[...document.querySelectorAll('.msg[data-kind=text]')].pop().scrollIntoView({block: 'start'}); return 0")
        .await;
    b.shot("06-content-kinds-top").await;
    b.js("const m = document.querySelector('#messages'); m.scrollTop = m.scrollHeight; return 0")
        .await;
    b.shot("07-content-kinds-bottom").await;

    // Groups show member names on inbound bubbles.
    b.click(&row(vip)).await;
    b.until("the group's senders", "[...document.querySelectorAll('#message-list .sender')].map(s => s.textContent).join() === '李娜,Tom Lee'").await;
    assert!(
        b.js("return document.querySelector('#chat-sub').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("群聊")
    );
    b.shot("08-group").await;

    // A platform's closed reply window shows before the agent types. The
    // custom channel has no window, so the page's fetch adds a deadline
    // that has passed to the anonymous customer's conversation.
    b.js(&format!(r#"
        const fetch0 = window.fetch;
        window.fetch = async (...args) => {{
            const res = await fetch0(...args);
            if (!/^\/api\/v1\/conversations(\?.*|\/\d+(\/read)?)?$/.test(String(args[0]))) return res;
            const body = await res.clone().json().catch(() => null);
            if (!body) return res;
            for (const c of body.items || [body]) if (c.id === {anon}) c.reply_deadline = new Date(Date.now() - 3600e3).toISOString();
            return new Response(JSON.stringify(body), {{ status: res.status, headers: res.headers }});
        }};
        return 0"#)).await;
    b.select("#filter-status", "open").await;
    b.until(
        "the list reloaded",
        "document.querySelector('#filter-status').classList.contains('active')",
    )
    .await;
    b.click(&row(anon)).await;
    b.until("the closed window", "!document.querySelector('#window-banner').hidden && document.querySelector('#window-banner').classList.contains('closed')").await;
    assert_eq!(b.js("return document.querySelector('#input').disabled && document.querySelector('#send').disabled").await, true);
    assert_eq!(
        b.js("return document.querySelector('#chat-name').textContent")
            .await,
        "匿名"
    );
    b.shot("09-reply-window-closed").await;

    // Phone width: one pane at a time, with a way back.
    b.click(&row(vip)).await;
    b.until(
        "the group again",
        "document.querySelectorAll('#message-list .sender').length === 2",
    )
    .await;
    b.client.set_window_size(390, 844).await.unwrap();
    b.until(
        "the detail alone",
        "getComputedStyle(document.querySelector('.sidebar')).display === 'none'",
    )
    .await;
    b.shot("10-phone-chat").await;
    b.click("#back").await;
    b.until(
        "the list alone",
        "getComputedStyle(document.querySelector('.detail')).display === 'none'",
    )
    .await;
    b.shot("11-phone-list").await;

    // The chat list loads more as it scrolls: 35 conversations, pages of 30.
    for i in 0..32 {
        let who = format!("u-more-{i}");
        let name = format!("客户 {i}");
        server.text("shop-2", (&who, Some(&name)), "你好").await;
    }
    b.client
        .goto(&format!("{}/?fresh", server.base))
        .await
        .unwrap();
    b.until(
        "the first page",
        "document.querySelectorAll('#conv-list .conv').length === 30",
    )
    .await;
    b.js(
        "const l = document.querySelector('#conv-scroll'); l.scrollTop = l.scrollHeight; return 0",
    )
    .await;
    b.until(
        "the next page",
        "document.querySelectorAll('#conv-list .conv').length === 35",
    )
    .await;
    b.close().await;
}
