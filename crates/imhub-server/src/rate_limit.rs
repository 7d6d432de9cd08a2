//! Send rate limits: at most N sends in any one-second window per app
//! (channel) and, optionally, per account. A sliding window of send times
//! keeps the bound exact in every window while using the whole limit when
//! there is a backlog; a rate-limit answer from the platform pauses the key.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Channel(i64),
    Account(i64),
}

/// The window, with a margin so that jitter between our send and the
/// platform's arrival (network, a busy node) cannot make the receiving end
/// count a send too many in its own one-second window: 30 ms costs 3% of
/// the limit and absorbed the jitter of a fully loaded 2-core test machine.
const WINDOW: Duration = Duration::from_millis(1030);

#[derive(Default)]
struct Window {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// Sliding-window limiters, one per key, shared by all delivery tasks.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<LimitKey, Window>>,
}

impl RateLimiter {
    /// Waits until one more send under `key` keeps within `per_second`, and
    /// counts it.
    pub async fn acquire(&self, key: LimitKey, per_second: u32) {
        loop {
            let wait = {
                let Ok(mut windows) = self.windows.lock() else {
                    return;
                };
                let window = windows.entry(key).or_default();
                let now = Instant::now();
                while window
                    .sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    window.sent.pop_front();
                }
                match window.paused_until {
                    Some(until) if until > now => until - now,
                    _ if window.sent.len() < per_second.max(1) as usize => {
                        window.sent.push_back(now);
                        return;
                    }
                    _ => window
                        .sent
                        .front()
                        .map(|t| (*t + WINDOW).saturating_duration_since(now))
                        .unwrap_or(Duration::from_millis(1)),
                }
            };
            tokio::time::sleep(wait.max(Duration::from_micros(200))).await;
        }
    }

    /// The platform said "too fast": nothing more under `key` until `until`.
    pub fn pause(&self, key: LimitKey, until: Instant) {
        if let Ok(mut windows) = self.windows.lock() {
            let window = windows.entry(key).or_default();
            window.paused_until = Some(window.paused_until.map_or(until, |u| u.max(until)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_window_holds_more_than_the_limit_and_a_backlog_uses_it_fully() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..30 {
            limiter.acquire(LimitKey::Channel(1), 10).await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u - *t < Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 10,
                "{in_window} sends within a second of send {i}"
            );
        }
        // 30 sends at 10/s: two full windows of waiting, not more.
        assert!(
            start.elapsed() < Duration::from_millis(2300),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_pause_holds_sends_back() {
        let limiter = RateLimiter::default();
        let key = LimitKey::Account(7);
        limiter.pause(key, Instant::now() + Duration::from_millis(150));
        let start = Instant::now();
        limiter.acquire(key, 100).await;
        assert!(start.elapsed() >= Duration::from_millis(140));
    }
}
