//! The PostgreSQL side of [`Db`], over the synchronous `postgres` client
//! (each call runs on a blocking thread, never on the async runtime).
//!
//! Connections speak TLS (rustls) as the URL's `sslmode` asks, with libpq's
//! meanings: `disable` (the default here) and `prefer` (TLS when the server
//! offers it, certificate unchecked), `require` (TLS or no connection;
//! the certificate is checked against `sslrootcert` when one is named, as
//! libpq does), `verify-ca` (chain checked against `sslrootcert`, else the
//! webpki roots) and `verify-full` (chain and host name checked).

use std::{collections::HashMap, error::Error, path::PathBuf, str::FromStr, sync::Arc};

use postgres::{
    Client, NoTls, Statement,
    config::SslMode,
    types::{IsNull, ToSql, Type, to_sql_checked},
};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{
    StoreError,
    db::{Db, Dialect, Row, Value},
};

/// How to reach one PostgreSQL database: the parsed URL and the TLS it
/// asks for. Built once per store, used for every connection.
#[derive(Clone)]
pub struct PgConnector {
    config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
}

impl std::fmt::Debug for PgConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration holds the password: show only what is safe.
        f.debug_struct("PgConnector")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// The TLS settings of a URL, before they become a rustls configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TlsMode {
    Disable,
    /// TLS when offered (`prefer`) or always (`require`), certificate unchecked.
    Unverified {
        required: bool,
    },
    /// Chain checked; host name too when `full`.
    Verified {
        full: bool,
        root: Option<PathBuf>,
    },
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL (the
/// client library knows neither `verify-*` nor `sslrootcert`) and returns
/// the rest of the URL with the TLS mode they ask for.
fn split_tls(url: &str) -> Result<(String, TlsMode), StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let (mut mode, mut root) = (None, None);
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = url::form_urlencoded::parse(part.as_bytes()).next() else {
            continue;
        };
        match key.as_ref() {
            "sslmode" => mode = Some(value.into_owned()),
            "sslrootcert" => root = Some(PathBuf::from(value.as_ref())),
            _ => kept.push(part),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    // `sslrootcert=system` is libpq's name for the system's roots.
    let root = root.filter(|r| r.as_os_str() != "system");
    let mode = match mode.as_deref() {
        None | Some("disable") => TlsMode::Disable,
        Some("prefer") => TlsMode::Unverified { required: false },
        Some("require") if root.is_none() => TlsMode::Unverified { required: true },
        Some("require") | Some("verify-ca") => TlsMode::Verified { full: false, root },
        Some("verify-full") => TlsMode::Verified { full: true, root },
        Some(other) => {
            return Err(StoreError::Tls(format!(
                "sslmode {other:?} is not supported: use disable, prefer, require, verify-ca                  or verify-full"
            )));
        }
    };
    Ok((rest, mode))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(path: Option<&PathBuf>) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    match path {
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    StoreError::Tls(format!("cannot read sslrootcert {}: {e}", path.display()))
                })?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(StoreError::Tls(format!(
                    "sslrootcert {} holds no usable certificate",
                    path.display()
                )));
            }
        }
    }
    Ok(store)
}

fn client_config(mode: &TlsMode) -> Result<Option<ClientConfig>, StoreError> {
    let provider = provider();
    let tls = |e: rustls::Error| StoreError::Tls(e.to_string());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(tls)?;
    let config = match mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Unverified { .. } => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        TlsMode::Verified { full, root } => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(root.as_ref())?),
                provider,
            )
            .build()
            .map_err(|e| StoreError::Tls(e.to_string()))?;
            if *full {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
                    .with_no_client_auth()
            }
        }
    };
    Ok(Some(config))
}

/// `prefer` and `require` without a root: the channel is encrypted but the
/// server is not authenticated, as libpq does for these modes. The
/// handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root, whatever name the
/// certificate carries.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A connection error with its causes (the client library's own text is
/// only "error performing TLS handshake"), never with the URL.
fn connect_error(e: &postgres::Error) -> StoreError {
    let mut text = format!("cannot connect to PostgreSQL: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    StoreError::Database(text)
}

impl PgConnector {
    /// Reads a `postgres://` URL with its optional `sslmode` and `sslrootcert`.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let (rest, mode) = split_tls(url)?;
        let mut config = postgres::Config::from_str(&rest)
            .map_err(|e| StoreError::BadUrl(format!("the PostgreSQL URL is invalid: {e}")))?;
        config.ssl_mode(match mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Unverified { required: false } => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let tls = client_config(&mode)?.map(MakeRustlsConnect::new);
        Ok(PgConnector { config, tls })
    }

    /// A new client connection, over TLS when the URL asked for it.
    pub fn client(&self) -> Result<Client, StoreError> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
        .map_err(|e| connect_error(&e))
    }
}

/// One PostgreSQL connection.
pub struct PgDb {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgDb {
    /// Connects to `url` (`postgres://user:pass@host:port/db`, with an
    /// optional `sslmode`).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(&PgConnector::from_url(url)?)
    }

    /// Connects as `connector` says.
    pub fn connect_with(connector: &PgConnector) -> Result<Self, StoreError> {
        Ok(PgDb {
            client: connector.client()?,
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
pub fn listen(
    connector: &PgConnector,
    channel: &str,
    tx: &tokio::sync::mpsc::UnboundedSender<crate::Change>,
) {
    use postgres::fallible_iterator::FallibleIterator;
    while !tx.is_closed() {
        let mut client = match connector.client() {
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
