//! Configuration as `--help` and the README document it, through the real
//! binary: `imhub serve --listen ADDR --database-url URL` override the
//! configuration; `IMHUB_CONFIG` names the file that is read;
//! `IMHUB_*` variables are typed by the field they set (`IMHUB_NODE_ID=1`);
//! and an unknown key or a value of the wrong type is refused at start,
//! naming the key and the file or variable it came from (issue 11 §4).
//!
//! Every process runs with none of the caller's `IMHUB_*` variables, in a
//! scratch folder of its test (so no `imhub.toml` of a working directory is
//! read), and is killed when its test ends.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

mod common;

use common::{Scratch, WAIT, free_port};

/// A running `imhub serve`, killed when dropped; its log printed when the
/// test is failing.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "---------- imhub serve's log ({}) ----------\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// Starts `cmd` (an `imhub serve`) and waits until `http://127.0.0.1:PORT/healthz`
/// answers 200; fails when the process exits first.
async fn serve_until_healthy(scratch: &Scratch, mut cmd: Command, port: u16) -> Server {
    let log = scratch.path("serve.log");
    let file = std::fs::File::create(&log).expect("cannot create the log");
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("cannot start imhub serve");
    let mut server = Server { child, log };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("HTTP client");
    let deadline = Instant::now() + WAIT;
    loop {
        let health = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "imhub serve exited with {status} before it served on {port}:\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
        }
        if health.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "imhub serve did not answer on {port} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `cmd`, which must refuse to start: exits non-zero within [`WAIT`].
/// Returns its stderr.
async fn refused(mut cmd: Command, what: &str) -> String {
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: imhub started instead of refusing"))
        .expect("cannot run imhub");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what}: exited with {}", out.status);
    stderr
}

/// Whether anything answers HTTP on `port` of loopback.
async fn answers(port: u16) -> bool {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_on_the_given_address_and_keeps_its_data_in_the_given_file() {
    let scratch = Scratch::new("config", "flags");
    std::fs::create_dir_all(scratch.path("data")).expect("the data folder");
    let database = scratch.sqlite("data/inbox.db");
    // A workspace in that file only: its token works where the server
    // really uses the file.
    let out = scratch
        .imhub()
        .env("IMHUB_DATABASE_URL", &database)
        .args(["workspace", "create", "shop"])
        .output()
        .await
        .expect("cannot run imhub workspace create");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("admin token (shown once): "))
        .unwrap_or_else(|| panic!("no admin token in {stdout:?}"))
        .trim()
        .to_string();

    let port = free_port();
    let other_port = free_port();
    let mut cmd = scratch.imhub();
    // The command line wins over the environment.
    cmd.env("IMHUB_LISTEN", format!("127.0.0.1:{other_port}"))
        .env("IMHUB_DATABASE_URL", scratch.sqlite("other.db"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &database,
        ]);
    let server = serve_until_healthy(&scratch, cmd, port).await;
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/conversations"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /api/v1/conversations");
    assert_eq!(res.status(), 200, "the token of the given file works");
    assert!(!answers(other_port).await, "IMHUB_LISTEN is overridden");
    assert!(
        !scratch.path("other.db").exists(),
        "IMHUB_DATABASE_URL is overridden"
    );
    assert!(
        !scratch.path("imhub.db").exists(),
        "the default database is not used"
    );
    drop(server);
    assert!(scratch.path("data/inbox.db").exists());

    // Bad input: an address that is none, a database nobody can open.
    for listen in ["localhost", "127.0.0.1:99999", ""] {
        let mut cmd = scratch.imhub();
        cmd.args(["serve", "--listen", listen]);
        let stderr = refused(cmd, &format!("--listen {listen:?}")).await;
        assert!(stderr.contains("--listen"), "{listen:?}: {stderr}");
    }
    let mut cmd = scratch.imhub();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        "mysql://db.invalid/imhub",
    ]);
    let stderr = refused(cmd, "a mysql:// database URL").await;
    assert!(stderr.contains("database"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imhub_config_names_the_file_that_is_read() {
    let scratch = Scratch::new("config", "file");
    let port = free_port();
    let config = scratch.write(
        "etc/imhub/imhub.toml",
        &format!(
            "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"{}\"\ninbox = false\n\n[delivery]\nconcurrency = 4\n",
            scratch.sqlite("from-file.db")
        ),
    );
    // A file where the server would look without IMHUB_CONFIG; it must not be read.
    scratch.write("imhub.toml", "listen = \"127.0.0.1:1\"\n");
    let mut cmd = scratch.imhub();
    cmd.env("IMHUB_CONFIG", &config).arg("serve");
    let server = serve_until_healthy(&scratch, cmd, port).await;
    // `inbox = false` from the file: no web inbox at /.
    let inbox = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .expect("GET /");
    assert_eq!(inbox.status(), 404);
    drop(server);
    assert!(scratch.path("from-file.db").exists());

    // Bad input: a file that is not there, a file that is not TOML.
    let missing = scratch.path("etc/imhub/missing.toml");
    let mut cmd = scratch.imhub();
    cmd.env("IMHUB_CONFIG", &missing).arg("serve");
    let stderr = refused(cmd, "a missing IMHUB_CONFIG").await;
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    let broken = scratch.write("etc/imhub/broken.toml", "listen = \n");
    let mut cmd = scratch.imhub();
    cmd.env("IMHUB_CONFIG", &broken).arg("serve");
    let stderr = refused(cmd, "an IMHUB_CONFIG that is not TOML").await;
    assert!(
        stderr.contains(&broken.display().to_string()) && stderr.contains("TOML"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numeric_node_id_from_the_environment_is_accepted() {
    let scratch = Scratch::new("config", "node-id");
    let port = free_port();
    let mut cmd = scratch.imhub();
    cmd.env("IMHUB_NODE_ID", "1")
        .env("IMHUB_DELIVERY__CONCURRENCY", "8")
        .env("IMHUB_INBOX", "false")
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &scratch.sqlite("imhub.db"),
        ]);
    let server = serve_until_healthy(&scratch, cmd, port).await;
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .expect("GET /readyz");
    assert_eq!(ready.status(), 200);
    drop(server);

    // A number where a number belongs, but not a word.
    let mut cmd = scratch.imhub();
    cmd.env("IMHUB_DELIVERY__CONCURRENCY", "many")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let stderr = refused(cmd, "IMHUB_DELIVERY__CONCURRENCY=many").await;
    assert!(stderr.contains("IMHUB_DELIVERY__CONCURRENCY"), "{stderr}");
}

/// `imhub serve` on a port of its own and a database file that must not
/// come to exist: a configuration refused at start opens nothing.
fn serve_refusing(scratch: &Scratch) -> Command {
    let mut cmd = scratch.imhub();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &scratch.sqlite("never.db"),
    ]);
    cmd
}

fn assert_names(stderr: &str, names: &[&str], case: &str) {
    for name in names {
        assert!(
            stderr.contains(name),
            "{case}: {name} not named in {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_refused_at_start_naming_the_key_and_where_it_came_from() {
    let scratch = Scratch::new("config", "unknown");
    let files: [(&str, &str, &str); 3] = [
        ("top.toml", "lisen = \"127.0.0.1:9\"\n", "lisen"),
        ("nested.toml", "[delivery]\nconcurency = 8\n", "concurency"),
        (
            "section.toml",
            "[platfroms.douyin]\nbase_url = \"http://x\"\n",
            "platfroms",
        ),
    ];
    for (name, text, key) in files {
        let path = scratch.write(name, text);
        let mut cmd = serve_refusing(&scratch);
        cmd.env("IMHUB_CONFIG", &path);
        let stderr = refused(cmd, name).await;
        assert_names(&stderr, &[key, &path.display().to_string()], name);
    }
    let variables = [
        ("IMHUB_LISEN", "127.0.0.1:9", "lisen"),
        ("IMHUB_DELIVERY__CONCURENCY", "8", "concurency"),
    ];
    for (variable, value, key) in variables {
        let mut cmd = serve_refusing(&scratch);
        cmd.env(variable, value);
        let stderr = refused(cmd, variable).await;
        assert_names(&stderr, &[variable, key], variable);
    }
    assert_no_database(&scratch.path("never.db"));
}

fn assert_no_database(path: &Path) {
    assert!(
        !path.exists(),
        "a refused configuration opened {}",
        path.display()
    );
}
