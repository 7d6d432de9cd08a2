//! `imhub bench load automation`: automation under ingest load, against
//! the same load without rules in the same run.
//!
//! 1. Throughput: `imhub serve` (a child process, fresh database each time)
//!    under a closed-loop load of signed custom-channel pushes, without
//!    rules and with 50 enabled rules of which one (a keyword) matches 10%
//!    of the pushes, `--rounds` times each, alternating; the medians of
//!    requests/s and their ratio (target ≥ 90%).
//! 2. Latency: the same 50 rules under pushes at a fixed rate (1,000/s by
//!    default): for every matching push, the time from imhub's answer to
//!    the push until its automatic reply reaches the receiver (the custom
//!    channel's outbound URL, a local server); p50/p99/max (target p99 ≤
//!    100 ms), and that each matching push got exactly one reply.

use std::{
    collections::HashMap,
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
use hyper::{Request, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use imhub_core::{
    Timestamp,
    automation::{Action, KeywordMatch, Scope, Trigger},
};
use imhub_server::{Config, channels::custom};
use imhub_store::{Store, automation::RuleBody};
use tokio::{net::TcpStream, task::JoinSet};

use crate::bench_load::{fixture, open_fresh, redact, run_id, verdict};

/// The custom-channel secret of [`crate::bench_load::fixture`].
const SECRET: &str = "benchmark-secret-0123456789";
/// The account of [`crate::bench_load::fixture`].
const ACCOUNT: &str = "bench-account";
/// The words of the one rule the load matches.
const MATCHING_TEXT: &str = "请问这个订单怎么退款？";
const REPLY_TEXT: &str = "退款请在订单页申请，1-3个工作日到账";

/// `imhub bench load automation`.
#[derive(clap::Args, Clone)]
pub struct AutomationArgs {
    /// `sqlite://...` (the file is recreated for every run) or `postgres://...`.
    #[arg(long, default_value = "sqlite:///tmp/imhub-bench-automation.db")]
    database_url: String,
    /// Measured seconds per run (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent keep-alive connections of the closed-loop load.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Pushes per second of the latency run.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Enabled rules (one of them matches).
    #[arg(long, default_value_t = 50)]
    rules: usize,
    /// Share of pushes the matching rule answers, in percent.
    #[arg(long, default_value_t = 10)]
    match_percent: u64,
    /// Throughput runs of each variant, alternating.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Distinct customers of the non-matching pushes.
    #[arg(long, default_value_t = 5000)]
    contacts: u64,
    /// SQLite commit durability of the imhub under test.
    #[arg(long, default_value = "full")]
    sqlite_durability: String,
}

/// The pushes: every `100 / match_percent`-th one matches the rule and
/// comes from a customer of its own (`{run}-a{seq}`), so that a reply is
/// never held by a cooldown and maps back to its push; the rest come from
/// a fixed set of customers and match no rule.
struct Pushes {
    run: String,
    contacts: u64,
    every: u64,
    next: AtomicU64,
}

impl Pushes {
    fn new(run: &str, contacts: u64, match_percent: u64) -> Self {
        Pushes {
            run: run.to_string(),
            contacts: contacts.max(1),
            every: (100 / match_percent.clamp(1, 100)).max(1),
            next: AtomicU64::new(0),
        }
    }

    fn matches(&self, seq: u64) -> bool {
        seq.is_multiple_of(self.every)
    }

    /// The next push: its sequence number, body and signature.
    fn next(&self) -> (u64, Bytes, String) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let run = &self.run;
        let (contact, text) = if self.matches(seq) {
            (format!("{run}-a{seq}"), MATCHING_TEXT.to_string())
        } else {
            (
                format!("{run}-c{}", seq % self.contacts),
                format!("你好，订单 {seq} 发货了吗？Is it on its way?"),
            )
        };
        let body = format!(
            r#"{{"event_id":"{run}-e{seq}","account":{{"id":"{ACCOUNT}"}},"contact":{{"id":"{contact}","nickname":"顾客"}},"message":{{"id":"{run}-m{seq}","content":{{"type":"text","text":"{text}"}}}}}}"#
        );
        let signature = custom::sign(SECRET, body.as_bytes());
        (seq, Bytes::from(body), signature)
    }

    /// The push a matching customer id belongs to.
    fn seq_of(&self, contact: &str) -> Option<u64> {
        contact
            .strip_prefix(self.run.as_str())?
            .strip_prefix("-a")?
            .parse()
            .ok()
    }
}

/// Rules as a merchant might have them: keyword lists and expressions that
/// the load never matches, and last the one keyword rule it does.
fn rules(n: usize) -> Vec<RuleBody> {
    let reply = |text: String| Action::Reply {
        text: Some(text),
        content: None,
        quick_reply_id: None,
    };
    let mut out = Vec::new();
    for i in 0..n.saturating_sub(1) {
        let trigger = if i % 5 == 4 {
            Trigger::Regex {
                pattern: format!(r"(发票|开票|invoice)\s*{i}号"),
                case_insensitive: true,
            }
        } else {
            Trigger::Keywords {
                mode: KeywordMatch::ContainsAny,
                keywords: vec![
                    format!("优惠券{i}"),
                    format!("尺码表{i}"),
                    format!("coupon-{i}"),
                ],
                case_insensitive: true,
            }
        };
        out.push(RuleBody {
            name: format!("规则 {i}"),
            enabled: true,
            scope: Scope::default(),
            trigger,
            conditions: Vec::new(),
            actions: vec![reply(format!("您好，这是规则 {i} 的回复"))],
            cooldown_secs: None,
        });
    }
    out.push(RuleBody {
        name: "退款".into(),
        enabled: true,
        scope: Scope::default(),
        trigger: Trigger::Keywords {
            mode: KeywordMatch::ContainsAny,
            keywords: vec!["退款".into(), "退货".into()],
            case_insensitive: true,
        },
        conditions: Vec::new(),
        actions: vec![reply(REPLY_TEXT.into())],
        cooldown_secs: None,
    });
    out
}

/// The receiver of automatic replies: when each customer's reply arrived.
#[derive(Default)]
struct Receiver {
    arrivals: Mutex<HashMap<String, Vec<Instant>>>,
}

async fn receive(State(r): State<Arc<Receiver>>, body: Bytes) -> &'static str {
    let now = Instant::now();
    if let Ok(delivery) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(peer) = delivery["peer_id"].as_str()
        && let Ok(mut arrivals) = r.arrivals.lock()
    {
        arrivals.entry(peer.to_string()).or_default().push(now);
    }
    "{}"
}

async fn receiver() -> anyhow::Result<(SocketAddr, Arc<Receiver>, tokio::task::JoinHandle<()>)> {
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

/// A fresh database with the fixture (outbound to `receiver`) and `rules`;
/// then `imhub serve` on it.
async fn prepare(
    args: &AutomationArgs,
    receiver: SocketAddr,
    rules_count: usize,
) -> anyhow::Result<(Child, String)> {
    let store = open_fresh(&args.database_url).await?;
    let fx = fixture(store.as_ref(), Some(&format!("http://{receiver}/deliver"))).await?;
    for rule in rules(rules_count) {
        store
            .create_rule(fx.workspace, rule, Timestamp::now())
            .await
            .context("cannot save a benchmark rule")?;
    }
    drop(store);
    let child = Child::spawn(&args.database_url, &args.sqlite_durability).await?;
    Ok((child, format!("/webhooks/custom/{}", fx.channel)))
}

async fn open_connection(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
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

/// Sends one push; `Ok(())` for a 2xx answer.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    path: &str,
    body: Bytes,
    signature: String,
) -> Result<(), String> {
    let request = Request::post(path)
        .header("host", host)
        .header("content-type", "application/json")
        .header(custom::SIGNATURE_HEADER, signature)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
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
        .map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body.to_bytes())
                .chars()
                .take(200)
                .collect::<String>()
        ))
    }
}

/// What one load measured.
#[derive(Default)]
struct Measured {
    ok: u64,
    failed: u64,
    /// When each matching push was answered (measured period only).
    answered: HashMap<u64, Instant>,
    first_error: Option<String>,
}

/// The closed loop: each connection sends the next push as soon as the
/// previous one is answered; a one-second warm-up, then `seconds`.
async fn closed_loop(
    addr: SocketAddr,
    path: &str,
    pushes: Arc<Pushes>,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Measured> {
    let from = Instant::now() + Duration::from_secs(1);
    let until = from + Duration::from_secs(seconds);
    let mut tasks = JoinSet::new();
    for _ in 0..connections.max(1) {
        let (pushes, path) = (Arc::clone(&pushes), path.to_string());
        tasks.spawn(async move {
            let mut m = Measured::default();
            let host = addr.to_string();
            let mut sender = open_connection(addr).await?;
            while Instant::now() < until {
                let (_, body, signature) = pushes.next();
                let measured = Instant::now() >= from;
                match send(&mut sender, &host, &path, body, signature).await {
                    Ok(()) if measured => m.ok += 1,
                    Ok(()) => {}
                    Err(e) => {
                        if measured {
                            m.failed += 1;
                        }
                        m.first_error.get_or_insert(e);
                        if sender.is_closed() {
                            sender = open_connection(addr).await?;
                        }
                    }
                }
            }
            anyhow::Ok(m)
        });
    }
    let mut total = Measured::default();
    while let Some(done) = tasks.join_next().await {
        let one = done.context("a load connection panicked")??;
        total.ok += one.ok;
        total.failed += one.failed;
        total.first_error = total.first_error.or(one.first_error);
    }
    Ok(total)
}

/// The open loop at a fixed rate: push `k` is due at `start + k / rate`
/// and sent by one of `connections` connections as soon as it is due (late
/// pushes are sent at once, never skipped).
async fn fixed_rate(
    addr: SocketAddr,
    path: &str,
    pushes: Arc<Pushes>,
    rate: u64,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<(Measured, f64)> {
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let total_pushes = rate.max(1) * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let connections = connections.max(1) as u64;
    let mut tasks = JoinSet::new();
    for c in 0..connections {
        let (pushes, path) = (Arc::clone(&pushes), path.to_string());
        tasks.spawn(async move {
            let mut m = Measured::default();
            let host = addr.to_string();
            let mut sender = open_connection(addr).await?;
            let mut k = c;
            while k < total_pushes {
                tokio::time::sleep_until(start + interval * (k as u32)).await;
                let (seq, body, signature) = pushes.next();
                match send(&mut sender, &host, &path, body, signature).await {
                    Ok(()) => {
                        m.ok += 1;
                        if pushes.matches(seq) {
                            m.answered.insert(seq, Instant::now());
                        }
                    }
                    Err(e) => {
                        m.failed += 1;
                        m.first_error.get_or_insert(e);
                        if sender.is_closed() {
                            sender = open_connection(addr).await?;
                        }
                    }
                }
                k += connections;
            }
            anyhow::Ok(m)
        });
    }
    let mut total = Measured::default();
    while let Some(done) = tasks.join_next().await {
        let one = done.context("a load connection panicked")??;
        total.ok += one.ok;
        total.failed += one.failed;
        total.answered.extend(one.answered);
        total.first_error = total.first_error.or(one.first_error);
    }
    let took = (tokio::time::Instant::now() - start).as_secs_f64();
    Ok((total, took))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round();
    sorted.get(i.max(0.0) as usize).copied().unwrap_or(f64::NAN)
}

/// Runs the benchmark.
pub async fn run(args: AutomationArgs) -> anyhow::Result<()> {
    let (receiver_addr, receiver_state, receiver_task) = receiver().await?;
    println!(
        "automation: {} rules (one matches {}% of pushes), {}, {} s per run after 1 s warm-up",
        args.rules,
        args.match_percent,
        redact(&args.database_url),
        args.seconds
    );
    println!(
        "\nthroughput, closed loop, {} connections:",
        args.connections
    );
    println!("{:<24} {:>12} {:>8}", "run", "requests/s", "failed");
    let mut with = Vec::new();
    let mut without = Vec::new();
    for round in 0..args.rounds.max(1) {
        for count in [0, args.rules] {
            let (child, path) = prepare(&args, receiver_addr, count).await?;
            let pushes = Arc::new(Pushes::new(&run_id(), args.contacts, args.match_percent));
            let m = closed_loop(child.addr, &path, pushes, args.connections, args.seconds).await;
            child.stop().await;
            let m = m?;
            let per_second = m.ok as f64 / args.seconds as f64;
            println!(
                "{:<24} {:>12.0} {:>8}",
                format!("round {} {} rules", round + 1, count),
                per_second,
                m.failed
            );
            if let Some(e) = &m.first_error {
                println!("  first error: {e}");
            }
            if count == 0 {
                without.push(per_second);
            } else {
                with.push(per_second);
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
        "median requests/s: with {} rules {w:.0}, without {wo:.0}: {ratio:.1}% (target >= 90%: {})",
        args.rules,
        verdict(ratio >= 90.0)
    );

    // Latency at a fixed rate.
    if let Ok(mut a) = receiver_state.arrivals.lock() {
        a.clear();
    }
    let (child, path) = prepare(&args, receiver_addr, args.rules).await?;
    let pushes = Arc::new(Pushes::new(&run_id(), args.contacts, args.match_percent));
    let result = fixed_rate(
        child.addr,
        &path,
        Arc::clone(&pushes),
        args.rate,
        64,
        args.seconds,
    )
    .await;
    // Give the last replies time to arrive.
    let expected = result.as_ref().map(|(m, _)| m.answered.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = receiver_state.arrivals.lock().map(|a| a.len()).unwrap_or(0);
        if got >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.stop().await;
    receiver_task.abort();
    let (m, took) = result?;
    let arrivals = receiver_state
        .arrivals
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    let mut latencies: Vec<f64> = Vec::new();
    let mut missing = 0usize;
    let mut doubled = 0usize;
    let mut early = 0usize;
    for (seq, answered) in &m.answered {
        let key = format!("{}-a{seq}", pushes.run);
        match arrivals.get(&key) {
            Some(times) => {
                if times.len() > 1 {
                    doubled += 1;
                }
                let first = times[0];
                if first < *answered {
                    // The reply beat the push's answer back to the client.
                    early += 1;
                    latencies.push(0.0);
                } else {
                    latencies.push((first - *answered).as_secs_f64() * 1000.0);
                }
            }
            None => missing += 1,
        }
    }
    let unexpected = arrivals
        .keys()
        .filter(|k| pushes.seq_of(k).is_none())
        .count();
    latencies.sort_by(f64::total_cmp);
    println!(
        "\nlatency, {} pushes/s for {} s ({:.0} sent per second over {took:.1} s, {} failed):",
        args.rate,
        args.seconds,
        m.ok as f64 / took.max(1e-9),
        m.failed
    );
    if let Some(e) = &m.first_error {
        println!("  first error: {e}");
    }
    println!(
        "automatic replies: {} matching pushes, {} replies received, {missing} missing, \
         {doubled} received twice, {unexpected} to non-matching customers, {early} before \
         the push's answer",
        m.answered.len(),
        latencies.len()
    );
    let p99 = quantile(&latencies, 0.99);
    println!(
        "push answered -> reply at the receiver: p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms \
         (target p99 <= 100 ms: {})",
        quantile(&latencies, 0.50),
        latencies.last().copied().unwrap_or(f64::NAN),
        verdict(p99 <= 100.0 && missing == 0 && doubled == 0 && unexpected == 0)
    );
    if m.answered.is_empty() {
        bail!("no matching push was answered");
    }
    Ok(())
}

/// `imhub serve` as a child process on a free port.
struct Child {
    addr: SocketAddr,
    process: tokio::process::Child,
    config: std::path::PathBuf,
}

impl Child {
    async fn spawn(database_url: &str, durability: &str) -> anyhow::Result<Child> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = std::env::temp_dir().join(format!(
            "imhub-bench-automation-{}.toml",
            std::process::id()
        ));
        let mut child_config = Config {
            listen: addr,
            database_url: database_url.to_string(),
            sqlite_durability: durability.to_string(),
            inbox: false,
            ..Config::default()
        };
        child_config.outbound.allow_cidrs = vec!["127.0.0.0/8".into()];
        child_config.secret_key = Some(imhub_server::config::SecretString(
            crate::bench_load::bench_secret_key(),
        ));
        std::fs::write(&config, toml::to_string(&child_config)?)?;
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

    /// SIGTERM, SIGKILL after 10 s.
    async fn stop(mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_push_in_ten_matches_and_maps_back_from_its_customer() {
        let p = Pushes::new("r1", 100, 10);
        let mut matching = 0;
        for _ in 0..100 {
            let (seq, body, _) = p.next();
            let text = String::from_utf8_lossy(&body).to_string();
            if p.matches(seq) {
                matching += 1;
                assert!(text.contains("退款"));
                assert_eq!(p.seq_of(&format!("r1-a{seq}")), Some(seq));
            } else {
                assert!(!text.contains("退款"));
            }
        }
        assert_eq!(matching, 10);
        assert_eq!(rules(50).len(), 50);
        for r in rules(50) {
            imhub_core::automation::CompiledRule::new(r.into_test_rule()).unwrap();
        }
    }

    trait IntoTestRule {
        fn into_test_rule(self) -> imhub_core::automation::Rule;
    }

    impl IntoTestRule for RuleBody {
        fn into_test_rule(self) -> imhub_core::automation::Rule {
            imhub_core::automation::Rule {
                id: imhub_core::automation::RuleId(1),
                name: self.name,
                enabled: self.enabled,
                scope: self.scope,
                trigger: self.trigger,
                conditions: self.conditions,
                actions: self.actions,
                cooldown_secs: self.cooldown_secs,
            }
        }
    }
}
