//! imhub's HTTP server: the JSON API under `/api/v1`, platform webhooks,
//! the ingest and delivery engines, live events and the web inbox.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod channels;
pub mod config;
pub mod delivery;
pub mod error;
pub mod inbox;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod outbound;
pub mod outbound_http;
pub mod outgoing_webhooks;
pub mod presence;
pub mod rate_limit;
pub mod retention;
pub mod timers;
pub mod webhooks;

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use imhub_store::{SqlStore, Store, StoreError, StoreOptions};
use tokio::{net::TcpListener, sync::Notify};

pub use crate::config::Config;
use crate::{channels::ChannelRegistry, live::LiveHub, metrics::Metrics};

/// Everything a request handler or engine needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub channels: Arc<ChannelRegistry>,
    pub live: LiveHub,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    /// Wakes the delivery engine when something was queued.
    pub outbox_ready: Arc<Notify>,
    /// Send rate limits shared by the delivery tasks.
    pub limits: Arc<rate_limit::RateLimiter>,
    /// The one client for URLs a tenant chose (custom outbound, outgoing
    /// webhooks, alert robots): never a fresh `reqwest::Client` for those.
    pub outbound_http: outbound_http::GuardedClient,
    /// Turns true when the server shuts down, so long-lived responses (live
    /// event streams) end and the shutdown does not wait for them.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// The login throttle and API-token use records (per node).
    pub credentials: Arc<auth::Credentials>,
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        // `start` refuses a configuration the guard cannot read; here (tests,
        // tools) a bad allow-list entry falls back to allowing public
        // addresses only, never to allowing everything.
        let guarded = outbound_http::GuardedClient::new(&config.outbound).unwrap_or_else(|e| {
            tracing::error!(error = %e, "outbound settings unusable; only public addresses allowed");
            outbound_http::GuardedClient::new(&config::OutboundConfig {
                allow_cidrs: Vec::new(),
                ..config.outbound.clone()
            })
            .or_else(|_| outbound_http::GuardedClient::new(&config::OutboundConfig::default()))
            .unwrap_or_else(|_| unreachable!("the default outbound settings are valid"))
        });
        let limits = Arc::new(rate_limit::RateLimiter::for_store(
            &store,
            config.delivery.shared_rate_limits,
        ));
        AppState {
            channels: Arc::new(ChannelRegistry::new(
                std::time::Duration::from_millis(config.delivery.request_timeout_ms),
                guarded.clone(),
                config.platforms.clone(),
                Arc::clone(&store),
            )),
            outbound_http: guarded,
            store,
            live: LiveHub::new(),
            metrics: Arc::new(Metrics::default()),
            config: Arc::new(config),
            outbox_ready: Arc::new(Notify::new()),
            limits,
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
            credentials: Arc::new(auth::Credentials::default()),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Opens the store named by the configuration (applying migrations).
pub async fn open_store(config: &Config) -> Result<Arc<SqlStore>, ServeError> {
    let mut options = StoreOptions::new(config.database_url.clone());
    options.durability = match config.sqlite_durability.as_str() {
        "full" => imhub_store::Durability::Full,
        "normal" => imhub_store::Durability::Normal,
        other => {
            return Err(ServeError::Config(format!(
                "sqlite_durability must be full or normal, not {other:?}"
            )));
        }
    };
    options.secret_key = configured_secret_key(config)?;
    Ok(Arc::new(SqlStore::open(options).await?))
}

/// The secret key the configuration names (`secret_key` or
/// `secret_key_file`), if any; without one a SQLite store uses the key file
/// beside the database and a PostgreSQL store refuses to open.
pub fn configured_secret_key(
    config: &Config,
) -> Result<Option<imhub_store::SecretKey>, ServeError> {
    let bad = |e: imhub_store::secrets::KeyError| ServeError::Config(format!("secret_key: {e}"));
    match (&config.secret_key, &config.secret_key_file) {
        (Some(_), Some(_)) => Err(ServeError::Config(
            "set secret_key or secret_key_file, not both".into(),
        )),
        (Some(text), None) => imhub_store::SecretKey::parse(&text.0)
            .map(Some)
            .map_err(bad),
        (None, Some(path)) => imhub_store::SecretKey::from_file(path)
            .map(Some)
            .map_err(bad),
        (None, None) => Ok(None),
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let mut app = Router::new()
        .nest("/api/v1", api::routes())
        .merge(webhooks::routes())
        .route("/media/{key}", get(api::media::fetch))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics));
    if state.config.inbox {
        app = app.merge(inbox::routes());
    }
    app.layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(inbox::security_headers))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.list_workspaces().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// A running server: its address and state, for tests and the demo.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds, starts the delivery engine and serves until `shutdown` resolves.
/// With `config.listen` port 0 an ephemeral port is chosen; see [`Running::addr`].
pub async fn start(
    mut config: Config,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, ServeError> {
    // Refuse an allow-list the guard cannot read before anything starts.
    outbound_http::GuardedClient::new(&config.outbound)
        .map_err(|e| ServeError::Config(e.to_string()))?;
    // The operator token, read from its file once (issue 15).
    config.operator_token = api::operator::configured_token(&config)?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    config.listen = addr;
    let state = AppState::new(store, config);
    if let Some(mut feed) = state.store.remote_changes() {
        // Several nodes may share this database: live events come from what
        // any node committed.
        state.live.use_store_feed();
        let live = state.live.clone();
        tokio::spawn(async move {
            while let Some(change) = feed.recv().await {
                live.publish_committed(std::slice::from_ref(&change));
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let delivery = tokio::spawn(delivery::run(state.clone(), stop_rx.clone()));
    let pruning = tokio::spawn(retention::run(state.clone(), stop_rx.clone()));
    let timer_engine = tokio::spawn(timers::run(state.clone(), stop_rx.clone()));
    let presence_sweeper = tokio::spawn(presence::run(state.clone(), stop_rx.clone()));
    let alert_engine = tokio::spawn(alerts::run(state.clone(), stop_rx.clone()));
    // The operator's default quotas, and the finishing of resumes a node
    // left unfinished (issue 15).
    state
        .store
        .set_quota_defaults(state.config.limits.quota_defaults())
        .await?;
    let resumer = tokio::spawn(api::operator::run(state.clone(), stop_rx.clone()));
    let hooks = tokio::spawn(outgoing_webhooks::run(state.clone(), stop_rx));
    let app = router(state.clone());
    let stopping = Arc::clone(&state.stopping);
    let task = tokio::spawn(async move {
        // The client's address feeds the login throttle.
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping.send(true);
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped");
        }
        let _ = stop_tx.send(true);
        let _ = delivery.await;
        let _ = hooks.await;
        let _ = alert_engine.await;
        let _ = resumer.await;
        let _ = pruning.await;
        let _ = timer_engine.await;
        let _ = presence_sweeper.await;
    });
    Ok(Running { addr, state, task })
}
