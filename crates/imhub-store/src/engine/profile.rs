//! Where the writer's time goes, statement by statement: with the
//! environment variable `IMHUBSTORE_PROFILE` set to the seconds between
//! reports (not `IMHUB_…`, which is configuration), every writer thread
//! times each statement it runs (for PostgreSQL that includes the round
//! trip), its `BEGIN`, savepoints and `COMMIT`, and prints a table to
//! stderr. Off, it costs one branch per batch.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use crate::{
    StoreError,
    db::{Db, Dialect, Row, Value},
};

/// Totals of one statement text.
#[derive(Default, Clone, Copy)]
struct Stat {
    calls: u64,
    time: Duration,
}

/// One writer thread's counters since its last report.
pub(crate) struct Profile {
    name: String,
    every: Duration,
    since: Instant,
    batches: u64,
    jobs: u64,
    /// Time from a batch's first job taken to its callers answered.
    busy: Duration,
    statements: HashMap<String, Stat>,
}

impl Profile {
    /// A profile for the writer thread `name`, when the environment asks
    /// for one.
    pub(crate) fn from_env(name: &str) -> Option<Profile> {
        let every = std::env::var("IMHUBSTORE_PROFILE").ok()?;
        let every = every.trim().parse::<u64>().unwrap_or(10).max(1);
        Some(Profile {
            name: name.to_string(),
            every: Duration::from_secs(every),
            since: Instant::now(),
            batches: 0,
            jobs: 0,
            busy: Duration::ZERO,
            statements: HashMap::new(),
        })
    }

    /// Counts `sql` as run once, taking `time`.
    pub(crate) fn note(&mut self, sql: &str, time: Duration) {
        match self.statements.get_mut(sql) {
            Some(stat) => {
                stat.calls += 1;
                stat.time += time;
            }
            None => {
                self.statements
                    .insert(sql.to_string(), Stat { calls: 1, time });
            }
        }
    }

    /// Counts one batch of `jobs` that kept the writer busy for `busy`, and
    /// reports when it is time.
    pub(crate) fn batch(&mut self, jobs: usize, busy: Duration) {
        self.batches += 1;
        self.jobs += jobs as u64;
        self.busy += busy;
        if self.since.elapsed() >= self.every {
            self.report();
        }
    }

    fn report(&mut self) {
        let wall = self.since.elapsed();
        let jobs = self.jobs.max(1) as f64;
        let mut rows: Vec<_> = self.statements.iter().collect();
        rows.sort_by_key(|(_, s)| std::cmp::Reverse(s.time));
        let timed: Duration = rows.iter().map(|(_, s)| s.time).sum();
        let mut out = format!(
            "== store profile {}: {:.1} s, {} batches, {} jobs ({:.1} per batch), busy {:.1}% \
             of the time, {:.1} us busy per job, {:.1} us in statements per job\n\
             {:>9} {:>8} {:>9} {:>9} {:>6}  statement\n",
            self.name,
            wall.as_secs_f64(),
            self.batches,
            self.jobs,
            self.jobs as f64 / self.batches.max(1) as f64,
            100.0 * self.busy.as_secs_f64() / wall.as_secs_f64().max(1e-9),
            self.busy.as_secs_f64() * 1e6 / jobs,
            timed.as_secs_f64() * 1e6 / jobs,
            "calls",
            "per job",
            "us/call",
            "us/job",
            "share",
        );
        for (sql, stat) in rows.iter().take(40) {
            let text: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let text: String = text.chars().take(110).collect();
            out.push_str(&format!(
                "{:>9} {:>8.2} {:>9.1} {:>9.1} {:>5.1}%  {}\n",
                stat.calls,
                stat.calls as f64 / jobs,
                stat.time.as_secs_f64() * 1e6 / stat.calls.max(1) as f64,
                stat.time.as_secs_f64() * 1e6 / jobs,
                100.0 * stat.time.as_secs_f64() / timed.as_secs_f64().max(1e-9),
                text
            ));
        }
        eprint!("{out}");
        self.since = Instant::now();
        self.batches = 0;
        self.jobs = 0;
        self.busy = Duration::ZERO;
        self.statements.clear();
    }
}

/// A connection that times every statement into a [`Profile`].
pub(crate) struct Timed<'a> {
    pub(crate) db: &'a mut dyn Db,
    pub(crate) profile: &'a mut Profile,
}

impl Db for Timed<'_> {
    fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let started = Instant::now();
        let result = self.db.execute(sql, params);
        self.profile.note(sql, started.elapsed());
        result
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let started = Instant::now();
        let result = self.db.query(sql, params);
        self.profile.note(sql, started.elapsed());
        result
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.db.batch(sql);
        self.profile.note(sql, started.elapsed());
        result
    }
}
