//! The PostgreSQL side of [`Db`], over the synchronous `postgres` client
//! (each call runs on a blocking thread, never on the async runtime).

use std::{collections::HashMap, error::Error};

use postgres::{
    Client, NoTls, Statement,
    types::{IsNull, ToSql, Type, to_sql_checked},
};

use crate::{
    StoreError,
    db::{Db, Dialect, Row, Value},
};

/// One PostgreSQL connection.
pub struct PgDb {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgDb {
    /// Connects to `url` (`postgres://user:pass@host:port/db`).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let client = Client::connect(url, NoTls)?;
        Ok(PgDb {
            client,
            statements: HashMap::new(),
        })
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(t) => t.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn read_row(row: &postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(Value::from),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.prepare(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        Ok(self.client.execute(&stmt, &refs)?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.prepare(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.client
            .query(&stmt, &refs)?
            .iter()
            .map(read_row)
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.batch_execute(sql)?)
    }
}

/// Receives the changes every node publishes with NOTIFY and forwards them
/// until the receiver is gone; reconnects after a lost connection.
pub fn listen(url: &str, channel: &str, tx: &tokio::sync::mpsc::UnboundedSender<crate::Change>) {
    use postgres::fallible_iterator::FallibleIterator;
    while !tx.is_closed() {
        let mut client = match Client::connect(url, NoTls) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "live events: cannot connect to LISTEN; retrying");
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")) {
            tracing::warn!(error = %e, "live events: LISTEN failed; retrying");
            std::thread::sleep(std::time::Duration::from_secs(1));
            continue;
        }
        let mut notifications = client.notifications();
        let mut iter = notifications.timeout_iter(std::time::Duration::from_secs(1));
        loop {
            match iter.next() {
                Ok(Some(n)) => match serde_json::from_str::<Vec<crate::Change>>(n.payload()) {
                    Ok(changes) => {
                        for change in changes {
                            if tx.send(change).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "live events: bad notification"),
                },
                // A quiet second: check that someone still listens.
                Ok(None) => {
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live events: LISTEN connection lost");
                    break;
                }
            }
        }
    }
}
