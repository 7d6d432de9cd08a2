//! How statements reach the database: one writer thread that commits many
//! callers' writes in one transaction (group commit), and a pool of reader
//! connections. Both backends use the same engine.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::{
    StoreError,
    db::{Db, Dialect},
};

/// Opens a new connection; called at start and after a connection broke.
pub type Connect = Arc<dyn Fn() -> Result<Box<dyn Db>, StoreError> + Send + Sync>;

type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&mut dyn Db) -> (bool, Deliver) + Send>;

pub(crate) mod batch;
mod profile;
mod wal_sync;

/// Writer connections on PostgreSQL.
const POSTGRES_WRITERS: usize = 4;

/// Most writes one transaction takes; bounds the latency of the first caller.
const MAX_BATCH: usize = 256;

/// The single writer. Callers hand it closures; it runs as many as are
/// waiting in one transaction, each inside a savepoint so one caller's
/// failure does not undo the others, and answers every caller only after
/// the commit.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer threads, each on a connection of its own: one for
    /// SQLite, whose file has one writer at a time; several for PostgreSQL,
    /// which commits concurrent transactions in parallel (conflicts between
    /// them are retried like conflicts between nodes).
    ///
    /// `flush_wal` names the SQLite database whose write-ahead log the
    /// engine flushes itself after each commit, off the writer thread
    /// (see [`wal_sync`]); its connections then commit without flushing.
    pub fn start(
        connect: Connect,
        dialect: Dialect,
        flush_wal: Option<&std::path::Path>,
    ) -> Result<Self, StoreError> {
        let threads = match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => POSTGRES_WRITERS,
        };
        let (connect, sync) = match flush_wal {
            Some(database) => {
                let unflushed: Connect = Arc::new(move || {
                    let mut db = connect()?;
                    db.batch("PRAGMA synchronous = NORMAL")?;
                    Ok(db)
                });
                (unflushed, Some(wal_sync::WalSync::start(database)?))
            }
            None => (connect, None),
        };
        let (jobs, rx) = mpsc::channel::<Job>(4096);
        let rx = Arc::new(Mutex::new(rx));
        let due = batch::DueTimes::default();
        for n in 0..threads {
            let db = connect()?;
            let (connect, rx, due) = (Arc::clone(&connect), Arc::clone(&rx), Arc::clone(&due));
            let sync = sync.clone();
            std::thread::Builder::new()
                .name(format!("imhub-store-writer-{n}"))
                .spawn(move || run_writer(db, connect, dialect, rx, due, sync))
                .map_err(|e| StoreError::Database(format!("cannot start writer thread: {e}")))?;
        }
        Ok(Writer { jobs })
    }

    /// Runs `f` inside the next group transaction and returns its result once
    /// that transaction is committed. If `f` fails, its own changes are
    /// rolled back and the error returned; other callers are unaffected.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |db| {
            let result = f(db);
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit| {
                let _ = tx.send(commit.and(result));
            });
            (ok, deliver)
        });
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes the next batch: one job, waiting for it, then whatever else is
/// already queued. `None` once the store is dropped.
fn next_batch(rx: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut rx = rx.lock().ok()?;
    let first = rx.blocking_recv()?;
    let mut jobs = vec![first];
    while jobs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

fn run_writer(
    mut db: Box<dyn Db>,
    connect: Connect,
    dialect: Dialect,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    due: batch::DueTimes,
    sync: Option<wal_sync::WalSync>,
) {
    let begin = match dialect {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    };
    let name = std::thread::current()
        .name()
        .unwrap_or("imhub-store-writer")
        .to_string();
    let mut profile = profile::Profile::from_env(&name);
    while let Some(jobs) = next_batch(&rx) {
        let started = Instant::now();
        let began = Instant::now();
        if let Err(e) = db.batch(begin) {
            // The connection may have broken (a restarted PostgreSQL): try a
            // fresh one once, and fail this batch only if that fails too.
            tracing::warn!(error = %e, "writer could not begin a transaction; reconnecting");
            match connect().and_then(|mut fresh| fresh.batch(begin).map(|()| fresh)) {
                Ok(fresh) => db = fresh,
                Err(e) => {
                    for job in jobs {
                        let (_, deliver) = job(&mut NoDb);
                        deliver(Err(e.clone()));
                    }
                    continue;
                }
            }
        }
        let count = jobs.len();
        let (delivers, commit) = match profile.as_mut() {
            Some(profile) => {
                profile.note(begin, began.elapsed());
                let mut timed = profile::Timed {
                    db: db.as_mut(),
                    profile,
                };
                run_batch(&mut timed, dialect, jobs, &due)
            }
            None => run_batch(db.as_mut(), dialect, jobs, &due),
        };
        match (&sync, &commit) {
            // Committed, not yet flushed: the syncer answers once it is,
            // while this thread goes on with the next batch.
            (Some(sync), Ok(())) => sync.after_flush(delivers),
            _ => {
                for deliver in delivers {
                    deliver(commit.clone());
                }
            }
        }
        if let Some(profile) = profile.as_mut() {
            profile.batch(count, started.elapsed());
        }
    }
}

/// Runs one batch's jobs inside the transaction already begun, each in a
/// savepoint when there are several, writes what they deferred, and commits
/// (or, for a lone failed job, rolls back). Returns the callers to answer
/// and the commit's outcome.
fn run_batch(
    db: &mut dyn Db,
    dialect: Dialect,
    jobs: Vec<Job>,
    due: &batch::DueTimes,
) -> (Vec<Deliver>, Result<(), StoreError>) {
    // SQLite keeps these prepared; PostgreSQL runs them as simple queries.
    let control = |db: &mut dyn Db, sql: &str| match dialect {
        Dialect::Sqlite => db.execute(sql, &[]).map(|_| ()),
        Dialect::Postgres => db.batch(sql),
    };
    let mut db = batch::Batch::new(db, due);
    // One job needs no savepoint: if it fails, the whole transaction is
    // rolled back instead of committed.
    let single = jobs.len() == 1;
    let mut delivers = Vec::with_capacity(jobs.len());
    let mut lone_failure = false;
    // PostgreSQL: a job's savepoint is released in the same round trip
    // that makes the next one, and the last one by the COMMIT.
    let mut unreleased = false;
    for job in jobs {
        if single {
            let (ok, deliver) = job(&mut db);
            lone_failure = !ok;
            delivers.push(deliver);
            continue;
        }
        let mark = db.mark();
        let saved = if std::mem::take(&mut unreleased) {
            db.batch("RELEASE SAVEPOINT job; SAVEPOINT job")
        } else {
            control(&mut db, "SAVEPOINT job")
        };
        let (ok, deliver) = job(&mut db);
        if !ok {
            db.undo(mark);
        }
        let closed = match (saved.is_ok(), ok, dialect) {
            (true, true, Dialect::Postgres) => {
                unreleased = true;
                Ok(())
            }
            (true, true, Dialect::Sqlite) => control(&mut db, "RELEASE SAVEPOINT job"),
            (true, false, Dialect::Postgres) => {
                db.batch("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
            }
            (true, false, Dialect::Sqlite) => control(&mut db, "ROLLBACK TO SAVEPOINT job")
                .and_then(|()| control(&mut db, "RELEASE SAVEPOINT job")),
            (false, _, _) => saved,
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "savepoint handling failed");
        }
        delivers.push(deliver);
    }
    let commit = if lone_failure {
        // The job's own error reaches its caller; nothing else was in
        // this transaction.
        db.clear();
        db.batch("ROLLBACK")
    } else {
        let commit = db.finish().and_then(|()| db.batch("COMMIT"));
        if let Err(e) = &commit {
            tracing::error!(error = %e, "group commit failed");
            let _ = db.batch("ROLLBACK");
        }
        commit
    };
    (delivers, commit)
}

/// Stands in for a connection when the batch could not even begin, so the
/// jobs' callers still get their answer (an error).
struct NoDb;

impl Db for NoDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    fn execute(&mut self, _: &str, _: &[crate::db::Value]) -> Result<u64, StoreError> {
        Err(StoreError::Closed)
    }
    fn query(
        &mut self,
        _: &str,
        _: &[crate::db::Value],
    ) -> Result<Vec<crate::db::Row>, StoreError> {
        Err(StoreError::Closed)
    }
    fn batch(&mut self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
}

impl Drop for Readers {
    /// PostgreSQL's synchronous client must not be dropped on the async
    /// runtime (it blocks), so idle connections are closed on a thread.
    fn drop(&mut self) {
        if let Ok(mut idle) = self.idle.lock() {
            let idle = std::mem::take(&mut *idle);
            if !idle.is_empty() {
                std::thread::spawn(move || drop(idle));
            }
        }
    }
}

/// A bounded pool of reader connections; each read runs on a blocking thread.
pub struct Readers {
    idle: Mutex<Vec<Box<dyn Db>>>,
    permits: Semaphore,
    connect: Connect,
}

impl Readers {
    /// A pool of at most `size` connections, opened lazily.
    pub fn new(connect: Connect, size: usize) -> Self {
        Readers {
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
            connect,
        }
    }

    /// Runs `f` on a reader connection.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pooled = self.idle.lock().map_err(|_| StoreError::Closed)?.pop();
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut db = match pooled {
                Some(db) => db,
                None => (this.connect)()?,
            };
            let result = f(db.as_mut());
            // A connection that failed at the database level may be broken;
            // drop it and let the next read open a fresh one.
            if !matches!(result, Err(StoreError::Database(_)))
                && let Ok(mut idle) = this.idle.lock()
            {
                idle.push(db);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("reader task failed: {e}")))?
    }
}
