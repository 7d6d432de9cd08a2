//! `imhub demo`: the whole product on one machine in one command, for a
//! newcomer. It starts imhub on a fresh SQLite file in a temporary folder,
//! creates a workspace, a demo agent, a custom channel with two accounts,
//! and simulated customers who write in (Chinese and English, text, images
//! and cards) through signed custom-channel pushes and answer the agent's
//! replies a moment later. Everything is served locally: the customers'
//! pictures come from the simulator's own little "CDN".
//!
//! Adding a platform: connect its channel in [`connect_channels`] (pointing
//! at `imhub-sandbox`), add an [`Inlet`] variant that pushes through it, and
//! give some [`Customer`]s that inlet's account ids.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use imhub_core::Role;
use imhub_server::{
    Config,
    auth::{add_user, issue_api_token},
    channels::custom::{CustomDelivery, SIGNATURE_HEADER, sign, verify},
};
use imhub_store::Store;
use rand::Rng;
use serde_json::{Value, json};

/// The demo agent's login, printed at start. The database is thrown away
/// when the demo stops, so a fixed, well-known password is fine here.
pub const AGENT_EMAIL: &str = "agent@demo.imhub";
/// See [`AGENT_EMAIL`].
pub const AGENT_PASSWORD: &str = "imhub-demo";

/// Runs the demo until `shutdown` resolves, then removes its data.
pub async fn run(
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("imhub-demo-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let outcome = run_in(&dir, listen, shutdown).await;
    // The demo's data is throwaway by design; a failure to delete it is harmless.
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn run_in(
    dir: &std::path::Path,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Browsers and imhub reach the simulator at the host imhub listens on
    // (loopback when it listens on every interface).
    let host = if listen.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listen.ip()
    };
    let sim_listener = tokio::net::TcpListener::bind(SocketAddr::new(listen.ip(), 0))
        .await
        .context("cannot start the simulated customers")?;
    let sim_addr = SocketAddr::new(host, sim_listener.local_addr()?.port());
    let sim = Arc::new(Simulator::new(format!("http://{sim_addr}")));
    let app = Router::new()
        .route("/deliveries", post(delivered))
        .route("/cdn/{name}", get(asset))
        .with_state(Arc::clone(&sim));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(sim_listener, app).await {
            tracing::error!(error = %e, "the simulated customers stopped");
        }
    });

    let mut config = Config {
        listen,
        database_url: format!("sqlite://{}", dir.join("imhub.db").display()),
        sqlite_durability: "normal".into(),
        ..Config::default()
    };
    config.delivery.backoff_base_ms = 500;
    config.delivery.backoff_max_ms = 5_000;
    config.delivery.max_attempts = 5;
    let store = imhub_server::open_store(&config).await?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let running = imhub_server::start(config, store.clone(), async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    })
    .await
    .with_context(|| format!("cannot listen on {listen} (try --listen 127.0.0.1:8090)"))?;
    let base = format!("http://{}", SocketAddr::new(host, running.addr.port()));

    let ws = store.create_workspace("演示商户 Demo Shop").await?;
    let token = issue_api_token(store.as_ref(), ws.id, "demo", Role::Admin).await?;
    add_user(
        store.as_ref(),
        ws.id,
        AGENT_EMAIL,
        "演示客服 Demo Agent",
        Role::Agent,
        AGENT_PASSWORD,
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot add the demo agent: {}: {}", e.code, e.detail))?;
    let admin = Admin {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: token.clone(),
    };
    let inlets = connect_channels(&admin, &sim).await?;
    if sim.inlets.set(inlets).is_err() {
        bail!("the demo's channels were connected twice");
    }
    sim.replay_backlog().await?;
    tokio::spawn(Arc::clone(&sim).live_customers());

    println!();
    println!("  imhub demo is running");
    println!();
    println!("  Inbox      {base}/");
    println!("  Login      {AGENT_EMAIL}  /  {AGENT_PASSWORD}");
    println!("  API token  {token}");
    println!("  Data       {} (deleted on exit)", dir.display());
    println!();
    println!("  Simulated customers write in every half minute or so and answer your replies.");
    println!("  Press Ctrl+C to stop.");
    println!();

    shutdown.await;
    let _ = stop_tx.send(true);
    // Open event streams keep a graceful shutdown waiting; do not wait long.
    let _ = tokio::time::timeout(Duration::from_secs(3), running.task).await;
    Ok(())
}

/// Calls imhub's API as the workspace admin.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path}: not JSON: {text}"))
    }

    async fn create_channel(
        &self,
        platform: &str,
        name: &str,
        config: Value,
    ) -> anyhow::Result<i64> {
        let channel = self
            .post(
                "/api/v1/channels",
                json!({"platform": platform, "name": name, "config": config}),
            )
            .await?;
        channel["id"].as_i64().context("the channel has no id")
    }

    async fn create_account(
        &self,
        channel: i64,
        external_id: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        self.post(
            "/api/v1/accounts",
            json!({"channel_id": channel, "external_id": external_id, "name": name}),
        )
        .await
        .map(|_| ())
    }
}

/// Connects every channel the demo shows and returns how to push into each.
async fn connect_channels(
    admin: &Admin,
    sim: &Simulator,
) -> anyhow::Result<HashMap<&'static str, Inlet>> {
    let mut inlets = HashMap::new();
    let secret = format!("demo-{:032x}", rand::rng().random::<u128>());
    let channel = admin
        .create_channel(
            "custom",
            "官网在线客服 Website chat",
            json!({"secret": secret, "outbound_url": format!("{}/deliveries", sim.base)}),
        )
        .await?;
    for (id, name) in CUSTOM_ACCOUNTS {
        admin.create_account(channel, id, name).await?;
    }
    let webhook = format!("{}/webhooks/custom/{channel}", admin.base);
    for (id, _) in CUSTOM_ACCOUNTS {
        inlets.insert(
            *id,
            Inlet::Custom {
                webhook: webhook.clone(),
                secret: secret.clone(),
            },
        );
    }
    Ok(inlets)
}

/// The custom channel's accounts: the merchant's two shops.
const CUSTOM_ACCOUNTS: &[(&str, &str)] = &[("flagship", "官方旗舰店"), ("shanghai", "上海体验店")];

/// Where a simulated customer's messages enter imhub: one variant per kind
/// of connected channel. Platforms join by pushing through the sandbox.
enum Inlet {
    /// The merchant's own system: signed JSON pushes to the custom webhook.
    Custom { webhook: String, secret: String },
}

impl Inlet {
    async fn push(&self, http: &reqwest::Client, say: &Say<'_>) -> anyhow::Result<()> {
        match self {
            Inlet::Custom { webhook, secret } => {
                let customer = say.customer;
                let mut body = json!({
                    "event_id": say.event_id,
                    "account": {"id": customer.account},
                    "contact": {"id": customer.id},
                    "message": {"id": say.event_id, "content": say.content, "sent_at": say.at_ms},
                });
                if let Some(nickname) = customer.nickname {
                    body["contact"]["nickname"] = json!(nickname);
                }
                if let Some(avatar) = customer.avatar {
                    body["contact"]["avatar"] = json!(say.assets.url(avatar));
                }
                if let Some(group) = say.group {
                    body["group"] = json!({"id": group.id, "name": group.name});
                }
                if say.from_merchant {
                    body["message"]["direction"] = json!("out");
                }
                let body = serde_json::to_vec(&body)?;
                let res = http
                    .post(webhook)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(SIGNATURE_HEADER, sign(secret, &body))
                    .body(body)
                    .send()
                    .await?;
                if !res.status().is_success() {
                    bail!(
                        "push refused: {} {}",
                        res.status(),
                        res.text().await.unwrap_or_default()
                    );
                }
                Ok(())
            }
        }
    }
}

/// One message a simulated customer (or, for history, the merchant) sends.
struct Say<'a> {
    event_id: String,
    customer: &'a Customer,
    group: Option<&'a Group>,
    content: Value,
    at_ms: i64,
    from_merchant: bool,
    assets: &'a Assets,
}

/// A simulated customer.
struct Customer {
    id: &'static str,
    /// `None` shows as 匿名, as platforms that hide names do.
    nickname: Option<&'static str>,
    /// An image name of the simulator's CDN.
    avatar: Option<&'static str>,
    /// Which of the merchant's accounts they write to.
    account: &'static str,
    english: bool,
    /// What they answer to the agent's replies, in turn.
    replies: &'static [&'static str],
}

const ZH_REPLIES: &[&str] = &[
    "好的，谢谢！👍",
    "明白了～那我再看看",
    "可以的，麻烦尽快安排一下 🙏",
    "收到，辛苦了！",
];
const EN_REPLIES: &[&str] = &[
    "Great, thanks a lot! 🙌",
    "Okay, makes sense.",
    "Perfect — please go ahead.",
    "Thanks for the quick answer!",
];

const CUSTOMERS: &[Customer] = &[
    Customer {
        id: "u-wang",
        nickname: Some("王小明"),
        avatar: Some("avatar-1"),
        account: "flagship",
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "u-emily",
        nickname: Some("Emily Chen"),
        avatar: Some("avatar-2"),
        account: "flagship",
        english: true,
        replies: EN_REPLIES,
    },
    Customer {
        id: "u-anon",
        nickname: None,
        avatar: None,
        account: "flagship",
        english: false,
        replies: &["嗯嗯", "好的"],
    },
    Customer {
        id: "u-chen",
        nickname: Some("陈静"),
        avatar: Some("avatar-3"),
        account: "shanghai",
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "u-liu",
        nickname: Some("刘洋"),
        avatar: None,
        account: "shanghai",
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "u-zhao",
        nickname: Some("赵敏"),
        avatar: Some("avatar-4"),
        account: "flagship",
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "u-li",
        nickname: Some("李娜"),
        avatar: Some("avatar-5"),
        account: "flagship",
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "u-zhang",
        nickname: Some("张伟"),
        avatar: None,
        account: "flagship",
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "u-tom",
        nickname: Some("Tom Lee"),
        avatar: Some("avatar-6"),
        account: "flagship",
        english: true,
        replies: EN_REPLIES,
    },
    Customer {
        id: "u-sun",
        nickname: Some("孙悦"),
        avatar: None,
        account: "shanghai",
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "u-mike",
        nickname: Some("Mike Wong"),
        avatar: None,
        account: "shanghai",
        english: true,
        replies: EN_REPLIES,
    },
];

/// A customer group (fan group), whose members write in.
struct Group {
    id: &'static str,
    name: &'static str,
    members: &'static [&'static str],
}

const GROUPS: &[Group] = &[Group {
    id: "g-vip",
    name: "老客户福利群 VIP Club",
    members: &["u-li", "u-zhang", "u-tom"],
}];

fn customer(id: &str) -> Option<&'static Customer> {
    CUSTOMERS.iter().find(|c| c.id == id)
}

/// A scripted message: who writes, in which group, how long ago, what.
struct Line {
    from: &'static str,
    group: Option<&'static str>,
    minutes_ago: i64,
    from_merchant: bool,
    content: Value,
}

fn line(from: &'static str, minutes_ago: i64, content: Value) -> Line {
    Line {
        from,
        group: None,
        minutes_ago,
        from_merchant: false,
        content,
    }
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// The history the inbox shows when the demo starts.
fn backlog(assets: &Assets) -> Vec<Line> {
    let img = |name: &str, w: u32, h: u32| json!({"type": "image", "url": assets.url(name), "width": w, "height": h});
    let in_group = |from, minutes_ago, content| Line {
        from,
        group: Some("g-vip"),
        minutes_ago,
        from_merchant: false,
        content,
    };
    let merchant = |to, minutes_ago, content| Line {
        from: to,
        group: None,
        minutes_ago,
        from_merchant: true,
        content,
    };
    vec![
        line(
            "u-liu",
            6 * 1440,
            json!({"type": "voice", "media_id": "voice-8s", "duration_secs": 8}),
        ),
        line(
            "u-liu",
            6 * 1440 - 1,
            json!({"type": "video", "media_id": "video-unboxing", "cover_url": assets.url("coffee"), "duration_secs": 42}),
        ),
        line(
            "u-liu",
            6 * 1440 - 2,
            text("开箱视频发你们看下，咖啡机侧面有划痕"),
        ),
        line(
            "u-chen",
            26 * 60,
            json!({"type": "location", "latitude": 31.2304, "longitude": 121.4737, "title": "上海市黄浦区人民广场"}),
        ),
        line(
            "u-chen",
            26 * 60 - 1,
            text("这个地址能送到吗？明天上午在家"),
        ),
        line(
            "u-zhao",
            9 * 60,
            json!({"type": "lead_card", "card_id": "lead-2024-001", "title": "赵敏 · 138****5678 · 想了解门店加盟"}),
        ),
        line(
            "u-zhao",
            9 * 60 - 1,
            json!({"type": "mini_program_card", "card_id": "mp-menu", "title": "夏季新品菜单", "app_id": "tt1234567890", "path": "pages/menu/index", "cover_url": assets.url("gift")}),
        ),
        line("u-anon", 5 * 60, text("在吗")),
        line("u-anon", 5 * 60 - 2, text("你们周末营业吗？")),
        line(
            "u-wang",
            3 * 60,
            text("你好，请问这款蓝牙耳机还有现货吗？🎧"),
        ),
        line("u-wang", 3 * 60 - 1, img("earbuds", 800, 600)),
        merchant(
            "u-wang",
            3 * 60 - 4,
            text("有的～今天下单，明天就能发货 😊"),
        ),
        line(
            "u-wang",
            3 * 60 - 6,
            json!({"type": "goods_card", "product_codes": ["SKU-EB-PRO-BLK", "SKU-EB-PRO-WHT"]}),
        ),
        line(
            "u-wang",
            2 * 60,
            text("那我下单黑色的。\n地址写错了能改吗？\n谢谢！"),
        ),
        line(
            "u-sun",
            70,
            json!({"type": "custom", "description": "领取了新人优惠券 NEW50", "data": {"event": "coupon_claimed", "coupon": "NEW50", "amount": 50}}),
        ),
        in_group("u-li", 40, text("今晚的直播几点开始呀？")),
        in_group("u-zhang", 38, img("poster", 600, 800)),
        in_group("u-zhang", 37, text("8 点！群里的朋友记得来抢券 🎉")),
        in_group(
            "u-tom",
            35,
            text("Will the coffee machine be on sale tonight? ☕️"),
        ),
        line(
            "u-emily",
            12,
            text("Hi! I ordered a gift set last week but it still hasn't arrived 😟"),
        ),
        line(
            "u-emily",
            11,
            json!({"type": "order_card", "order_id": "DD20240611-8848", "title": "Gift set × 2 · ¥398"}),
        ),
        line(
            "u-emily",
            10,
            text("Could you check the tracking for me, please?"),
        ),
    ]
}

/// What arrives while the demo runs, one every half minute or so, in turn.
fn live_script(assets: &Assets) -> Vec<Line> {
    vec![
        line("u-mike", 0, text("Hello, do you ship to Hong Kong? 🚚")),
        line("u-sun", 0, text("请问可以开发票吗？🧾 公司抬头")),
        line(
            "u-wang",
            0,
            json!({"type": "image", "url": assets.url("gift"), "width": 800, "height": 800}),
        ),
        Line {
            from: "u-li",
            group: Some("g-vip"),
            minutes_ago: 0,
            from_merchant: false,
            content: text("直播间链接发一下～"),
        },
        line("u-emily", 0, text("Any update on my order? 🙏")),
        line("u-anon", 0, text("人呢？")),
        line("u-chen", 0, text("快递到了，谢谢！包装很用心 ❤️")),
    ]
}

/// The simulated customers: they push scripted messages and answer replies.
struct Simulator {
    base: String,
    assets: Assets,
    http: reqwest::Client,
    inlets: OnceLock<HashMap<&'static str, Inlet>>,
    next: AtomicU64,
    turns: Mutex<HashMap<String, usize>>,
    run: u128,
}

impl Simulator {
    fn new(base: String) -> Self {
        Simulator {
            assets: Assets {
                base: format!("{base}/cdn"),
            },
            base,
            http: reqwest::Client::new(),
            inlets: OnceLock::new(),
            next: AtomicU64::new(1),
            turns: Mutex::new(HashMap::new()),
            run: now_ms() as u128,
        }
    }

    async fn say(&self, line: &Line, at_ms: i64) -> anyhow::Result<()> {
        let customer = customer(line.from).with_context(|| format!("no customer {}", line.from))?;
        let group = line.group.and_then(|g| GROUPS.iter().find(|x| x.id == g));
        let inlet = self
            .inlets
            .get()
            .and_then(|inlets| inlets.get(customer.account))
            .with_context(|| format!("no channel for account {}", customer.account))?;
        let say = Say {
            event_id: format!(
                "demo-{}-{}",
                self.run,
                self.next.fetch_add(1, Ordering::Relaxed)
            ),
            customer,
            group,
            content: line.content.clone(),
            at_ms,
            from_merchant: line.from_merchant,
            assets: &self.assets,
        };
        inlet.push(&self.http, &say).await
    }

    async fn replay_backlog(&self) -> anyhow::Result<()> {
        let now = now_ms();
        for line in backlog(&self.assets) {
            self.say(&line, now - line.minutes_ago * 60_000).await?;
        }
        Ok(())
    }

    async fn live_customers(self: Arc<Self>) {
        let script = live_script(&self.assets);
        tokio::time::sleep(Duration::from_secs(15)).await;
        for line in script.iter().cycle() {
            if let Err(e) = self.say(line, now_ms()).await {
                tracing::warn!(error = %e, "a simulated customer could not write in");
            }
            let pause = rand::rng().random_range(20..45);
            tokio::time::sleep(Duration::from_secs(pause)).await;
        }
    }

    /// A customer answers the agent's reply after a human-looking pause.
    async fn answer(self: Arc<Self>, delivery: CustomDelivery) {
        let (who, group) = if delivery.peer_kind == "group" {
            let Some(group) = GROUPS.iter().find(|g| g.id == delivery.peer_id) else {
                return;
            };
            let pick = rand::rng().random_range(0..group.members.len());
            (group.members[pick], Some(group.id))
        } else {
            (delivery.peer_id.as_str(), None)
        };
        let Some(customer) = customer(who) else {
            return;
        };
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
            let n = turns.entry(delivery.peer_id.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let is_image = matches!(delivery.content, Some(imhub_core::Content::Image { .. }));
        let answer = match (is_image, customer.english) {
            (true, false) => "图片收到了，谢谢 👌",
            (true, true) => "Got the picture, thanks! 👌",
            _ => customer.replies[turn % customer.replies.len()],
        };
        let pause = rand::rng().random_range(1500..4000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let line = Line {
            from: customer.id,
            group,
            minutes_ago: 0,
            from_merchant: false,
            content: text(answer),
        };
        if let Err(e) = self.say(&line, now_ms()).await {
            tracing::warn!(error = %e, "a simulated customer could not answer");
        }
    }
}

/// The custom channel's outbound endpoint: the "merchant's system" that
/// receives the agent's replies and hands them to the customers.
async fn delivered(State(sim): State<Arc<Simulator>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(Inlet::Custom { secret, .. }) = sim.inlets.get().and_then(|i| i.values().next())
    else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify(secret, &body, signature) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let Ok(delivery) = serde_json::from_slice::<CustomDelivery>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a delivery").into_response();
    };
    let id = format!("sim-{}", delivery.client_message_id);
    if delivery.kind == "message" {
        tokio::spawn(Arc::clone(&sim).answer(delivery));
    }
    Json(json!({"id": id})).into_response()
}

/// The simulator's pictures, drawn as SVG so the demo needs no files and no
/// internet.
struct Assets {
    base: String,
}

impl Assets {
    fn url(&self, name: &str) -> String {
        format!("{}/{name}.svg", self.base)
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    match draw(name.trim_end_matches(".svg")) {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            svg,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn draw(name: &str) -> Option<String> {
    let (w, h, from, to, symbol, caption) = match name {
        "earbuds" => (800, 600, "#e0e7ff", "#6366f1", "🎧", "无线降噪耳机 Pro"),
        "coffee" => (800, 600, "#fde7d4", "#b45309", "☕", "家用意式咖啡机"),
        "gift" => (800, 800, "#fce7f3", "#db2777", "🎁", "夏日礼盒 Gift set"),
        "poster" => (600, 800, "#1e1b4b", "#7c3aed", "📣", "今晚 8 点 · 直播福利"),
        _ => {
            let n: usize = name.strip_prefix("avatar-")?.parse().ok()?;
            let faces = ["🧑", "👩", "👩‍💼", "🙂", "👧", "🧔"];
            let colors = [
                ("#bae6fd", "#0284c7"),
                ("#fecdd3", "#e11d48"),
                ("#bbf7d0", "#16a34a"),
                ("#fde68a", "#d97706"),
                ("#e9d5ff", "#9333ea"),
                ("#c7d2fe", "#4f46e5"),
            ];
            let (from, to) = colors.get(n.checked_sub(1)?)?;
            let face = faces.get(n - 1)?;
            return Some(format!(
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{from}"/><stop offset="1" stop-color="{to}"/></linearGradient></defs><rect width="200" height="200" fill="url(#g)"/><text x="100" y="128" font-size="96" text-anchor="middle">{face}</text></svg>"##
            ));
        }
    };
    let font = r#"-apple-system,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif"#;
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{from}"/><stop offset="1" stop-color="{to}"/></linearGradient></defs><rect width="{w}" height="{h}" fill="url(#g)"/><circle cx="{cx}" cy="{cy}" r="{r}" fill="#ffffff" fill-opacity="0.25"/><text x="{cx}" y="{ty}" font-size="{fs}" text-anchor="middle">{symbol}</text><text x="{cx}" y="{cy2}" font-family="{font}" font-size="40" font-weight="700" fill="#ffffff" text-anchor="middle">{caption}</text></svg>"##,
        cx = w / 2,
        cy = h / 2 - 40,
        r = w.min(h) / 4,
        ty = h / 2 - 40 + w.min(h) / 10,
        fs = w.min(h) / 4,
        cy2 = h - 70,
    ))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
