//! A fresh `imhub serve` for the console scenarios: the real binary on a
//! new SQLite file, a workspace and its first admin made with the command
//! line (`imhub workspace create`, `imhub user add`), the Douyin sandbox
//! started by the test as the platform's API (`platforms.douyin.base_url`),
//! loopback allowed for outbound calls (`outbound.allow_cidrs`), and an
//! https front for `public_url`.
//!
//! Douyin redirects only to https, so imhub's `public_url` is
//! `https://imhub-console.localhost:<port>`: a TLS front in this process
//! (a self-signed certificate; Chromium runs with
//! `--ignore-certificate-errors` and maps the name to loopback) that passes
//! the bytes on to imhub's plain HTTP port. The browser uses imhub's own
//! address for the inbox; only the platform's redirect after the QR scan
//! goes through the front, as it would through a merchant's reverse proxy.

#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    net::{TcpListener, TcpStream},
    process::{Child, Command},
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};

/// The name `public_url` uses; Chromium resolves it to loopback.
pub const PUBLIC_HOST: &str = "imhub-console.localhost";
/// The first admin's login.
pub const ADMIN_EMAIL: &str = "boss@console.shop";
pub const ADMIN_NAME: &str = "李经理";
pub const PASSWORD: &str = "console-pa55word!";
/// How long imhub may take to be ready.
const READY: Duration = Duration::from_secs(30);

/// A self-signed certificate for [`PUBLIC_HOST`] (test only; Chromium is
/// told to ignore certificate errors anyway).
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBvzCCAWWgAwIBAgIUFXIAtCDIwcNPTBud+JSG/Kk+ShswCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXaW1odWItY29uc29sZS5sb2NhbGhvc3QwIBcNMjYxMjAyMDcw
OTQ4WhgPMjEyNjExMDgwNzA5NDhaMCIxIDAeBgNVBAMMF2ltaHViLWNvbnNvbGUu
bG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0FaB8KZS3ZOU2AM8
IrB0YsSyvL8OEnhlwsvC5jiXO955Us+B75Pi5pZ9c9bO3l4tWpiEZvgF6huullWE
A0LaqKN3MHUwHQYDVR0OBBYEFIDg7W24Ig4CuDqoN7MpkHhuaN6jMB8GA1UdIwQY
MBaAFIDg7W24Ig4CuDqoN7MpkHhuaN6jMA8GA1UdEwEB/wQFMAMBAf8wIgYDVR0R
BBswGYIXaW1odWItY29uc29sZS5sb2NhbGhvc3QwCgYIKoZIzj0EAwIDSAAwRQIg
X6iEN9RiKbnL4gIwMqSmeZA8uJAO0HjEuI93yi0mEkECIQCDB9cnakSzfX7BQRsL
n4pghvtYx9bXI7nwzCkJSX5kew==
-----END CERTIFICATE-----
";
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrwabLCwv5HxXIp64
vb/7I/94BLhTWjh9/PCxT5gtkl2hRANCAATQVoHwplLdk5TYAzwisHRixLK8vw4S
eGXCy8LmOJc73nlSz4Hvk+Lmln1z1s7eXi1amIRm+AXqG66WVYQDQtqo
-----END PRIVATE KEY-----
";

/// The Chromium switches the https front needs.
pub fn chromium_args() -> Vec<String> {
    vec![
        "--ignore-certificate-errors".into(),
        format!("--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1"),
    ]
}

/// One running `imhub serve` with its workspace and first admin.
pub struct Console {
    /// imhub's own address (plain HTTP), where the browser opens the inbox.
    pub base: String,
    /// `public_url`: the https front.
    pub public_url: String,
    /// An admin API token of the workspace (from `imhub workspace create`).
    pub token: String,
    pub http: reqwest::Client,
    dir: PathBuf,
    child: Child,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// Serves an axum router (a sandbox) on a port of its own; its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// The TLS front: accepts TLS on `listener` and copies bytes both ways to
/// `127.0.0.1:{target}`.
fn https_front(listener: TcpListener, target: u16) {
    let certs =
        vec![CertificateDer::from_pem_slice(CERT_PEM.as_bytes()).expect("test certificate")];
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).expect("test key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("TLS config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut back) = TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
            });
        }
    });
}

impl Console {
    /// A fresh database, the workspace and its admin by the command line,
    /// then `imhub serve` with `env` (e.g. the sandbox's base URL) until
    /// `/readyz` answers.
    pub async fn start(name: &str, env: &[(&str, String)]) -> Console {
        let dir = std::env::temp_dir().join(format!("imhub-console-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public_url = format!(
            "https://{PUBLIC_HOST}:{}",
            front.local_addr().unwrap().port()
        );
        let db = format!("sqlite://{}", dir.join("imhub.db").display());
        let command = |dir: &PathBuf| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_imhub"));
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("IMHUB_") {
                    cmd.env_remove(key);
                }
            }
            cmd.current_dir(dir)
                .env("IMHUB_DATABASE_URL", &db)
                .env("IMHUB_LOG", "warn")
                .env(
                    "IMHUB_SECRET_KEY",
                    imhub_store::testing::secret_key_base64(),
                )
                .env("IMHUB_PUBLIC_URL", &public_url)
                .env("IMHUB_OUTBOUND__ALLOW_CIDRS", "127.0.0.0/8")
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdin(Stdio::null())
                .kill_on_drop(true);
            cmd
        };
        let out = command(&dir)
            .args(["workspace", "create", "控制台小店"])
            .output()
            .await
            .expect("cannot run imhub");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "imhub workspace create: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = stdout
            .lines()
            .find_map(|l| l.strip_prefix("admin token (shown once): "))
            .expect("no admin token printed")
            .trim()
            .to_string();
        let workspace = stdout
            .lines()
            .find_map(|l| l.strip_prefix("workspace "))
            .and_then(|l| l.split_whitespace().next())
            .expect("no workspace id printed")
            .to_string();
        let out = command(&dir)
            .args([
                "user",
                "add",
                "--workspace",
                &workspace,
                "--email",
                ADMIN_EMAIL,
            ])
            .args(["--name", ADMIN_NAME, "--role", "admin"])
            .env("IMHUB_USER_PASSWORD", PASSWORD)
            .output()
            .await
            .expect("cannot run imhub");
        assert!(
            out.status.success(),
            "imhub user add: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let port = free_port();
        let log = dir.join("serve.log");
        let child = command(&dir)
            .arg("serve")
            .env("IMHUB_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .expect("cannot start imhub serve");
        https_front(front, port);
        let mut console = Console {
            base: format!("http://127.0.0.1:{port}"),
            public_url,
            token,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            dir,
            child,
            log,
        };
        let deadline = Instant::now() + READY;
        loop {
            if let Ok(Some(status)) = console.child.try_wait() {
                panic!("imhub serve exited: {status}\n{}", console.log_tail());
            }
            let ready = console
                .http
                .get(format!("{}/readyz", console.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return console;
            }
            assert!(
                Instant::now() < deadline,
                "imhub serve was not ready:\n{}",
                console.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// An API call with the admin token: status and JSON (or text) body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A call that must succeed.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }
}

impl Drop for Console {
    /// Keeps the files and prints the log of a failed test; else removes them.
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "imhub serve's log:\n{}\n(files kept in {})",
                self.log_tail(),
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
