//! `imhub demo` as a newcomer runs it: the real binary on a free port, its
//! simulated customers writing in on every platform, and then what the
//! operator's tools say about it. A fresh demo keeps no push raw: every event
//! type the platforms' references document and the demo's emulators send is
//! processed (issue 11, "done when").
//!
//! The demo's data lives in a folder of the system's temporary directory; each
//! test points `TMPDIR` at its own scratch folder, so it can reach the demo's
//! database with `imhub events list` and check that the folder is gone once
//! the demo stops.

use std::{
    collections::HashSet,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use imhub_core::WorkspaceId;
use imhub_store::{SqlStore, Store, StoreOptions};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

mod common;

use common::{Scratch, WAIT, free_port};

/// The event types the references document that earlier versions kept raw;
/// the demo's emulators send each of them (issue 11 §6).
const ONCE_KEPT_RAW: [&str; 4] = [
    "Group.CallbackAfterRecallMsg",
    "C2C.CallbackAfterMsgReport",
    "enter_group_audit_change",
    "group_fans_event",
];

/// The binary as the scratch folder runs it, with that folder as its
/// temporary directory (where the demo keeps its data).
fn imhub(scratch: &Scratch) -> Command {
    let mut cmd = scratch.imhub();
    cmd.env("TMPDIR", &scratch.0);
    cmd
}

/// The demo folders left in the scratch folder.
fn demo_folders(scratch: &Scratch) -> Vec<PathBuf> {
    std::fs::read_dir(&scratch.0)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("imhub-demo-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A running `imhub demo` and what it printed.
struct Demo {
    child: Child,
    base: String,
    token: String,
    data: PathBuf,
    log: PathBuf,
}

impl Demo {
    /// Starts `imhub demo --listen 127.0.0.1:PORT` and reads its welcome.
    async fn start(scratch: &Scratch) -> Demo {
        let port = free_port();
        let log = scratch.0.join("demo.log");
        let file = std::fs::File::create(&log).expect("cannot create the demo's log");
        let mut child = imhub(scratch)
            .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("cannot start imhub demo");
        let stdout = child.stdout.take().expect("the demo's stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut base, mut token, mut data) = (None, None, None);
        let welcome = async {
            while let Some(line) = lines.next_line().await.expect("the demo's stdout") {
                let line = line.trim();
                let field = |name: &str| line.strip_prefix(name).map(|v| v.trim().to_string());
                if let Some(inbox) = field("Inbox") {
                    base = Some(inbox.trim_end_matches('/').to_string());
                } else if let Some(t) = field("API token") {
                    token = Some(t);
                } else if let Some(d) = field("Data") {
                    data = Some(PathBuf::from(
                        d.trim_end_matches("(deleted on exit)").trim(),
                    ));
                    break;
                }
            }
        };
        let printed = tokio::time::timeout(WAIT, welcome).await.is_ok();
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            printed,
            "the demo did not start within {WAIT:?}:\n{}",
            log_text()
        );
        // The rest of stdout is read so that the demo never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        match (base, token, data) {
            (Some(base), Some(token), Some(data)) => Demo {
                child,
                base,
                token,
                data,
                log,
            },
            other => panic!(
                "the demo's welcome lacks a field: {other:?}\n{}",
                log_text()
            ),
        }
    }

    async fn get(&self, http: &reqwest::Client, path: &str) -> Value {
        let res = http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(res.status(), 200, "GET {path}");
        res.json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.data.join("imhub.db").display())
    }

    /// Stops the demo as Ctrl+C or a service manager would (SIGTERM).
    async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the demo is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("cannot run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the demo did not stop on SIGTERM")
            .expect("cannot wait for the demo")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "---------- the demo's log ({}) ----------\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// Runs one `imhub` command against the demo's database; its stdout.
async fn run_against(scratch: &Scratch, database_url: &str, args: &[&str]) -> String {
    let out = tokio::time::timeout(
        WAIT,
        imhub(scratch)
            .env("IMHUB_DATABASE_URL", database_url)
            .args(args)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("imhub {args:?} hung"))
    .expect("cannot run imhub");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "imhub {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_demo_keeps_no_push_raw_and_processes_every_documented_event_it_sends() {
    let started = Instant::now();
    let scratch = Scratch::new("demo", "fresh");
    let demo = Demo::start(&scratch).await;
    let http = reqwest::Client::new();

    // The simulated customers write in on every platform.
    let deadline = Instant::now() + WAIT;
    let conversations = loop {
        let page = demo.get(&http, "/api/v1/conversations?limit=200").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let platforms: HashSet<&str> = items
            .iter()
            .filter(|c| c["kind"] == "direct")
            .filter_map(|c| c["platform"].as_str())
            .collect();
        if ["douyin", "tencent", "meituan", "custom"]
            .iter()
            .all(|p| platforms.contains(p))
        {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "not every platform has a customer conversation: {platforms:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // An agent answers a Tencent customer, who reads the reply (a read
    // report) and writes back.
    let chat = conversations
        .iter()
        .find(|c| c["platform"] == "tencent" && c["kind"] == "direct")
        .and_then(|c| c["id"].as_i64())
        .unwrap_or_else(|| panic!("no tencent conversation in {conversations:?}"));
    let res = http
        .post(format!(
            "{}/api/v1/conversations/{chat}/messages",
            demo.base
        ))
        .bearer_auth(&demo.token)
        .json(&serde_json::json!({"content": {"type": "text", "text": "您好，马上为您查询 👍"}}))
        .send()
        .await
        .expect("POST a reply");
    assert_eq!(res.status(), 202);
    let reply = res.json::<Value>().await.expect("the reply")["id"]
        .as_i64()
        .expect("the reply's id");
    let deadline = Instant::now() + WAIT;
    loop {
        let sent = demo.get(&http, &format!("/api/v1/messages/{reply}")).await;
        let page = demo
            .get(
                &http,
                &format!("/api/v1/conversations/{chat}/messages?limit=200"),
            )
            .await;
        let answered = page["items"].as_array().is_some_and(|m| {
            m.iter()
                .any(|m| m["direction"] == "in" && m["id"].as_i64() > Some(reply))
        });
        if sent["status"] == "read" && answered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reply is {}, answered: {answered}",
            sent["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The operator's tool, literally as the issue asks: nothing kept.
    let workspaces = run_against(&scratch, &demo.database_url(), &["workspace", "list"]).await;
    let workspace = workspaces
        .lines()
        .find(|l| l.contains("Demo Shop"))
        .and_then(|l| l.split('\t').next())
        .and_then(|id| id.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no demo workspace in {workspaces:?}"));
    let kept = run_against(
        &scratch,
        &demo.database_url(),
        &["events", "list", "--workspace", &workspace.to_string()],
    )
    .await;
    assert_eq!(
        kept.lines().last(),
        Some("0 unprocessable push(es)"),
        "{kept}"
    );
    // The API says the same to the workspace's admin.
    let api_kept = demo.get(&http, "/api/v1/kept-pushes?limit=200").await;
    assert_eq!(api_kept["items"], serde_json::json!([]), "{api_kept}");

    // The documented events that were once kept raw were sent and processed.
    let store = SqlStore::open(StoreOptions::new(demo.database_url()))
        .await
        .expect("the demo's database");
    let ws = WorkspaceId(workspace);
    let platforms: std::collections::HashMap<_, _> = store
        .list_channels(ws)
        .await
        .expect("channels")
        .into_iter()
        .map(|c| (c.id, c.platform))
        .collect();
    let processed: HashSet<String> = store
        .list_raw_events(ws, "processed", 10_000)
        .await
        .expect("processed pushes")
        .iter()
        .filter_map(|raw| {
            imhub_server::api::kept_pushes::event_type(*platforms.get(&raw.channel_id)?, raw)
        })
        .collect();
    for event in ONCE_KEPT_RAW {
        assert!(
            processed.contains(event),
            "the demo sent no {event}: {processed:?}"
        );
    }
    // And applied: the Tencent group message its sender recalled shows recalled.
    let group = conversations
        .iter()
        .find(|c| c["platform"] == "tencent" && c["kind"] == "group")
        .unwrap_or_else(|| panic!("no tencent group conversation in {conversations:?}"));
    let messages = demo
        .get(
            &http,
            &format!("/api/v1/conversations/{}/messages?limit=200", group["id"]),
        )
        .await;
    assert!(
        messages["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|m| m["status"] == "recalled")),
        "{messages}"
    );
    drop(store);

    let data = demo.data.clone();
    assert!(scratch.holds(&data), "{}", data.display());
    let status = demo.stop().await;
    assert!(status.success(), "the demo ended with {status}");
    assert!(!data.exists(), "the demo's data is deleted on exit");
    eprintln!("the fresh demo took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_whose_port_is_taken_exits_naming_the_address_and_leaves_no_data() {
    let scratch = Scratch::new("demo", "taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let out = tokio::time::timeout(
        WAIT,
        imhub(&scratch).args(["demo", "--listen", &addr]).output(),
    )
    .await
    .expect("the demo hung on a taken port")
    .expect("cannot run imhub demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        demo_folders(&scratch).is_empty(),
        "{:?}",
        demo_folders(&scratch)
    );

    for bad in ["8080", "localhost", "127.0.0.1:99999"] {
        let out = imhub(&scratch)
            .args(["demo", "--listen", bad])
            .output()
            .await
            .expect("cannot run imhub demo");
        assert!(!out.status.success(), "--listen {bad} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--listen"), "{bad}: {stderr}");
    }
    drop(taken);
}
