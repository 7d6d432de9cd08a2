//! Durable SQLite commits without the writer waiting for the disk.
//!
//! With `sqlite_durability = "full"`, SQLite would `fsync` the write-ahead
//! log inside every `COMMIT`, and the one writer thread would sit idle for
//! those milliseconds while callers queue up. Instead the writer commits
//! with `synchronous = NORMAL` (the frames reach the OS, in order, but are
//! not flushed) and hands the batch's callers to this syncer thread, which
//! flushes the log file and only then answers them. Meanwhile the writer
//! runs the next batch. One flush covers every batch committed before it,
//! so batches that queue behind a slow flush share the next one.
//!
//! What a caller is told is as durable as before: its commit's frames were
//! flushed before its answer. A checkpoint (which, in `NORMAL`, flushes the
//! log before copying it into the database and flushes the database after)
//! never loses a committed frame either. Readers of the pool may see a
//! commit a few milliseconds before it is flushed; only a power loss in
//! that window could take back what they saw, never an answered write.

use std::{
    path::{Path, PathBuf},
    sync::mpsc,
};

use super::Deliver;
use crate::StoreError;

/// The callers of committed batches, waiting for the flush that makes
/// their commit durable.
#[derive(Clone)]
pub(crate) struct WalSync {
    committed: mpsc::Sender<Vec<Deliver>>,
}

impl WalSync {
    /// Starts the syncer thread for the database file at `database`.
    pub(crate) fn start(database: &Path) -> Result<Self, StoreError> {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (committed, rx) = mpsc::channel::<Vec<Deliver>>();
        std::thread::Builder::new()
            .name("imhub-store-wal-sync".to_string())
            .spawn(move || run(&wal, &rx))
            .map_err(|e| StoreError::Database(format!("cannot start WAL sync thread: {e}")))?;
        Ok(WalSync { committed })
    }

    /// Answers `delivers` once what is committed so far is on disk.
    pub(crate) fn after_flush(&self, delivers: Vec<Deliver>) {
        if let Err(mpsc::SendError(delivers)) = self.committed.send(delivers) {
            // The thread is gone (it cannot be while a writer lives); never
            // leave a caller without an answer.
            for deliver in delivers {
                deliver(Err(StoreError::Closed));
            }
        }
    }
}

fn run(wal: &Path, rx: &mpsc::Receiver<Vec<Deliver>>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = first;
        while let Ok(more) = rx.try_recv() {
            waiting.extend(more);
        }
        let flushed = flush(wal);
        if let Err(e) = &flushed {
            tracing::error!(error = %e, "flushing the SQLite write-ahead log failed");
        }
        for deliver in waiting {
            deliver(flushed.clone());
        }
    }
}

/// Flushes the log file's data. The file is opened for each flush: SQLite
/// may delete it when every connection closes and create it again, and a
/// file held open from before would then be the old one. (SQLite locks the
/// `-shm` and database files, never the log, so opening and closing it
/// here releases none of its locks.)
fn flush(wal: &Path) -> Result<(), StoreError> {
    match std::fs::File::open(wal) {
        Ok(file) => file
            .sync_data()
            .map_err(|e| StoreError::Database(format!("cannot flush {}: {e}", wal.display()))),
        // No log file: every frame was checkpointed into the database,
        // which SQLite flushed before it removed the log.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Database(format!(
            "cannot open {} to flush it: {e}",
            wal.display()
        ))),
    }
}
