//! The alert engine: sends the alert deliveries the store wrote (in the
//! transactions of their causes) to 企业微信 / 飞书 / 钉钉 robots and signed
//! webhooks, through the guarded client only, under a lease, retried with
//! the outgoing webhooks' backoff, and never faster than a robot takes
//! (the store holds a target back at its platform's messages per minute).
//! Each attempt's answer — the robot's own `errcode`/`code` and message —
//! is recorded on the delivery and shown on the target.

use std::{sync::Arc, time::Duration};

use imhub_core::{
    Timestamp,
    alerts::{self, Target, Verdict},
};
use imhub_store::alerts::{AlertJob, AlertNext, AlertResult};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{Semaphore, watch};

use crate::{
    AppState,
    outbound_http::{GuardError, GuardedClient},
    outgoing_webhooks::retry_delay,
};

/// Alerts are given up after this long: a breach alert hours late helps
/// nobody (outgoing webhooks, which carry data, try for a day).
pub const GIVE_UP_AFTER_MS: i64 = 6 * 3600 * 1000;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 8;
/// Longest sleep between looks for due deliveries.
const IDLE: Duration = Duration::from_millis(500);

/// What one send got: the result to record, the verdict, and the robot's
/// answer as it came (JSON when it was JSON), for the test route.
#[derive(Debug, Clone)]
pub struct Sent {
    pub result: AlertResult,
    pub verdict: Verdict,
    /// Whether the failure is the target's for good (refused URL).
    pub permanent: bool,
    pub answer: Option<serde_json::Value>,
    /// `Retry-After` of a 429, if any.
    pub retry_after: Option<Duration>,
}

/// Sends `job.alerts` as one message to the job's target at `now`.
pub async fn send(http: &GuardedClient, job: &AlertJob, now: Timestamp) -> Sent {
    let request = alerts::render(
        Target {
            kind: job.kind,
            url: &job.url,
            secret: job.secret.as_deref(),
            format: job.format,
        },
        &job.alerts,
        now,
    );
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    match http.post(&request.url, headers, request.body).await {
        Ok(response) => {
            let status = response.status.as_u16();
            let answer = alerts::read_answer(job.kind, status, &response.body);
            let ok = answer.verdict == Verdict::Delivered;
            let raw = serde_json::from_slice::<serde_json::Value>(&response.body)
                .ok()
                .or_else(|| {
                    let text = String::from_utf8_lossy(&response.body);
                    (!text.is_empty())
                        .then(|| serde_json::Value::String(text.chars().take(500).collect()))
                });
            let error = (!ok && answer.code.is_none()).then(|| {
                if response.status.is_redirection() {
                    format!("HTTP {status}: redirects are not followed")
                } else {
                    format!("HTTP {status}")
                }
            });
            Sent {
                result: AlertResult {
                    at: now,
                    ok,
                    http_status: Some(i64::from(status)),
                    code: answer.code,
                    message: answer.message,
                    error,
                },
                verdict: answer.verdict,
                permanent: false,
                answer: raw,
                retry_after: (status == 429).then(|| response.retry_after()).flatten(),
            }
        }
        Err(e) => failed(&e, now),
    }
}

fn failed(e: &GuardError, now: Timestamp) -> Sent {
    Sent {
        result: AlertResult {
            at: now,
            ok: false,
            http_status: None,
            code: None,
            message: None,
            error: Some(format!("{}: {e}", e.code())),
        },
        verdict: if e.is_permanent() {
            Verdict::Refused
        } else {
            Verdict::Retry { after_ms: 0 }
        },
        permanent: e.is_permanent(),
        answer: None,
        retry_after: None,
    }
}

/// What follows an attempt of a delivery created at `job.created_at`.
pub fn next_step(job: &AlertJob, sent: &Sent, now: Timestamp) -> AlertNext {
    match sent.verdict {
        Verdict::Delivered => AlertNext::Delivered,
        Verdict::Refused => AlertNext::GaveUp,
        Verdict::Retry { after_ms } => {
            if now.millis().saturating_sub(job.created_at.millis()) > GIVE_UP_AFTER_MS {
                return AlertNext::GaveUp;
            }
            let backoff = retry_delay(job.attempts)
                .max(Duration::from_millis(u64::try_from(after_ms).unwrap_or(0)))
                .max(sent.retry_after.unwrap_or_default());
            AlertNext::Retry {
                at: now.plus_millis(i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX)),
            }
        }
    }
}

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let lease_ms = i64::try_from(state.outbound_http.timeout(None).as_millis())
        .unwrap_or(i64::MAX)
        .saturating_add(10_000)
        .max(30_000);
    while !*stop.borrow() {
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => drop(permit),
                _ = stop.changed() => {}
            }
            continue;
        }
        let jobs = state
            .store
            .lease_alert_deliveries(Timestamp::now(), lease_ms, u32::try_from(free).unwrap_or(1))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot lease alert deliveries");
                Vec::new()
            });
        if jobs.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
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
                let now = Timestamp::now();
                let sent = send(&state.outbound_http, &job, now).await;
                let next = next_step(&job, &sent, now);
                if let Err(e) = state
                    .store
                    .complete_alert_delivery(&job, sent.result, next)
                    .await
                {
                    tracing::error!(error = %e, delivery = job.id, "cannot record an alert delivery");
                }
                drop(permit);
            });
        }
    }
    let all = u32::try_from(CONCURRENCY).unwrap_or(1);
    let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
}
