//! Counters exposed at `/metrics` in Prometheus' text format.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

/// imhub's counters; cheap to bump from any task.
#[derive(Default)]
pub struct Metrics {
    pub pushes_accepted: AtomicU64,
    pub pushes_duplicate: AtomicU64,
    pub pushes_rejected: AtomicU64,
    pub pushes_unprocessable: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_failed: AtomicU64,
    pub delivery_retries: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        counter(
            "imhub_pushes_accepted_total",
            "Platform pushes verified and committed.",
            &self.pushes_accepted,
        );
        counter(
            "imhub_pushes_duplicate_total",
            "Pushes recognised as replays and stored once.",
            &self.pushes_duplicate,
        );
        counter(
            "imhub_pushes_rejected_total",
            "Pushes refused (signature, staleness, malformed).",
            &self.pushes_rejected,
        );
        counter(
            "imhub_pushes_unprocessable_total",
            "Verified pushes kept raw because they could not be processed.",
            &self.pushes_unprocessable,
        );
        counter(
            "imhub_messages_sent_total",
            "Outbound messages the platform accepted.",
            &self.messages_sent,
        );
        counter(
            "imhub_messages_failed_total",
            "Outbound messages that failed for good.",
            &self.messages_failed,
        );
        counter(
            "imhub_delivery_retries_total",
            "Delivery attempts that will be retried.",
            &self.delivery_retries,
        );
        out
    }
}
