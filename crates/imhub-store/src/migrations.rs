//! The schema, embedded in the binary and applied in order at start and by
//! `imhub migrate`.

use crate::{
    StoreError,
    db::{Db, Dialect},
};

/// Each step's version and SQL, per backend.
macro_rules! steps {
    ($dir:literal: $($version:literal => $file:literal),+ $(,)?) => {
        &[$(($version, include_str!(concat!("../migrations/", $dir, "/", $file)))),+]
    };
}

const SQLITE: &[(i64, &str)] = steps!("sqlite":
    1 => "0001_init.sql",
    2 => "0002_channel_state.sql",
    3 => "0003_webhooks.sql",
    4 => "0004_outbox_leases.sql",
    5 => "0005_retention.sql",
    6 => "0006_group_members.sql",
    7 => "0007_credentials.sql",
    8 => "0008_notes_labels.sql",
    9 => "0009_assignment.sql",
    10 => "0010_search.sql",
    11 => "0011_automation.sql",
    12 => "0012_leads.sql",
    13 => "0013_turns.sql",
    14 => "0014_alerts.sql",
    15 => "0015_authors.sql",
    16 => "0016_operator.sql",
    17 => "0017_console.sql",
    18 => "0018_rate_slots.sql",
    19 => "0019_ingest.sql",
    20 => "0020_search_hours.sql",
    21 => "0021_search_text.sql",
);
const POSTGRES: &[(i64, &str)] = steps!("postgres":
    1 => "0001_init.sql",
    2 => "0002_channel_state.sql",
    3 => "0003_webhooks.sql",
    4 => "0004_outbox_leases.sql",
    5 => "0005_retention.sql",
    6 => "0006_group_members.sql",
    7 => "0007_credentials.sql",
    8 => "0008_notes_labels.sql",
    9 => "0009_assignment.sql",
    10 => "0010_search.sql",
    11 => "0011_automation.sql",
    12 => "0012_leads.sql",
    13 => "0013_turns.sql",
    14 => "0014_alerts.sql",
    15 => "0015_authors.sql",
    16 => "0016_operator.sql",
    17 => "0017_console.sql",
    18 => "0018_rate_slots.sql",
    19 => "0019_ingest.sql",
    20 => "0020_search_hours.sql",
    21 => "0021_search_text.sql",
);

/// Applies every migration the database has not seen; returns how many ran.
pub fn migrate(db: &mut dyn Db) -> Result<usize, StoreError> {
    let (steps, lock) = match db.dialect() {
        Dialect::Sqlite => (SQLITE, "BEGIN IMMEDIATE"),
        // Several nodes may start at once: one migrates, the others wait.
        Dialect::Postgres => (POSTGRES, "BEGIN; SELECT pg_advisory_xact_lock(7261)"),
    };
    db.batch(lock)?;
    let result = apply(db, steps);
    match &result {
        Ok(_) => db.batch("COMMIT")?,
        Err(_) => {
            let _ = db.batch("ROLLBACK");
        }
    }
    result
}

fn apply(db: &mut dyn Db, steps: &[(i64, &str)]) -> Result<usize, StoreError> {
    db.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    // Every step not applied yet, in order: also one numbered below the
    // newest applied (a step that landed after later ones had run, as 0016
    // after 0017 and 0018 in one session); steps are independent of order
    // among those that ran apart.
    let applied: Vec<i64> = db
        .query("SELECT version FROM schema_migrations", &[])?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_, _>>()?;
    let mut ran = 0;
    for (version, sql) in steps.iter().filter(|(v, _)| !applied.contains(v)) {
        db.batch(sql)?;
        db.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[
                (*version).into(),
                imhub_core::Timestamp::now().millis().into(),
            ],
        )?;
        ran += 1;
    }
    Ok(ran)
}
