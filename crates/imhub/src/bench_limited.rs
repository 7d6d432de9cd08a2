//! `imhub bench load delivery-limited`: a backlog of Tencent replies drained
//! by one or more `imhub serve` nodes under the platform's per-app limit,
//! against the Tencent sandbox, which enforces that limit per Unix second
//! and counts every `sendmsg` call in each second: it is the judge. With
//! two nodes (PostgreSQL), one is killed with SIGKILL mid-run and started
//! again. Prints every second's calls, the most in any second, and the share
//! of the limit used while there was work (overall and around the kill).

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use imhub_core::{
    AccountRef, ContactInfo, Content, Direction, InboundEvent, InboundMessage, Peer, Platform,
    Timestamp,
};
use imhub_sandbox::tencent::{SecondCount, TencentSandbox, router};
use imhub_server::Config;
use imhub_store::{Change, PushRecord, SqlStore, Store};
use tokio::{sync::Semaphore, task::JoinSet};

use crate::bench_load::{
    bench_secret_key, machine, open_fresh, queue_replies, redact, run_id, verdict,
};

const APP: u64 = 1_400_000_200;
const KEY: &str = "2b7d4f6a8c0e2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c";
const ADMIN: &str = "administrator";
const TOKEN: &str = "bench-callback-token";
/// The merchant account every reply is sent from.
const SHOP: &str = "bench-shop";

/// `imhub bench load delivery-limited`.
#[derive(clap::Args, Clone)]
pub struct LimitedArgs {
    /// `sqlite://...` (the file is recreated; one node) or `postgres://...`
    /// (the run works in a workspace of its own; two nodes by default).
    #[arg(long, default_value = "sqlite:///tmp/imhub-bench-limited.db")]
    database_url: String,
    /// `imhub serve` nodes draining the backlog together (PostgreSQL only
    /// above one); default 2 on PostgreSQL, 1 on SQLite.
    #[arg(long)]
    nodes: Option<usize>,
    /// The per-app limit, sends per second: the sandbox's and imhub's
    /// (`delivery.app_rate_limits.tencent`).
    #[arg(long, default_value_t = 200)]
    limit: u32,
    /// Seconds of backlog: `limit * seconds` replies are queued.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Conversations the replies are spread over (each keeps its order).
    #[arg(long, default_value_t = 1_000)]
    conversations: u64,
    /// Sends in flight per node (`delivery.concurrency`).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds after the first send at which the first node is killed with
    /// SIGKILL (several nodes only; 0: never). Default 10.
    #[arg(long, default_value_t = 10)]
    kill_at: u64,
    /// Seconds the killed node stays down before it is started again.
    #[arg(long, default_value_t = 3)]
    down_secs: u64,
    /// Each node counts its limits alone (`delivery.shared_rate_limits =
    /// false`): shows what the shared count prevents.
    #[arg(long)]
    per_node_limits: bool,
}

/// Runs the benchmark.
pub async fn run(args: LimitedArgs) -> anyhow::Result<()> {
    let postgres = !args.database_url.starts_with("sqlite://");
    let nodes = args.nodes.unwrap_or(if postgres { 2 } else { 1 }).max(1);
    if nodes > 1 && !postgres {
        bail!("several nodes need a postgres:// database (a SQLite file has one node)");
    }
    let messages = u64::from(args.limit) * args.seconds.max(2);
    let kill_at = (nodes > 1 && args.kill_at > 0).then_some(args.kill_at);
    println!(
        "delivery-limited: {messages} Tencent replies over {} conversations, app limit {}/s, \
         {nodes} node(s) x {} sends in flight, {}{}{}",
        args.conversations.min(messages),
        args.limit,
        args.concurrency,
        redact(&args.database_url),
        kill_at.map_or(String::new(), |s| format!(
            ", node 1 killed {s} s after the first send and back {} s later",
            args.down_secs
        )),
        if args.per_node_limits {
            ", limits counted per node"
        } else {
            ""
        },
    );

    // The sandbox: the platform, and the judge.
    let mut sb_config = TencentSandbox::new(APP, KEY, ADMIN).config().clone();
    sb_config.callback_token = Some(TOKEN.into());
    sb_config.rate_per_sec = args.limit;
    let sb = TencentSandbox::with_config(sb_config);
    sb.import_account(SHOP);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sandbox_url = format!("http://{}", listener.local_addr()?);
    let app = router(sb.clone());
    let sandbox = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    // The backlog, queued through the store before any node starts.
    let store = open_fresh(&args.database_url).await?;
    let run = run_id();
    let ws = store.create_workspace("rate limit benchmark").await?;
    let channel = store
        .create_channel(
            ws.id,
            Platform::Tencent,
            "bench",
            &serde_json::json!({"sdkappid": APP, "key": KEY, "identifier": ADMIN,
                "callback_token": TOKEN, "merchant_accounts": [SHOP]}),
        )
        .await?;
    store
        .create_account(ws.id, channel.id, SHOP, "Benchmark shop")
        .await?;
    let queued_at = Instant::now();
    let conversations = args.conversations.clamp(1, messages.max(1));
    let ids = seed(&store, &sb, ws.id, channel.id, &run, conversations).await?;
    queue_replies(&store, ws.id, &ids, messages).await?;
    println!(
        "queued {messages} replies over {} conversations in {:.1} s",
        ids.len(),
        queued_at.elapsed().as_secs_f64()
    );
    // A SQLite file is the node's alone from here on.
    drop(store);

    let dir = std::env::temp_dir().join(format!("imhub-bench-limited-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut running = Vec::new();
    for i in 0..nodes {
        let config = node_config(&args, &sandbox_url, i, &dir)?;
        running.push(Node::spawn(config).await?);
    }
    let sent = || sb.c2c_messages().iter().filter(|m| m.via_rest).count() as u64;
    let deadline = Instant::now() + Duration::from_secs(120 + 2 * args.seconds);
    let mut first_send: Option<Instant> = None;
    let (mut killed_at, mut back_at) = (None, None);
    while sent() < messages {
        if Instant::now() > deadline {
            bail!(
                "only {} of {messages} replies reached the sandbox in time",
                sent()
            );
        }
        if first_send.is_none() && sent() > 0 {
            first_send = Some(Instant::now());
        }
        if let (Some(at), Some(first), None) = (kill_at, first_send, killed_at)
            && first.elapsed() >= Duration::from_secs(at)
        {
            let victim = running.remove(0);
            let config = victim.kill_9().await?;
            killed_at = Some(unix_secs());
            println!(
                "node 1 killed (SIGKILL) at second {}",
                killed_at.unwrap_or(0)
            );
            tokio::time::sleep(Duration::from_secs(args.down_secs)).await;
            running.insert(0, Node::spawn(config).await?);
            back_at = Some(unix_secs());
            println!("node 1 back at second {}", back_at.unwrap_or(0));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let anything still in flight be counted.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for node in running {
        node.stop().await;
    }
    sandbox.abort();
    let _ = std::fs::remove_dir_all(&dir);

    report(
        &sb.calls_per_second("openim/sendmsg"),
        args.limit,
        messages,
        sent(),
        killed_at,
        back_at,
    );
    machine();
    Ok(())
}

/// Prints every second and the verdicts.
fn report(
    seconds: &[SecondCount],
    limit: u32,
    messages: u64,
    sent: u64,
    killed_at: Option<u64>,
    back_at: Option<u64>,
) {
    println!("\nsendmsg calls per second at the sandbox (limit {limit}):");
    println!("  {:>12} {:>6} {:>8}", "unix second", "calls", "refused");
    for s in seconds {
        let mark = if Some(s.second) == killed_at {
            "  <- node 1 killed"
        } else if Some(s.second) == back_at {
            "  <- node 1 back"
        } else {
            ""
        };
        println!(
            "  {:>12} {:>6} {:>8}{}{mark}",
            s.second,
            s.calls,
            s.refused,
            if s.calls > limit { "  OVER" } else { "" }
        );
    }
    let peak = seconds.iter().map(|s| s.calls).max().unwrap_or(0);
    let refused: u32 = seconds.iter().map(|s| s.refused).sum();
    // While there was work: every second but the first and the last, which
    // the run starts and ends inside.
    let inner = seconds
        .get(1..seconds.len().saturating_sub(1))
        .unwrap_or(&[]);
    let used = share(inner, limit);
    println!(
        "\n{sent} of {messages} replies accepted; {} calls in all, {refused} refused (60007)",
        seconds.iter().map(|s| u64::from(s.calls)).sum::<u64>()
    );
    println!(
        "limit used while there was work: {:.1}% over {} full seconds (target >= 95%: {})",
        used * 100.0,
        inner.len(),
        verdict(used >= 0.95)
    );
    if let (Some(killed), Some(back)) = (killed_at, back_at) {
        let around: Vec<SecondCount> = inner
            .iter()
            .filter(|s| s.second >= killed && s.second <= back + 2)
            .copied()
            .collect();
        println!(
            "limit used from the kill to 2 s after the restart: {:.1}% over {} seconds",
            share(&around, limit) * 100.0,
            around.len()
        );
    }
    println!(
        "most calls in any one second = {peak} (limit {limit}: {}); seconds over the limit: {}",
        verdict(peak <= limit && refused == 0),
        seconds.iter().filter(|s| s.calls > limit).count()
    );
}

/// The calls of `seconds` as a share of the limit over them.
fn share(seconds: &[SecondCount], limit: u32) -> f64 {
    let calls: u64 = seconds.iter().map(|s| u64::from(s.calls)).sum();
    calls as f64 / (seconds.len().max(1) as f64 * f64::from(limit.max(1)))
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One message from each of `count` customers (imported in the sandbox,
/// so that replies to them are accepted); returns the conversations.
async fn seed(
    store: &Arc<SqlStore>,
    sb: &TencentSandbox,
    ws: imhub_core::WorkspaceId,
    channel: imhub_core::ChannelId,
    run: &str,
    count: u64,
) -> anyhow::Result<Vec<imhub_core::ConversationId>> {
    let limit = Arc::new(Semaphore::new(256));
    let mut tasks = JoinSet::new();
    for c in 0..count {
        let customer = format!("{run}-c{c}");
        sb.import_account(&customer);
        let (store, limit, run) = (Arc::clone(store), Arc::clone(&limit), run.to_string());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let now = Timestamp::now();
            let recorded = store
                .record_push(
                    ws,
                    PushRecord {
                        channel_id: channel,
                        event_key: Some(format!("{run}-seed-{c}")),
                        body: Vec::new(),
                        received_at: now,
                        events: vec![InboundEvent::Message(InboundMessage {
                            account: AccountRef {
                                external_id: SHOP.into(),
                                name: None,
                            },
                            peer: Peer::Direct(ContactInfo {
                                external_id: customer,
                                nickname: Some(format!("顾客 {c}")),
                                avatar: None,
                            }),
                            direction: Direction::In,
                            platform_message_id: format!("{run}-seed-m{c}"),
                            content: Content::Text {
                                text: "我的订单到哪了？".into(),
                            },
                            sent_at: now,
                            reply_context: None,
                        })],
                        request: None,
                        create_unknown_accounts: false,
                    },
                )
                .await?;
            recorded
                .changes
                .iter()
                .find_map(|change| match change {
                    Change::MessageCreated {
                        conversation_id, ..
                    } => Some(*conversation_id),
                    _ => None,
                })
                .with_context(|| format!("seeding conversation {c} created no message"))
        });
    }
    let mut ids = Vec::with_capacity(count as usize);
    while let Some(done) = tasks.join_next().await {
        ids.push(done.context("a seeding task panicked")??);
    }
    ids.sort();
    Ok(ids)
}

/// The configuration of node `i`: its own port and a stable node id (so a
/// restart takes back what it had leased), the sandbox as Tencent.
fn node_config(
    args: &LimitedArgs,
    sandbox_url: &str,
    i: usize,
    dir: &std::path::Path,
) -> anyhow::Result<NodeConfig> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        database_url: args.database_url.clone(),
        inbox: false,
        node_id: Some(format!("bench-limited-{}", i + 1)),
        ..Config::default()
    };
    config.secret_key = Some(imhub_server::config::SecretString(bench_secret_key()));
    config.platforms.tencent.base_url = Some(sandbox_url.to_string());
    config.delivery.concurrency = args.concurrency;
    config.delivery.app_rate_limits = [("tencent".to_string(), args.limit)].into();
    config.delivery.shared_rate_limits = !args.per_node_limits;
    let path = dir.join(format!("node-{}.toml", i + 1));
    std::fs::write(&path, toml::to_string(&config)?)?;
    Ok(NodeConfig {
        addr: config.listen,
        path,
    })
}

/// Where a node listens and its configuration file.
struct NodeConfig {
    addr: SocketAddr,
    path: PathBuf,
}

/// `imhub serve` as a child process.
struct Node {
    config: NodeConfig,
    process: tokio::process::Child,
}

impl Node {
    async fn spawn(config: NodeConfig) -> anyhow::Result<Node> {
        let mut process = tokio::process::Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(&config.path)
            .arg("serve")
            .env("IMHUB_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start imhub serve")?;
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = process.try_wait()? {
                bail!("imhub serve exited at start: {status}");
            }
            let up = http
                .get(format!("http://{}/healthz", config.addr))
                .send()
                .await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return Ok(Node { config, process });
            }
            if Instant::now() > deadline {
                bail!("imhub serve did not answer /healthz within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown handler runs. Returns the configuration, to
    /// start it again under the same name.
    async fn kill_9(mut self) -> anyhow::Result<NodeConfig> {
        self.process.start_kill()?;
        self.process.wait().await?;
        Ok(self.config)
    }

    /// SIGTERM for a graceful stop, SIGKILL after 10 s.
    async fn stop(mut self) {
        if let Some(pid) = self.process.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.process.wait())
            .await
            .is_err()
        {
            let _ = self.process.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_of_the_limit_counts_every_second_given() {
        let s = |second, calls| SecondCount {
            second,
            calls,
            refused: 0,
        };
        assert_eq!(share(&[s(1, 200), s(2, 100)], 200), 0.75);
        assert_eq!(share(&[], 200), 0.0);
    }
}
