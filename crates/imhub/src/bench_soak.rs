//! `imhub bench soak --minutes N`: a long, mixed load at a steady, bounded
//! rate, to show that `imhub serve` stays stable (issue 16 §5): no errors,
//! memory that stays under 100 MiB and does not creep up, latencies that do
//! not drift.
//!
//! The run starts a local receiver (the custom channel's `outbound_url`,
//! answering 200, so replies really are delivered), then `imhub serve` as a
//! child process on a fresh database (a SQLite file is recreated; on
//! PostgreSQL the run works in a workspace of its own) with a workspace, an
//! admin token, a custom channel and one conversation per customer. Through
//! the API it sets an automation rule (keyword 价格 → a fixed text, no
//! cooldown, a daily cap of 100 per conversation). Then, for N minutes:
//!
//! - signed pushes from `--customers` customers; one in five contains the
//!   keyword and comes from the "automated" half of the customers, which
//!   agents never answer (a human reply would pause automation there);
//! - agent replies (`POST /api/v1/conversations/{id}/messages`) to the
//!   other half;
//! - chat-list reads (`GET /api/v1/conversations`), chat-detail reads
//!   (`GET /api/v1/conversations/{id}/messages`) and mark-read;
//! - `--subscribers` SSE clients on `GET /api/v1/events`, reading all along.
//!
//! `--rate` requests per second in all, split 40% pushes, 10% replies, 20%
//! chat list, 20% chat detail, 10% mark-read. Each kind is an open loop: its
//! request `k` is due at `start + k / rate`, sent by one of a few keep-alive
//! connections (late requests go at once, none is skipped, so at most that
//! many are in flight), and its latency is counted from when it was due, so
//! a stall shows in the figures instead of slowing the load.
//!
//! Every minute prints one row: requests/s, p99 and errors per kind, SSE
//! stream failures, imhub's RSS (`VmRSS`), its own part (`VmRSS` less any
//! mapped pages of the SQLite database file and its `-shm` index: those are
//! the OS's page cache of the file, shared and reclaimable; the writer has
//! mapped no more than the index since 2026-12-04) and its anonymous part
//! (`RssAnon`, the heap, where a leak and SQLite's page caches show), open file descriptors (all sampled a second before the
//! minute ends), SSE events received, agent replies and automatic replies
//! at the receiver.
//!
//! Baselines, measured in the same run: before imhub starts, the same mix at
//! the same rate against a trivial axum handler (answers `{}` to anything),
//! for `--baseline-secs`: the ceiling of this machine and load generator;
//! and minute 1 of the soak itself, the reference the later minutes' p99s
//! are judged against.
//!
//! Pass, all of:
//! - no errors: every request 2xx, no transport error or timeout (10 s), no
//!   SSE stream dropped, and by the end (15 s grace) every accepted agent
//!   reply and every automatic reply the rule owes at the receiver;
//! - peak own RSS (the largest per-second sample of `VmRSS` less the mapped
//!   database pages; on PostgreSQL nothing is mapped, so it is `VmRSS`)
//!   ≤ 100 MiB;
//! - no upward RSS trend: the least-squares slope of the per-second own RSS
//!   samples over the second half of the run ≤ 1 MiB/min;
//! - p99 steady: for every kind, the worst per-minute p99 of the second half
//!   ≤ 2 × minute 1's p99, or minute 1's + 5 ms when that is more (so that
//!   sub-millisecond p99s are not failed by scheduler noise).
//!
//! Exits non-zero when any of them fails.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{Router, body::Bytes, extract::State, routing::post};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, client::conn::http1::SendRequest};
use imhub_core::{
    Content, ConversationId,
    automation::{Action, KeywordMatch, Scope, Trigger},
};
use imhub_server::channels::custom::{self, CustomDelivery};
use imhub_store::{Store, automation::RuleBody};
use tokio::task::JoinSet;

use crate::bench_load::{
    ACCOUNT, Child, SECRET, fixture, machine, mib, open_connection, open_fresh, proc_kib, quantile,
    redact, run_id, seed_conversations, sse_client, verdict,
};

/// The keyword of the automation rule, and its fixed answer (which is how
/// the receiver tells automatic replies from agents').
const KEYWORD: &str = "价格";
const AUTO_REPLY: &str = "您好，价格以商品页为准，下单前可领券";
/// The rule's daily cap per conversation (the most the settings allow).
const DAILY_CAP: u64 = 100;
/// The largest RSS that passes, in MiB.
const RSS_LIMIT_MIB: f64 = 100.0;
/// The steepest RSS slope over the second half that passes, in MiB/min.
const RSS_SLOPE_LIMIT: f64 = 1.0;
/// A later minute's p99 passes up to this many times minute 1's ...
const P99_FACTOR: f64 = 2.0;
/// ... or minute 1's plus this many milliseconds, whichever is more.
const P99_SLACK_MS: f64 = 5.0;
/// A request with no answer within this long is an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `imhub bench soak`.
#[derive(clap::Args, Clone)]
pub struct SoakArgs {
    /// Minutes of mixed load.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// `sqlite://...` (the file is recreated) or `postgres://...` (the run
    /// works in a workspace of its own, so any database will do).
    #[arg(long, default_value = "sqlite:///tmp/imhub-bench-soak.db")]
    database_url: String,
    /// Customers the pushes come from (one conversation each; half get
    /// agent replies, half automatic ones).
    #[arg(long, default_value_t = 1000)]
    customers: u64,
    /// Requests per second in all: 40% pushes, 10% agent replies, 20% chat
    /// list, 20% chat detail, 10% mark-read.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// SSE clients reading `/api/v1/events` all along.
    #[arg(long, default_value_t = 3)]
    subscribers: usize,
    /// Seconds of the same mix against a trivial handler first (0: none).
    #[arg(long, default_value_t = 10)]
    baseline_secs: u64,
    /// SQLite commit durability of the imhub under test: `full` or `normal`.
    #[arg(long, default_value = "full")]
    sqlite_durability: String,
}

/// The kinds of request in the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Push,
    Reply,
    List,
    Detail,
    Read,
}

const KINDS: [Kind; 5] = [
    Kind::Push,
    Kind::Reply,
    Kind::List,
    Kind::Detail,
    Kind::Read,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Push => "push",
            Kind::Reply => "reply",
            Kind::List => "list",
            Kind::Detail => "detail",
            Kind::Read => "read",
        }
    }

    /// Its share of `--rate`, in percent.
    fn percent(self) -> u64 {
        match self {
            Kind::Push => 40,
            Kind::List | Kind::Detail => 20,
            Kind::Reply | Kind::Read => 10,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What one kind did since the last look.
#[derive(Default)]
struct Window {
    ok: u64,
    errors: u64,
    latencies_ms: Vec<f64>,
    first_error: Option<String>,
}

impl Window {
    fn record(&mut self, result: Result<f64, String>) {
        match result {
            Ok(ms) => {
                self.ok += 1;
                self.latencies_ms.push(ms);
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// Requests per second over `seconds`, p99 (ms) and errors.
    fn summary(mut self, seconds: f64) -> Cell {
        self.latencies_ms.sort_by(f64::total_cmp);
        Cell {
            per_second: (self.ok + self.errors) as f64 / seconds.max(1e-9),
            p99: quantile(&self.latencies_ms, 0.99),
            errors: self.errors,
            first_error: self.first_error,
        }
    }
}

/// One kind's figures of one minute.
struct Cell {
    per_second: f64,
    p99: f64,
    errors: u64,
    first_error: Option<String>,
}

/// The windows of every kind and of the SSE clients (errors only), swapped
/// out by whoever reports.
#[derive(Default)]
struct Stats {
    kinds: [Mutex<Window>; 5],
    sse: Mutex<Window>,
}

impl Stats {
    fn record(&self, kind: Kind, result: Result<f64, String>) {
        if let Some(Ok(mut w)) = self.kinds.get(kind.index()).map(Mutex::lock) {
            w.record(result);
        }
    }

    fn sse_error(&self, e: String) {
        if let Ok(mut w) = self.sse.lock() {
            w.record(Err(e));
        }
    }

    /// Every kind's window since the last call, and the SSE errors.
    fn take(&self) -> (Vec<Window>, Window) {
        let kinds = self
            .kinds
            .iter()
            .map(|w| {
                w.lock()
                    .map(|mut w| std::mem::take(&mut *w))
                    .unwrap_or_default()
            })
            .collect();
        let sse = self
            .sse
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        (kinds, sse)
    }
}

/// Who the requests are about, and what the receiver is owed.
struct Plan {
    run: String,
    host: String,
    push_path: String,
    token: String,
    /// Customer `c`'s conversation (customer `{run}-c{c}`).
    conversations: Vec<ConversationId>,
    /// Keyword pushes answered 2xx, per customer.
    keyword_acks: Vec<AtomicU64>,
    /// Agent replies answered 2xx.
    replies_accepted: AtomicU64,
}

/// What a successful request leaves the receiver owed.
enum Owed {
    Nothing,
    AutoReply(usize),
    AgentReply,
}

impl Plan {
    fn new(
        run: &str,
        addr: SocketAddr,
        channel: i64,
        token: &str,
        ids: Vec<ConversationId>,
    ) -> Self {
        Plan {
            run: run.to_string(),
            host: addr.to_string(),
            push_path: format!("/webhooks/custom/{channel}"),
            token: token.to_string(),
            keyword_acks: ids.iter().map(|_| AtomicU64::new(0)).collect(),
            conversations: ids,
            replies_accepted: AtomicU64::new(0),
        }
    }

    fn customers(&self) -> usize {
        self.conversations.len().max(1)
    }

    /// Customers with even numbers get agent replies; odd ones, automatic.
    fn agent_customer(&self, k: u64) -> usize {
        let agents = self.customers().div_ceil(2) as u64;
        (2 * (k % agents)) as usize
    }

    fn automated_customer(&self, k: u64) -> usize {
        let automated = (self.customers() / 2).max(1) as u64;
        ((2 * (k % automated) + 1) as usize).min(self.customers() - 1)
    }

    fn conversation(&self, c: usize) -> i64 {
        self.conversations.get(c).map_or(0, |id| id.0)
    }

    /// Push `seq`: every fifth one contains the keyword and comes from an
    /// automated customer; the others from any customer.
    fn push(&self, seq: u64) -> (usize, bool, Bytes, String) {
        let keyword = seq.is_multiple_of(5);
        let (c, text) = if keyword {
            (
                self.automated_customer(seq / 5),
                format!("请问这款的{KEYWORD}是多少？订单 {seq}"),
            )
        } else {
            (
                (seq % self.customers() as u64) as usize,
                format!("你好，订单 {seq} 发货了吗？"),
            )
        };
        let run = &self.run;
        let body = format!(
            r#"{{"event_id":"{run}-e{seq}","account":{{"id":"{ACCOUNT}"}},"contact":{{"id":"{run}-c{c}","nickname":"顾客 {c}"}},"message":{{"id":"{run}-m{seq}","content":{{"type":"text","text":"{text}"}}}}}}"#
        );
        let signature = custom::sign(SECRET, body.as_bytes());
        (c, keyword, Bytes::from(body), signature)
    }

    /// Request `k` of `kind`, and what its success leaves owed.
    fn request(&self, kind: Kind, k: u64) -> anyhow::Result<(Request<Full<Bytes>>, Owed)> {
        let any = (k.wrapping_mul(7919) % self.customers() as u64) as usize;
        let api = |method: Method, path: String| {
            Request::builder()
                .method(method)
                .uri(path)
                .header("host", &self.host)
                .header("authorization", format!("Bearer {}", self.token))
        };
        Ok(match kind {
            Kind::Push => {
                let (c, keyword, body, signature) = self.push(k);
                let request = Request::post(&self.push_path)
                    .header("host", &self.host)
                    .header("content-type", "application/json")
                    .header(custom::SIGNATURE_HEADER, signature)
                    .body(Full::new(body))?;
                let owed = if keyword {
                    Owed::AutoReply(c)
                } else {
                    Owed::Nothing
                };
                (request, owed)
            }
            Kind::Reply => {
                let id = self.conversation(self.agent_customer(k));
                let body = serde_json::json!({
                    "content": {"type": "text", "text": format!("您好，订单 {k} 已发货，请留意物流")}
                });
                let request = api(Method::POST, format!("/api/v1/conversations/{id}/messages"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))?;
                (request, Owed::AgentReply)
            }
            Kind::List => (
                api(Method::GET, "/api/v1/conversations?limit=50".into())
                    .body(Full::new(Bytes::new()))?,
                Owed::Nothing,
            ),
            Kind::Detail => {
                let id = self.conversation(any);
                let path = format!("/api/v1/conversations/{id}/messages?limit=50");
                (
                    api(Method::GET, path).body(Full::new(Bytes::new()))?,
                    Owed::Nothing,
                )
            }
            Kind::Read => {
                let id = self.conversation(any);
                let path = format!("/api/v1/conversations/{id}/read");
                (
                    api(Method::POST, path).body(Full::new(Bytes::new()))?,
                    Owed::Nothing,
                )
            }
        })
    }

    /// Automatic replies the rule owes: one per acknowledged keyword push,
    /// up to the daily cap per conversation.
    fn automatic_owed(&self) -> u64 {
        self.keyword_acks
            .iter()
            .map(|n| n.load(Ordering::Relaxed).min(DAILY_CAP))
            .sum()
    }
}

/// Sends one request on a keep-alive connection; `Ok` for a 2xx answer.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ))
    }
}

/// The connections each kind sends on: enough that a request may take a
/// few of its intervals without the kind falling behind.
fn connections_for(rate: f64) -> u64 {
    ((rate / 5.0).ceil() as u64).clamp(2, 64)
}

/// Drives every kind of the mix at its rate until `until`.
fn start_load(
    addr: SocketAddr,
    plan: Arc<Plan>,
    stats: Arc<Stats>,
    rate: u64,
    until: tokio::time::Instant,
) -> JoinSet<()> {
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for kind in KINDS {
        let per_second = (rate * kind.percent()) as f64 / 100.0;
        if per_second <= 0.0 {
            continue;
        }
        let connections = connections_for(per_second);
        for first in 0..connections {
            let (plan, stats) = (Arc::clone(&plan), Arc::clone(&stats));
            tasks.spawn(async move {
                worker(
                    addr,
                    kind,
                    per_second,
                    (first, connections),
                    plan,
                    stats,
                    start,
                    until,
                )
                .await;
            });
        }
    }
    tasks
}

/// One connection of one kind: requests `first`, `first + step`, … each
/// at its due time (at once when late).
#[allow(clippy::too_many_arguments)]
async fn worker(
    addr: SocketAddr,
    kind: Kind,
    per_second: f64,
    (first, step): (u64, u64),
    plan: Arc<Plan>,
    stats: Arc<Stats>,
    start: tokio::time::Instant,
    until: tokio::time::Instant,
) {
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut k = first;
    loop {
        let due = start + Duration::from_secs_f64(k as f64 / per_second);
        if due >= until {
            return;
        }
        tokio::time::sleep_until(due).await;
        k += step;
        let result = match plan.request(kind, k - step) {
            Err(e) => Err(e.to_string()),
            Ok((request, owed)) => {
                let connected = match sender.take() {
                    Some(s) if !s.is_closed() => Ok(s),
                    _ => open_connection(addr).await.map_err(|e| e.to_string()),
                };
                match connected {
                    Err(e) => Err(e),
                    Ok(mut s) => {
                        let answer =
                            tokio::time::timeout(REQUEST_TIMEOUT, exchange(&mut s, request)).await;
                        // A timed-out request leaves the connection busy:
                        // the next one gets a fresh connection.
                        let answer = match answer {
                            Ok(answer) => {
                                sender = Some(s);
                                answer
                            }
                            Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
                        };
                        answer.map(|()| owed)
                    }
                }
            }
        };
        let elapsed_ms = due.elapsed().as_secs_f64() * 1000.0;
        let result = result.map(|owed| {
            match owed {
                Owed::AutoReply(c) => {
                    if let Some(n) = plan.keyword_acks.get(c) {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Owed::AgentReply => {
                    plan.replies_accepted.fetch_add(1, Ordering::Relaxed);
                }
                Owed::Nothing => {}
            }
            elapsed_ms
        });
        stats.record(kind, result);
    }
}

/// The receiver of deliveries: counts each message once, and tells the
/// automatic replies (the rule's fixed text) from agents'.
#[derive(Default)]
struct Receiver {
    requests: AtomicU64,
    seen: Mutex<HashSet<i64>>,
    agent: AtomicU64,
    automatic: AtomicU64,
}

async fn receive(State(r): State<Arc<Receiver>>, body: Bytes) -> &'static str {
    r.requests.fetch_add(1, Ordering::Relaxed);
    let Ok(delivery) = serde_json::from_slice::<CustomDelivery>(&body) else {
        return "{}";
    };
    let first = r
        .seen
        .lock()
        .map(|mut seen| seen.insert(delivery.message_id))
        .unwrap_or(false);
    if first && delivery.kind == "message" {
        let automatic =
            matches!(&delivery.content, Some(Content::Text { text }) if text == AUTO_REPLY);
        if automatic {
            r.automatic.fetch_add(1, Ordering::Relaxed);
        } else {
            r.agent.fetch_add(1, Ordering::Relaxed);
        }
    }
    "{}"
}

/// Serves `router` on a free loopback port.
async fn serve(router: Router) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((addr, task))
}

/// The same mix against a handler that answers `{}` to anything: what
/// this machine and load generator manage without imhub behind them.
async fn baseline(args: &SoakArgs, seconds: u64) -> anyhow::Result<Vec<Cell>> {
    let (addr, task) = serve(Router::new().fallback(|| async { "{}" })).await?;
    let ids = (1..=args.customers.max(2) as i64)
        .map(ConversationId)
        .collect();
    let plan = Arc::new(Plan::new(
        &format!("{}t", run_id()),
        addr,
        1,
        "trivial",
        ids,
    ));
    let stats = Arc::new(Stats::default());
    let started = tokio::time::Instant::now();
    let mut load = start_load(
        addr,
        plan,
        Arc::clone(&stats),
        args.rate,
        started + Duration::from_secs(seconds),
    );
    while load.join_next().await.is_some() {}
    task.abort();
    let (kinds, _) = stats.take();
    let seconds = started.elapsed().as_secs_f64();
    Ok(kinds.into_iter().map(|w| w.summary(seconds)).collect())
}

/// Sets the automation rule and settings through the API, as an admin would.
async fn automate(addr: SocketAddr, token: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1/automation");
    http.put(format!("{base}/settings"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "daily_reply_cap": DAILY_CAP }))
        .send()
        .await?
        .error_for_status()
        .context("cannot set the automation settings")?;
    let rule = RuleBody {
        name: format!("{KEYWORD} 自动回复"),
        enabled: true,
        scope: Scope::default(),
        trigger: Trigger::Keywords {
            mode: KeywordMatch::ContainsAny,
            keywords: vec![KEYWORD.into()],
            case_insensitive: true,
        },
        conditions: Vec::new(),
        actions: vec![Action::Reply {
            text: Some(AUTO_REPLY.into()),
            content: None,
            quick_reply_id: None,
        }],
        // Every keyword push is answered, so that the replies owed are known.
        cooldown_secs: Some(0),
    };
    http.post(format!("{base}/rules"))
        .bearer_auth(token)
        .json(&rule)
        .send()
        .await?
        .error_for_status()
        .context("cannot create the automation rule")?;
    Ok(())
}

/// Customer `c`'s conversation at index `c`, from the conversations seeded
/// for `{run}-c{c}`.
async fn by_customer(
    store: &dyn Store,
    ws: imhub_core::WorkspaceId,
    run: &str,
    ids: &[ConversationId],
) -> anyhow::Result<Vec<ConversationId>> {
    let mut out = vec![ConversationId(0); ids.len()];
    let prefix = format!("{run}-c");
    for id in ids {
        let conversation = store.get_conversation(ws, *id).await?;
        let c: usize = conversation
            .peer_external_id
            .strip_prefix(&prefix)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("conversation {} is not a seeded customer's", id.0))?;
        let slot = out
            .get_mut(c)
            .with_context(|| format!("customer {c} is beyond the seeded ones"))?;
        *slot = *id;
    }
    Ok(out)
}

/// An SSE client that reconnects when its stream ends; every end or
/// failure is an error.
async fn subscriber(
    url: String,
    token: String,
    seen: Arc<Mutex<Vec<(i64, Instant)>>>,
    stats: Arc<Stats>,
    mut ready: Option<tokio::sync::oneshot::Sender<()>>,
) {
    loop {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let forward = async {
            if rx.await.is_ok()
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        };
        let (ended, ()) = tokio::join!(
            sse_client(url.clone(), token.clone(), Arc::clone(&seen), tx),
            forward
        );
        let why = match ended {
            Ok(why) => why.to_string(),
            Err(e) => format!("event stream: {e}"),
        };
        stats.sse_error(why);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A process's resident memory, in MiB: all of it (`VmRSS`), its own part
/// (`own`, what is judged: `VmRSS` less the resident pages of the mapped
/// database file and index, which are the OS's page cache of that file),
/// and its anonymous part (`RssAnon`: the heap,
/// where a leak shows).
#[derive(Clone, Copy, Default)]
struct Memory {
    rss: f64,
    own: f64,
    anon: f64,
}

impl Memory {
    /// `database`: the SQLite file whose mapped pages are not imhub's own.
    fn of(pid: u32, database: Option<&str>) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name| mib(proc_kib(&status, name).unwrap_or(0));
        let mapped = database.map_or(0, |path| {
            let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
            mapped_kib(&smaps, path)
        });
        let rss = field("VmRSS:");
        Memory {
            rss,
            own: (rss - mib(mapped)).max(0.0),
            anon: field("RssAnon:"),
        }
    }
}

/// Resident KiB of the mappings of `path` (the database file and its
/// `-shm` index) in a `/proc/PID/smaps` text.
fn mapped_kib(smaps: &str, path: &str) -> u64 {
    let shm = format!("{path}-shm");
    let mut inside = false;
    let mut total = 0;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            // A mapping's header: "start-end perms offset dev inode [path]".
            Some(first) if first.contains('-') && !first.ends_with(':') => {
                let name = words.nth(4).unwrap_or("");
                inside = name == path || name == shm;
            }
            Some("Rss:") if inside => {
                total += words
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            _ => {}
        }
    }
    total
}

/// The SQLite file of a `sqlite://` URL, as the kernel names its mapping.
fn sqlite_file(url: &str) -> Option<String> {
    let path = url.strip_prefix("sqlite://")?;
    let path = path.split('?').next().unwrap_or(path);
    std::fs::canonicalize(path)
        .ok()
        .map(|p| p.display().to_string())
}

/// Open file descriptors of a process (entries of /proc/PID/fd).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The least-squares slope of `(x, y)` points; `None` with fewer than two
/// distinct `x`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The p99 a later minute may reach, given minute 1's.
fn p99_allowed(first: f64) -> f64 {
    (first * P99_FACTOR).max(first + P99_SLACK_MS)
}

/// Whether a later minute's p99 `worst` is within what minute 1's `first`
/// allows; never when either is missing (NaN).
fn is_steady(first: f64, worst: f64) -> bool {
    worst <= p99_allowed(first)
}

/// One printed minute.
struct Row {
    minute: u64,
    cells: Vec<Cell>,
    sse_errors: u64,
    fds: usize,
}

fn header() {
    let mut line = format!("{:>3}", "min");
    for kind in KINDS {
        line.push_str(&format!(" | {:^18}", kind.name()));
    }
    println!(
        "{line} | {:>3} | {:>7} {:>5} {:>5} {:>4} {:>7} {:>7} {:>6}",
        "sse", "RSS MiB", "own", "anon", "fds", "events", "replies", "auto"
    );
    let mut units = format!("{:>3}", "");
    for _ in KINDS {
        units.push_str(&format!(" | {:>6} {:>7} {:>3}", "req/s", "p99 ms", "err"));
    }
    println!(
        "{units} | {:>3} | {:>7} {:>5} {:>5} {:>4} {:>7} {:>7} {:>6}",
        "err", "", "", "", "", "(SSE)", "deliv.", "deliv."
    );
}

/// Runs the benchmark.
pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rate > 0,
        "--rate must be at least 1 request per second"
    );
    machine();
    let minutes = args.minutes.max(1);
    let customers = args.customers.max(2);
    println!(
        "soak: {minutes} min at {} requests/s (40% pushes, 10% agent replies, 20% chat list, \
         20% chat detail, 10% mark-read), {customers} customers, {} SSE subscribers, {}",
        args.rate,
        args.subscribers,
        redact(&args.database_url)
    );

    let trivial = if args.baseline_secs > 0 {
        let cells = baseline(&args, args.baseline_secs).await?;
        println!(
            "baseline: the same mix against a trivial axum handler for {} s, p99 ms: {}",
            args.baseline_secs,
            KINDS
                .iter()
                .zip(&cells)
                .map(|(k, c)| format!("{} {:.2}", k.name(), c.p99))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Some(cells)
    } else {
        None
    };

    let receiver = Arc::new(Receiver::default());
    let (receiver_addr, receiver_task) = serve(
        Router::new()
            .route("/deliver", post(receive))
            .with_state(Arc::clone(&receiver)),
    )
    .await?;
    let store = open_fresh(&args.database_url).await?;
    let fx = fixture(
        store.as_ref(),
        Some(&format!("http://{receiver_addr}/deliver")),
    )
    .await?;
    let run = run_id();
    let seeded = seed_conversations(&store, &fx, &run, customers).await?;
    let ids = by_customer(store.as_ref(), fx.workspace, &run, &seeded).await?;
    // A SQLite file is the child's alone from here on.
    drop(store);

    let child = Child::spawn(&args.database_url, &args.sqlite_durability).await?;
    let result = soak(&args, minutes, &child, &fx, &run, ids, &receiver, trivial).await;
    child.stop().await;
    receiver_task.abort();
    machine();
    result
}

/// The soak proper, on a running child.
#[allow(clippy::too_many_arguments)]
async fn soak(
    args: &SoakArgs,
    minutes: u64,
    child: &Child,
    fx: &crate::bench_load::Fixture,
    run: &str,
    ids: Vec<ConversationId>,
    receiver: &Receiver,
    trivial: Option<Vec<Cell>>,
) -> anyhow::Result<()> {
    let pid = child.pid().context("the imhub child has no process id")?;
    let database = sqlite_file(&args.database_url);
    automate(child.addr, &fx.token).await?;
    let stats = Arc::new(Stats::default());

    let mut subscribers = JoinSet::new();
    let mut seen = Vec::new();
    for _ in 0..args.subscribers {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        subscribers.spawn(subscriber(
            format!("http://{}/api/v1/events", child.addr),
            fx.token.clone(),
            Arc::clone(&events),
            Arc::clone(&stats),
            Some(ready_tx),
        ));
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .context("an event stream did not open within 10 s")?
            .context("an event stream ended before it was ready")?;
        seen.push(events);
    }
    let events = || -> usize {
        seen.iter()
            .map(|s| s.lock().map(|s| s.len()).unwrap_or(0))
            .sum()
    };

    let plan = Arc::new(Plan::new(run, child.addr, fx.channel.0, &fx.token, ids));
    let started = tokio::time::Instant::now();
    let until = started + Duration::from_secs(minutes * 60);
    // Memory every second, to judge the trend; kept as (minutes, MiB).
    let samples = Arc::new(Mutex::new(Vec::<(f64, Memory)>::new()));
    let sampler = {
        let samples = Arc::clone(&samples);
        let database = database.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let memory = Memory::of(pid, database.as_deref());
                if let Ok(mut s) = samples.lock() {
                    s.push((started.elapsed().as_secs_f64() / 60.0, memory));
                }
            }
        })
    };
    let mut load = start_load(
        child.addr,
        Arc::clone(&plan),
        Arc::clone(&stats),
        args.rate,
        until,
    );

    println!();
    header();
    let mut rows = Vec::new();
    let (mut events_before, mut agent_before, mut auto_before) = (0, 0, 0);
    for minute in 1..=minutes {
        let end = started + Duration::from_secs(minute * 60);
        // Memory and descriptors a second before the minute ends, so that
        // the last row sees the load running, not its connections closing.
        tokio::time::sleep_until(end - Duration::from_secs(1)).await;
        let (memory, fds) = (Memory::of(pid, database.as_deref()), open_fds(pid));
        tokio::time::sleep_until(end).await;
        let (kinds, sse) = stats.take();
        let cells: Vec<Cell> = kinds.into_iter().map(|w| w.summary(60.0)).collect();
        let (events_now, agent_now, auto_now) = (
            events(),
            receiver.agent.load(Ordering::Relaxed),
            receiver.automatic.load(Ordering::Relaxed),
        );
        let mut line = format!("{minute:>3}");
        for c in &cells {
            line.push_str(&format!(
                " | {:>6.1} {:>7.2} {:>3}",
                c.per_second, c.p99, c.errors
            ));
        }
        println!(
            "{line} | {:>3} | {:>7.1} {:>5.1} {:>5.1} {fds:>4} {:>7} {:>7} {:>6}",
            sse.errors,
            memory.rss,
            memory.own,
            memory.anon,
            events_now - events_before,
            agent_now - agent_before,
            auto_now - auto_before
        );
        for (kind, c) in KINDS.iter().zip(&cells) {
            if let Some(e) = &c.first_error {
                println!("    first {} error: {e}", kind.name());
            }
        }
        if let Some(e) = &sse.first_error {
            println!("    first SSE error: {e}");
        }
        (events_before, agent_before, auto_before) = (events_now, agent_now, auto_now);
        rows.push(Row {
            minute,
            cells,
            sse_errors: sse.errors,
            fds,
        });
    }
    while load.join_next().await.is_some() {}
    sampler.abort();
    // Requests still in flight when the last minute ended.
    let (late, late_sse) = stats.take();
    let late_errors: u64 = late.iter().map(|w| w.errors).sum::<u64>() + late_sse.errors;
    if let Some(e) = late
        .iter()
        .chain([&late_sse])
        .find_map(|w| w.first_error.clone())
    {
        println!("    error after the last minute: {e}");
    }

    // Deliveries still on their way.
    let agent_owed = plan.replies_accepted.load(Ordering::Relaxed);
    let auto_owed = plan.automatic_owed();
    let grace = Instant::now() + Duration::from_secs(15);
    while (receiver.agent.load(Ordering::Relaxed) < agent_owed
        || receiver.automatic.load(Ordering::Relaxed) < auto_owed)
        && Instant::now() < grace
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    subscribers.abort_all();
    let agent_got = receiver.agent.load(Ordering::Relaxed);
    let auto_got = receiver.automatic.load(Ordering::Relaxed);
    let duplicates = receiver.requests.load(Ordering::Relaxed)
        - receiver.seen.lock().map(|s| s.len() as u64).unwrap_or(0);
    let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| proc_kib(&s, "VmHWM:"))
        .unwrap_or(0);
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();

    judge(Judged {
        rows: &rows,
        minutes,
        late_errors,
        trivial: trivial.as_deref(),
        deliveries: (agent_owed, agent_got, auto_owed, auto_got, duplicates),
        hwm_mib: mib(hwm),
        samples: &samples,
        events: events(),
    })
}

/// Everything the verdicts need.
struct Judged<'a> {
    rows: &'a [Row],
    minutes: u64,
    late_errors: u64,
    trivial: Option<&'a [Cell]>,
    /// Agent replies owed and delivered, automatic ones owed and
    /// delivered, deliveries received more than once.
    deliveries: (u64, u64, u64, u64, u64),
    hwm_mib: f64,
    /// `(minutes since start, memory)` every second.
    samples: &'a [(f64, Memory)],
    events: usize,
}

/// Prints the summary and the verdicts; an error when any criterion fails.
fn judge(j: Judged) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    let half = j.minutes as f64 / 2.0;
    let second_half: Vec<&Row> = j.rows.iter().filter(|r| r.minute as f64 > half).collect();

    println!(
        "\np99 by kind (ms): the trivial handler (same mix, same rate, this run), minute 1, \
         the worst minute of the second half (minutes {}-{})",
        second_half.first().map_or(0, |r| r.minute),
        j.minutes
    );
    println!(
        "{:<8} {:>9} {:>9} {:>12} {:>9} {:>10} {:>8}",
        "kind", "trivial", "minute 1", "2nd half max", "allowed", "/minute 1", "/trivial"
    );
    let mut steady = true;
    for kind in KINDS {
        let at = |r: &Row| r.cells.get(kind.index()).map_or(f64::NAN, |c| c.p99);
        let first = j.rows.first().map_or(f64::NAN, at);
        let worst = second_half.iter().map(|r| at(r)).fold(f64::NAN, f64::max);
        let trivial = j
            .trivial
            .and_then(|t| t.get(kind.index()))
            .map_or(f64::NAN, |c| c.p99);
        let allowed = p99_allowed(first);
        let ok = is_steady(first, worst);
        steady &= ok;
        println!(
            "{:<8} {trivial:>9.2} {first:>9.2} {worst:>12.2} {allowed:>9.2} {:>10.2} {:>8.1}{}",
            kind.name(),
            worst / first,
            worst / trivial,
            if ok { "" } else { "  DRIFTED" }
        );
    }

    let errors: u64 = j
        .rows
        .iter()
        .map(|r| r.cells.iter().map(|c| c.errors).sum::<u64>() + r.sse_errors)
        .sum::<u64>()
        + j.late_errors;
    let (agent_owed, agent_got, auto_owed, auto_got, duplicates) = j.deliveries;
    let lost = agent_owed.saturating_sub(agent_got) + auto_owed.saturating_sub(auto_got);
    println!(
        "\nreceiver: {agent_got} of {agent_owed} accepted agent replies, {auto_got} of \
         {auto_owed} automatic replies owed (keyword pushes, cap {DAILY_CAP} per conversation \
         a day); {duplicates} deliveries received again; {} SSE events in all",
        j.events
    );
    let no_errors = errors == 0 && lost == 0;
    println!(
        "no errors: {errors} failed requests or dropped event streams, {lost} replies not \
         delivered within 15 s of the end: {}",
        verdict(no_errors)
    );
    if !no_errors {
        failed.push("errors");
    }

    let peak = j.samples.iter().map(|s| s.1.own).fold(0.0, f64::max);
    let peak_rss = j.samples.iter().map(|s| s.1.rss).fold(j.hwm_mib, f64::max);
    println!(
        "peak own RSS = {peak:.1} MiB (per-second VmRSS less the mapped database file's \
         pages) (target <= {RSS_LIMIT_MIB} MiB: {}); with the mapped database {peak_rss:.1} MiB \
         (VmHWM {:.1} MiB)",
        verdict(peak <= RSS_LIMIT_MIB),
        j.hwm_mib,
    );
    if peak > RSS_LIMIT_MIB {
        failed.push("RSS");
    }

    let late: Vec<(f64, Memory)> = j.samples.iter().copied().filter(|s| s.0 >= half).collect();
    let trend = |part: fn(&Memory) -> f64| {
        slope(&late.iter().map(|(t, m)| (*t, part(m))).collect::<Vec<_>>())
    };
    match trend(|m| m.own) {
        Some(s) => {
            println!(
                "own RSS trend over the second half = {s:+.2} MiB/min (least squares over {} \
                 per-second samples; target <= {RSS_SLOPE_LIMIT} MiB/min: {})",
                late.len(),
                verdict(s <= RSS_SLOPE_LIMIT)
            );
            if s > RSS_SLOPE_LIMIT {
                failed.push("RSS trend");
            }
        }
        None => {
            println!("RSS trend over the second half: too few samples: MISSED");
            failed.push("RSS trend");
        }
    }
    if let (Some(anon), Some(own), Some(rss)) =
        (trend(|m| m.anon), trend(|m| m.own), trend(|m| m.rss))
    {
        println!(
            "  of which anonymous memory (RssAnon, the heap) {anon:+.2} MiB/min; VmRSS with the \
             mapped database {rss:+.2} MiB/min (its pages {:+.2} MiB/min)",
            rss - own
        );
    }
    let fds: Vec<usize> = j.rows.iter().map(|r| r.fds).collect();
    println!(
        "open file descriptors: minute 1 {}, last minute {}, most {} (not judged)",
        fds.first().copied().unwrap_or(0),
        fds.last().copied().unwrap_or(0),
        fds.iter().copied().max().unwrap_or(0)
    );

    println!(
        "p99 steady: every kind's worst second-half minute <= max({P99_FACTOR} x minute 1, \
         minute 1 + {P99_SLACK_MS} ms): {}",
        verdict(steady)
    );
    if !steady {
        failed.push("p99");
    }
    if j.minutes < 4 {
        println!(
            "note: {} min is a smoke run; the issue's figures are from 10 minutes",
            j.minutes
        );
    }
    if failed.is_empty() {
        println!("soak: PASS");
        Ok(())
    } else {
        println!("soak: FAIL ({})", failed.join(", "));
        bail!("the soak failed: {}", failed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_database_files_mappings_count_as_mapped() {
        let smaps = "\
55d0-55e0 r--p 00000000 08:01 12 /usr/bin/imhub
Rss:                 900 kB
7f00-7f10 rw-s 00000000 08:01 34 /data/imhub.db
Size:             262144 kB
Rss:                4096 kB
7f10-7f20 rw-s 00000000 08:01 35 /data/imhub.db-shm
Rss:                  32 kB
7f20-7f30 rw-p 00000000 00:00 0 
Rss:                 512 kB
7f30-7f40 r--p 00000000 08:01 36 /data/imhub.db-wal
Rss:                  64 kB
";
        assert_eq!(mapped_kib(smaps, "/data/imhub.db"), 4096 + 32);
        assert_eq!(mapped_kib(smaps, "/other.db"), 0);
        assert_eq!(mapped_kib("", "/data/imhub.db"), 0);
    }

    fn plan(customers: i64) -> Plan {
        let ids = (0..customers).map(|i| ConversationId(100 + i)).collect();
        Plan::new("r1", SocketAddr::from(([127, 0, 0, 1], 1)), 7, "t", ids)
    }

    #[test]
    fn keyword_pushes_come_only_from_customers_agents_never_answer() {
        let p = plan(10);
        let mut keyword_pushes = 0;
        for seq in 0..100 {
            let (c, keyword, body, signature) = p.push(seq);
            assert!(custom::verify(SECRET, &body, &signature));
            let text = String::from_utf8_lossy(&body).to_string();
            assert_eq!(keyword, text.contains(KEYWORD));
            assert!(text.contains(&format!("\"r1-c{c}\"")));
            if keyword {
                keyword_pushes += 1;
                assert_eq!(c % 2, 1, "keyword push from agent-answered customer {c}");
            }
        }
        assert_eq!(keyword_pushes, 20);
        for k in 0..100 {
            assert_eq!(p.agent_customer(k) % 2, 0);
            assert!(p.agent_customer(k) < 10);
            assert!(p.automated_customer(k) < 10);
        }
    }

    #[test]
    fn automatic_replies_owed_stop_at_the_daily_cap() {
        let p = plan(4);
        p.keyword_acks[1].store(3, Ordering::Relaxed);
        p.keyword_acks[3].store(DAILY_CAP + 20, Ordering::Relaxed);
        assert_eq!(p.automatic_owed(), 3 + DAILY_CAP);
    }

    #[test]
    fn requests_address_the_planned_conversations() {
        let p = plan(4);
        let (reply, _) = p.request(Kind::Reply, 1).unwrap();
        assert_eq!(reply.uri().path(), "/api/v1/conversations/102/messages");
        assert_eq!(reply.method(), Method::POST);
        let (push, _) = p.request(Kind::Push, 0).unwrap();
        assert_eq!(push.uri().path(), "/webhooks/custom/7");
        let (read, _) = p.request(Kind::Read, 3).unwrap();
        assert!(read.uri().path().ends_with("/read"));
    }

    #[test]
    fn slope_is_the_least_squares_fit_and_needs_two_points() {
        let flat = [(0.0, 50.0), (1.0, 50.0), (2.0, 50.0)];
        assert_eq!(slope(&flat), Some(0.0));
        let rising = [(0.0, 50.0), (1.0, 52.0), (2.0, 54.0)];
        assert!((slope(&rising).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 50.0)]), None);
        assert_eq!(slope(&[(1.0, 50.0), (1.0, 60.0)]), None);
    }

    #[test]
    fn a_later_p99_may_double_or_add_the_slack() {
        assert_eq!(p99_allowed(20.0), 40.0);
        assert_eq!(p99_allowed(1.0), 1.0 + P99_SLACK_MS);
        assert!(is_steady(20.0, 40.0));
        assert!(!is_steady(20.0, 40.1));
        assert!(is_steady(1.0, 6.0));
        assert!(
            !is_steady(f64::NAN, 1.0),
            "no minute-1 figure is not steady"
        );
        assert!(!is_steady(1.0, f64::NAN), "no later figure is not steady");
    }

    #[test]
    fn windows_count_errors_and_the_p99_of_successes() {
        let mut w = Window::default();
        for i in 1..=100 {
            w.record(Ok(f64::from(i)));
        }
        w.record(Err("HTTP 500".into()));
        let c = w.summary(10.0);
        assert_eq!(c.errors, 1);
        assert_eq!(c.p99, 99.0);
        assert!((c.per_second - 10.1).abs() < 1e-9);
        assert_eq!(c.first_error.as_deref(), Some("HTTP 500"));
    }
}
