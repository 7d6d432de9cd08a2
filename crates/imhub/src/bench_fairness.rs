//! `imhub bench load fairness`: delivery shared fairly between workspaces.
//!
//! Workspace A's receiver hangs (it accepts requests and answers none)
//! with `--messages` replies queued; workspace B queues as many to a fast
//! receiver. The figure is B's throughput beside the hung A, as a share of
//! B's throughput alone, measured in the same run on the same machine; then
//! A's receiver recovers and every one of A's replies must go out.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use imhub_core::WorkspaceId;
use imhub_server::Config;
use imhub_store::SqlStore;
use tokio::sync::watch;

use crate::bench_load::{
    Fixture, fixture, open_fresh, queue_replies, redact, run_id, seed_conversations, verdict,
};

/// Arguments of `imhub bench load fairness`.
#[derive(clap::Args, Clone)]
pub struct FairnessArgs {
    /// `sqlite://...` (the file is recreated) or `postgres://...`.
    #[arg(long, default_value = "sqlite:///tmp/imhub-bench-fairness.db")]
    database_url: String,
    /// Replies queued in each workspace.
    #[arg(long, default_value_t = 500)]
    messages: u64,
    /// Sends in flight (the engine's `delivery.concurrency`).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rounds of each measurement (the medians are compared).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds a send to the hung receiver waits before it times out.
    #[arg(long, default_value_t = 5)]
    hang_timeout_secs: u64,
}

/// A receiver that counts distinct `Idempotency-Key`s it answered, and can
/// be made to hang (hold every request unanswered) until it recovers.
struct Receiver {
    answered: Mutex<HashSet<String>>,
    /// When the first and the latest new reply were answered.
    window: Mutex<Option<(Instant, Instant)>>,
    requests: AtomicU64,
    healthy: watch::Receiver<bool>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, _body: Bytes) -> &'static str {
    r.requests.fetch_add(1, Ordering::Relaxed);
    let mut healthy = r.healthy.clone();
    // Hung: hold the request until the receiver recovers.
    let _ = healthy.wait_for(|ok| *ok).await;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let now = Instant::now();
    if let Ok(mut answered) = r.answered.lock()
        && answered.insert(key)
        && let Ok(mut window) = r.window.lock()
    {
        let first = window.map_or(now, |(first, _)| first);
        *window = Some((first, now));
    }
    "ok"
}

impl Receiver {
    fn distinct(&self) -> u64 {
        self.answered.lock().map(|a| a.len() as u64).unwrap_or(0)
    }

    /// Replies per second from the first answered to the last: the
    /// sending rate, without the engine's start.
    fn rate(&self) -> f64 {
        let n = self.distinct();
        match self.window.lock().ok().and_then(|w| *w) {
            Some((first, last)) if n > 1 => {
                (n - 1) as f64 / last.duration_since(first).as_secs_f64().max(1e-9)
            }
            _ => 0.0,
        }
    }
}

/// Starts a receiver; the sender turns it healthy (it starts as given).
async fn receiver(
    healthy: bool,
) -> anyhow::Result<(SocketAddr, Arc<Receiver>, watch::Sender<bool>)> {
    let (tx, rx) = watch::channel(healthy);
    let state = Arc::new(Receiver {
        answered: Mutex::new(HashSet::new()),
        window: Mutex::new(None),
        requests: AtomicU64::new(0),
        healthy: rx,
    });
    let app = Router::new()
        .route("/deliver", post(receive))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, state, tx))
}

/// A workspace with `messages` replies queued over as many conversations
/// (each conversation sends in order, so one conversation each lets every
/// reply compete for a send slot at once).
async fn queued_workspace(
    store: &Arc<SqlStore>,
    receiver: SocketAddr,
    messages: u64,
) -> anyhow::Result<Fixture> {
    let fx = fixture(store.as_ref(), Some(&format!("http://{receiver}/deliver"))).await?;
    let ids = seed_conversations(store, &fx, &run_id(), messages).await?;
    queue_replies(store, fx.workspace, &ids, messages).await?;
    Ok(fx)
}

fn config(args: &FairnessArgs) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: args.database_url.clone(),
        inbox: false,
        ..Config::default()
    };
    config.delivery.concurrency = args.concurrency;
    config.delivery.app_rate_limits.remove("custom");
    config.delivery.request_timeout_ms = args.hang_timeout_secs.saturating_mul(1000);
    // Retries of the hung workspace come round quickly once it recovers.
    config.delivery.backoff_base_ms = 200;
    config.delivery.backoff_max_ms = 2_000;
    config.delivery.max_attempts = 1_000;
    // The receivers are on this machine: the operator allows loopback.
    config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
    config
}

async fn sent_count(store: &SqlStore, ws: WorkspaceId) -> anyhow::Result<u64> {
    let n = store
        .read_raw(move |db| {
            db.query_one(
                "SELECT COUNT(*) FROM messages WHERE workspace_id = $1 AND direction = 'out' \
                 AND status = 'sent'",
                &[ws.0.into()],
            )?
            .int(0)
        })
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Starts imhub on `store` and waits until `receiver` answered `count`
/// replies; returns the receiver's rate (first to last reply).
async fn drain_b(
    args: &FairnessArgs,
    store: Arc<SqlStore>,
    receiver: &Receiver,
    count: u64,
) -> anyhow::Result<(f64, imhub_server::Running, tokio::sync::oneshot::Sender<()>)> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let running = imhub_server::start(config(args), store, async move {
        let _ = stop_rx.await;
    })
    .await?;
    let deadline = started + Duration::from_secs(120);
    while receiver.distinct() < count {
        if Instant::now() > deadline {
            bail!(
                "only {} of {count} replies arrived in time",
                receiver.distinct()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((receiver.rate(), running, stop_tx))
}

async fn stop(running: imhub_server::Running, stop_tx: tokio::sync::oneshot::Sender<()>) {
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), running.task).await;
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: FairnessArgs) -> anyhow::Result<()> {
    let n = args.messages;
    println!(
        "fairness: {n} replies per workspace, {} sends in flight (share per workspace {}), \
         hung sends time out after {} s, {}",
        args.concurrency,
        config(&args).delivery.shares().per_workspace,
        args.hang_timeout_secs,
        redact(&args.database_url)
    );

    // B alone, then B beside a hung A whose replies are older (plain
    // oldest-first leasing would give A every slot): `rounds` times each,
    // alternating, and the median of each compared.
    let mut alone_rates = Vec::new();
    let mut beside_rates = Vec::new();
    let (mut a_sent, mut a_secs, mut a_waiting, mut a_requests, mut a_distinct) = (0, 0.0, 0, 0, 0);
    for round in 0..args.rounds.max(1) {
        let store = open_fresh(&args.database_url).await?;
        let (b_addr, b_receiver, _b_health) = receiver(true).await?;
        queued_workspace(&store, b_addr, n).await?;
        let (rate, running, stop_tx) = drain_b(&args, Arc::clone(&store), &b_receiver, n).await?;
        stop(running, stop_tx).await;
        drop(store);
        alone_rates.push(rate);

        let store = open_fresh(&args.database_url).await?;
        let (a_addr, a_receiver, a_health) = receiver(false).await?;
        let (b_addr, b_receiver, _b_health) = receiver(true).await?;
        let a = queued_workspace(&store, a_addr, n).await?;
        queued_workspace(&store, b_addr, n).await?;
        let (rate, running, stop_tx) = drain_b(&args, Arc::clone(&store), &b_receiver, n).await?;
        beside_rates.push(rate);
        a_waiting = a_receiver.requests.load(Ordering::Relaxed);

        // A recovers: all of its replies must go out.
        let recovered_at = Instant::now();
        let _ = a_health.send(true);
        let deadline = recovered_at + Duration::from_secs(120 + args.hang_timeout_secs * 4);
        a_sent = sent_count(&store, a.workspace).await?;
        while a_sent < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            a_sent = sent_count(&store, a.workspace).await?;
        }
        a_secs = recovered_at.elapsed().as_secs_f64();
        a_requests = a_receiver.requests.load(Ordering::Relaxed);
        a_distinct = a_receiver.distinct();
        stop(running, stop_tx).await;
        println!(
            "round {}: B alone {:.0}/s, B beside hung A {:.0}/s, A sent {a_sent} of {n} after recovery",
            round + 1,
            alone_rates[round],
            beside_rates[round]
        );
        if a_sent < n {
            break;
        }
    }
    let alone = median(&mut alone_rates);
    let beside = median(&mut beside_rates);
    let share = 100.0 * beside / alone.max(1e-9);
    println!();
    println!("{:<52} {:>12}", "", "replies/s");
    println!(
        "{:<52} {:>12.0}",
        "workspace B alone (baseline, same run; median)", alone
    );
    println!(
        "{:<52} {:>12.0}",
        "workspace B beside A's hung receiver (median)", beside
    );
    println!(
        "\nA's receiver held {a_waiting} requests unanswered while B drained; after it \
         recovered, {a_sent} of {n} of A's replies were sent in {a_secs:.1} s \
         ({} requests reached A in all, {} distinct)",
        a_requests, a_distinct
    );
    println!(
        "B beside hung A = {share:.1}% of B alone (target >= 80%: {}); A all sent after \
         recovery: {}",
        verdict(share >= 80.0),
        verdict(a_sent == n)
    );
    if a_sent < n {
        bail!("only {a_sent} of A's {n} replies were sent after its receiver recovered");
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
