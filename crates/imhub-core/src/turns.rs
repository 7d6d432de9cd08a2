//! Turn accounting for reply-time KPIs (3-minute human reply rate): a turn
//! starts at the first customer message after our last human reply (or the
//! conversation's start) and ends at the first reply by a human agent.
//! Automatic replies do not end it; their time is recorded apart. Waiting
//! time counts only inside the workspace's counting window (08:00–23:00 by
//! default), so a turn that starts at 23:30 starts counting at 08:00.
//!
//! Pure: the store keeps [`TurnState`] on the conversation and applies each
//! step in the transaction that writes the message, like unread counts.

use serde::{Deserialize, Serialize};

use crate::{Timestamp, hours::WorkingHours};

/// The open turn of a conversation, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnState {
    /// When the customer's first unanswered message arrived.
    pub open_since: Option<Timestamp>,
    /// The first automatic reply inside the open turn.
    pub auto_replied_at: Option<Timestamp>,
}

/// Who wrote a message, as turns see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    Customer,
    Human,
    Automation,
}

/// A turn a human reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedTurn {
    pub started_at: Timestamp,
    pub answered_at: Timestamp,
    /// Waiting time inside the counting window, in milliseconds.
    pub wait_ms: i64,
    /// Whether `wait_ms` is within the target.
    pub within_target: bool,
    /// Counted time until the first automatic reply, if one came first.
    pub auto_wait_ms: Option<i64>,
}

/// What one message does to the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnStep {
    pub state: TurnState,
    /// A customer message opened a turn.
    pub opened: bool,
    /// A human reply closed one.
    pub closed: Option<ClosedTurn>,
}

/// Applies one message to the conversation's turn: `window` is the
/// counting window and `target_ms` the reply-time target (3 minutes by
/// default).
pub fn step(
    state: TurnState,
    writer: Writer,
    at: Timestamp,
    window: &WorkingHours,
    target_ms: i64,
) -> TurnStep {
    match (writer, state.open_since) {
        (Writer::Customer, None) => TurnStep {
            state: TurnState {
                open_since: Some(at),
                auto_replied_at: None,
            },
            opened: true,
            closed: None,
        },
        (Writer::Customer, Some(_)) | (Writer::Human | Writer::Automation, None) => TurnStep {
            state,
            opened: false,
            closed: None,
        },
        (Writer::Automation, Some(_)) => TurnStep {
            state: TurnState {
                auto_replied_at: state.auto_replied_at.or(Some(at)),
                ..state
            },
            opened: false,
            closed: None,
        },
        (Writer::Human, Some(started_at)) => {
            // A reply dated before the turn (clock skew) waited nothing.
            let answered_at = at.max(started_at);
            let wait_ms = window.open_millis_between(started_at, answered_at);
            TurnStep {
                state: TurnState::default(),
                opened: false,
                closed: Some(ClosedTurn {
                    started_at,
                    answered_at,
                    wait_ms,
                    within_target: wait_ms <= target_ms,
                    auto_wait_ms: state
                        .auto_replied_at
                        .map(|a| window.open_millis_between(started_at, a.max(started_at))),
                }),
            }
        }
    }
}

/// How long an open turn has waited by `now`, counted in the window: the
/// waiting queue's "已等 2:40".
pub fn waited_ms(state: TurnState, now: Timestamp, window: &WorkingHours) -> Option<i64> {
    state
        .open_since
        .map(|since| window.open_millis_between(since, now))
}

/// The `q`-quantile (0.5 median, 0.9 p90) of `values` by the nearest-rank
/// method; `None` when empty. Reports and their brute-force recount use
/// this one definition.
pub fn quantile(values: &mut [i64], q: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (q * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hours::Span;

    /// 2026-12-01T00:00:00+08:00.
    const MIDNIGHT: i64 = 1_796_054_400_000;
    const MIN: i64 = 60_000;
    const TARGET: i64 = 3 * MIN;

    fn at(h: i64, m: i64, s: i64) -> Timestamp {
        Timestamp(MIDNIGHT + h * 60 * MIN + m * MIN + s * 1000)
    }

    fn window() -> WorkingHours {
        WorkingHours::daily("Asia/Shanghai", Span::parse("08:00", "23:00").unwrap()).unwrap()
    }

    fn run(steps: &[(Writer, Timestamp)]) -> (TurnState, Vec<ClosedTurn>) {
        let w = window();
        let mut state = TurnState::default();
        let mut closed = Vec::new();
        for (writer, t) in steps {
            let s = step(state, *writer, *t, &w, TARGET);
            state = s.state;
            closed.extend(s.closed);
        }
        (state, closed)
    }

    #[test]
    fn a_turn_runs_from_the_first_customer_message_to_the_first_human_reply() {
        let (state, closed) = run(&[
            (Writer::Customer, at(10, 0, 0)),
            (Writer::Customer, at(10, 1, 0)),
            (Writer::Human, at(10, 2, 40)),
            (Writer::Human, at(10, 3, 0)),
        ]);
        assert_eq!(state, TurnState::default());
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].wait_ms, 2 * MIN + 40_000);
        assert!(closed[0].within_target);
    }

    #[test]
    fn automatic_replies_do_not_end_a_turn_but_their_time_is_kept() {
        let (_, closed) = run(&[
            (Writer::Customer, at(10, 0, 0)),
            (Writer::Automation, at(10, 0, 2)),
            (Writer::Automation, at(10, 0, 30)),
            (Writer::Human, at(10, 5, 0)),
        ]);
        assert_eq!(closed[0].wait_ms, 5 * MIN);
        assert!(!closed[0].within_target);
        assert_eq!(closed[0].auto_wait_ms, Some(2_000));
    }

    #[test]
    fn time_outside_the_counting_window_is_not_counted() {
        // 23:30 → next day 08:02:30: 2.5 counted minutes.
        let (_, closed) = run(&[
            (Writer::Customer, at(23, 30, 0)),
            (Writer::Human, at(32, 2, 30)),
        ]);
        assert_eq!(closed[0].wait_ms, 2 * MIN + 30_000);
        assert!(closed[0].within_target);
    }

    #[test]
    fn our_messages_without_an_open_turn_change_nothing() {
        let (state, closed) = run(&[
            (Writer::Human, at(9, 0, 0)),
            (Writer::Automation, at(9, 1, 0)),
        ]);
        assert_eq!(state, TurnState::default());
        assert!(closed.is_empty());
    }

    #[test]
    fn the_waiting_queue_counts_in_the_window() {
        let state = TurnState {
            open_since: Some(at(22, 58, 0)),
            auto_replied_at: None,
        };
        assert_eq!(waited_ms(state, at(23, 30, 0), &window()), Some(2 * MIN));
        assert_eq!(
            waited_ms(TurnState::default(), at(23, 30, 0), &window()),
            None
        );
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        assert_eq!(quantile(&mut [], 0.5), None);
        assert_eq!(quantile(&mut [5], 0.9), Some(5));
        assert_eq!(quantile(&mut [4, 1, 3, 2], 0.5), Some(2));
        assert_eq!(quantile(&mut (1..=10).collect::<Vec<_>>(), 0.9), Some(9));
    }

    proptest::proptest! {
        #[test]
        fn every_turn_closes_once_and_waits_no_longer_than_the_clock(
            script in proptest::collection::vec((0u8..3, 0i64..3_600_000), 1..60)
        ) {
            let w = window();
            let mut state = TurnState::default();
            let mut t = Timestamp(MIDNIGHT);
            let mut opened = 0;
            let mut closed = 0;
            for (who, gap) in script {
                t = t.plus_millis(gap);
                let writer = [Writer::Customer, Writer::Human, Writer::Automation][who as usize];
                let s = step(state, writer, t, &w, TARGET);
                opened += usize::from(s.opened);
                if let Some(c) = s.closed {
                    closed += 1;
                    proptest::prop_assert!(c.wait_ms >= 0);
                    proptest::prop_assert!(c.wait_ms <= c.answered_at.millis() - c.started_at.millis());
                }
                state = s.state;
            }
            proptest::prop_assert_eq!(opened, closed + usize::from(state.open_since.is_some()));
        }
    }
}
