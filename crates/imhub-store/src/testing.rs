//! Test support: fresh databases on both backends. PostgreSQL tests use
//! `IMHUB_TEST_DATABASE_URL` when set, or start a throwaway server from the
//! system's PostgreSQL binaries. Where PostgreSQL is missing they say so
//! loudly and skip, except under CI (`CI=true`), where a skip is a failure.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use crate::SecretKey;

static SERVER: OnceLock<Option<String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);
static SECRET_KEY: OnceLock<SecretKey> = OnceLock::new();
static TEST_DATABASES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The secret key of every PostgreSQL database [`postgres_database`] made
/// in this process (random per process). Stores opened on those URLs use it
/// when their options name no key, as a configured deployment would; give
/// it to `imhub` processes as `IMHUB_SECRET_KEY` ([`secret_key_base64`]).
pub fn secret_key() -> SecretKey {
    SECRET_KEY.get_or_init(SecretKey::generate).clone()
}

/// [`secret_key`] as base64, for `IMHUB_SECRET_KEY`.
pub fn secret_key_base64() -> String {
    secret_key().to_base64()
}

/// The test key, when `url` is a database this module made.
pub(crate) fn secret_key_for(url: &str) -> Option<SecretKey> {
    let made = TEST_DATABASES
        .lock()
        .map(|dbs| dbs.iter().any(|d| d == url))
        .unwrap_or(false);
    made.then(secret_key)
}

/// A URL to a new, empty PostgreSQL database, or `None` (after a loud
/// warning) when PostgreSQL is not available outside CI.
pub fn postgres_database() -> Option<String> {
    let admin = SERVER.get_or_init(start_or_find_server).clone()?;
    let name = format!(
        "imhub_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let admin_url = admin.clone();
    let create = name.clone();
    // The synchronous client runs its own runtime: keep it off the caller's.
    std::thread::spawn(move || -> Result<(), String> {
        let mut client =
            postgres::Client::connect(&admin_url, postgres::NoTls).map_err(|e| e.to_string())?;
        client
            .batch_execute(&format!("CREATE DATABASE {create}"))
            .map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "thread panicked".to_string())
    .and_then(|r| r)
    .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
    let url = replace_database(&admin, &name);
    if let Ok(mut dbs) = TEST_DATABASES.lock() {
        dbs.push(url.clone());
    }
    Some(url)
}

/// A URL to a new SQLite file in a fresh temporary directory.
pub fn sqlite_database() -> String {
    let dir = std::env::temp_dir().join(format!(
        "imhub-test-{}-{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    format!("sqlite://{}", dir.join("imhub.db").display())
}

fn replace_database(url: &str, name: &str) -> String {
    match url.rfind('/') {
        Some(i) if url[..i].contains('@') || url[..i].matches('/').count() > 2 => {
            format!("{}/{name}", &url[..i])
        }
        _ => format!("{url}/{name}"),
    }
}

fn start_or_find_server() -> Option<String> {
    if let Ok(url) = std::env::var("IMHUB_TEST_DATABASE_URL") {
        return Some(url);
    }
    let Some(bin) = find_bin_dir() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("PostgreSQL is not installed, and CI must not skip the PostgreSQL tests");
        }
        eprintln!(
            "\n==========\nWARNING: PostgreSQL is not installed: the PostgreSQL half of the \
             store tests is SKIPPED. Install it (apt-get install postgresql) or set \
             IMHUB_TEST_DATABASE_URL.\n==========\n"
        );
        return None;
    };
    match start_server(&bin, "imhub-pg", None) {
        Ok(url) => Some(url),
        Err(e) => panic!(
            "cannot start a throwaway PostgreSQL from {}: {e}",
            bin.display()
        ),
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// PostgreSQL refuses to run as root; as root, run it as `postgres`.
fn as_server_user(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A throwaway PostgreSQL server of its own that speaks TLS with this
/// certificate and key (PEM), besides plain connections; the admin URL, or
/// `None` (after a loud warning) when PostgreSQL is not installed outside CI.
/// For the tests of `sslmode`.
pub fn postgres_tls_server(cert_pem: &str, key_pem: &str) -> Option<String> {
    static NEXT_SERVER: AtomicU32 = AtomicU32::new(0);
    SERVER.get_or_init(start_or_find_server).as_ref()?;
    let bin = find_bin_dir()?;
    let name = format!("imhub-pg-tls{}", NEXT_SERVER.fetch_add(1, Ordering::SeqCst));
    match start_server(&bin, &name, Some((cert_pem, key_pem))) {
        Ok(url) => Some(url),
        Err(e) => panic!("cannot start a PostgreSQL with TLS: {e}"),
    }
}

fn start_server(bin: &Path, name: &str, tls: Option<(&str, &str)>) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut settings = Vec::new();
    if let Some((cert, key)) = tls {
        use std::os::unix::fs::PermissionsExt;
        let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert_path, cert).map_err(|e| e.to_string())?;
        std::fs::write(&key_path, key).map_err(|e| e.to_string())?;
        // The server refuses a key that others can read.
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        settings.extend([
            "-c".to_string(),
            "ssl=on".to_string(),
            "-c".to_string(),
            format!("ssl_cert_file={}", cert_path.display()),
            "-c".to_string(),
            format!("ssl_key_file={}", key_path.display()),
        ]);
    }
    let _ = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(&dir)
        .stderr(Stdio::null())
        .status();
    let data = dir.join("data");
    let status = as_server_user(&bin.join("initdb"))
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "-D",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("initdb: {e}"))?;
    if !status.success() {
        return Err(format!("initdb failed: {status}"));
    }
    let port = free_port()?;
    let server = as_server_user(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ])
        .args(&settings)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("postgres: {e}"))?;
    // Stop the server and remove its files once this test process is gone,
    // however it ends.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -INT {pg} 2>/dev/null; \
             sleep 3; kill -9 {pg} 2>/dev/null; rm -rf {dir}",
            me = std::process::id(),
            pg = server.id(),
            dir = dir.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = url.clone();
    loop {
        let probe = probe.clone();
        let ready =
            std::thread::spawn(move || postgres::Client::connect(&probe, postgres::NoTls).is_ok())
                .join()
                .unwrap_or(false);
        if ready {
            return Ok(url);
        }
        if Instant::now() > deadline {
            return Err("server did not accept connections within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
