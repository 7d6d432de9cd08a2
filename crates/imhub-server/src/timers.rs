//! The timer engine: takes due durable timers under a lease and fires
//! them (a snooze ends), on whichever node is up. A timer due while no
//! node ran fires as soon as one does; one whose node crashed mid-way is
//! taken over when its lease runs out; firing and deleting a timer is one
//! transaction, so it happens once.

use std::time::Duration;

use imhub_core::Timestamp;
use tokio::sync::watch;

use crate::AppState;

/// How long a node holds a timer it took.
pub const LEASE_MS: i64 = 60_000;

/// Longest sleep between looks (a timer scheduled on another node is
/// noticed within this).
pub const MAX_IDLE: Duration = Duration::from_secs(1);

/// Timers taken per look.
const BATCH: u32 = 100;

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let owner = state
        .config
        .node_id
        .clone()
        .unwrap_or_else(crate::delivery::default_node_id);
    while !*stop.borrow() {
        let fired = match pass(&state, &owner, Timestamp::now()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "timer pass failed; will try again");
                0
            }
        };
        if fired > 0 {
            continue;
        }
        let wait = match state.store.next_timer_due().await {
            Ok(Some(due)) => {
                let ms = due.millis().saturating_sub(Timestamp::now().millis());
                Duration::from_millis(u64::try_from(ms.max(10)).unwrap_or(10)).min(MAX_IDLE)
            }
            _ => MAX_IDLE,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Fires the timers due at `now`; returns how many were taken. Changes go
/// out as live events.
pub async fn pass(
    state: &AppState,
    owner: &str,
    now: Timestamp,
) -> Result<usize, imhub_store::StoreError> {
    let timers = state
        .store
        .lease_timers(owner, now, LEASE_MS, BATCH)
        .await?;
    for timer in &timers {
        match state.store.fire_timer(timer, now).await {
            Ok(changes) => {
                state.live.publish(&changes);
                // An escalation may have queued an automatic reply.
                if !changes.is_empty() {
                    state.outbox_ready.notify_one();
                }
            }
            // Left leased: another pass (here or on another node) takes it
            // again once the lease runs out.
            Err(e) => tracing::warn!(error = %e, timer = timer.id, kind = %timer.kind,
                "cannot fire a timer; it will be tried again"),
        }
    }
    Ok(timers.len())
}
