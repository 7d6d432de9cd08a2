//! What can go wrong in storage, as the API layer needs to tell it apart.

/// Errors from the store. `NotFound` also covers "exists, but in another
/// workspace", so callers cannot tell the two apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or state rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request makes no sense for the stored state (e.g. recall of a queued message).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// A transient conflict between concurrent writers (a PostgreSQL
    /// deadlock or serialization failure): the write may simply be retried.
    #[error("concurrent write conflict: {0}")]
    Retryable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("unsupported database url: {0}")]
    BadUrl(String),
    /// Stored secrets cannot be encrypted or decrypted: no key, a wrong
    /// key, or a value that was altered or moved to another row.
    #[error("stored secrets: {0}")]
    Secrets(String),
    /// A PostgreSQL URL's TLS settings are wrong, or TLS could not be set up.
    #[error("database TLS: {0}")]
    Tls(String),
    /// A per-workspace quota (media bytes, …) would be exceeded.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// A rule of the domain refused the request; `code` is the stable
    /// snake_case code the API answers with (`unknown_agent`,
    /// `agent_disabled`, `snooze_in_past`, `forbidden`, …).
    #[error("refused ({code}): {detail}")]
    Refused { code: &'static str, detail: String },
    /// The writer thread or pool is gone (shutdown).
    #[error("store is closed")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match e.as_db_error() {
            Some(db)
                if [
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                ]
                .contains(db.code()) =>
            {
                StoreError::Retryable(format!("{} ({})", db.message(), db.code().code()))
            }
            Some(db) => StoreError::Database(format!("{} ({})", db.message(), db.code().code())),
            None => StoreError::Database(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Database(format!("stored JSON is invalid: {e}"))
    }
}
