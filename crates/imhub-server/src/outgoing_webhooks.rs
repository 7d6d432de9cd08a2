//! Outgoing webhooks: every event a merchant subscribed to is POSTed to
//! their URL, signed (`X-Imhub-Signature: sha256=<hex HMAC-SHA256 of
//! "{timestamp}.{body}">`, `X-Imhub-Timestamp`), and retried with backoff for
//! at least 24 hours. Deliveries are rows written in the same transaction as
//! the change, so a crash loses none; every attempt is visible in the API.

use std::{sync::Arc, time::Duration};

use hmac::{Hmac, Mac};
use imhub_core::Timestamp;
use imhub_store::{WebhookJob, WebhookOutcome};
use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use sha2::Sha256;
use tokio::sync::{Semaphore, watch};

use crate::{AppState, outbound_http::GuardedClient};

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

/// How long a leased delivery is ours: longer than any attempt may take.
fn lease_ms(state: &AppState) -> i64 {
    let longest = state.outbound_http.timeout(None).as_millis();
    i64::try_from(longest.saturating_add(10_000))
        .unwrap_or(i64::MAX)
        .max(30_000)
}

/// Runs until `stop` turns true. Every delivery runs on its own task, at
/// most `outbound.webhook_concurrency` at once: a slow or hung target holds
/// one slot until its timeout, and the others go on meanwhile.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let bound = state.config.outbound.webhook_concurrency.max(1);
    let slots = Arc::new(Semaphore::new(bound));
    let lease = lease_ms(&state);
    while !*stop.borrow() {
        let free = slots.available_permits();
        if free == 0 {
            // Wait until a delivery ends (or the server stops).
            tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => drop(permit),
                _ = stop.changed() => {}
            }
            continue;
        }
        let jobs = state
            .store
            .lease_webhook_deliveries(
                Timestamp::now(),
                lease,
                u32::try_from(free).unwrap_or(u32::MAX),
            )
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
        for job in jobs {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let outcome = attempt(&state.outbound_http, &job).await;
                if let Err(e) = state.store.complete_webhook_delivery(job.id, outcome).await {
                    tracing::error!(error = %e, "cannot record a webhook delivery");
                }
                drop(permit);
            });
        }
    }
    // Let the deliveries in flight record their outcome; whatever does not
    // finish in time is leased again after its lease expires.
    let all = u32::try_from(bound).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
}

/// The delay before attempt `n` (0-based) is retried, with jitter.
pub fn retry_delay(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let full = FIRST_RETRY_MS.saturating_mul(1 << exp).min(MAX_RETRY_MS);
    Duration::from_millis(rand::rng().random_range(full / 2..=full))
}

/// One attempt through the guarded client. The stored error is the status
/// or our own reason, never the receiver's body nor the URL.
async fn attempt(http: &GuardedClient, job: &WebhookJob) -> WebhookOutcome {
    let now = Timestamp::now();
    let timestamp = now.millis() / 1000;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let signature = signature(&job.secret, timestamp, job.payload.as_bytes());
    for (name, value) in [
        ("x-imhub-event", job.event_type.clone()),
        ("x-imhub-delivery", job.id.to_string()),
        ("x-imhub-timestamp", timestamp.to_string()),
        ("x-imhub-signature", signature),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let result = http
        .post(&job.url, headers, job.payload.clone().into_bytes())
        .await;
    let mut delay = retry_delay(job.attempts);
    let (status, error, permanent) = match result {
        Ok(r) if r.status.is_success() => {
            return WebhookOutcome::Delivered {
                status: i64::from(r.status.as_u16()),
            };
        }
        Ok(r) => {
            let code = r.status.as_u16();
            if code == 429
                && let Some(asked) = r.retry_after()
            {
                delay = delay.max(asked);
            }
            let why = if r.status.is_redirection() {
                "redirects are not followed"
            } else {
                "the receiver did not accept the delivery"
            };
            (Some(i64::from(code)), format!("HTTP {code}: {why}"), false)
        }
        Err(e) => (None, format!("{}: {e}", e.code()), e.is_permanent()),
    };
    if permanent || now.millis().saturating_sub(job.created_at.millis()) > GIVE_UP_AFTER_MS {
        WebhookOutcome::GaveUp { status, error }
    } else {
        WebhookOutcome::Retry {
            at: now.plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
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
