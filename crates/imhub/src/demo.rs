//! `imhub demo`: the whole product on one machine in one command, for a
//! newcomer. It starts imhub on a fresh SQLite file in a temporary folder,
//! creates a workspace and a demo agent, and connects one channel per
//! platform: Douyin, Tencent IM and Meituan pointed at their emulators from
//! `imhub-sandbox` (run in-process, each on its own local port), plus a
//! custom channel with two accounts. Simulated customers write in on every
//! channel (Chinese and English, text, images and cards) the way each
//! platform pushes, and answer the agent's replies a moment later: the
//! replies really go out through each adapter to its emulator, which the
//! simulator watches. Everything is served locally: the customers' pictures
//! come from the simulator's own little "CDN".
//!
//! Adding a platform: connect its channel in [`connect_channels`] (pointing
//! at `imhub-sandbox`), add an [`Inlet`] variant that pushes through it and
//! reports what imhub sent, and give some [`Customer`]s that inlet's
//! account id.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    ops::Range,
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
use imhub_core::{ChannelId, Content, Role, WorkspaceId};
use imhub_meituan::im::MsgType;
use imhub_sandbox::{
    douyin::{CustomerMessage as DouyinMessage, DouyinSandbox},
    meituan::{CustomerMessage as MeituanMessage, MeituanSandbox, SandboxApp},
    tencent::TencentSandbox,
};
use imhub_server::{
    Config,
    api::douyin::{CALLBACK_PATH, start_authorization},
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

/// How long a simulated customer takes to answer a reply, in milliseconds.
const ANSWER_PAUSE_MS: Range<u64> = 1500..4000;
/// How often the simulator looks at what imhub sent to the emulators.
const WATCH_EVERY: Duration = Duration::from_millis(300);

/// Runs the demo until `shutdown` resolves, then removes its data.
pub async fn run(
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("imhub-demo-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let outcome = async {
        let demo = Demo::start(&dir, listen, ANSWER_PAUSE_MS).await?;
        demo.print();
        shutdown.await;
        demo.stop().await;
        Ok(())
    }
    .await;
    // The demo's data is throwaway by design; a failure to delete it is harmless.
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// A running demo: imhub, the emulators and the simulated customers.
struct Demo {
    /// imhub's base URL.
    base: String,
    /// An admin API token of the demo workspace.
    token: String,
    dir: std::path::PathBuf,
    stop_tx: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Demo {
    /// Starts everything and seeds the inbox; customers answer replies after
    /// a pause drawn from `answer_pause_ms`.
    async fn start(
        dir: &std::path::Path,
        listen: SocketAddr,
        answer_pause_ms: Range<u64>,
    ) -> anyhow::Result<Demo> {
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
        let sim = Arc::new(Simulator::new(
            format!("http://{sim_addr}"),
            answer_pause_ms,
        ));
        let app = Router::new()
            .route("/deliveries", post(delivered))
            .route("/cdn/{name}", get(asset))
            .with_state(Arc::clone(&sim));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(sim_listener, app).await {
                tracing::error!(error = %e, "the simulated customers stopped");
            }
        });

        // The emulators' ports are taken first: their URLs are the
        // operator's platform endpoints, set before imhub starts.
        let emulators = Emulators::bind(listen.ip(), host).await?;
        let mut config = Config {
            listen,
            database_url: format!("sqlite://{}", dir.join("imhub.db").display()),
            sqlite_durability: "normal".into(),
            ..Config::default()
        };
        config.platforms.douyin.base_url = Some(emulators.douyin.url.clone());
        config.platforms.tencent.base_url = Some(emulators.tencent.url.clone());
        config.platforms.meituan.base_url = Some(format!("{}/api/v1/", emulators.meituan.url));
        // The simulated customers' receiver (the custom channel's
        // outbound_url) is local: only the operator can allow that.
        config.outbound.allow_cidrs = vec!["127.0.0.0/8".into(), host.to_string()];
        config.delivery.backoff_base_ms = 500;
        config.delivery.backoff_max_ms = 5_000;
        config.delivery.max_attempts = 5;
        let store = imhub_server::open_store(&config).await?;
        let platforms = config.platforms.clone();
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
            store: store.clone(),
            workspace: ws.id,
            platforms,
        };
        seed_team(&admin).await?;
        seed_automation(&admin).await?;
        let inlets = connect_channels(&admin, &sim, emulators).await?;
        if sim.inlets.set(inlets).is_err() {
            bail!("the demo's channels were connected twice");
        }
        sim.replay_backlog().await?;
        sim.platform_events().await?;
        tokio::spawn(Arc::clone(&sim).live_customers());
        tokio::spawn(Arc::clone(&sim).watch_platforms());
        Ok(Demo {
            base,
            token,
            dir: dir.to_path_buf(),
            stop_tx,
            task: running.task,
        })
    }

    fn print(&self) {
        let Demo {
            base, token, dir, ..
        } = self;
        println!();
        println!("  imhub demo is running");
        println!();
        println!("  Inbox      {base}/");
        println!("  Login      {AGENT_EMAIL}  /  {AGENT_PASSWORD}");
        println!("  Colleague  {COLLEAGUE_EMAIL}  /  {AGENT_PASSWORD}");
        println!("  API token  {token}");
        println!(
            "  Channels   抖音 Douyin, 腾讯云 IM Tencent, 美团 Meituan (local emulators), custom"
        );
        println!("  Data       {} (deleted on exit)", dir.display());
        println!();
        println!("  Simulated customers write in every half minute or so and answer your replies.");
        println!("  Press Ctrl+C to stop.");
        println!();
    }

    async fn stop(self) {
        let _ = self.stop_tx.send(true);
        // Open event streams keep a graceful shutdown waiting; do not wait long.
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

/// A second demo agent, so the team inbox has someone to assign to and
/// mention; the same throwaway password as [`AGENT_PASSWORD`].
pub const COLLEAGUE_EMAIL: &str = "colleague@demo.imhub";

/// The team inbox's library: a colleague, workspace labels and shared quick
/// replies with variables, through the store as an admin would set them up.
async fn seed_team(admin: &Admin) -> anyhow::Result<()> {
    let store = admin.store.as_ref();
    add_user(
        store,
        admin.workspace,
        COLLEAGUE_EMAIL,
        "小李 Li",
        Role::Agent,
        AGENT_PASSWORD,
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot add the demo colleague: {}: {}", e.code, e.detail))?;
    for (name, color) in [
        ("VIP", "#e5484d"),
        ("售后", "#0090ff"),
        ("待发货", "#f76b15"),
    ] {
        store.create_label(admin.workspace, name, color).await?;
    }
    for (folder, title, shortcut, text) in [
        (
            "欢迎",
            "欢迎语",
            "hi",
            "{{contact.nickname}} 您好，我是{{account.name}}的客服{{agent.name}}，很高兴为您服务～",
        ),
        (
            "售后",
            "退款安抚",
            "tk",
            "{{contact.nickname}} 您好，非常抱歉给您带来不便，退款会在 1–3 个工作日内原路退回。",
        ),
        (
            "物流",
            "发货时间",
            "fh",
            "亲，今天 16:00 前下单当天发货，之后次日发货，发货后会短信通知您。",
        ),
    ] {
        store
            .create_quick_reply(
                admin.workspace,
                imhub_store::NewQuickReply {
                    owner: None,
                    folder: folder.into(),
                    title: title.into(),
                    shortcut: Some(shortcut.into()),
                    text: text.into(),
                    content: None,
                },
            )
            .await?;
    }
    Ok(())
}

/// Automation and reply-time KPIs in the demo workspace, through the store
/// as an admin would set them: business hours (weekdays 09:00–21:00,
/// weekends 10:00–18:00, closed on 春节 2027), a keyword rule that answers
/// invoice questions by itself (a live customer asks one: its reply shows
/// as 自动回复), and the default 3-minute target with its 2-minute warning.
async fn seed_automation(admin: &Admin) -> anyhow::Result<()> {
    let store = admin.store.as_ref();
    let weekday = json!([{"start": "09:00", "end": "21:00"}]);
    let weekend = json!([{"start": "10:00", "end": "18:00"}]);
    let settings: imhub_core::automation::AutomationSettings = serde_json::from_value(json!({
        "time_zone": "Asia/Shanghai",
        "weekly": [weekday, weekday, weekday, weekday, weekday, weekend, weekend],
        "exceptions": {"2027-02-06": [], "2027-02-07": [], "2027-02-08": []},
        "daily_reply_cap": 5,
        "takeover_minutes": 30,
    }))?;
    store
        .set_automation_settings(admin.workspace, settings)
        .await?;
    let rule: imhub_store::automation::RuleBody = serde_json::from_value(json!({
        "name": "发票自动回复",
        "trigger": {"type": "keywords", "match": "contains_any",
                    "keywords": ["发票", "开票"], "case_insensitive": true},
        "actions": [{"type": "reply",
                     "text": "{{contact.nickname}} 您好，支持开具电子发票：请发送公司抬头和税号，1 个工作日内发到您的邮箱～"}],
    }))?;
    store
        .create_rule(admin.workspace, rule, imhub_core::Timestamp::now())
        .await?;
    Ok(())
}

/// Calls imhub's API as the workspace admin.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
    /// For the one step the API cannot do here: see [`connect_douyin`].
    store: Arc<imhub_store::SqlStore>,
    workspace: WorkspaceId,
    /// The operator's platform endpoints, for that same step.
    platforms: imhub_server::config::PlatformsConfig,
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

    /// Where a platform pushes for `channel`. Built from the address imhub
    /// is reached at (not `public_url`, which is `0.0.0.0` when listening
    /// on every interface); Meituan signs over exactly this URL.
    fn webhook(&self, platform: &str, channel: i64) -> String {
        format!("{}/webhooks/{platform}/{channel}", self.base)
    }
}

/// A platform emulator's port, bound before imhub starts, and its base URL.
struct Emulator {
    listener: tokio::net::TcpListener,
    url: String,
}

impl Emulator {
    /// A port of `ip`, reached at `host`.
    async fn bind(ip: IpAddr, host: IpAddr) -> anyhow::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .context("cannot start a platform emulator")?;
        let port = listener.local_addr()?.port();
        Ok(Emulator {
            listener,
            url: format!("http://{}", SocketAddr::new(host, port)),
        })
    }

    /// Serves the emulator's router on its port; returns its base URL.
    fn serve(self, router: Router) -> String {
        let Emulator { listener, url } = self;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "a platform emulator stopped");
            }
        });
        url
    }
}

/// The three platform emulators' ports.
struct Emulators {
    douyin: Emulator,
    tencent: Emulator,
    meituan: Emulator,
}

impl Emulators {
    async fn bind(ip: IpAddr, host: IpAddr) -> anyhow::Result<Emulators> {
        Ok(Emulators {
            douyin: Emulator::bind(ip, host).await?,
            tencent: Emulator::bind(ip, host).await?,
            meituan: Emulator::bind(ip, host).await?,
        })
    }
}

/// A random secret for one of the demo's apps.
fn secret(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::rng().random::<u128>())
}

/// Connects every channel the demo shows and returns how to push into each
/// account, by the account's external id.
async fn connect_channels(
    admin: &Admin,
    sim: &Simulator,
    emulators: Emulators,
) -> anyhow::Result<HashMap<&'static str, Inlet>> {
    let mut inlets = HashMap::new();
    let secret = secret("demo-");
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
    let webhook = admin.webhook("custom", channel);
    for (id, _) in CUSTOM_ACCOUNTS {
        inlets.insert(
            *id,
            Inlet::Custom {
                webhook: webhook.clone(),
                secret: secret.clone(),
            },
        );
    }
    inlets.insert(
        DOUYIN_SHOP,
        connect_douyin(admin, sim, emulators.douyin).await?,
    );
    inlets.insert(
        TENCENT_SHOP,
        connect_tencent(admin, emulators.tencent).await?,
    );
    inlets.insert(
        MEITUAN_STORE,
        connect_meituan(admin, emulators.meituan).await?,
    );
    Ok(inlets)
}

/// The custom channel's accounts: the merchant's two shops.
const CUSTOM_ACCOUNTS: &[(&str, &str)] = &[("flagship", "官方旗舰店"), ("shanghai", "上海体验店")];

/// The Douyin enterprise account (企业号) the demo authorizes.
const DOUYIN_SHOP: &str = "b_open_demo_shop";
const DOUYIN_APP: &str = "awx_imhub_demo";
/// Douyin redirects only to https, so the authorize URL names this address;
/// the simulated merchant's browser follows the redirect to imhub itself.
const DOUYIN_PUBLIC_URL: &str = "https://imhub-demo.localhost";
/// The Tencent IM UserID customers write to.
const TENCENT_SHOP: &str = "kefu_official";
const TENCENT_APP: u64 = 1_400_000_888;
const TENCENT_ADMIN: &str = "administrator";
/// The Meituan store (`app_poi_code`) customers write to.
const MEITUAN_STORE: &str = "poi_jingan_8801";
const MEITUAN_APP: &str = "6688";

/// Douyin: the emulator with the app, the shop and its customers; the
/// channel through the API; the shop authorized by the QR flow. imhub's
/// authorize-url route would name `public_url` as the redirect, which Douyin
/// refuses unless it is https, so the demo issues the URL with the same
/// function and a local https name, then follows the emulator's redirect to
/// imhub's real callback route as the merchant's browser would.
async fn connect_douyin(
    admin: &Admin,
    sim: &Simulator,
    emulator: Emulator,
) -> anyhow::Result<Inlet> {
    let client_secret = secret("dy-");
    let sandbox = DouyinSandbox::new();
    sandbox.add_app(DOUYIN_APP, &client_secret);
    sandbox.add_account(DOUYIN_SHOP, "抖音官方小店");
    for c in CUSTOMERS.iter().filter(|c| c.account == DOUYIN_SHOP) {
        let avatar = c.avatar.map(|a| sim.assets.url(a));
        sandbox.add_customer(c.id, c.nickname, avatar.as_deref());
    }
    emulator.serve(imhub_sandbox::douyin::router(sandbox.clone()));
    let channel = admin
        .create_channel(
            "douyin",
            "抖音企业号 Douyin",
            json!({"client_key": DOUYIN_APP, "client_secret": client_secret}),
        )
        .await?;
    sandbox.set_webhook_url(DOUYIN_APP, &admin.webhook("douyin", channel));

    let store: Arc<dyn Store> = admin.store.clone();
    let authorize = start_authorization(
        &store,
        &admin.platforms,
        admin.workspace,
        ChannelId(channel),
        DOUYIN_PUBLIC_URL,
    )
    .await
    .map_err(|e| anyhow::anyhow!("douyin authorize URL: {}: {}", e.code, e.detail))?;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = browser.get(&authorize.url).send().await?;
    let back = page
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.strip_prefix(DOUYIN_PUBLIC_URL))
        .filter(|l| l.starts_with(CALLBACK_PATH))
        .map(str::to_string)
        .with_context(|| {
            format!(
                "the douyin QR page did not redirect back: {}",
                page.status()
            )
        })?;
    let account = browser.get(format!("{}{back}", admin.base)).send().await?;
    if !account.status().is_success() {
        bail!(
            "douyin authorization refused: {} {}",
            account.status(),
            account.text().await.unwrap_or_default()
        );
    }
    Ok(Inlet::Douyin {
        sandbox,
        client_key: DOUYIN_APP.into(),
    })
}

/// Tencent IM: the emulator with the shop's UserID; the channel (signed
/// callbacks, the shop as a merchant account) and its account via the API.
async fn connect_tencent(admin: &Admin, emulator: Emulator) -> anyhow::Result<Inlet> {
    let key = secret("");
    let callback_token = secret("cb-");
    let mut config = TencentSandbox::new(TENCENT_APP, &key, TENCENT_ADMIN)
        .config()
        .clone();
    config.callback_token = Some(callback_token.clone());
    let sandbox = TencentSandbox::with_config(config);
    sandbox.import_account(TENCENT_SHOP);
    emulator.serve(imhub_sandbox::tencent::router(sandbox.clone()));
    let channel = admin
        .create_channel(
            "tencent",
            "小程序客服 Tencent IM",
            json!({"sdkappid": TENCENT_APP, "key": key, "identifier": TENCENT_ADMIN,
                   "callback_token": callback_token,
                   "merchant_accounts": [TENCENT_SHOP]}),
        )
        .await?;
    admin
        .create_account(channel, TENCENT_SHOP, "小程序官方客服")
        .await?;
    Ok(Inlet::Tencent {
        sandbox,
        webhook: admin.webhook("tencent", channel),
    })
}

/// Meituan: the emulator with the app and its store; the channel and the
/// store's account via the API.
async fn connect_meituan(admin: &Admin, emulator: Emulator) -> anyhow::Result<Inlet> {
    let app_secret = secret("");
    let sandbox = MeituanSandbox::new();
    sandbox
        .add_app(SandboxApp::new(MEITUAN_APP, &app_secret, &[MEITUAN_STORE]))
        .map_err(|e| anyhow::anyhow!("meituan emulator: {e}"))?;
    emulator.serve(imhub_sandbox::meituan::router(sandbox.clone()));
    let channel = admin
        .create_channel(
            "meituan",
            "美团外卖 Meituan",
            json!({"app_id": MEITUAN_APP, "app_secret": app_secret}),
        )
        .await?;
    admin
        .create_account(channel, MEITUAN_STORE, "美团 · 静安店")
        .await?;
    Ok(Inlet::Meituan {
        sandbox,
        webhook: admin.webhook("meituan", channel),
    })
}

/// Where a simulated customer's messages enter imhub: one variant per kind
/// of connected channel. Platforms push through their emulator, which also
/// records what imhub sent, for [`Inlet::sent_since`].
enum Inlet {
    /// The merchant's own system: signed JSON pushes to the custom webhook.
    Custom { webhook: String, secret: String },
    /// Signed `im_receive_msg` pushes from the Douyin emulator.
    Douyin {
        sandbox: DouyinSandbox,
        client_key: String,
    },
    /// Signed `C2C.CallbackAfterSendMsg` callbacks from the Tencent emulator.
    Tencent {
        sandbox: TencentSandbox,
        webhook: String,
    },
    /// Signed, encrypted pushes from the Meituan emulator.
    Meituan {
        sandbox: MeituanSandbox,
        webhook: String,
    },
}

/// A reply imhub delivered to a platform, as the customer sees it.
struct Received {
    /// The customer's id (direct chats only: platform groups are not scripted).
    peer: String,
    is_image: bool,
}

impl Inlet {
    async fn push(&self, http: &reqwest::Client, say: &Say<'_>) -> anyhow::Result<()> {
        let customer = say.customer;
        if !matches!(self, Inlet::Custom { .. }) && (say.group.is_some() || say.from_merchant) {
            bail!("only the custom channel has scripted groups and merchant history");
        }
        match self {
            Inlet::Custom { webhook, secret } => {
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
            Inlet::Douyin {
                sandbox,
                client_key,
            } => {
                let message = douyin_message(&say.content)?;
                let pushed = sandbox
                    .customer(client_key, customer.account, customer.id)
                    .send(message)
                    .await?;
                accepted(pushed.status, &String::from_utf8_lossy(&pushed.response))
            }
            Inlet::Tencent { sandbox, webhook } => {
                let content: Content = serde_json::from_value(say.content.clone())?;
                let elements = imhub_tencent::mapping::content_to_elements(&content)
                    .map_err(|r| anyhow::anyhow!("not a tencent message: {}", r.message))?;
                let (_, delivery) = sandbox
                    .customer_sends(
                        webhook,
                        customer.id,
                        customer.account,
                        serde_json::to_value(elements)?,
                    )
                    .await?;
                accepted(delivery.status, &delivery.body)
            }
            Inlet::Meituan { sandbox, webhook } => {
                let user: i64 = customer.id.parse().with_context(|| {
                    format!("meituan customer ids are numbers: {}", customer.id)
                })?;
                let message = meituan_message(customer.account, user, &say.content)?;
                let pushed = sandbox
                    .push_message(MEITUAN_APP, webhook, &message)
                    .await
                    .map_err(|e| anyhow::anyhow!("meituan push: {e}"))?;
                accepted(pushed.status, &pushed.body)
            }
        }
    }

    /// What a platform pushes besides messages, sent once at start so that
    /// the inbox shows it and none of it is kept raw: a Douyin fan group
    /// with a join request waiting and a fan who joined
    /// (`enter_group_audit_change`, `group_fans_event`); a Tencent group
    /// message its sender recalled (`Group.CallbackAfterRecallMsg`) and a
    /// customer's read report (`C2C.CallbackAfterMsgReport`).
    async fn platform_events(&self, account: &str) -> anyhow::Result<()> {
        match self {
            Inlet::Douyin {
                sandbox,
                client_key,
            } => {
                let group = sandbox.add_group(account, "老粉福利群 Fan club");
                let (_, asked) = sandbox
                    .request_to_join(client_key, &group, "dy_jason")
                    .await?;
                accepted(asked.status, &String::from_utf8_lossy(&asked.response))?;
                let joined = sandbox.join_group(client_key, &group, "dy_xiaoyu").await?;
                accepted(joined.status, &String::from_utf8_lossy(&joined.response))
            }
            Inlet::Tencent { sandbox, webhook } => {
                let members = [account, "wx_lilei", "wx_sarah"];
                let group = sandbox.create_group_direct("demo_members", &members);
                let (message, sent) = sandbox
                    .member_sends_group_text(webhook, &group, "wx_sarah", "发错群了，不好意思 🙈")
                    .await?
                    .context("the tencent demo group is missing")?;
                accepted(sent.status, &sent.body)?;
                let recalled = sandbox
                    .member_recalls_group_message(webhook, &group, "wx_sarah", message.msg_seq)
                    .await?
                    .context("the tencent demo group message is missing")?;
                accepted(recalled.status, &recalled.body)?;
                let read = sandbox.customer_reads(webhook, "wx_lilei", account).await?;
                accepted(read.status, &read.body)
            }
            Inlet::Custom { .. } | Inlet::Meituan { .. } => Ok(()),
        }
    }

    /// The customer opens the chat before answering: on Tencent that is a
    /// read report, so the agent's reply shows read.
    async fn read_by(&self, customer: &Customer) -> anyhow::Result<()> {
        if let Inlet::Tencent { sandbox, webhook } = self {
            let read = sandbox
                .customer_reads(webhook, customer.id, customer.account)
                .await?;
            accepted(read.status, &read.body)?;
        }
        Ok(())
    }

    /// What imhub sent to this inlet's platform after the first `seen`
    /// sends, and how many it has sent in all. The custom channel reports
    /// its deliveries itself (see [`delivered`]).
    fn sent_since(&self, account: &str, seen: usize) -> (Vec<Received>, usize) {
        let all: Vec<Received> = match self {
            Inlet::Custom { .. } => Vec::new(),
            Inlet::Douyin { sandbox, .. } => sandbox
                .sent_messages(account)
                .into_iter()
                .map(|m| Received {
                    peer: m.to_user_id.unwrap_or_default(),
                    is_image: m.contents.iter().any(|c| c["msg_type"] == 2),
                })
                .collect(),
            Inlet::Tencent { sandbox, .. } => sandbox
                .c2c_messages()
                .into_iter()
                .filter(|m| m.from == account && m.via_rest)
                .map(|m| Received {
                    is_image: m.body[0]["MsgType"] == "TIMImageElem",
                    peer: m.to,
                })
                .collect(),
            Inlet::Meituan { sandbox, .. } => sandbox
                .messages_for(account)
                .into_iter()
                .map(|m| Received {
                    peer: m.open_user_id.map(|u| u.to_string()).unwrap_or_default(),
                    is_image: m.msg_type == MsgType::Pic.code(),
                })
                .collect(),
        };
        let total = all.len();
        (all.into_iter().skip(seen).collect(), total)
    }
}

fn accepted(status: u16, body: &str) -> anyhow::Result<()> {
    if !(200..300).contains(&status) {
        bail!("push refused: {status} {body}");
    }
    Ok(())
}

/// A scripted message as a Douyin customer sends it: text, a sticker with a
/// picture, or a filled-in lead card (`{"type": "lead_card", "card_id",
/// "fields": [[label, value], …]}`).
fn douyin_message(content: &Value) -> anyhow::Result<DouyinMessage> {
    let text = |key: &str| content[key].as_str().unwrap_or_default().to_string();
    Ok(match content["type"].as_str() {
        Some("text") => DouyinMessage::Text(text("text")),
        Some("image") => DouyinMessage::Emoji { url: text("url") },
        Some("lead_card") => DouyinMessage::LeadCardSubmission {
            card_id: text("card_id"),
            fields: content["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| Some((f[0].as_str()?.to_string(), f[1].as_str()?.to_string())))
                .collect(),
        },
        other => bail!("douyin customers are not scripted to send {other:?}"),
    })
}

/// A scripted message as a Meituan customer sends it: text, a picture by
/// URL, or an order card (`order_id` a number).
fn meituan_message(store: &str, user: i64, content: &Value) -> anyhow::Result<MeituanMessage> {
    Ok(match content["type"].as_str() {
        Some("text") => {
            MeituanMessage::text(store, user, content["text"].as_str().unwrap_or_default())
        }
        Some("image") => MeituanMessage {
            msg_type: MsgType::Pic.code(),
            content: content["url"].as_str().unwrap_or_default().to_string(),
            ..MeituanMessage::text(store, user, "")
        },
        Some("order_card") => {
            let order = content["order_id"]
                .as_str()
                .and_then(|o| o.parse().ok())
                .context("meituan order ids are numbers")?;
            MeituanMessage::order_card(store, user, order)
        }
        other => bail!("meituan customers are not scripted to send {other:?}"),
    })
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
    Customer {
        id: "dy_xiaoyu",
        nickname: Some("小雨同学"),
        avatar: Some("avatar-5"),
        account: DOUYIN_SHOP,
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "dy_jason",
        nickname: Some("Jason 在上海"),
        avatar: Some("avatar-6"),
        account: DOUYIN_SHOP,
        english: true,
        replies: EN_REPLIES,
    },
    Customer {
        id: "wx_lilei",
        nickname: None,
        avatar: None,
        account: TENCENT_SHOP,
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "wx_sarah",
        nickname: None,
        avatar: None,
        account: TENCENT_SHOP,
        english: true,
        replies: EN_REPLIES,
    },
    Customer {
        id: "8800123",
        nickname: None,
        avatar: None,
        account: MEITUAN_STORE,
        english: false,
        replies: ZH_REPLIES,
    },
    Customer {
        id: "8800456",
        nickname: None,
        avatar: None,
        account: MEITUAN_STORE,
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
        // The platforms stamp messages with their own clock: these arrive now.
        line(
            "dy_xiaoyu",
            0,
            text("看了你们的直播，这款咖啡机现在还有优惠吗？☕"),
        ),
        line("dy_xiaoyu", 0, img("coffee", 800, 600)),
        line(
            "dy_xiaoyu",
            0,
            json!({"type": "lead_card", "card_id": "lead-demo-01",
                   "fields": [["姓名", "小雨"], ["手机号", "139****1234"], ["意向", "咖啡机团购"]]}),
        ),
        line(
            "dy_jason",
            0,
            text("Hi! Saw your live stream — do the earbuds come in white? 🎧"),
        ),
        line(
            "wx_lilei",
            0,
            text("小程序里下单失败了，一直显示支付超时 😣"),
        ),
        line("wx_lilei", 0, img("earbuds", 800, 600)),
        line(
            "wx_lilei",
            0,
            json!({"type": "order_card", "order_id": "WX20240612-0031", "title": "无线降噪耳机 Pro × 1 · ¥699"}),
        ),
        line(
            "wx_sarah",
            0,
            json!({"type": "goods_card", "product_codes": ["SKU-GIFT-SUMMER"]}),
        ),
        line(
            "wx_sarah",
            0,
            text("Hello! Is this gift set still available for delivery this week?"),
        ),
        line(
            "8800123",
            0,
            json!({"type": "order_card", "order_id": "27001234567890123"}),
        ),
        line("8800123", 0, text("外卖半小时了还没到，骑手电话打不通")),
        line(
            "8800456",
            0,
            text("Hi, could you add extra napkins and chopsticks to my order? 🥢"),
        ),
        line("8800456", 0, img("gift", 800, 800)),
    ]
}

/// What arrives while the demo runs, one every half minute or so, in turn.
fn live_script(assets: &Assets) -> Vec<Line> {
    let img = |name: &str, w: u32, h: u32| json!({"type": "image", "url": assets.url(name), "width": w, "height": h});
    vec![
        line("u-mike", 0, text("Hello, do you ship to Hong Kong? 🚚")),
        line("dy_jason", 0, text("Is there a discount if I buy two? 😄")),
        line("wx_lilei", 0, text("重新付款成功了，什么时候能发货？")),
        line("8800456", 0, text("Where is my order now? 🛵")),
        line("u-sun", 0, text("请问可以开发票吗？🧾 公司抬头")),
        line("u-wang", 0, img("gift", 800, 800)),
        line("dy_xiaoyu", 0, text("团购什么时候开始呀？")),
        Line {
            from: "u-li",
            group: Some("g-vip"),
            minutes_ago: 0,
            from_merchant: false,
            content: text("直播间链接发一下～"),
        },
        line("wx_sarah", 0, img("poster", 600, 800)),
        line("u-emily", 0, text("Any update on my order? 🙏")),
        line("8800123", 0, text("收到了，汤洒了一点 😅")),
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
    answer_pause_ms: Range<u64>,
}

impl Simulator {
    fn new(base: String, answer_pause_ms: Range<u64>) -> Self {
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
            answer_pause_ms,
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
        inlet
            .push(&self.http, &say)
            .await
            .with_context(|| format!("{} could not write in", customer.id))
    }

    async fn replay_backlog(&self) -> anyhow::Result<()> {
        let now = now_ms();
        for line in backlog(&self.assets) {
            self.say(&line, now - line.minutes_ago * 60_000).await?;
        }
        Ok(())
    }

    /// The platforms' events other than messages, once at start (see
    /// [`Inlet::platform_events`]).
    async fn platform_events(&self) -> anyhow::Result<()> {
        for (account, inlet) in self.inlets.get().into_iter().flatten() {
            inlet
                .platform_events(account)
                .await
                .with_context(|| format!("the platform events of {account}"))?;
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

    /// Watches what imhub sent to each platform's emulator; every reply that
    /// reached a customer is answered. (The custom channel's deliveries
    /// arrive at [`delivered`] instead.)
    async fn watch_platforms(self: Arc<Self>) {
        let mut seen: HashMap<&'static str, usize> = HashMap::new();
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let Some(inlets) = self.inlets.get() else {
                continue;
            };
            for (account, inlet) in inlets {
                let before = seen.get(account).copied().unwrap_or(0);
                let (new, total) = inlet.sent_since(account, before);
                seen.insert(account, total);
                for reply in new.into_iter().filter(|r| !r.peer.is_empty()) {
                    tokio::spawn(Arc::clone(&self).answer(reply.peer, None, reply.is_image));
                }
            }
        }
    }

    /// A customer answers the agent's reply to `peer` (a customer id, or the
    /// id of the custom channel's group `group`) after a human-looking pause.
    async fn answer(self: Arc<Self>, peer: String, group: Option<&'static Group>, is_image: bool) {
        let who = match group {
            Some(group) => {
                let pick = rand::rng().random_range(0..group.members.len());
                group.members[pick]
            }
            None => peer.as_str(),
        };
        let Some(customer) = customer(who) else {
            return;
        };
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
            let n = turns.entry(peer.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let answer = match (is_image, customer.english) {
            (true, false) => "图片收到了，谢谢 👌",
            (true, true) => "Got the picture, thanks! 👌",
            _ => customer.replies[turn % customer.replies.len()],
        };
        let pause = rand::rng().random_range(self.answer_pause_ms.clone());
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if let Some(inlet) = self.inlets.get().and_then(|i| i.get(customer.account))
            && let Err(e) = inlet.read_by(customer).await
        {
            tracing::warn!(error = %e, "a simulated customer could not read the reply");
        }
        let line = Line {
            from: customer.id,
            group: group.map(|g| g.id),
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
    let secret = sim.inlets.get().and_then(|inlets| {
        inlets.values().find_map(|inlet| match inlet {
            Inlet::Custom { secret, .. } => Some(secret),
            _ => None,
        })
    });
    let Some(secret) = secret else {
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
        let group = if delivery.peer_kind == "group" {
            match GROUPS.iter().find(|g| g.id == delivery.peer_id) {
                Some(group) => Some(group),
                None => return Json(json!({"id": id})).into_response(),
            }
        } else {
            None
        };
        let is_image = matches!(delivery.content, Some(Content::Image { .. }));
        tokio::spawn(Arc::clone(&sim).answer(delivery.peer_id, group, is_image));
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Logs in as the demo agent, as the inbox does; returns its cookie.
    async fn log_in(http: &reqwest::Client, base: &str) -> String {
        let res = http
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"email": AGENT_EMAIL, "password": AGENT_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap();
        cookie.split(';').next().unwrap().to_string()
    }

    async fn get(http: &reqwest::Client, cookie: &str, url: String) -> Value {
        let res = http
            .get(url)
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    #[tokio::test]
    async fn every_platform_has_a_conversation_whose_reply_is_sent_and_answered() {
        let dir = std::env::temp_dir().join(format!("imhub-demo-test-{}", now_ms()));
        std::fs::create_dir_all(&dir).unwrap();
        let demo = Demo::start(&dir, "127.0.0.1:0".parse().unwrap(), 10..50)
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let cookie = log_in(&http, &demo.base).await;
        let list = get(
            &http,
            &cookie,
            format!("{}/api/v1/conversations?limit=200", demo.base),
        )
        .await;
        let list = list["items"].as_array().unwrap();

        let mut replies = Vec::new();
        for platform in ["douyin", "tencent", "meituan", "custom"] {
            let chat = list
                .iter()
                .find(|c| c["platform"] == platform && c["kind"] == "direct")
                .unwrap_or_else(|| panic!("no {platform} conversation in {list:?}"));
            let id = chat["id"].as_i64().unwrap();
            let res = http
                .post(format!("{}/api/v1/conversations/{id}/messages", demo.base))
                .header(header::COOKIE, &cookie)
                // A browser names its origin on every cookie-authenticated write.
                .header(header::ORIGIN, &demo.base)
                .json(&json!({"content": {"type": "text", "text": "您好，马上为您处理 👍"}}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202, "{platform}");
            let message: Value = res.json().await.unwrap();
            replies.push((platform, id, message["id"].as_i64().unwrap()));
        }

        let deadline = Instant::now() + Duration::from_secs(8);
        for (platform, conversation, message) in replies {
            loop {
                let sent = get(
                    &http,
                    &cookie,
                    format!("{}/api/v1/messages/{message}", demo.base),
                )
                .await;
                // The customer's answer arrives after our reply.
                let page = get(
                    &http,
                    &cookie,
                    format!(
                        "{}/api/v1/conversations/{conversation}/messages?limit=200",
                        demo.base
                    ),
                )
                .await;
                let answered = page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["direction"] == "in" && m["id"].as_i64() > Some(message));
                // Tencent customers read the reply before they answer it.
                let status = sent["status"].as_str().unwrap_or_default();
                if matches!(status, "sent" | "read") && answered {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{platform}: reply {sent}, answered: {answered}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        demo.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scripted_content_a_platform_cannot_send_is_refused() {
        assert!(douyin_message(&json!({"type": "order_card", "order_id": "1"})).is_err());
        assert!(meituan_message(MEITUAN_STORE, 1, &json!({"type": "lead_card"})).is_err());
        assert!(
            meituan_message(
                MEITUAN_STORE,
                1,
                &json!({"type": "order_card", "order_id": "DD-1"})
            )
            .is_err(),
            "meituan order ids are numbers"
        );
        let card = douyin_message(
            &json!({"type": "lead_card", "card_id": "c", "fields": [["姓名", "小雨"]]}),
        )
        .unwrap();
        assert_eq!(
            card,
            DouyinMessage::LeadCardSubmission {
                card_id: "c".into(),
                fields: vec![("姓名".into(), "小雨".into())],
            }
        );
    }

    #[test]
    fn every_scripted_customer_writes_to_a_connected_account() {
        let accounts = [DOUYIN_SHOP, TENCENT_SHOP, MEITUAN_STORE];
        for c in CUSTOMERS {
            assert!(
                accounts.contains(&c.account)
                    || CUSTOM_ACCOUNTS.iter().any(|(a, _)| *a == c.account),
                "{}",
                c.id
            );
        }
    }
}
