//! The delivery engine: takes due outbox entries under a lease, calls the
//! channel's adapter, and records the outcome: sent with the platform's id,
//! a retry with exponential backoff and jitter, or failed with the
//! platform's own code and text. A crash loses nothing: an entry stays in
//! the outbox until its outcome is committed, and an expired lease is taken
//! over by any node.

use std::{sync::Arc, time::Duration};

use imhub_core::{AccountState, Channel, DeliveryError, Outbound, Timestamp};
use imhub_store::{OutboxJob, OutboxOp, OutboxResult};
use rand::Rng;
use tokio::sync::{Semaphore, watch};

use crate::{AppState, config::DeliveryConfig, metrics::Metrics, rate_limit::LimitKey};

/// Runs until `stop` turns true, then waits for the sends in flight.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let owner = match &state.config.node_id {
        Some(name) => {
            // A configured name is stable across restarts: whatever it holds
            // was leased by this node before a crash, so take it back now.
            match state.store.release_leases(name).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    entries = n,
                    "took back outbox entries leased before a restart"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot release old outbox leases"),
            }
            name.clone()
        }
        None => default_node_id(),
    };
    let cfg = state.config.delivery.clone();
    tracing::info!(
        shared = state.limits.is_shared(),
        "send rate limits {}",
        if state.limits.is_shared() {
            "counted in the database for every node together"
        } else {
            "counted by this node alone"
        }
    );
    let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let lease_ms = i64::try_from(cfg.lease_secs.saturating_mul(1000)).unwrap_or(60_000);
    let shares = cfg.shares();
    while !*stop.borrow() {
        let free = permits.available_permits().min(256) as u32;
        let jobs = if free == 0 {
            Vec::new()
        } else {
            match state
                .store
                .lease_outbox_shared(&owner, Timestamp::now(), lease_ms, free, shares)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "cannot lease outbox entries");
                    Vec::new()
                }
            }
        };
        if jobs.is_empty() {
            let wait = match state.store.next_outbox_due().await {
                // Due but not leasable now (its conversation's earlier entry,
                // a share, another node, no free slot): a finished send wakes
                // us sooner; polling every millisecond would only load the
                // database.
                Ok(Some(due)) if due <= Timestamp::now() => 50,
                Ok(Some(due)) => (due.millis() - Timestamp::now().millis()).clamp(1, 1000),
                _ => 1000,
            };
            tokio::select! {
                _ = state.outbox_ready.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        for job in jobs {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            let (state, cfg) = (state.clone(), cfg.clone());
            tokio::spawn(async move {
                deliver(&state, &cfg, job).await;
                drop(permit);
                // The next entry of this conversation may now be eligible.
                state.outbox_ready.notify_one();
            });
        }
    }
    // Let the sends in flight finish and record their outcome.
    let _ = permits.acquire_many(cfg.concurrency.max(1) as u32).await;
}

/// A name for this process in outbox leases.
pub fn default_node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".into());
    format!("{host}-{}", std::process::id())
}

async fn adapter(state: &AppState, job: &OutboxJob) -> Result<Arc<dyn Channel>, DeliveryError> {
    let channel = state
        .channels
        .find(job.channel_id)
        .await
        .map_err(|e| DeliveryError::Retryable {
            reason: format!("cannot load channel: {e}"),
        })?
        .filter(|c| c.workspace_id == job.workspace_id)
        .ok_or_else(|| DeliveryError::Permanent {
            code: "channel_unavailable".into(),
            text: "the channel no longer exists".into(),
        })?;
    // The console (C): a reply that was in flight when its channel was
    // disconnected, and comes back for another attempt, fails for good.
    if channel.disconnected_at.is_some() {
        return Err(DeliveryError::Permanent {
            code: imhub_store::CHANNEL_DISCONNECTED.into(),
            text: "the channel was disconnected".into(),
        });
    }
    state
        .channels
        .adapter(&channel)
        .map_err(|e| DeliveryError::Permanent {
            code: "channel_unavailable".into(),
            text: e.to_string(),
        })
}

/// What one attempt came to, short of an error.
enum Attempted {
    /// The platform took it; the platform's id when it gave one.
    Done(Option<String>),
    /// A rate limit held it back for most of its lease: nothing was sent.
    Deferred,
}

/// How long a leased entry may wait for the rate limiter: well inside its
/// lease, so it is never sent after another worker could have taken it.
fn limiter_patience(cfg: &DeliveryConfig) -> Duration {
    Duration::from_secs(cfg.lease_secs)
        .saturating_sub(Duration::from_secs(10))
        .max(Duration::from_millis(500))
        .min(Duration::from_secs(cfg.lease_secs) / 2 + Duration::from_millis(1))
}

async fn attempt(state: &AppState, job: &OutboxJob) -> Result<Attempted, DeliveryError> {
    let adapter = adapter(state, job).await?;
    let limits = &state.config.delivery;
    let keys = [
        (
            LimitKey::Channel(job.channel_id.0),
            limits
                .app_rate_limits
                .get(adapter.platform().as_str())
                .copied(),
        ),
        // Always consulted: a platform's "too fast" answer pauses the
        // account even where no account limit is configured.
        (
            LimitKey::Account(job.account_id.0),
            limits.account_rate_limit,
        ),
    ];
    let waited = tokio::time::timeout(limiter_patience(limits), async {
        loop {
            // Checked right before the send: a grant of the shared limiter
            // holds only inside its second's send window, and this task may
            // have been slow to run after it was granted.
            if state.limits.acquire(&keys).await.still_valid() {
                return;
            }
        }
    })
    .await;
    if waited.is_err() {
        return Ok(Attempted::Deferred);
    }
    let platform_id = || {
        job.message
            .platform_message_id
            .clone()
            .ok_or_else(|| DeliveryError::Permanent {
                code: "no_platform_id".into(),
                text: "the message has no platform id".into(),
            })
    };
    match job.op {
        OutboxOp::Send => adapter
            .send(&Outbound {
                message_id: job.message.id,
                target: job.target.clone(),
                content: job.message.content.clone(),
            })
            .await
            .map(|receipt| Attempted::Done(receipt.platform_message_id)),
        OutboxOp::Recall => adapter
            .recall(&job.target, &platform_id()?)
            .await
            .map(|()| Attempted::Done(None)),
        OutboxOp::Read => adapter
            .mark_read(&job.target, &platform_id()?)
            .await
            .map(|()| Attempted::Done(None)),
    }
}

/// The delay before retry number `attempt` (0-based): doubling from the
/// base, capped, with jitter so that many failures do not retry in step.
pub fn backoff(cfg: &DeliveryConfig, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.clamp(0, 30)).unwrap_or(30);
    let full = cfg
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(cfg.backoff_max_ms);
    let jittered = rand::rng().random_range(full / 2..=full.max(1));
    Duration::from_millis(jittered)
}

/// The longest wait a platform's or receiver's `Retry-After` is honoured
/// for; a longer request (or an absurd one) waits this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A requested retry delay, honoured up to [`MAX_RETRY_AFTER`] and at least
/// a millisecond.
pub fn capped_retry_after(requested: Duration) -> Duration {
    requested.clamp(Duration::from_millis(1), MAX_RETRY_AFTER)
}

/// How long one attempt may run: inside its lease, so that a send that
/// hangs is cancelled (and retried) before another node may take the entry,
/// instead of running on beside its retry and holding a send slot.
pub fn attempt_deadline(cfg: &DeliveryConfig) -> Duration {
    let lease = Duration::from_secs(cfg.lease_secs);
    lease
        .saturating_sub(Duration::from_secs(5))
        .max(lease / 2)
        .max(Duration::from_millis(500))
}

async fn deliver(state: &AppState, cfg: &DeliveryConfig, job: OutboxJob) {
    let outcome = tokio::time::timeout(attempt_deadline(cfg), attempt(state, &job))
        .await
        .unwrap_or_else(|_| {
            Err(DeliveryError::Retryable {
                reason: "the send did not finish within its lease; cancelled".into(),
            })
        });
    let now = Timestamp::now();
    let result = match outcome {
        Ok(Attempted::Deferred) => OutboxResult::Defer {
            at: now.plus_millis(1000),
        },
        Ok(Attempted::Done(platform_message_id)) => {
            if job.op == OutboxOp::Send {
                Metrics::inc(&state.metrics.messages_sent);
            }
            OutboxResult::Done {
                platform_message_id,
            }
        }
        Err(DeliveryError::Retryable { reason }) if job.attempts + 1 < cfg.max_attempts => {
            Metrics::inc(&state.metrics.delivery_retries);
            tracing::info!(message = %job.message.id, attempt = job.attempts + 1, %reason, "will retry");
            OutboxResult::Retry {
                at: now.plus_millis(backoff(cfg, job.attempts).as_millis() as i64),
                error: reason,
            }
        }
        Err(DeliveryError::RateLimited {
            retry_after,
            reason,
        }) if job.attempts + 1 < cfg.max_attempts => {
            Metrics::inc(&state.metrics.delivery_retries);
            // A platform or receiver may ask for any delay at all: cap it,
            // so that neither the arithmetic nor the wait can run away.
            let retry_after = capped_retry_after(retry_after);
            // Slow the whole account down, not just this message.
            if let Some(until) = std::time::Instant::now().checked_add(retry_after) {
                state
                    .limits
                    .pause(LimitKey::Account(job.account_id.0), until);
            }
            OutboxResult::Retry {
                at: now.plus_millis(
                    i64::try_from(retry_after.as_millis())
                        .unwrap_or(i64::MAX)
                        .max(1),
                ),
                error: reason,
            }
        }
        // Out of attempts: fail rather than block the conversation's later
        // messages forever.
        Err(DeliveryError::Retryable { reason }) => OutboxResult::Failed {
            code: "retries_exhausted".into(),
            text: reason,
        },
        Err(DeliveryError::RateLimited { reason, .. }) => OutboxResult::Failed {
            code: "rate_limited".into(),
            text: reason,
        },
        Err(DeliveryError::AuthExpired { reason }) => {
            if let Err(e) = state
                .store
                .set_account_state(
                    job.workspace_id,
                    job.account_id,
                    AccountState::NeedsReauthorization,
                    Some(&reason),
                )
                .await
            {
                tracing::error!(error = %e, "cannot mark the account");
            }
            OutboxResult::Failed {
                code: "auth_expired".into(),
                text: reason,
            }
        }
        Err(DeliveryError::Permanent { code, text }) => OutboxResult::Failed { code, text },
        Err(DeliveryError::Unsupported { reason }) => OutboxResult::Failed {
            code: "not_supported".into(),
            text: reason,
        },
    };
    if matches!(result, OutboxResult::Failed { .. }) && job.op == OutboxOp::Send {
        Metrics::inc(&state.metrics.messages_failed);
    }
    match state.store.complete_outbox(&job, result).await {
        Ok(changes) => state.live.publish(&changes),
        Err(e) => tracing::warn!(entry = job.id, error = %e, "cannot record a delivery outcome"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_retry_after_is_capped() {
        let capped = capped_retry_after(Duration::from_secs(u64::MAX));
        assert_eq!(capped, MAX_RETRY_AFTER);
        assert!(std::time::Instant::now().checked_add(capped).is_some());
        assert_eq!(capped_retry_after(Duration::ZERO), Duration::from_millis(1));
        // A sane request is honoured exactly.
        assert_eq!(
            capped_retry_after(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn an_attempt_ends_inside_its_lease() {
        for secs in [1, 2, 10, 60, 600] {
            let cfg = DeliveryConfig {
                lease_secs: secs,
                ..DeliveryConfig::default()
            };
            let deadline = attempt_deadline(&cfg);
            assert!(
                deadline < Duration::from_secs(secs),
                "lease {secs}: {deadline:?}"
            );
            assert!(deadline >= Duration::from_millis(500));
        }
    }

    #[test]
    fn shares_default_to_half_the_slots_and_never_to_zero() {
        let cfg = DeliveryConfig::default();
        assert_eq!(cfg.shares().per_workspace, 32);
        assert_eq!(cfg.shares().per_account, 32);
        let tiny = DeliveryConfig {
            concurrency: 1,
            workspace_share: Some(0),
            ..DeliveryConfig::default()
        };
        assert_eq!(tiny.shares().per_workspace, 1);
        assert_eq!(cfg.shares().reserve, 8);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let cfg = DeliveryConfig::default();
        for attempt in 0..5 {
            let full = cfg.backoff_base_ms << attempt;
            let d = backoff(&cfg, attempt).as_millis() as u64;
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d}");
        }
        assert!(backoff(&cfg, 40).as_millis() as u64 <= cfg.backoff_max_ms);
    }
}
