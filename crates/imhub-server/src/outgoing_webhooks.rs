//! Outgoing webhooks: every event a merchant subscribed to is POSTed to
//! their URL, signed (`X-Imhub-Signature: sha256=<hex HMAC-SHA256 of
//! "{timestamp}.{body}">`, `X-Imhub-Timestamp`), and retried with backoff for
//! at least 24 hours. Deliveries are rows written in the same transaction as
//! the change, so a crash loses none; every attempt is visible in the API.

use std::time::Duration;

use hmac::{Hmac, Mac};
use imhub_core::Timestamp;
use imhub_store::{WebhookJob, WebhookOutcome};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::watch;

use crate::AppState;

/// How long deliveries are retried before they are given up: at least a day.
pub const GIVE_UP_AFTER_MS: i64 = 25 * 3600 * 1000;
const _: () = assert!(GIVE_UP_AFTER_MS >= 24 * 3600 * 1000);
/// First retry delay; doubles up to [`MAX_RETRY_MS`].
pub const FIRST_RETRY_MS: u64 = 10_000;
/// Longest delay between two attempts.
pub const MAX_RETRY_MS: u64 = 3600 * 1000;

/// The signature header of a delivery: HMAC-SHA256 over `"{timestamp}.{body}"`,
/// so a captured delivery cannot be replayed later with another timestamp.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    while !*stop.borrow() {
        let jobs = state
            .store
            .lease_webhook_deliveries(Timestamp::now(), 30_000, 32)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot lease webhook deliveries");
                Vec::new()
            });
        if jobs.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let sends = jobs.into_iter().map(|job| {
            let (state, http) = (state.clone(), http.clone());
            async move {
                let outcome = attempt(&http, &job).await;
                if let Err(e) = state.store.complete_webhook_delivery(job.id, outcome).await {
                    tracing::error!(error = %e, "cannot record a webhook delivery");
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }
}

/// The delay before attempt `n` (0-based) is retried, with jitter.
pub fn retry_delay(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let full = FIRST_RETRY_MS.saturating_mul(1 << exp).min(MAX_RETRY_MS);
    Duration::from_millis(rand::rng().random_range(full / 2..=full))
}

async fn attempt(http: &reqwest::Client, job: &WebhookJob) -> WebhookOutcome {
    let now = Timestamp::now();
    let timestamp = now.millis() / 1000;
    let result = http
        .post(&job.url)
        .header("content-type", "application/json")
        .header("x-imhub-event", &job.event_type)
        .header("x-imhub-delivery", job.id.to_string())
        .header("x-imhub-timestamp", timestamp.to_string())
        .header(
            "x-imhub-signature",
            signature(&job.secret, timestamp, job.payload.as_bytes()),
        )
        .body(job.payload.clone())
        .send()
        .await;
    let (status, error) = match result {
        Ok(r) if r.status().is_success() => {
            return WebhookOutcome::Delivered {
                status: i64::from(r.status().as_u16()),
            };
        }
        Ok(r) => (
            Some(i64::from(r.status().as_u16())),
            format!("HTTP {}", r.status()),
        ),
        Err(e) => (None, e.to_string()),
    };
    if now.millis() - job.created_at.millis() > GIVE_UP_AFTER_MS {
        WebhookOutcome::GaveUp { status, error }
    } else {
        WebhookOutcome::Retry {
            at: now.plus_millis(retry_delay(job.attempts).as_millis() as i64),
            status,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour_and_the_schedule_spans_a_day() {
        assert!(retry_delay(0) <= Duration::from_millis(FIRST_RETRY_MS));
        assert!(retry_delay(30) <= Duration::from_millis(MAX_RETRY_MS));
        assert!(retry_delay(30) >= Duration::from_millis(MAX_RETRY_MS / 2));
    }

    #[test]
    fn signature_covers_timestamp_and_body() {
        let a = signature("s", 1, b"x");
        assert_ne!(a, signature("s", 2, b"x"));
        assert_ne!(a, signature("s", 1, b"y"));
        assert!(a.starts_with("sha256="));
    }
}
