//! Working hours in a workspace's time zone: the weekly hours and dated
//! exceptions (春节) that decide whether automation answers "off hours",
//! and the counting window (08:00–23:00 by default) that reply-time KPIs
//! count waiting time in. Pure: every question takes the time it is about.

use std::collections::BTreeMap;

use jiff::{
    Timestamp as JiffTimestamp,
    civil::{Date, Weekday},
    tz::TimeZone,
};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Minutes in a day: a span may end at 24:00.
const DAY_MINUTES: u16 = 24 * 60;

/// The time zone a workspace counts in when it set none.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// One stretch of a day, from `start` to `end` minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub start: u16,
    pub end: u16,
}

impl Span {
    /// `"09:00"`–`"18:30"`; `"24:00"` may end a span.
    pub fn parse(start: &str, end: &str) -> Result<Span, HoursError> {
        let span = Span {
            start: clock(start)?,
            end: clock(end)?,
        };
        if span.end <= span.start {
            return Err(HoursError::EndNotAfterStart {
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        Ok(span)
    }
}

/// Minutes after midnight of `HH:MM` (`00:00`..=`24:00`).
fn clock(text: &str) -> Result<u16, HoursError> {
    let bad = || HoursError::BadClock(text.to_string());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    let minutes = h * 60 + m;
    if m >= 60 || minutes > DAY_MINUTES {
        return Err(bad());
    }
    Ok(minutes)
}

/// Why working hours cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("unknown time zone {0:?} (use an IANA name such as Asia/Shanghai)")]
    UnknownTimeZone(String),
    #[error("{0:?} is not a time of day (HH:MM, 00:00 to 24:00)")]
    BadClock(String),
    #[error("the span {start}–{end} does not end after it starts")]
    EndNotAfterStart { start: String, end: String },
    #[error("spans overlap on {0}")]
    Overlap(String),
    #[error("{0:?} is not a date (YYYY-MM-DD)")]
    BadDate(String),
}

/// When a workspace works: spans per weekday (Monday first) and dated
/// exceptions that replace a day's spans (empty: closed all day).
#[derive(Debug, Clone)]
pub struct WorkingHours {
    tz: TimeZone,
    tz_name: String,
    weekly: [Vec<Span>; 7],
    exceptions: BTreeMap<Date, Vec<Span>>,
}

impl WorkingHours {
    /// Hours in the IANA zone `tz`, checked: spans sorted, none overlapping.
    pub fn new(
        tz: &str,
        weekly: [Vec<Span>; 7],
        exceptions: BTreeMap<String, Vec<Span>>,
    ) -> Result<Self, HoursError> {
        let zone = TimeZone::get(tz).map_err(|_| HoursError::UnknownTimeZone(tz.to_string()))?;
        let mut checked = weekly;
        for (day, spans) in checked.iter_mut().enumerate() {
            sort_checked(spans, &format!("weekday {}", day + 1))?;
        }
        let mut dated = BTreeMap::new();
        for (text, mut spans) in exceptions {
            let date: Date = text
                .parse()
                .map_err(|_| HoursError::BadDate(text.clone()))?;
            sort_checked(&mut spans, &text)?;
            dated.insert(date, spans);
        }
        Ok(WorkingHours {
            tz: zone,
            tz_name: tz.to_string(),
            weekly: checked,
            exceptions: dated,
        })
    }

    /// The same `span` every day of the week (a KPI counting window).
    pub fn daily(tz: &str, span: Span) -> Result<Self, HoursError> {
        Self::new(tz, std::array::from_fn(|_| vec![span]), BTreeMap::new())
    }

    /// Open at every moment (no hours configured).
    pub fn always(tz: &str) -> Result<Self, HoursError> {
        Self::daily(
            tz,
            Span {
                start: 0,
                end: DAY_MINUTES,
            },
        )
    }

    /// The zone's IANA name.
    pub fn time_zone(&self) -> &str {
        &self.tz_name
    }

    fn spans_of(&self, date: Date) -> &[Span] {
        self.exceptions
            .get(&date)
            .unwrap_or_else(|| &self.weekly[weekday_index(date.weekday())])
    }

    /// Whether `at` falls inside the hours (by the local wall clock).
    pub fn is_open(&self, at: Timestamp) -> bool {
        let Some((date, minute)) = self.local(at) else {
            return false;
        };
        self.spans_of(date)
            .iter()
            .any(|s| s.start <= minute && minute < s.end)
    }

    /// The local day of `at` as days since 1970-01-01 (a daily counter's key).
    pub fn local_day(&self, at: Timestamp) -> i64 {
        self.local(at).map_or(0, |(date, _)| {
            days_from_civil(
                i64::from(date.year()),
                i64::from(date.month()),
                i64::from(date.day()),
            )
        })
    }

    /// Local date of `at` and the wall-clock minute of that day.
    fn local(&self, at: Timestamp) -> Option<(Date, u16)> {
        let ts = JiffTimestamp::from_millisecond(at.millis()).ok()?;
        let local = self.tz.to_datetime(ts);
        let minute = u16::try_from(local.hour()).ok()? * 60 + u16::try_from(local.minute()).ok()?;
        Some((local.date(), minute))
    }

    /// The instant of local midnight starting `date` (the first instant of
    /// the day where a transition skips midnight).
    fn midnight(&self, date: Date) -> Option<i64> {
        let local = date.to_datetime(jiff::civil::Time::midnight());
        Some(self.tz.to_timestamp(local).ok()?.as_millisecond())
    }

    /// The instant `minute` minutes after local midnight of `date`: spans
    /// are local wall-clock times, so a DST day is honoured.
    fn instant(&self, date: Date, minute: u16) -> Option<i64> {
        if minute >= DAY_MINUTES {
            return self.midnight(date.tomorrow().ok()?);
        }
        let time = jiff::civil::Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
        let local = date.to_datetime(time);
        Some(self.tz.to_timestamp(local).ok()?.as_millisecond())
    }

    /// Milliseconds of open time in `[from, to)`: the waiting time a KPI
    /// counts. Zero when `to <= from`.
    pub fn open_millis_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        let (Some((first, _)), Some((last, _))) = (self.local(from), self.local(to)) else {
            return 0;
        };
        let mut total = 0i64;
        let mut date = first;
        loop {
            for span in self.spans_of(date) {
                if let (Some(a), Some(b)) =
                    (self.instant(date, span.start), self.instant(date, span.end))
                {
                    let a = a.max(from.millis());
                    let b = b.min(to.millis());
                    total += (b - a).max(0);
                }
            }
            if date >= last {
                break;
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        total
    }

    /// The first instant at or after `at` that is open, looking at most
    /// `days` days ahead: when a turn that started off hours starts
    /// counting, or when "business hours start" fires.
    pub fn next_open(&self, at: Timestamp, days: u32) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        let (mut date, _) = self.local(at)?;
        for _ in 0..=days {
            for span in self.spans_of(date) {
                if let Some(start) = self.instant(date, span.start)
                    && start >= at.millis()
                {
                    return Some(Timestamp(start));
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn weekday_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

fn sort_checked(spans: &mut [Span], day: &str) -> Result<(), HoursError> {
    spans.sort();
    for span in spans.iter() {
        if span.end <= span.start || span.end > DAY_MINUTES {
            return Err(HoursError::EndNotAfterStart {
                start: span.start.to_string(),
                end: span.end.to_string(),
            });
        }
    }
    if spans.windows(2).any(|w| w[1].start < w[0].end) {
        return Err(HoursError::Overlap(day.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01T00:00:00+08:00 (a Tuesday) in Unix milliseconds.
    const TUE_MIDNIGHT_SHANGHAI: i64 = 1_796_054_400_000;
    const HOUR: i64 = 3_600_000;

    /// Tuesday midnight in Shanghai plus `hours` (quarter hours exact).
    fn at(hours: f64) -> Timestamp {
        Timestamp(TUE_MIDNIGHT_SHANGHAI + (hours * 60.0).round() as i64 * 60_000)
    }

    fn window() -> WorkingHours {
        WorkingHours::daily("Asia/Shanghai", Span::parse("08:00", "23:00").unwrap()).unwrap()
    }

    #[test]
    fn the_counting_window_is_open_from_eight_to_eleven_local_time() {
        let w = window();
        assert!(!w.is_open(at(7.99)));
        assert!(w.is_open(at(8.0)));
        assert!(w.is_open(at(22.99)));
        assert!(!w.is_open(at(23.0)));
        assert!(!w.is_open(at(23.5)));
    }

    #[test]
    fn a_turn_started_at_half_past_eleven_counts_from_eight() {
        let w = window();
        // 23:30 → next day 08:03: three minutes of counted wait.
        assert_eq!(w.open_millis_between(at(23.5), at(32.05)), 3 * 60_000);
        assert_eq!(w.next_open(at(23.5), 7), Some(at(32.0)));
    }

    #[test]
    fn open_time_spans_days_and_never_exceeds_the_wall_clock() {
        let w = window();
        // Tuesday 22:00 → Thursday 09:00: 1 h + 15 h + 1 h.
        assert_eq!(w.open_millis_between(at(22.0), at(57.0)), 17 * HOUR);
        assert_eq!(w.open_millis_between(at(10.0), at(10.0)), 0);
        assert_eq!(w.open_millis_between(at(11.0), at(10.0)), 0);
    }

    #[test]
    fn weekly_hours_and_a_spring_festival_exception() {
        let nine_to_six = vec![Span::parse("09:00", "18:00").unwrap()];
        let mut weekly: [Vec<Span>; 7] = std::array::from_fn(|_| nine_to_six.clone());
        weekly[5].clear(); // Saturday
        weekly[6].clear(); // Sunday
        let exceptions = BTreeMap::from([("2026-12-02".to_string(), vec![])]);
        let h = WorkingHours::new("Asia/Shanghai", weekly, exceptions).unwrap();
        assert!(h.is_open(at(10.0))); // Tuesday 10:00
        assert!(!h.is_open(at(24.0 + 10.0))); // Wednesday: closed by exception
        assert!(h.is_open(at(48.0 + 10.0))); // Thursday
        assert!(!h.is_open(at(96.0 + 10.0))); // Saturday
        assert_eq!(h.next_open(at(19.0), 7), Some(at(48.0 + 9.0)));
    }

    #[test]
    fn local_days_change_at_local_midnight() {
        let w = window();
        assert_eq!(w.local_day(at(0.0)), 20_788); // 2026-12-01
        assert_eq!(w.local_day(at(23.99)), 20_788);
        assert_eq!(w.local_day(at(24.0)), 20_789);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn bad_hours_are_refused_with_the_reason() {
        assert_eq!(
            Span::parse("18:00", "09:00"),
            Err(HoursError::EndNotAfterStart {
                start: "18:00".into(),
                end: "09:00".into()
            })
        );
        assert!(matches!(
            Span::parse("25:00", "26:00"),
            Err(HoursError::BadClock(_))
        ));
        assert!(matches!(
            Span::parse("9:00", "10:00"),
            Err(HoursError::BadClock(_))
        ));
        assert!(Span::parse("00:00", "24:00").is_ok());
        assert!(matches!(
            WorkingHours::always("Mars/Olympus"),
            Err(HoursError::UnknownTimeZone(_))
        ));
        let overlapping = std::array::from_fn(|_| {
            vec![
                Span::parse("09:00", "12:00").unwrap(),
                Span::parse("11:00", "13:00").unwrap(),
            ]
        });
        assert!(matches!(
            WorkingHours::new("Asia/Shanghai", overlapping, BTreeMap::new()),
            Err(HoursError::Overlap(_))
        ));
        assert!(matches!(
            WorkingHours::new(
                "Asia/Shanghai",
                std::array::from_fn(|_| vec![]),
                BTreeMap::from([("2026-13-01".to_string(), vec![])])
            ),
            Err(HoursError::BadDate(_))
        ));
    }

    #[test]
    fn a_daylight_saving_zone_keeps_local_wall_clock_hours() {
        // Europe/Berlin springs forward on 2026-03-29: 08:00 local is 06:00Z.
        let w =
            WorkingHours::daily("Europe/Berlin", Span::parse("08:00", "09:00").unwrap()).unwrap();
        let utc_six = Timestamp(1_774_764_000_000); // 2026-03-29T06:00:00Z
        assert!(w.is_open(utc_six));
        assert!(!w.is_open(utc_six.plus_millis(-1)));
    }

    proptest::proptest! {
        #[test]
        fn open_time_adds_up_and_is_bounded(a in 0i64..2_000_000_000, b in 0i64..2_000_000_000, c in 0i64..2_000_000_000) {
            let w = window();
            let mut v = [a, b, c];
            v.sort();
            let [a, b, c] = v.map(|x| Timestamp(TUE_MIDNIGHT_SHANGHAI + x));
            let ab = w.open_millis_between(a, b);
            let bc = w.open_millis_between(b, c);
            proptest::prop_assert_eq!(ab + bc, w.open_millis_between(a, c));
            proptest::prop_assert!(ab <= b.millis() - a.millis());
            proptest::prop_assert!(ab >= 0);
        }
    }
}
