//! What the `imhub` crate's process tests share: a scratch folder per test
//! and the real binary run in it with none of the caller's `IMHUB_*`
//! variables, and a free port. Each test binary uses part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::Command;

/// The longest wait for anything a test expects to happen.
pub const WAIT: Duration = Duration::from_secs(30);

/// A scratch folder of one test, removed unless the test fails.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `imhub-{suite}-test-{pid}-{name}` in the system's temporary folder,
    /// emptied first.
    pub fn new(suite: &str, name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("imhub-{suite}-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create the scratch folder");
        Scratch(dir)
    }

    /// A file or folder in this folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `sqlite://` URL of a file in this folder.
    pub fn sqlite(&self, name: &str) -> String {
        format!("sqlite://{}", self.path(name).display())
    }

    /// Writes a file (and its folders) in this folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("cannot create a folder");
        }
        std::fs::write(&path, text).expect("cannot write a file");
        path
    }

    /// The binary with none of the caller's `IMHUB_*` variables, run in
    /// this folder (so no `imhub.toml` of a working directory is read),
    /// killed when dropped.
    pub fn imhub(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imhub"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IMHUB_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.0)
            .env("IMHUB_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Whether `path` is inside this folder.
    pub fn holds(&self, path: &Path) -> bool {
        path.starts_with(&self.0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("files of the failed test kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}
