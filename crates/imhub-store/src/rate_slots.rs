//! Send rate limits shared by every node on one database: for each limit
//! key (a channel's per-app limit, an account's limit) one row counts the
//! sends granted in one Unix second, on all nodes together.
//!
//! A claim is one conditional increment per key, in one statement for a
//! whole batch of keys: the count moves up by what it grants and never past
//! the limit, and a claim for a later second starts the count again. So the
//! grants for any second add up to at most the limit, whichever nodes asked
//! and however their claims interleaved; a node that dies holding grants
//! only leaves them unused until its second ends, and a node that joins
//! claims like any other. Where each node sends what it was granted (inside
//! the second it was granted for) is the server's part (`rate_limit.rs`).

use std::collections::BTreeMap;

use crate::{
    StoreError,
    db::{Db, Value},
};

/// What one limit key asks for in a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateClaim {
    /// The limit's name, the same on every node (`channel:12`).
    pub key: String,
    /// Sends the key allows in one second (at least one is assumed).
    pub limit: u32,
    /// Sends this node would make now.
    pub want: u32,
}

/// Most distinct keys one claim may name: a bound on the statement's size
/// (three parameters a key).
pub const MAX_KEYS_PER_CLAIM: usize = 500;

/// Takes up to `want` of each key's sends of `second`; returns the grants in
/// the order of `claims` (a key named twice is claimed once for both and
/// its grant handed out in order).
pub(crate) fn claim(
    db: &mut dyn Db,
    second: i64,
    claims: &[RateClaim],
) -> Result<Vec<u32>, StoreError> {
    // One row per key, in key order: two nodes claiming overlapping keys
    // lock their rows in the same order, so they can never deadlock.
    let mut wanted: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for c in claims {
        let entry = wanted.entry(c.key.as_str()).or_insert((u32::MAX, 0));
        entry.0 = entry.0.min(c.limit.max(1));
        entry.1 = entry.1.saturating_add(c.want);
    }
    wanted.retain(|_, (_, want)| *want > 0);
    if wanted.len() > MAX_KEYS_PER_CLAIM {
        return Err(StoreError::InvalidState(format!(
            "a rate claim names {} keys; at most {MAX_KEYS_PER_CLAIM}",
            wanted.len()
        )));
    }
    let mut granted: BTreeMap<String, u32> = BTreeMap::new();
    if !wanted.is_empty() {
        let mut params: Vec<Value> = vec![second.into()];
        let mut rows = Vec::with_capacity(wanted.len());
        for (key, (limit, want)) in &wanted {
            let n = params.len();
            rows.push(format!(
                "(${}, $1, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 2
            ));
            params.push((*key).into());
            params.push(i64::from((*want).min(*limit)).into());
            params.push(i64::from(*limit).into());
        }
        // The SET expressions read the row as it was before this statement
        // (and, on PostgreSQL, as the last committed claim left it: the
        // conflicting row is locked and re-read), so `granted` is exactly
        // what this claim added to `used`. A row already counting a later
        // second is left alone and returns nothing: no grant.
        let sql = format!(
            "INSERT INTO rate_slots (limit_key, second, used, cap, granted) VALUES {} \
             ON CONFLICT (limit_key) DO UPDATE SET \
               second = excluded.second, \
               cap = excluded.cap, \
               used = CASE \
                 WHEN rate_slots.second < excluded.second THEN excluded.used \
                 WHEN rate_slots.used >= excluded.cap THEN rate_slots.used \
                 WHEN rate_slots.used + excluded.used > excluded.cap THEN excluded.cap \
                 ELSE rate_slots.used + excluded.used END, \
               granted = CASE \
                 WHEN rate_slots.second < excluded.second THEN excluded.used \
                 WHEN rate_slots.used >= excluded.cap THEN 0 \
                 WHEN rate_slots.used + excluded.used > excluded.cap \
                   THEN excluded.cap - rate_slots.used \
                 ELSE excluded.used END \
             WHERE rate_slots.second <= excluded.second \
             RETURNING limit_key, granted",
            rows.join(", ")
        );
        for row in db.query(&sql, &params)? {
            let got = u32::try_from(row.int(1)?.max(0)).unwrap_or(u32::MAX);
            granted.insert(row.text(0)?, got);
        }
    }
    // Hand each key's grant to its claims in order.
    Ok(claims
        .iter()
        .map(|c| {
            let left = granted.get_mut(c.key.as_str());
            match left {
                Some(left) => {
                    let take = (*left).min(c.want);
                    *left -= take;
                    take
                }
                None => 0,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{migrations, sqlite::SqliteDb};

    fn db() -> (tempfile_dir::Dir, SqliteDb) {
        let dir = tempfile_dir::Dir::new();
        let mut db = SqliteDb::open_writer(&dir.path().join("t.db"), crate::Durability::Normal)
            .expect("sqlite");
        migrations::migrate(&mut db).expect("migrate");
        (dir, db)
    }

    /// A scratch directory removed on drop (no extra dependency).
    mod tempfile_dir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "imhub-rate-slots-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).expect("scratch dir");
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn c(key: &str, limit: u32, want: u32) -> RateClaim {
        RateClaim {
            key: key.into(),
            limit,
            want,
        }
    }

    #[test]
    fn grants_stop_at_the_limit_and_a_new_second_starts_again() {
        let (_dir, mut db) = db();
        assert_eq!(claim(&mut db, 100, &[c("k", 10, 4)]).unwrap(), [4]);
        assert_eq!(claim(&mut db, 100, &[c("k", 10, 4)]).unwrap(), [4]);
        assert_eq!(claim(&mut db, 100, &[c("k", 10, 4)]).unwrap(), [2]);
        assert_eq!(claim(&mut db, 100, &[c("k", 10, 4)]).unwrap(), [0]);
        assert_eq!(claim(&mut db, 101, &[c("k", 10, 30)]).unwrap(), [10]);
        // An older second than the one counted gets nothing.
        assert_eq!(claim(&mut db, 100, &[c("k", 10, 1)]).unwrap(), [0]);
    }

    #[test]
    fn a_key_named_twice_is_claimed_once_and_shared_in_order() {
        let (_dir, mut db) = db();
        let got = claim(
            &mut db,
            7,
            &[c("a", 5, 3), c("b", 2, 1), c("a", 5, 3), c("z", 1, 0)],
        )
        .unwrap();
        assert_eq!(got, [3, 1, 2, 0]);
    }
}
