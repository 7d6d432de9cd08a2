//! The retention job: prunes what imhub keeps only for a while (see
//! `[retention]` in the configuration), in small batches, on every node;
//! on PostgreSQL an advisory lock lets one node at a time do the work.

use std::time::Duration;

use imhub_core::Timestamp;
use tokio::sync::watch;

use crate::AppState;

/// Runs until `stop` turns true: a pass at start, then one per interval.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let cfg = state.config.retention.clone();
    let interval = Duration::from_secs(cfg.interval_secs.max(1));
    while !*stop.borrow() {
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %e, "retention pass failed; will try again");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One pass: batches until nothing old is left (or another node holds the
/// lock). Returns how many records were pruned.
pub async fn pass(state: &AppState) -> Result<u64, imhub_store::StoreError> {
    let cfg = &state.config.retention;
    let policy = cfg.policy();
    let batch = cfg.batch.max(1);
    let mut total = 0;
    loop {
        let pruned = state.store.prune(policy, Timestamp::now(), batch).await?;
        total += pruned.total();
        // Webhook deliveries are pruned in two batches (delivered, failed):
        // a full one of either makes their sum reach `batch`.
        let full = [
            pruned.raw_bodies,
            pruned.webhook_deliveries,
            pruned.idempotency_keys,
            pruned.sessions,
            pruned.oauth_states,
        ]
        .iter()
        .any(|&n| n >= u64::from(batch));
        if pruned.locked_out || !full || *state.stopping.borrow() {
            break;
        }
        // Leave the writer to pushes between batches.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if total > 0 {
        tracing::info!(records = total, "retention: pruned old records");
    }
    Ok(total)
}
