//! Presence: an agent whose inbox is connected (a session's live event
//! stream) is seen every [`TOUCH_EVERY`]; the sweeper on every node sets
//! offline the agents not seen for their workspace's
//! `offline_after_minutes`. Both go through the store, so presence holds
//! across nodes: an inbox connected to any node keeps its agent present.

use std::time::Duration;

use imhub_core::{Timestamp, UserId, WorkspaceId};
use tokio::sync::{oneshot, watch};

use crate::AppState;

/// How often a connected inbox is recorded as seen.
pub const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// How often the sweeper looks for agents to set offline.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Held by a live event stream while it is open; dropping it (the stream
/// ended) stops recording the agent as seen.
pub struct Connected {
    _stop: oneshot::Sender<()>,
}

/// Records `user` as seen now and every [`TOUCH_EVERY`] until the returned
/// guard is dropped.
pub fn connected(state: &AppState, ws: WorkspaceId, user: UserId) -> Connected {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let store = state.store.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = store.touch_presence(ws, user, Timestamp::now()).await {
                tracing::warn!(error = %e, user = user.0, "cannot record an agent's presence");
            }
            tokio::select! {
                _ = tokio::time::sleep(TOUCH_EVERY) => {}
                _ = &mut stopped => break,
            }
        }
    });
    Connected { _stop: stop }
}

/// Runs until `stop` turns true: one sweep per [`SWEEP_EVERY`].
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(e) = sweep(&state, Timestamp::now()).await {
            tracing::warn!(error = %e, "presence sweep failed; will try again");
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One sweep as of `now`: agents not seen in time go offline (their
/// waiting conversations back to the queue, as the workspace says), and
/// the changes go out as live events. Returns how many changes there were.
pub async fn sweep(state: &AppState, now: Timestamp) -> Result<usize, imhub_store::StoreError> {
    let changes = state.store.sweep_presence(now).await?;
    state.live.publish(&changes);
    Ok(changes.len())
}
