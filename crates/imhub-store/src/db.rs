//! The small synchronous SQL interface both backends implement, so every
//! query and every piece of store logic is written once. Statements use
//! PostgreSQL's `$1` placeholders; the SQLite side rewrites them.

use crate::StoreError;

/// A value bound to or read from a statement. Booleans are stored as 0/1 and
/// JSON as text in both backends, so four kinds are enough.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row, read by column index.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    /// An integer column; NULL is an error.
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::Database(format!("column {i} is NULL")))
    }

    /// A nullable integer column.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.get(i) {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(StoreError::Database(format!(
                "column {i}: expected integer, got {other:?}"
            ))),
        }
    }

    /// A text column; NULL is an error.
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Database(format!("column {i} is NULL")))
    }

    /// A nullable text column.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.get(i) {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            Value::Blob(b) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
            other => Err(StoreError::Database(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }

    /// A blob column (text is returned as its bytes).
    pub fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.get(i) {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(StoreError::Database(format!(
                "column {i}: expected blob, got {other:?}"
            ))),
        }
    }
}

/// Which SQL dialect a connection speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A synchronous connection. Implemented by SQLite and PostgreSQL.
pub trait Db: Send {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs one statement and returns its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs several statements without parameters (migrations, BEGIN, SAVEPOINT).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;

    /// Adds counts to a row that many writers update (a daily total): runs
    /// `sql` with `key` followed by `add` as its parameters. The group
    /// commit writer defers these to the end of its transaction, adds up
    /// those with the same `sql` and `key`, and runs them in a fixed order
    /// just before the commit, so a hot row is locked for the commit alone
    /// (PostgreSQL) and written once per transaction. `sql` must be an
    /// upsert that adds its `add` parameters to the row. A job that fails
    /// drops what it deferred. Elsewhere it runs at once.
    fn add_to_row(&mut self, sql: &str, key: &[Value], add: &[i64]) -> Result<(), StoreError> {
        let mut params = key.to_vec();
        params.extend(add.iter().map(|v| Value::Int(*v)));
        self.execute(sql, &params).map(|_| ())
    }

    /// Whether a write that only needs to happen every `every_ms` (a
    /// "last seen" time, say) is due for `key` at `at_ms`: the group commit
    /// writer answers `true` once per `key` per `every_ms` of `at_ms` (and
    /// for an `at_ms` earlier than the last, `false`); elsewhere always
    /// `true`.
    fn due(&mut self, key: &str, at_ms: i64, every_ms: i64) -> bool {
        let _ = (key, at_ms, every_ms);
        true
    }

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Exactly one row; none is `NotFound`.
    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?.ok_or(StoreError::NotFound)
    }
}

/// Rewrites `$1` placeholders to SQLite's `?1`, leaving string literals alone.
/// Runs for every statement, so it works on bytes: `$`, `'` and digits are
/// ASCII and never part of a multi-byte character.
pub fn to_sqlite_placeholders(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_literal = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\'' {
            in_literal = !in_literal;
        }
        let placeholder =
            b == b'$' && !in_literal && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        out.push(if placeholder { b'?' } else { b });
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    String::from_utf8(out).unwrap_or_else(|_| sql.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        assert_eq!(
            to_sqlite_placeholders("SELECT $1, '$2', $10"),
            "SELECT ?1, '$2', ?10"
        );
        assert_eq!(to_sqlite_placeholders("'你好' = $3"), "'你好' = ?3");
    }
}
