//! A fresh `imhub serve` for the console scenarios: the real binary as its
//! own process on a new SQLite file, the workspace made with
//! `imhub workspace create` (its admin token kept for the test's own API
//! calls) and people added with `imhub user add`, as a merchant would set
//! up. Killed when dropped; its log printed when the test fails.

#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::browser::{Browser, ENTER, WAIT};

/// One `imhub serve` process and what the test knows about it.
pub struct Imhub {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The workspace's admin API token (from `imhub workspace create`).
    pub token: String,
    pub workspace: i64,
    pub http: reqwest::Client,
    dir: PathBuf,
    db: String,
    child: Option<Child>,
    log: PathBuf,
}

/// The operator token every `imhub serve` of these scenarios is given
/// (`IMHUB_OPERATOR_TOKEN`), for the operator page.
pub const OPERATOR_TOKEN: &str = "console-operator-token-0123456789";

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// Serves `router` on a free loopback port (a receiver the test runs).
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

impl Imhub {
    /// A new database and workspace `shop`, then `imhub serve` until ready.
    pub async fn start(name: &str, shop: &str) -> Imhub {
        let dir = std::env::temp_dir().join(format!("imhub-console-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create the scratch directory");
        let db = format!("sqlite://{}", dir.join("imhub.db").display());
        let mut imhub = Imhub {
            base: String::new(),
            token: String::new(),
            workspace: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            log: dir.join("serve.log"),
            dir,
            db,
            child: None,
        };
        let out = imhub.cli(&["workspace", "create", shop]).await;
        imhub.workspace = out
            .lines()
            .find_map(|l| l.strip_prefix("workspace "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no workspace id in {out:?}"));
        imhub.token = out
            .lines()
            .find_map(|l| l.strip_prefix("admin token (shown once): "))
            .unwrap_or_else(|| panic!("no admin token in {out:?}"))
            .trim()
            .to_string();
        for _ in 0..3 {
            if imhub.try_serve().await {
                return imhub;
            }
        }
        panic!("imhub serve did not start:\n{}", imhub.log_tail());
    }

    /// The binary with this test's settings only: no `IMHUB_*` of the
    /// caller, no `imhub.toml` of a working directory.
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imhub"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IMHUB_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.dir)
            .env("IMHUB_DATABASE_URL", &self.db)
            .env("IMHUB_LOG", "warn")
            .env(
                "IMHUB_SECRET_KEY",
                imhub_store::testing::secret_key_base64(),
            )
            // The test's receivers listen on loopback, which only the operator can allow.
            .env("IMHUB_OUTBOUND__ALLOW_CIDRS", "127.0.0.0/8")
            .env("IMHUB_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `imhub <args>` to its end; its stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = tokio::time::timeout(WAIT, self.command().args(args).output())
            .await
            .unwrap_or_else(|_| panic!("imhub {args:?} hung"))
            .expect("cannot run imhub");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "imhub {args:?}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `imhub user add` (e.g. the first admin, before anyone can log in).
    pub async fn add_user(&self, email: &str, name: &str, role: &str, password: &str) -> i64 {
        let ws = self.workspace.to_string();
        let out = self
            .cli(&[
                "user",
                "add",
                "--workspace",
                &ws,
                "--email",
                email,
                "--name",
                name,
                "--role",
                role,
                "--password",
                password,
            ])
            .await;
        out.split_whitespace()
            .nth(1)
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no user id in {out:?}"))
    }

    async fn try_serve(&mut self) -> bool {
        let port = free_port();
        let file = std::fs::File::create(&self.log).expect("cannot create the log");
        let mut child = self
            .command()
            .arg("serve")
            .env("IMHUB_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("cannot start imhub serve");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.http.get(format!("{base}/readyz")).send().await;
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if ready.is_ok_and(|r| r.status() == 200) {
                self.base = base;
                self.child = Some(child);
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "imhub serve was not ready:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// An API call with `token` (the admin token when `None`): status and body.
    pub async fn call_with(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "PUT" => self.http.put(url),
            "PATCH" => self.http.patch(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url),
        };
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let res = req.bearer_auth(token).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An API call with the admin token.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_with(&self.token.clone(), method, path, body)
            .await
    }

    /// A call that must succeed.
    pub async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if body.is_null() { None } else { Some(body) };
        let (status, value) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// A signed push on the custom channel; the status imhub answered.
    pub async fn custom_push(&self, channel: i64, secret: &str, body: Value) -> (u16, String) {
        let body = body.to_string();
        let res = self
            .http
            .post(format!("{}/webhooks/custom/{channel}", self.base))
            .header(
                "x-imhub-signature",
                imhub_server::channels::custom::sign(secret, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }
}

impl Drop for Imhub {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("imhub serve's log:\n{}", self.log_tail());
            eprintln!("files of the failed test kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Signs `email` in and waits for the live inbox.
pub async fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    b.client.goto(base).await.unwrap();
    b.until("the login form", "!document.querySelector('#login').hidden")
        .await;
    b.type_into("#login-email", email).await;
    b.type_into("#login-password", &format!("{password}{ENTER}"))
        .await;
    b.until(
        "the live inbox",
        "!document.querySelector('#app').hidden && document.querySelector('#live').dataset.state === 'live'",
    )
    .await;
}

/// Opens Settings at `page` (a `data-page` of the settings nav) and waits for its heading.
pub async fn open_settings(b: &Browser, page: &str) {
    if b.js("return document.querySelector('#settings').open")
        .await
        != json!(true)
    {
        b.click("#me-button").await;
        b.click("#open-settings").await;
    }
    b.click(&format!("#settings-nav .settings-tab[data-page={page}]"))
        .await;
    b.until(
        &format!("the {page} page"),
        &format!("document.querySelector('#settings-nav .settings-tab[data-page={page}]').classList.contains('active') && document.querySelector('#settings-page h3')"),
    )
    .await;
}

/// Sets an input's value the way typing would (clears it first), so the
/// page's `input`/`change` listeners run.
pub async fn fill(b: &Browser, css: &str, value: &str) {
    b.js(&format!(
        "const el = document.querySelector({css:?}); el.focus(); el.value = {value:?}; \
         el.dispatchEvent(new Event('input', {{bubbles: true}})); el.dispatchEvent(new Event('change', {{bubbles: true}})); return 0"
    ))
    .await;
}

/// The text of the first element matching `css` ("" when none).
pub async fn text(b: &Browser, css: &str) -> String {
    b.js(&format!("const el = document.querySelector({css:?}); return el ? (el.value !== undefined && el.tagName !== 'BUTTON' ? el.value : el.textContent) : ''"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}
