//! What one group commit defers to its end: additions to hot rows (daily
//! totals every push updates), added up per row and written once just
//! before the commit in a fixed order; SQLite's full-text index rows,
//! queued by the message triggers and indexed outside every job's
//! savepoint (FTS5 writes its pending terms out at each savepoint), at
//! most every [`SEARCH_INDEX_EVERY_MS`]; and the "once every few seconds"
//! writes of [`Db::due`].

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use crate::{
    StoreError,
    db::{Db, Dialect, Row, Value},
};

/// The last time each [`Db::due`] key was due, shared by a store's writers.
pub(crate) type DueTimes = Arc<Mutex<HashMap<String, i64>>>;

/// One deferred addition: the statement, its key parameters, the counts.
struct Addition {
    sql: String,
    key: Vec<Value>,
    add: Vec<i64>,
}

/// A connection inside a group commit.
pub(crate) struct Batch<'a> {
    pub(crate) db: &'a mut dyn Db,
    pub(crate) due: &'a DueTimes,
    additions: Vec<Addition>,
}

/// Indexes the messages the search triggers queued in this transaction
/// (SQLite: `messages_fts_queue`, migration 0019).
const FLUSH_SEARCH_QUEUE: &str = "INSERT INTO messages_fts \
       (rowid, search_text, workspace_id, conversation_id, created_at, note) \
     SELECT m.id, m.search_text, m.workspace_id, m.conversation_id, m.created_at, \
       m.direction = 'note' \
     FROM messages_fts_queue q CROSS JOIN messages m ON m.id = q.id \
     WHERE m.search_text IS NOT NULL";
const CLEAR_SEARCH_QUEUE: &str = "DELETE FROM messages_fts_queue";

/// How often, at most, a busy SQLite writer indexes the search queue; an
/// idle one indexes it with the first write after this long.
pub(crate) const SEARCH_INDEX_EVERY_MS: i64 = 200;

impl<'a> Batch<'a> {
    pub(crate) fn new(db: &'a mut dyn Db, due: &'a DueTimes) -> Self {
        Batch {
            db,
            due,
            additions: Vec::new(),
        }
    }

    /// Where the next job's deferred work starts, to drop it if it fails.
    pub(crate) fn mark(&self) -> usize {
        self.additions.len()
    }

    /// Drops what was deferred since `mark` (its job failed).
    pub(crate) fn undo(&mut self, mark: usize) {
        self.additions.truncate(mark);
    }

    /// Drops everything deferred (the whole transaction is rolled back).
    pub(crate) fn clear(&mut self) {
        self.additions.clear();
    }

    /// Writes what was deferred, before the commit.
    pub(crate) fn finish(&mut self) -> Result<(), StoreError> {
        let mut merged: BTreeMap<(String, String), Addition> = BTreeMap::new();
        for a in self.additions.drain(..) {
            // The order rows are locked in, the same in every writer.
            let order = (format!("{:?}", a.key), a.sql.clone());
            match merged.get_mut(&order) {
                Some(m) => {
                    for (sum, v) in m.add.iter_mut().zip(&a.add) {
                        *sum += v;
                    }
                }
                None => {
                    merged.insert(order, a);
                }
            }
        }
        for a in merged.into_values() {
            let mut params = a.key;
            params.extend(a.add.into_iter().map(Value::Int));
            self.db.execute(&a.sql, &params)?;
        }
        // FTS5 writes a segment per flush and merges segments as they
        // pile up: under load the queue is indexed every few hundred
        // milliseconds rather than every transaction (6-10% more pushes a
        // second, BENCHMARKS.md), and search reads what is still queued itself
        // (search.rs, `with_queued`).
        if self.db.dialect() == Dialect::Sqlite
            && self.due(
                "search-index",
                imhub_core::Timestamp::now().millis(),
                SEARCH_INDEX_EVERY_MS,
            )
        {
            match self.db.execute(FLUSH_SEARCH_QUEUE, &[]) {
                Ok(_) => {
                    self.db.execute(CLEAR_SEARCH_QUEUE, &[])?;
                }
                // A database without the queue (not migrated yet) has
                // nothing to index.
                Err(e) if e.to_string().contains("no such table") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Db for Batch<'_> {
    fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.db.execute(sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.db.query(sql, params)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.db.batch(sql)
    }

    fn add_to_row(&mut self, sql: &str, key: &[Value], add: &[i64]) -> Result<(), StoreError> {
        self.additions.push(Addition {
            sql: sql.to_string(),
            key: key.to_vec(),
            add: add.to_vec(),
        });
        Ok(())
    }

    fn due(&mut self, key: &str, at_ms: i64, every_ms: i64) -> bool {
        let Ok(mut due) = self.due.lock() else {
            return true;
        };
        match due.get(key) {
            Some(last) if at_ms < last + every_ms => false,
            _ => {
                due.insert(key.to_string(), at_ms);
                true
            }
        }
    }
}
