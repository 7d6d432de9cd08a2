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

/// Upper edges (inclusive, milliseconds) of the fixed wait-time buckets the
/// daily rows keep; a last, open-ended bucket holds longer waits. Medians
/// and p90s of a report are read from these histograms (no message or turn
/// is scanned), so they have bucket precision: see [`histogram_quantile`].
pub const BUCKET_UPPER_MS: [i64; 20] = [
    10_000, 20_000, 30_000, 45_000, 60_000, 90_000, 120_000, 150_000, 180_000, 240_000, 300_000,
    420_000, 600_000, 900_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000,
];

/// How many buckets a histogram has (the edges above plus the open end).
pub const BUCKETS: usize = BUCKET_UPPER_MS.len() + 1;

/// The bucket a counted wait falls in.
pub fn bucket_of(wait_ms: i64) -> usize {
    BUCKET_UPPER_MS.partition_point(|&upper| upper < wait_ms)
}

/// The value a report shows for a bucket: its upper edge ("at most"), or
/// for the open-ended last bucket its lower edge (8 hours, "more than").
pub fn bucket_value(bucket: usize) -> i64 {
    BUCKET_UPPER_MS
        .get(bucket)
        .copied()
        .unwrap_or(BUCKET_UPPER_MS[BUCKET_UPPER_MS.len() - 1])
}

/// The `q`-quantile of a histogram by the nearest-rank method, as
/// [`bucket_value`] of the bucket holding the ranked wait: exactly
/// `bucket_value(bucket_of(quantile(waits, q)))` for the waits counted.
pub fn histogram_quantile(counts: &[i64], q: f64) -> Option<i64> {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (bucket, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(bucket_value(bucket));
        }
    }
    None
}

/// What one step adds to a daily row (all deltas; `bucket` is the wait
/// bucket a closed turn adds one to).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayDelta {
    /// Turns started (account rows) or answered (agent rows).
    pub turns: i64,
    /// Turns a human answered.
    pub answered: i64,
    /// Answered within the target.
    pub within_target: i64,
    /// Account rows: still open at the end of their local day (+1 on open,
    /// −1 on a same-day answer). Agent rows: answered only after the day
    /// they started on had ended (carried over).
    pub unanswered: i64,
    /// Account rows: an automatic reply but no human one by the end of the
    /// turn's day. Agent rows: turns the agent answered after an automatic
    /// reply had come first.
    pub auto_only: i64,
    pub bucket: Option<usize>,
}

/// The daily rows one step changes: the turn's day (local day of its
/// start, as days since 1970-01-01), the account row and, for a turn a
/// known agent closed, that agent's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyEffect {
    pub day: i64,
    pub account: DayDelta,
    pub agent: Option<DayDelta>,
}

/// The daily-row changes of `step` applied to `before`: pure, so the store
/// applies them in the message's transaction and a recount can check them.
/// `agent` is the human who wrote a closing reply (`None` for the
/// merchant's own app or an API token: counted for the account only).
pub fn daily_effect(
    before: TurnState,
    step: &TurnStep,
    agent_known: bool,
    window: &WorkingHours,
) -> Option<DailyEffect> {
    if step.opened {
        let started = step.state.open_since?;
        return Some(DailyEffect {
            day: window.local_day(started),
            account: DayDelta {
                turns: 1,
                unanswered: 1,
                ..DayDelta::default()
            },
            agent: None,
        });
    }
    if let Some(closed) = step.closed {
        let day = window.local_day(closed.started_at);
        let same_day = window.local_day(closed.answered_at) == day;
        let auto_counted = auto_counts(before, window);
        let account = DayDelta {
            turns: 0,
            answered: 1,
            within_target: i64::from(closed.within_target),
            unanswered: if same_day { -1 } else { 0 },
            auto_only: if same_day && auto_counted { -1 } else { 0 },
            bucket: Some(bucket_of(closed.wait_ms)),
        };
        let agent = agent_known.then_some(DayDelta {
            turns: 1,
            answered: 1,
            within_target: i64::from(closed.within_target),
            unanswered: i64::from(!same_day),
            auto_only: i64::from(closed.auto_wait_ms.is_some()),
            bucket: Some(bucket_of(closed.wait_ms)),
        });
        return Some(DailyEffect {
            day,
            account,
            agent,
        });
    }
    // The first automatic reply of an open turn, on the turn's own day.
    if before.auto_replied_at.is_none() && auto_counts(step.state, window) {
        let started = step.state.open_since?;
        return Some(DailyEffect {
            day: window.local_day(started),
            account: DayDelta {
                auto_only: 1,
                ..DayDelta::default()
            },
            agent: None,
        });
    }
    None
}

/// Whether a turn's automatic reply came on the turn's own local day (a
/// reply dated before the turn counts as at its start).
fn auto_counts(state: TurnState, window: &WorkingHours) -> bool {
    match (state.open_since, state.auto_replied_at) {
        (Some(started), Some(auto)) => {
            window.local_day(auto.max(started)) == window.local_day(started)
        }
        _ => false,
    }
}

/// A report day (local days since 1970-01-01) as `YYYY-MM-DD`.
pub fn day_text(day: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The report day of a `YYYY-MM-DD` date; `None` when it is not one.
pub fn parse_day(text: &str) -> Option<i64> {
    let date: jiff::civil::Date = text.parse().ok()?;
    if text.len() != 10 {
        return None;
    }
    let epoch = jiff::civil::date(1970, 1, 1);
    Some(i64::from(
        date.since((jiff::Unit::Day, epoch)).ok()?.get_days(),
    ))
}

/// `at` on the wall clock of the zone `tz` (`2026-12-01 10:02:40`), for
/// exports people read; RFC 3339 UTC when the zone is unknown.
pub fn local_text(at: Timestamp, tz: &str) -> String {
    let local = jiff::tz::TimeZone::get(tz).ok().and_then(|zone| {
        jiff::Timestamp::from_millisecond(at.millis())
            .ok()
            .map(|ts| zone.to_datetime(ts))
    });
    match local {
        Some(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        None => at.to_rfc3339(),
    }
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

    #[test]
    fn report_days_read_and_print_as_dates() {
        assert_eq!(day_text(20_788), "2026-12-01");
        assert_eq!(day_text(0), "1970-01-01");
        assert_eq!(parse_day("2026-12-01"), Some(20_788));
        assert_eq!(parse_day("2026-02-30"), None);
        assert_eq!(parse_day("2026-1-1"), None);
        assert_eq!(window().local_day(at(10, 0, 0)), 20_788);
        assert_eq!(
            local_text(at(10, 2, 40), "Asia/Shanghai"),
            "2026-12-01 10:02:40"
        );
    }

    #[test]
    fn buckets_and_histogram_quantiles_agree_with_exact_quantiles() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(10_000), 0);
        assert_eq!(bucket_of(10_001), 1);
        assert_eq!(bucket_of(TARGET), 8);
        assert_eq!(bucket_of(TARGET + 1), 9);
        assert_eq!(bucket_of(i64::MAX), BUCKETS - 1);
        assert_eq!(bucket_value(BUCKETS - 1), 28_800_000);
        let waits = [5_000, 15_000, 170_000, 200_000, 40_000_000, 61_000, 61_000];
        let mut counts = [0i64; BUCKETS];
        for w in waits {
            counts[bucket_of(w)] += 1;
        }
        for q in [0.5, 0.9] {
            let exact = quantile(&mut waits.to_vec(), q).unwrap();
            assert_eq!(
                histogram_quantile(&counts, q),
                Some(bucket_value(bucket_of(exact)))
            );
        }
        assert_eq!(histogram_quantile(&[0; BUCKETS], 0.5), None);
    }

    #[test]
    fn daily_effects_count_a_turn_on_the_day_it_started() {
        let w = window();
        let open = step(
            TurnState::default(),
            Writer::Customer,
            at(22, 59, 0),
            &w,
            TARGET,
        );
        let e = daily_effect(TurnState::default(), &open, false, &w).unwrap();
        assert_eq!((e.account.turns, e.account.unanswered), (1, 1));
        let auto = step(open.state, Writer::Automation, at(22, 59, 5), &w, TARGET);
        let e2 = daily_effect(open.state, &auto, false, &w).unwrap();
        assert_eq!(e2.account.auto_only, 1);
        // Answered the next morning: still unanswered at its day's end and
        // only automatically answered that day.
        let close = step(auto.state, Writer::Human, at(32, 1, 0), &w, TARGET);
        let e3 = daily_effect(auto.state, &close, true, &w).unwrap();
        assert_eq!(e3.day, e.day);
        assert_eq!((e3.account.unanswered, e3.account.auto_only), (0, 0));
        let agent = e3.agent.unwrap();
        assert_eq!((agent.turns, agent.unanswered, agent.auto_only), (1, 1, 1));
        assert_eq!(agent.within_target, 1); // 1 counted minute + 1 minute
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
