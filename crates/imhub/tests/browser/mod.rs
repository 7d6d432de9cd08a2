//! The browser side of the inbox tests, shared by `inbox.rs` and
//! `team_inbox.rs`: Debian's headless Chromium under its own chromedriver
//! (WebDriver), and small helpers that wait for the page rather than sleep.
//!
//! Without chromium and chromedriver a test says so loudly and skips,
//! except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a wait for the page lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Headless Chromium under its own chromedriver, killed on drop.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    profile: PathBuf,
}

/// Starts the browser, or says why it cannot and returns `None` (a skip);
/// under `CI=true` a missing browser fails the test instead.
pub async fn browser(width: u32, height: u32) -> Option<Browser> {
    browser_with(width, height, &[]).await
}

/// [`browser`] with more Chromium switches, e.g. `--host-resolver-rules`
/// and `--ignore-certificate-errors` for a test's own https front.
pub async fn browser_with(width: u32, height: u32, extra_args: &[&str]) -> Option<Browser> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    let missing: Vec<&str> = [chromium.as_str(), driver_bin.as_str()]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "browser tests need {} (apt-get install -y chromium chromium-driver)",
            missing.join(" and ")
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!! SKIPPED: {message}");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return None;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let driver = tokio::process::Command::new(&driver_bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {driver_bin}: {e}"));
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let profile =
        std::env::temp_dir().join(format!("imhub-chromium-{}-{port}", std::process::id()));
    let window = format!("--window-size={width},{height}");
    let data_dir = format!("--user-data-dir={}", profile.display());
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--lang=zh-CN",
        &window,
        &data_dir,
    ];
    args.extend_from_slice(extra_args);
    let caps = json!({
        "browserName": "chrome",
        // Headless Chromium ignores --lang for navigator.languages, which
        // the inbox reads to pick its language: the preference sets it.
        "goog:chromeOptions": {"binary": chromium, "args": args,
            "prefs": {"intl.accept_languages": "zh-CN,zh"}},
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("chromedriver did not start a session");
    Some(Browser {
        client,
        driver,
        profile,
    })
}

impl Browser {
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    /// Runs `script` (a function body) and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Waits until `condition` (a JS expression) is truthy; on timeout saves
    /// a screenshot and fails, naming what it waited for.
    pub async fn until(&self, what: &str, condition: &str) {
        let script = format!("return !!({condition});");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Value::Bool(true)) = self.client.execute(&script, vec![]).await {
                return;
            }
            if Instant::now() > deadline {
                self.shot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                let body = self.js("return document.body.innerText").await;
                panic!("timed out waiting for {what} ({condition}); the page shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// Clicks the first element matching `css`; retried, since the inbox
    /// re-renders rows as live events arrive.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let attempt = async { self.client.find(Locator::Css(css)).await?.click().await };
            match attempt.await {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("cannot click {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(40)).await,
            }
        }
    }

    pub async fn type_into(&self, css: &str, keys: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        let el = self.client.find(Locator::Css(css)).await.unwrap();
        el.select_by_value(value).await.unwrap();
    }

    pub async fn count(&self, css: &str) -> u64 {
        self.js(&format!("return document.querySelectorAll({css:?}).length"))
            .await
            .as_u64()
            .unwrap()
    }

    pub async fn shot(&self, name: &str) {
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }
}

pub fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

/// WebDriver's key codes.
pub const ENTER: &str = "\u{E007}";
pub const SHIFT: &str = "\u{E008}";
pub const RELEASE: &str = "\u{E000}";
