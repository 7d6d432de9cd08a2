//! Send rate limits: at most N sends in any one-second window per app
//! (channel) and, optionally, per account, however many nodes send.
//!
//! - One node (SQLite): a sliding window of send times in memory keeps the
//!   bound exact in every window while using the whole limit when there is
//!   a backlog.
//! - Several nodes (PostgreSQL): each Unix second's sends are counted in
//!   the database for all nodes together (the store's `rate_slots`). A
//!   node's broker claims, in one statement per batch, as many of the
//!   current second's sends as it has sends waiting, and hands them out;
//!   a send granted for second S is started only inside S's send window
//!   (`[S + 20 ms, S + 800 ms)`), so it reaches the platform inside S even
//!   when it arrives up to 200 ms late. The platform counts per second of
//!   its clock (the sandbox does so by the Unix second); given that, no
//!   second ever holds more than the limit, whichever node sends, joins, or
//!   dies holding grants (they lapse with their second). Why not leased
//!   shares: a share must be handed back and waited out before another
//!   node may use it, so a dead node's share is lost for its lease and
//!   shares fit uneven work badly; per-second counts need neither, and a
//!   margin at the ends of the second costs nothing of the limit (the
//!   sliding window's margin lengthens every window instead).
//!
//! A rate-limit answer from the platform pauses the key on this node.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use imhub_store::{RateClaim, Store};
use tokio::sync::{mpsc, oneshot};

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Channel(i64),
    Account(i64),
}

impl LimitKey {
    /// The key's name in the shared counts, the same on every node.
    pub fn name(&self) -> String {
        match self {
            LimitKey::Channel(id) => format!("channel:{id}"),
            LimitKey::Account(id) => format!("account:{id}"),
        }
    }
}

/// The window, with a margin so that jitter between our send and the
/// platform's arrival (network, a busy node) cannot make the receiving end
/// count a send too many in its own one-second window: 30 ms costs 3% of
/// the limit and absorbed the jitter of a fully loaded 2-core test machine.
const WINDOW: Duration = Duration::from_millis(1030);

/// Where in its second a node may start the sends it was granted for that
/// second, in milliseconds: not before [`OPEN_MS`] (a platform clock up to
/// this much behind ours still counts them in the same second) and not at
/// or after [`CLOSE_MS`] (a send may take up to `1000 - CLOSE_MS` ms to
/// arrive). Every send of the second fits easily in between, so the
/// margins cost none of the limit.
pub const OPEN_MS: i64 = 20;
/// See [`OPEN_MS`].
pub const CLOSE_MS: i64 = 800;

/// Where a moment (Unix milliseconds) lies in its second, for the shared
/// limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sends granted for `second` may start until `closes_at` (Unix ms).
    Open { second: i64, closes_at: i64 },
    /// Between two send windows: the next opens at `opens_at` (Unix ms).
    Closed { opens_at: i64 },
}

/// The phase of the moment `now_ms` (Unix milliseconds).
pub fn phase(now_ms: i64) -> Phase {
    let second = now_ms.div_euclid(1000);
    let offset = now_ms.rem_euclid(1000);
    if offset < OPEN_MS {
        Phase::Closed {
            opens_at: second * 1000 + OPEN_MS,
        }
    } else if offset >= CLOSE_MS {
        Phase::Closed {
            opens_at: (second + 1) * 1000 + OPEN_MS,
        }
    } else {
        Phase::Open {
            second,
            closes_at: second * 1000 + CLOSE_MS,
        }
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The instant at Unix millisecond `at` (now, if it has passed).
fn instant_at(at: i64) -> Instant {
    let ahead = u64::try_from(at.saturating_sub(unix_ms())).unwrap_or(0);
    Instant::now() + Duration::from_millis(ahead)
}

#[derive(Default)]
struct Window {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// Leave to send, from [`RateLimiter::acquire`].
#[derive(Debug, Clone, Copy)]
pub struct SendPermit {
    /// A shared grant holds only inside its second's send window.
    send_by: Option<Instant>,
}

impl SendPermit {
    /// Whether the send may still start: check right before sending; a
    /// permit that lapsed (the task was slow to run) must be acquired anew.
    pub fn still_valid(&self) -> bool {
        self.send_by.is_none_or(|by| Instant::now() < by)
    }
}

/// Rate limiters, one per key, shared by all delivery tasks of a node.
pub struct RateLimiter {
    /// Sliding windows (one node) and pauses (both modes).
    windows: Mutex<HashMap<LimitKey, Window>>,
    /// The database's counts, when several nodes may send.
    shared: Option<Shared>,
}

impl Default for RateLimiter {
    /// A limiter for one node alone.
    fn default() -> Self {
        RateLimiter {
            windows: Mutex::new(HashMap::new()),
            shared: None,
        }
    }
}

impl RateLimiter {
    /// The limiter a node on `store` needs: shared with the other nodes
    /// when the store may have some (PostgreSQL) and `shared` is on,
    /// otherwise this node's own.
    pub fn for_store(store: &Arc<dyn Store>, shared: bool) -> Self {
        if shared && store.shares_rate_limits() {
            Self::shared(Arc::clone(store))
        } else {
            Self::default()
        }
    }

    /// A limiter whose counts every node on `store` shares.
    pub fn shared(store: Arc<dyn Store>) -> Self {
        RateLimiter {
            windows: Mutex::new(HashMap::new()),
            shared: Some(Shared {
                store,
                broker: OnceLock::new(),
            }),
        }
    }

    /// Whether the limits hold across nodes (the database counts them).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Waits until one more send keeps within every limit in `limits`
    /// (`None`: no limit, but a pause still holds it back), and counts it.
    pub async fn acquire(&self, limits: &[(LimitKey, Option<u32>)]) -> SendPermit {
        let Some(shared) = &self.shared else {
            for (key, per_second) in limits {
                self.acquire_local(*key, per_second.unwrap_or(u32::MAX))
                    .await;
            }
            return SendPermit { send_by: None };
        };
        let keys: Vec<(LimitKey, u32)> = limits
            .iter()
            .filter_map(|(key, limit)| limit.map(|n| (*key, n.max(1))))
            .collect();
        loop {
            self.wait_out_pauses(limits).await;
            if keys.is_empty() {
                return SendPermit { send_by: None };
            }
            let (reply, granted) = oneshot::channel();
            if shared
                .broker()
                .send(Request {
                    keys: keys.clone(),
                    reply,
                })
                .is_ok()
                && let Ok(send_by) = granted.await
            {
                return SendPermit {
                    send_by: Some(send_by),
                };
            }
            // The broker is gone (the runtime is shutting down): wait.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sleeps while any of the keys is paused.
    async fn wait_out_pauses(&self, limits: &[(LimitKey, Option<u32>)]) {
        loop {
            let wait = {
                let Ok(windows) = self.windows.lock() else {
                    return;
                };
                let now = Instant::now();
                limits
                    .iter()
                    .filter_map(|(key, _)| windows.get(key)?.paused_until)
                    .filter(|until| *until > now)
                    .max()
                    .map(|until| until - now)
            };
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return,
            }
        }
    }

    /// The sliding window of one node.
    async fn acquire_local(&self, key: LimitKey, per_second: u32) {
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

/// The shared limiter's link to the database and to its broker task.
struct Shared {
    store: Arc<dyn Store>,
    /// Started on first use, on the runtime of the first sender.
    broker: OnceLock<mpsc::UnboundedSender<Request>>,
}

impl Shared {
    fn broker(&self) -> &mpsc::UnboundedSender<Request> {
        self.broker.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(
                Broker {
                    store: Arc::clone(&self.store),
                    inbox: rx,
                    pending: VecDeque::new(),
                    second: i64::MIN,
                    held: HashMap::new(),
                    full: HashSet::new(),
                }
                .run(),
            );
            tx
        })
    }
}

/// One send waiting for a grant of every key it needs.
struct Request {
    keys: Vec<(LimitKey, u32)>,
    /// Answered with the instant the grant lapses.
    reply: oneshot::Sender<Instant>,
}

/// Claims sends from the database in batches, for whatever is waiting, and
/// hands them out in the order they were asked for.
struct Broker {
    store: Arc<dyn Store>,
    inbox: mpsc::UnboundedReceiver<Request>,
    pending: VecDeque<Request>,
    /// The second `held` and `full` are about.
    second: i64,
    /// Sends granted to this node for `second` and not handed out yet.
    held: HashMap<LimitKey, u32>,
    /// Keys with nothing left anywhere in `second`.
    full: HashSet<LimitKey>,
}

impl Broker {
    async fn run(mut self) {
        loop {
            if self.pending.is_empty() {
                match self.inbox.recv().await {
                    Some(request) => self.pending.push_back(request),
                    None => return,
                }
            }
            while let Ok(request) = self.inbox.try_recv() {
                self.pending.push_back(request);
            }
            // Sends that gave up waiting (their lease's patience ran out).
            self.pending.retain(|r| !r.reply.is_closed());
            if self.pending.is_empty() {
                continue;
            }
            let (second, closes_at) = match phase(unix_ms()) {
                Phase::Open { second, closes_at } => (second, closes_at),
                Phase::Closed { opens_at } => {
                    tokio::time::sleep_until(instant_at(opens_at).into()).await;
                    continue;
                }
            };
            if second != self.second {
                self.second = second;
                self.held.clear();
                self.full.clear();
            }
            self.hand_out(closes_at);
            let claims = self.demand();
            if claims.is_empty() {
                // Everything waiting needs a key that is used up for this
                // second: wait for the next one, or for a send that needs
                // other keys.
                let next = match phase(closes_at) {
                    Phase::Closed { opens_at } => opens_at,
                    Phase::Open { .. } => closes_at,
                };
                tokio::select! {
                    request = self.inbox.recv() => match request {
                        Some(request) => self.pending.push_back(request),
                        None => return,
                    },
                    _ = tokio::time::sleep_until(instant_at(next).into()) => {}
                }
                continue;
            }
            let asked: Vec<(LimitKey, u32)> = claims.iter().map(|(k, c)| (*k, c.want)).collect();
            match self
                .store
                .claim_rate_slots(second, claims.into_iter().map(|(_, c)| c).collect())
                .await
            {
                Ok(grants) => {
                    for ((key, want), got) in asked.into_iter().zip(grants) {
                        *self.held.entry(key).or_default() += got;
                        if got < want {
                            self.full.insert(key);
                        }
                    }
                }
                Err(e) => {
                    // Nothing is sent without a grant: wait and ask again.
                    tracing::warn!(error = %e, "cannot claim send rate slots");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            self.hand_out(closes_at);
        }
    }

    /// Answers the waiting sends whose every key has a grant left, oldest
    /// first, while the send window is open.
    fn hand_out(&mut self, closes_at: i64) {
        let mut waiting = VecDeque::with_capacity(self.pending.len());
        while let Some(request) = self.pending.pop_front() {
            let covered = request
                .keys
                .iter()
                .all(|(key, _)| self.held.get(key).is_some_and(|n| *n > 0));
            if !covered || unix_ms() >= closes_at {
                waiting.push_back(request);
                continue;
            }
            for (key, _) in &request.keys {
                if let Some(n) = self.held.get_mut(key) {
                    *n -= 1;
                }
            }
            if request.reply.send(instant_at(closes_at)).is_err() {
                // It gave up meanwhile: the grant goes to the next one.
                for (key, _) in &request.keys {
                    *self.held.entry(*key).or_default() += 1;
                }
            }
        }
        self.pending = waiting;
    }

    /// What to claim for the sends still waiting: per key, those that need
    /// it less what is held, leaving out sends blocked by a used-up key.
    fn demand(&self) -> Vec<(LimitKey, RateClaim)> {
        let mut need: HashMap<LimitKey, (u32, u32)> = HashMap::new();
        for request in &self.pending {
            if request.keys.iter().any(|(key, _)| self.full.contains(key)) {
                continue;
            }
            for (key, limit) in &request.keys {
                let entry = need.entry(*key).or_insert((*limit, 0));
                entry.0 = entry.0.min(*limit);
                entry.1 += 1;
            }
        }
        let mut claims: Vec<(LimitKey, RateClaim)> = need
            .into_iter()
            .filter_map(|(key, (limit, count))| {
                let want = count.saturating_sub(self.held.get(&key).copied().unwrap_or(0));
                (want > 0).then(|| {
                    (
                        key,
                        RateClaim {
                            key: key.name(),
                            limit,
                            want: want.min(limit),
                        },
                    )
                })
            })
            .collect();
        claims.truncate(imhub_store::rate_slots::MAX_KEYS_PER_CLAIM);
        claims
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
            limiter.acquire(&[(LimitKey::Channel(1), Some(10))]).await;
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
        limiter.acquire(&[(key, None)]).await;
        assert!(start.elapsed() >= Duration::from_millis(140));
    }

    #[test]
    fn sends_start_only_inside_their_seconds_window() {
        assert_eq!(
            phase(5_000),
            Phase::Closed {
                opens_at: 5_000 + OPEN_MS
            }
        );
        assert_eq!(
            phase(5_000 + OPEN_MS),
            Phase::Open {
                second: 5,
                closes_at: 5_000 + CLOSE_MS
            }
        );
        assert_eq!(
            phase(5_000 + CLOSE_MS - 1),
            Phase::Open {
                second: 5,
                closes_at: 5_000 + CLOSE_MS
            }
        );
        assert_eq!(
            phase(5_000 + CLOSE_MS),
            Phase::Closed {
                opens_at: 6_000 + OPEN_MS
            }
        );
        assert_eq!(
            phase(5_999),
            Phase::Closed {
                opens_at: 6_000 + OPEN_MS
            }
        );
        // A send started in the window and arriving up to 1000 - CLOSE_MS
        // ms later still lands in its own second.
        const { assert!(OPEN_MS >= 0 && OPEN_MS < CLOSE_MS && CLOSE_MS <= 1000) };
    }

    #[test]
    fn a_lapsed_permit_is_not_valid() {
        let lapsed = SendPermit {
            send_by: Some(Instant::now() - Duration::from_millis(1)),
        };
        assert!(!lapsed.still_valid());
        assert!(SendPermit { send_by: None }.still_valid());
        let open = SendPermit {
            send_by: Some(Instant::now() + Duration::from_secs(1)),
        };
        assert!(open.still_valid());
    }

    #[test]
    fn keys_are_named_alike_on_every_node() {
        assert_eq!(LimitKey::Channel(12).name(), "channel:12");
        assert_eq!(LimitKey::Account(7).name(), "account:7");
    }
}
