//! The SQLite side of [`Db`]: a file in WAL mode.

use std::{path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags, types::ValueRef};

use crate::{
    StoreError,
    db::{Db, Dialect, Row, Value, to_sqlite_placeholders},
};

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// One SQLite connection.
pub struct SqliteDb {
    conn: Connection,
}

/// How durable a commit is: `Full` survives power loss, `Normal` survives a
/// crash of the process (WAL), and is faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Full,
    Normal,
}

impl SqliteDb {
    /// Opens (creating if needed) the writer connection.
    pub fn open_writer(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        // A bounded cache of its own and no memory map: every page of the
        // file it touched would count in the process's RSS, which then grew
        // with the database (ingest bench, 2026-12-04: peak 125-131 MiB
        // mapped, 47 MiB not, the same requests/s).
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {sync};
             PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -16384;
             PRAGMA temp_store = MEMORY;"
        ))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Every statement of the hot paths stays prepared; rusqlite's default
        // of 16 would re-prepare them in turn under load.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteDb { conn })
    }

    /// Opens a read-only connection for the reader pool.
    pub fn open_reader(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Readers share the OS page cache (a page missing from their own
        // small cache is one `pread` away), so the process's memory stays
        // bounded however large the database grows. Not mapped: each
        // mapping would count the file's pages in the process's RSS again.
        conn.execute_batch("PRAGMA cache_size = -2048; PRAGMA temp_store = MEMORY;")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteDb { conn })
    }

    fn bind(params: &[Value]) -> Vec<rusqlite::types::Value> {
        params
            .iter()
            .map(|p| match p {
                Value::Null => rusqlite::types::Value::Null,
                Value::Int(i) => rusqlite::types::Value::Integer(*i),
                Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
                Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            })
            .collect()
    }
}

impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(&to_sqlite_placeholders(sql))?;
        let n = stmt.execute(rusqlite::params_from_iter(Self::bind(params)))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&to_sqlite_placeholders(sql))?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(Self::bind(params)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Int(v as i64),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch(sql)?)
    }
}
