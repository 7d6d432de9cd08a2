//! `imhub bench load ...`: load benchmarks of the ingest and delivery
//! engines. Each run starts what it compares itself (servers on 127.0.0.1,
//! port 0) and measures a baseline in the same run, so that the ratio means
//! something on a busy, shared machine:
//!
//! - `ingest`: a trivial axum handler (the ceiling of this machine), then
//!   `imhub serve` as a child process, both under the same load of signed
//!   custom-channel pushes; requests/s, p50/p99 and imhub's peak RSS.
//! - `sse`: the same load on imhub with an SSE client connected; the time
//!   from sending a push to seeing its `message.created` event.
//! - `delivery`: messages queued through the store, then drained by the
//!   delivery engine to a local receiver; baseline is the receiver's raw
//!   requests/s from the same HTTP client at the same concurrency.
//! - `delivery-limited`: Tencent replies under the per-app limit, on one
//!   node or several (PostgreSQL) with one killed mid-run; the sandbox
//!   counts each second's sends (see `bench_limited.rs`).

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use clap::Subcommand;
use http_body_util::{BodyExt, Full};
use hyper::{Request, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, ConversationId, Direction, InboundEvent,
    InboundMessage, MessageId, Peer, Platform, Role, Timestamp, WorkspaceId,
};
use imhub_server::{Config, channels::custom};
use imhub_store::{Change, NewOutbound, PushRecord, SqlStore, Store, StoreOptions};
use tokio::{net::TcpStream, sync::Semaphore, task::JoinSet};

/// `imhub bench load <what>`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Signed custom-channel pushes: a trivial handler, then `imhub serve`.
    Ingest(IngestArgs),
    /// Push-to-SSE latency while the ingest load runs.
    Sse(IngestArgs),
    /// Drain a queued backlog through the delivery engine, no rate limit.
    Delivery(DeliveryArgs),
    /// Drain a backlog of Tencent replies under the per-app rate limit, on
    /// one node or several sharing one PostgreSQL.
    DeliveryLimited(crate::bench_limited::LimitedArgs),
    /// One workspace's receiver hangs while another sends: the other's
    /// throughput against its own alone, in the same run.
    Fairness(crate::bench_fairness::FairnessArgs),
    /// Ingest with 50 automation rules against none, and the time from a
    /// push's answer to its automatic reply at the receiver.
    Automation(crate::bench_automation::AutomationArgs),
}

#[derive(clap::Args, Clone)]
struct IngestArgs {
    /// `sqlite://...` (the file is recreated) or `postgres://...` (the run
    /// works in a workspace of its own, so any database will do).
    #[arg(long, default_value = "sqlite:///tmp/imhub-bench-ingest.db")]
    database_url: String,
    /// Measured seconds per server (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Distinct customers the pushes come from.
    #[arg(long, default_value_t = 5000)]
    contacts: u64,
    /// SQLite commit durability of the imhub under test: `full` or `normal`.
    #[arg(long, default_value = "full")]
    sqlite_durability: String,
    /// The full-text search index during ingest (`ingest` only): `on` (as
    /// deployed), `off` (its triggers, generated column and indexes
    /// dropped: the baseline), or `compare` (`--rounds` runs of each,
    /// alternating, with the medians and their ratio).
    #[arg(long, default_value = "on", value_parser = ["on", "off", "compare"])]
    search_index: String,
    /// Runs of each variant with `--search-index compare`.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[derive(clap::Args, Clone)]
struct DeliveryArgs {
    /// `sqlite://...` (the file is recreated) or `postgres://...`.
    #[arg(long, default_value = "sqlite:///tmp/imhub-bench-delivery.db")]
    database_url: String,
    /// Messages queued before the engine starts.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Conversations they are spread over (delivery keeps each one's order).
    #[arg(long, default_value_t = 2_000)]
    conversations: u64,
    /// Sends in flight (the engine's `delivery.concurrency`).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// Runs one load benchmark.
pub async fn run(args: Args) -> anyhow::Result<()> {
    machine();
    match args.what {
        What::Ingest(a) => ingest(a).await,
        What::Sse(a) => sse(a).await,
        What::Delivery(a) => delivery(a).await,
        What::DeliveryLimited(a) => crate::bench_limited::run(a).await,
        What::Fairness(a) => crate::bench_fairness::run(a).await,
        What::Automation(a) => crate::bench_automation::run(a).await,
    }
}

/// Prints what the figures were measured on, and how busy it was.
pub(crate) fn machine() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| proc_kib(&s, "MemTotal:"))
        .map_or_else(
            || "?".into(),
            |kib| format!("{:.1} GiB", kib as f64 / 1048576.0),
        );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {cores} cores, {mem} memory, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

// ---------------------------------------------------------------------------
// Ingest and SSE

/// The custom-channel secret the benchmarks sign with.
pub(crate) const SECRET: &str = "benchmark-secret-0123456789";
/// The account every push is addressed to; created before the load.
pub(crate) const ACCOUNT: &str = "bench-account";

/// Signed pushes with distinct event and message ids, from a fixed set of
/// customers; `seq` is recoverable from the message id (`{run}-m{seq}`).
struct Pushes {
    run: String,
    contacts: u64,
    next: AtomicU64,
}

impl Pushes {
    fn new(run: &str, contacts: u64) -> Self {
        Pushes {
            run: run.to_string(),
            contacts: contacts.max(1),
            next: AtomicU64::new(0),
        }
    }

    /// The next push: its sequence number, body and signature header.
    fn next(&self) -> (u64, Bytes, String) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let run = &self.run;
        let contact = seq % self.contacts;
        let body = format!(
            r#"{{"event_id":"{run}-e{seq}","account":{{"id":"{ACCOUNT}"}},"contact":{{"id":"{run}-c{contact}","nickname":"Customer {contact}"}},"message":{{"id":"{run}-m{seq}","content":{{"type":"text","text":"Hello, is order {seq} on its way?"}}}}}}"#
        );
        let signature = custom::sign(SECRET, body.as_bytes());
        (seq, Bytes::from(body), signature)
    }

    /// The sequence number inside a platform message id this made.
    fn seq_of(&self, platform_message_id: &str) -> Option<u64> {
        platform_message_id
            .strip_prefix(self.run.as_str())?
            .strip_prefix("-m")?
            .parse()
            .ok()
    }
}

/// What a load run measured, over the measured period only.
struct LoadResult {
    ok: u64,
    failed: u64,
    seconds: f64,
    latencies_ms: Vec<f64>,
    /// Send time of each measured push, when asked for.
    sent: HashMap<u64, Instant>,
    first_error: Option<String>,
}

impl LoadResult {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.seconds.max(1e-9)
    }
}

/// Drives `connections` keep-alive HTTP/1.1 connections to `addr`, each
/// sending the next push as soon as the previous one is answered, for a
/// one-second warm-up and then `seconds` measured seconds.
async fn drive(
    addr: SocketAddr,
    path: &str,
    pushes: Arc<Pushes>,
    connections: usize,
    seconds: u64,
    record_sends: bool,
) -> anyhow::Result<LoadResult> {
    let measure_from = Instant::now() + Duration::from_secs(1);
    let until = measure_from + Duration::from_secs(seconds);
    let mut tasks = JoinSet::new();
    for _ in 0..connections.max(1) {
        let (pushes, path) = (Arc::clone(&pushes), path.to_string());
        tasks.spawn(async move {
            connection(addr, &path, &pushes, measure_from, until, record_sends).await
        });
    }
    let mut total = LoadResult {
        ok: 0,
        failed: 0,
        seconds: seconds as f64,
        latencies_ms: Vec::new(),
        sent: HashMap::new(),
        first_error: None,
    };
    while let Some(done) = tasks.join_next().await {
        let one = done.context("a load connection panicked")??;
        total.ok += one.ok;
        total.failed += one.failed;
        total.latencies_ms.extend(one.latencies_ms);
        total.sent.extend(one.sent);
        total.first_error = total.first_error.or(one.first_error);
    }
    total.latencies_ms.sort_by(f64::total_cmp);
    Ok(total)
}

/// One keep-alive HTTP/1.1 connection, its driver running on its own task.
pub(crate) async fn open_connection(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One connection of the load generator.
async fn connection(
    addr: SocketAddr,
    path: &str,
    pushes: &Pushes,
    measure_from: Instant,
    until: Instant,
    record_sends: bool,
) -> anyhow::Result<LoadResult> {
    let mut result = LoadResult {
        ok: 0,
        failed: 0,
        seconds: 0.0,
        latencies_ms: Vec::new(),
        sent: HashMap::new(),
        first_error: None,
    };
    let host = addr.to_string();
    let mut sender = open_connection(addr).await?;
    while Instant::now() < until {
        let (seq, body, signature) = pushes.next();
        let request = Request::post(path)
            .header("host", &host)
            .header("content-type", "application/json")
            .header(custom::SIGNATURE_HEADER, signature)
            .body(Full::new(body))?;
        let ready = sender.ready().await;
        let started = Instant::now();
        let measured = started >= measure_from;
        let answer = match ready {
            Ok(()) => match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status();
                    let body = response.into_body().collect().await;
                    match body {
                        Ok(_) if status.is_success() => Ok(()),
                        Ok(b) => Err(format!(
                            "HTTP {status}: {}",
                            String::from_utf8_lossy(&b.to_bytes())
                                .chars()
                                .take(200)
                                .collect::<String>()
                        )),
                        Err(e) => Err(format!("reading the answer: {e}")),
                    }
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let elapsed = started.elapsed();
        match answer {
            Ok(()) if measured => {
                result.ok += 1;
                result.latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
                if record_sends {
                    result.sent.insert(seq, started);
                }
            }
            Ok(()) => {}
            Err(e) => {
                if measured {
                    result.failed += 1;
                }
                result.first_error.get_or_insert(e);
                if sender.is_closed() {
                    sender = open_connection(addr).await?;
                }
            }
        }
    }
    Ok(result)
}

/// The value at quantile `q` of sorted samples.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round();
    sorted.get(i.max(0.0) as usize).copied().unwrap_or(f64::NAN)
}

/// One row of the load table.
fn report_load(name: &str, r: &LoadResult) {
    println!(
        "{name:<28} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>8}",
        r.per_second(),
        quantile(&r.latencies_ms, 0.50),
        quantile(&r.latencies_ms, 0.99),
        r.latencies_ms.last().copied().unwrap_or(f64::NAN),
        r.failed
    );
    if let Some(e) = &r.first_error {
        println!("  first error: {e}");
    }
}

fn load_header() {
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "server", "requests/s", "p50 ms", "p99 ms", "max ms", "failed"
    );
}

/// Serves the trivial handler: accepts a POST body, answers "ok".
async fn trivial_server() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new().route("/webhooks/custom/{id}", post(|_body: Bytes| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

/// A workspace with a custom channel, one account and an admin token.
pub(crate) struct Fixture {
    pub(crate) workspace: WorkspaceId,
    pub(crate) channel: ChannelId,
    pub(crate) token: String,
}

pub(crate) async fn fixture(
    store: &dyn Store,
    outbound_url: Option<&str>,
) -> anyhow::Result<Fixture> {
    let ws = store.create_workspace("load benchmark").await?;
    let mut config = serde_json::json!({ "secret": SECRET });
    if let Some(url) = outbound_url {
        config["outbound_url"] = url.into();
    }
    let channel = store
        .create_channel(ws.id, Platform::Custom, "bench", &config)
        .await?;
    store
        .create_account(ws.id, channel.id, ACCOUNT, "Benchmark store")
        .await?;
    let token =
        imhub_server::auth::issue_api_token(store, ws.id, "load benchmark", Role::Admin).await?;
    Ok(Fixture {
        workspace: ws.id,
        channel: channel.id,
        token,
    })
}

/// Opens the benchmark database; a SQLite file is recreated first.
pub(crate) async fn open_fresh(url: &str) -> anyhow::Result<Arc<SqlStore>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
    Ok(Arc::new(
        SqlStore::open(bench_store_options(url)?)
            .await
            .context("cannot open the benchmark database")?,
    ))
}

/// The benchmarks' own secret key, for databases that hold nothing but
/// their test credentials (PostgreSQL refuses to start without a key).
const BENCH_SECRET_KEY: &str = "aW1odWItYmVuY2htYXJrLWtleS0wMTIzNDU2Nzg5YWI=";

/// The secret key of benchmark databases: `IMHUB_SECRET_KEY` when set,
/// otherwise the benchmarks' own.
pub(crate) fn bench_secret_key() -> String {
    std::env::var("IMHUB_SECRET_KEY").unwrap_or_else(|_| BENCH_SECRET_KEY.to_string())
}

/// Store options for a benchmark database, with [`bench_secret_key`].
pub(crate) fn bench_store_options(url: &str) -> anyhow::Result<StoreOptions> {
    let mut options = StoreOptions::new(url);
    options.secret_key =
        Some(imhub_store::SecretKey::parse(&bench_secret_key()).context("IMHUB_SECRET_KEY")?);
    Ok(options)
}

/// A name for this run, so that ids never collide with an earlier run's.
pub(crate) fn run_id() -> String {
    format!("r{:x}", Timestamp::now().millis())
}

/// `imhub serve` as a child process, so that its memory is its own.
pub(crate) struct Child {
    pub(crate) addr: SocketAddr,
    process: tokio::process::Child,
    config: PathBuf,
}

impl Child {
    /// Starts `imhub serve` on `database_url` on a free loopback port and
    /// waits until it answers `/healthz`.
    pub(crate) async fn spawn(database_url: &str, durability: &str) -> anyhow::Result<Child> {
        // A free port, handed to the child: it is the one process that binds it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = std::env::temp_dir().join(format!("imhub-bench-{}.toml", std::process::id()));
        let mut child_config = Config {
            listen: addr,
            database_url: database_url.to_string(),
            sqlite_durability: durability.to_string(),
            inbox: false,
            ..Config::default()
        };
        // The bench's receivers listen on loopback, which only the operator can allow.
        child_config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
        child_config.secret_key = Some(imhub_server::config::SecretString(bench_secret_key()));
        let text = toml::to_string(&child_config)?;
        std::fs::write(&config, text)?;
        let mut process = tokio::process::Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(&config)
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
            let up = http.get(format!("http://{addr}/healthz")).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                bail!("imhub serve did not answer /healthz within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Child {
            addr,
            process,
            config,
        })
    }

    /// The child's process id, for reading its /proc entries.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.id()
    }

    /// Stops the child: SIGTERM for a graceful stop, SIGKILL after 10 s.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.process.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let waited = tokio::time::timeout(Duration::from_secs(10), self.process.wait()).await;
        if waited.is_err() {
            let _ = self.process.kill().await;
        }
        let _ = std::fs::remove_file(&self.config);
    }
}

/// How long this disk takes to make 4 KiB durable, in the database's
/// directory: the floor under every group commit with `full` durability.
fn fsync_latency(database: &str) -> anyhow::Result<(f64, f64)> {
    use std::io::Write;
    let path = PathBuf::from(format!("{database}.fsync-probe"));
    let mut file = std::fs::File::create(&path)?;
    let block = [7u8; 4096];
    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    samples.sort_by(f64::total_cmp);
    Ok((quantile(&samples, 0.5), quantile(&samples, 0.99)))
}

/// CPU time used so far by the imhub child, per thread name, and by this
/// process (the load generator), from /proc; a quick look at where the
/// time goes without a profiler.
struct CpuSnapshot {
    child: HashMap<String, f64>,
    generator: f64,
}

impl CpuSnapshot {
    fn take(child: Option<u32>) -> Self {
        let child = child.map(threads_cpu).unwrap_or_default();
        let generator = threads_cpu(std::process::id()).values().sum();
        CpuSnapshot { child, generator }
    }

    fn since(&self, before: &CpuSnapshot) -> CpuSnapshot {
        let child = self
            .child
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    s - before.child.get(name).copied().unwrap_or(0.0),
                )
            })
            .collect();
        CpuSnapshot {
            child,
            generator: self.generator - before.generator,
        }
    }

    fn print(&self, seconds: u64) {
        let total: f64 = self.child.values().sum();
        let mut threads: Vec<_> = self.child.iter().filter(|(_, s)| **s >= 0.05).collect();
        threads.sort_by(|a, b| b.1.total_cmp(a.1));
        let threads: Vec<String> = threads
            .iter()
            .map(|(n, s)| format!("{n} {s:.1} s"))
            .collect();
        println!(
            "CPU over the {seconds} s imhub run: imhub {total:.1} s ({}), load generator {:.1} s",
            threads.join(", "),
            self.generator
        );
    }
}

/// CPU seconds (user + system) of each thread of `pid`, summed by thread name.
fn threads_cpu(pid: u32) -> HashMap<String, f64> {
    // Linux reports these in clock ticks of 1/100 s.
    const TICKS: f64 = 100.0;
    let mut by_name = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (name) state ... utime stime ...": fields after the name.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        *by_name.entry(name).or_insert(0.0) += (ticks(11) + ticks(12)) / TICKS;
    }
    by_name
}

/// A field of /proc/*/status or /proc/meminfo, in KiB.
pub(crate) fn proc_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Samples a process's resident memory every 20 ms until stopped; returns
/// the largest sample in KiB.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                peak = peak.max(proc_kib(&status, "VmRSS:").unwrap_or(0));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peak
    })
}

/// KiB as MiB, for the reports.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `ingest --search-index compare`: imhub without the search index, then
/// with it, `rounds` times, each on a fresh database (SQLite) or with the
/// index dropped and put back (PostgreSQL); medians and their ratio.
async fn ingest_compare(args: IngestArgs) -> anyhow::Result<()> {
    let mut with = Vec::new();
    let mut without = Vec::new();
    println!(
        "ingest with and without the search index: {} rounds, {} connections, {} s each, {}",
        args.rounds,
        args.connections,
        args.seconds,
        redact(&args.database_url)
    );
    load_header();
    for round in 0..args.rounds.max(1) {
        for index in [false, true] {
            let r = ingest_imhub(&args, index).await?;
            report_load(
                &format!(
                    "round {} {}",
                    round + 1,
                    if index { "with" } else { "without" }
                ),
                &r,
            );
            if index {
                with.push(r.per_second());
            } else {
                without.push(r.per_second());
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    let ratio = 100.0 * w / wo.max(1e-9);
    println!(
        "\nmedian requests/s: with the index {w:.0}, without {wo:.0}: {ratio:.1}% (target >= 85%: {})",
        verdict(ratio >= 85.0)
    );
    Ok(())
}

/// One measured run of `imhub serve` under the push load, with or without
/// the search index on its database.
async fn ingest_imhub(args: &IngestArgs, index: bool) -> anyhow::Result<LoadResult> {
    let store = open_fresh(&args.database_url).await?;
    if index {
        imhub_store::bench::restore_search_index(&store).await?;
    } else {
        imhub_store::bench::drop_search_index(&store).await?;
    }
    let fx = fixture(store.as_ref(), None).await?;
    drop(store);
    let path = format!("/webhooks/custom/{}", fx.channel);
    let child = Child::spawn(&args.database_url, &args.sqlite_durability).await?;
    let result = drive(
        child.addr,
        &path,
        Arc::new(Pushes::new(&run_id(), args.contacts)),
        args.connections,
        args.seconds,
        false,
    )
    .await;
    child.stop().await;
    if !index {
        // Leave a PostgreSQL database as deployed (a SQLite file is
        // recreated by the next run anyway).
        let store = open_fresh(&args.database_url).await?;
        imhub_store::bench::restore_search_index(&store).await?;
    }
    result
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    match args.search_index.as_str() {
        "compare" => return ingest_compare(args).await,
        "off" => println!("search index: off (the baseline of `--search-index compare`)"),
        _ => {}
    }
    let store = open_fresh(&args.database_url).await?;
    if args.search_index == "off" {
        imhub_store::bench::drop_search_index(&store).await?;
    } else {
        // A PostgreSQL database an `off` run left without it gets it back.
        imhub_store::bench::restore_search_index(&store).await?;
    }
    let fx = fixture(store.as_ref(), None).await?;
    let path = format!("/webhooks/custom/{}", fx.channel);
    let run = run_id();
    println!(
        "ingest: {} connections, {} s measured after 1 s warm-up, pushes from {} customers, {}",
        args.connections,
        args.seconds,
        args.contacts,
        redact(&args.database_url)
    );

    let (trivial, trivial_task) = trivial_server().await?;
    let baseline = drive(
        trivial,
        &path,
        Arc::new(Pushes::new(&format!("{run}t"), args.contacts)),
        args.connections,
        args.seconds,
        false,
    )
    .await?;
    trivial_task.abort();

    let child = Child::spawn(&args.database_url, &args.sqlite_durability).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = child.pid().map(|pid| sample_rss(pid, Arc::clone(&stop)));
    let cpu_before = CpuSnapshot::take(child.pid());
    let imhub = drive(
        child.addr,
        &path,
        Arc::new(Pushes::new(&run, args.contacts)),
        args.connections,
        args.seconds,
        false,
    )
    .await?;
    let cpu = CpuSnapshot::take(child.pid()).since(&cpu_before);
    stop.store(true, Ordering::Relaxed);
    let sampled = match sampler {
        Some(s) => s.await.unwrap_or(0),
        None => 0,
    };
    let hwm = child
        .pid()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|s| proc_kib(&s, "VmHWM:"))
        .unwrap_or(0);
    child.stop().await;

    println!();
    load_header();
    report_load("trivial axum handler", &baseline);
    report_load("imhub (child process)", &imhub);
    let share = 100.0 * imhub.per_second() / baseline.per_second().max(1e-9);
    let p99 = quantile(&imhub.latencies_ms, 0.99);
    // Issue 16's targets: SQLite 40% and 10 ms (section 2), PostgreSQL
    // 25% and 20 ms (section 1).
    let (share_target, p99_target) = match store.dialect() {
        imhub_store::db::Dialect::Postgres => (25.0, 20.0),
        imhub_store::db::Dialect::Sqlite => (40.0, 10.0),
    };
    println!(
        "\nimhub requests/s = {share:.1}% of the trivial handler's (target >= {share_target:.0}%: {})",
        verdict(share >= share_target)
    );
    println!(
        "imhub p99 = {p99:.2} ms (target <= {p99_target:.0} ms: {})",
        verdict(p99 <= p99_target)
    );
    println!(
        "imhub peak RSS = {:.1} MiB (VmHWM; largest 20 ms sample of VmRSS during the load: {:.1} MiB) (target <= 100 MiB: {})",
        mib(hwm),
        mib(sampled),
        verdict(mib(hwm.max(sampled)) <= 100.0)
    );
    cpu.print(args.seconds + 1);
    if let Some(path) = args.database_url.strip_prefix("sqlite://") {
        let (p50, p99) = fsync_latency(path)?;
        println!(
            "one durable write (4 KiB + fdatasync) next to the database: p50 {p50:.2} ms, p99 {p99:.2} ms"
        );
    }
    let stored = store
        .list_conversations(
            fx.workspace,
            imhub_store::ConversationFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
    if stored.is_empty() && imhub.ok > 0 {
        bail!("imhub answered pushes but stored no conversation");
    }
    Ok(())
}

pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// A database URL without its password.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Reads `message.created` events from `/api/v1/events`, recording when
/// each message id was seen. Signals `ready` once the stream is open.
pub(crate) async fn sse_client(
    url: String,
    token: String,
    seen: Arc<Mutex<Vec<(i64, Instant)>>>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<&'static str> {
    let mut response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?;
    let mut ready = Some(ready);
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        let now = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut kind = "";
            let mut data = "";
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = v.trim();
                }
            }
            match kind {
                "ready" => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                "message.created" => {
                    let id = serde_json::from_str::<serde_json::Value>(data)
                        .ok()
                        .and_then(|v| v.get("message_id")?.as_i64());
                    if let (Some(id), Ok(mut seen)) = (id, seen.lock()) {
                        seen.push((id, now));
                    }
                }
                _ => {}
            }
        }
    }
    Ok("the server closed the event stream (a subscriber that falls behind is dropped)")
}

async fn sse(args: IngestArgs) -> anyhow::Result<()> {
    let store = open_fresh(&args.database_url).await?;
    let fx = fixture(store.as_ref(), None).await?;
    let path = format!("/webhooks/custom/{}", fx.channel);
    let run = run_id();
    println!(
        "sse: {} connections of pushes for {} s (after 1 s warm-up) with one SSE client, {}",
        args.connections,
        args.seconds,
        redact(&args.database_url)
    );
    let child = Child::spawn(&args.database_url, &args.sqlite_durability).await?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let client = tokio::spawn(sse_client(
        format!("http://{}/api/v1/events", child.addr),
        fx.token.clone(),
        Arc::clone(&seen),
        ready_tx,
    ));
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .context("the event stream did not open within 10 s")?
        .context("the event stream closed before it was ready")?;
    let pushes = Arc::new(Pushes::new(&run, args.contacts));
    let load = drive(
        child.addr,
        &path,
        Arc::clone(&pushes),
        args.connections,
        args.seconds,
        true,
    )
    .await?;
    // Events of the last pushes may still be on their way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ended = if client.is_finished() {
        match client.await {
            Ok(Ok(why)) => Some(why.to_string()),
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        }
    } else {
        client.abort();
        None
    };
    child.stop().await;

    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    // Map imhub's message ids back to the pushes through the store.
    let mut latencies = Vec::with_capacity(load.sent.len());
    let mut lookups = JoinSet::new();
    let limit = Arc::new(Semaphore::new(16));
    for (id, at) in seen {
        let (store, limit) = (Arc::clone(&store), Arc::clone(&limit));
        lookups.spawn(async move {
            let _permit = limit.acquire_owned().await.ok()?;
            let message = store.get_message(fx.workspace, MessageId(id)).await.ok()?;
            Some((message.platform_message_id?, at))
        });
    }
    while let Some(found) = lookups.join_next().await {
        let Ok(Some((platform_id, at))) = found else {
            continue;
        };
        let sent = pushes
            .seq_of(&platform_id)
            .and_then(|seq| load.sent.get(&seq));
        if let Some(sent) = sent {
            latencies.push(at.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);

    println!();
    load_header();
    report_load("imhub pushes", &load);
    println!(
        "\npush -> message.created on the SSE client: {} of {} measured pushes seen; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        load.ok,
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    let p99 = quantile(&latencies, 0.99);
    println!(
        "SSE p99 = {p99:.2} ms (target <= 20 ms: {})",
        verdict(p99 <= 20.0)
    );
    if let Some(why) = ended {
        println!("note: the SSE client stopped early: {why}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Delivery

/// The local receiver of deliveries: counts requests and distinct
/// `Idempotency-Key`s, and records arrival times.
#[derive(Default)]
struct Receiver {
    arrivals: Mutex<Vec<Instant>>,
    keys: Mutex<HashSet<String>>,
    distinct: AtomicU64,
}

/// The receiver's handler: any POST is "sent".
async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, _body: Bytes) -> &'static str {
    let now = Instant::now();
    if let Ok(mut arrivals) = r.arrivals.lock() {
        arrivals.push(now);
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Ok(mut keys) = r.keys.lock()
        && keys.insert(key)
    {
        r.distinct.fetch_add(1, Ordering::Relaxed);
    }
    "ok"
}

/// Serves [`receive`] at `/deliver` on a free port.
async fn receiver_server()
-> anyhow::Result<(SocketAddr, Arc<Receiver>, tokio::task::JoinHandle<()>)> {
    let state = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/deliver", post(receive))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, state, task))
}

/// The client imhub's delivery engine uses (see `AppState::new`).
fn engine_like_client(config: &Config) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(config.delivery.request_timeout_ms))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

/// The receiver's raw requests/s: `count` signed POSTs like the custom
/// channel's, `concurrency` at a time, from the engine's HTTP client.
async fn raw_receiver_rate(count: u64, concurrency: usize) -> anyhow::Result<f64> {
    let (addr, receiver, task) = receiver_server().await?;
    let client = engine_like_client(&Config::default());
    let next = Arc::new(AtomicU64::new(0));
    let url = format!("http://{addr}/deliver");
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, url) = (client.clone(), Arc::clone(&next), url.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                let body = format!(
                    r#"{{"type":"message","message_id":{i},"client_message_id":"imhub-{i}","account_id":"{ACCOUNT}","peer_kind":"direct","peer_id":"c{i}","content":{{"type":"text","text":"Your order is on its way."}}}}"#
                );
                let signature = custom::sign(SECRET, body.as_bytes());
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(custom::SIGNATURE_HEADER, signature)
                    .header("idempotency-key", format!("imhub-{i}"))
                    .body(body)
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("a baseline worker panicked")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    task.abort();
    let received = receiver.distinct.load(Ordering::Relaxed);
    Ok(received as f64 / elapsed.max(1e-9))
}

/// What draining the backlog showed at the receiving end.
struct Drained {
    /// Arrival times, sorted.
    arrivals: Vec<Instant>,
    distinct: u64,
    started: Instant,
    finished: Instant,
}

/// Queues `messages` replies over `conversations` conversations through the
/// store, then starts imhub (with its delivery engine) on that store and
/// waits until the receiver has seen every message once.
async fn drain(
    database_url: &str,
    messages: u64,
    conversations: u64,
    concurrency: usize,
    app_limit: Option<u32>,
) -> anyhow::Result<Drained> {
    let conversations = conversations.clamp(1, messages.max(1));
    let (receiver_addr, receiver, receiver_task) = receiver_server().await?;
    let store = open_fresh(database_url).await?;
    let fx = fixture(
        store.as_ref(),
        Some(&format!("http://{receiver_addr}/deliver")),
    )
    .await?;
    let run = run_id();
    let queued_at = Instant::now();
    let ids = seed_conversations(&store, &fx, &run, conversations).await?;
    queue_replies(&store, fx.workspace, &ids, messages).await?;
    println!(
        "queued {messages} messages over {} conversations in {:.1} s",
        ids.len(),
        queued_at.elapsed().as_secs_f64()
    );

    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: database_url.to_string(),
        inbox: false,
        ..Config::default()
    };
    // The bench's receivers listen on loopback, which only the operator can allow.
    config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
    config.delivery.concurrency = concurrency;
    config.delivery.app_rate_limits.remove("custom");
    if let Some(limit) = app_limit {
        config
            .delivery
            .app_rate_limits
            .insert("custom".into(), limit);
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let running = imhub_server::start(config, store.clone(), async move {
        let _ = stop_rx.await;
    })
    .await?;
    // Generous: at 200/s the default backlog takes 10 s.
    let deadline = started + Duration::from_secs(60 + messages / 100);
    while receiver.distinct.load(Ordering::Relaxed) < messages {
        if Instant::now() > deadline {
            bail!(
                "only {} of {messages} messages arrived in time",
                receiver.distinct.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let finished = Instant::now();
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
    receiver_task.abort();
    let mut arrivals = receiver
        .arrivals
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    arrivals.sort();
    Ok(Drained {
        arrivals,
        distinct: receiver.distinct.load(Ordering::Relaxed),
        started,
        finished,
    })
}

/// One inbound message from each of `count` customers, so that there are
/// conversations to answer; returns their ids.
pub(crate) async fn seed_conversations(
    store: &Arc<SqlStore>,
    fx: &Fixture,
    run: &str,
    count: u64,
) -> anyhow::Result<Vec<ConversationId>> {
    let limit = Arc::new(Semaphore::new(256));
    let mut tasks = JoinSet::new();
    for c in 0..count {
        let (store, limit, run) = (Arc::clone(store), Arc::clone(&limit), run.to_string());
        let (ws, channel) = (fx.workspace, fx.channel);
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
                                external_id: ACCOUNT.into(),
                                name: None,
                            },
                            peer: Peer::Direct(ContactInfo {
                                external_id: format!("{run}-c{c}"),
                                nickname: Some(format!("Customer {c}")),
                                avatar: None,
                            }),
                            direction: Direction::In,
                            platform_message_id: format!("{run}-seed-m{c}"),
                            content: Content::Text {
                                text: "Where is my order?".into(),
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

/// Queues `messages` replies round-robin over the conversations; one round
/// completes before the next starts, so each conversation's replies are
/// queued in order.
pub(crate) async fn queue_replies(
    store: &Arc<SqlStore>,
    ws: WorkspaceId,
    conversations: &[ConversationId],
    messages: u64,
) -> anyhow::Result<()> {
    let per_round = conversations.len().max(1) as u64;
    let mut queued = 0;
    while queued < messages {
        let round = (messages - queued).min(per_round);
        let mut tasks = JoinSet::new();
        let limit = Arc::new(Semaphore::new(256));
        for (i, conversation) in conversations.iter().take(round as usize).enumerate() {
            let (store, limit, conversation) =
                (Arc::clone(store), Arc::clone(&limit), *conversation);
            let n = queued + i as u64;
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await?;
                store
                    .enqueue_message(
                        ws,
                        NewOutbound {
                            conversation_id: conversation,
                            content: Content::Text {
                                text: format!("Your order {n} is on its way."),
                            },
                            idempotency_key: None,
                            request_hash: String::new(),
                            author_id: None,
                        },
                    )
                    .await?;
                Ok::<_, anyhow::Error>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.context("a queueing task panicked")??;
        }
        queued += round;
    }
    Ok(())
}

async fn delivery(args: DeliveryArgs) -> anyhow::Result<()> {
    println!(
        "delivery: {} messages over {} conversations, {} sends in flight, {}",
        args.messages,
        args.conversations,
        args.concurrency,
        redact(&args.database_url)
    );
    let raw = raw_receiver_rate(args.messages, args.concurrency).await?;
    let drained = drain(
        &args.database_url,
        args.messages,
        args.conversations,
        args.concurrency,
        None,
    )
    .await?;
    let seconds = drained
        .finished
        .duration_since(drained.started)
        .as_secs_f64();
    let rate = drained.distinct as f64 / seconds.max(1e-9);
    let duplicates = drained.arrivals.len() as u64 - drained.distinct;
    println!();
    println!("{:<44} {:>12}", "", "messages/s");
    println!(
        "{:<44} {:>12.0}",
        "receiver, raw (same client, same concurrency)", raw
    );
    println!(
        "{:<44} {:>12.0}",
        "imhub delivery engine (engine start -> last)", rate
    );
    println!(
        "\n{} messages in {seconds:.2} s; {duplicates} delivered twice; engine = {:.1}% of the raw rate",
        drained.distinct,
        100.0 * rate / raw.max(1e-9)
    );
    println!(
        "delivery = {rate:.0} messages/s (target >= 5000: {})",
        verdict(rate >= 5000.0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_signed_distinct_and_traceable() {
        let pushes = Pushes::new("r1", 3);
        let (a, body_a, sig_a) = pushes.next();
        let (b, body_b, _) = pushes.next();
        assert_ne!(a, b);
        assert_ne!(body_a, body_b);
        assert!(custom::verify(SECRET, &body_a, &sig_a));
        let parsed: custom::CustomPush = serde_json::from_slice(&body_a).unwrap();
        assert_eq!(pushes.seq_of(&parsed.message.id), Some(a));
        assert_eq!(pushes.seq_of("other-m1"), None);
    }

    #[test]
    fn proc_fields_are_read_in_kib_and_missing_ones_are_none() {
        let status = "Name:\timhub\nVmHWM:\t   57344 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(proc_kib(status, "VmHWM:"), Some(57344));
        assert_eq!(proc_kib(status, "VmRSS:"), Some(40960));
        assert_eq!(proc_kib(status, "VmSwap:"), None);
        assert_eq!(proc_kib("VmRSS: lots", "VmRSS:"), None);
        assert!(threads_cpu(u32::MAX).is_empty(), "no such process");
        assert!(!threads_cpu(std::process::id()).is_empty());
    }

    #[test]
    fn quantiles_of_sorted_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&samples, 0.5), 51.0);
        assert_eq!(quantile(&samples, 0.99), 99.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
