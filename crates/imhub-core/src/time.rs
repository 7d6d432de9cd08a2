//! Timestamps: milliseconds since the Unix epoch inside imhub, RFC 3339 on the wire.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// A point in time, stored as Unix milliseconds and shown as RFC 3339 in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Timestamp((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This time shifted by `ms` milliseconds (negative goes back).
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Earliest time a push may claim (2000-01-01T00:00:00Z): platforms
    /// did not exist before; anything earlier is a bug or a forgery.
    pub const EARLIEST_PUSHED: Timestamp = Timestamp(946_684_800_000);

    /// How far past its arrival a push may be dated (clock skew between
    /// the platform and us).
    pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

    /// A time a push claims, kept within sense: a push dated before
    /// [`Self::EARLIEST_PUSHED`] or more than [`Self::MAX_FUTURE_SKEW_MS`]
    /// after it arrived is taken as sent when it arrived, so it cannot pin
    /// its conversation to the top of the chat list forever.
    pub fn clamp_pushed(self, received: Timestamp) -> Timestamp {
        if self < Self::EARLIEST_PUSHED
            || self.0 > received.0.saturating_add(Self::MAX_FUTURE_SKEW_MS)
        {
            received
        } else {
            self
        }
    }

    /// RFC 3339 with millisecond precision, in UTC. Times outside years
    /// 0001–9999 (which RFC 3339 cannot write) are shown at those bounds.
    pub fn to_rfc3339(self) -> String {
        const MIN: i64 = -62_135_596_800_000; // 0001-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        let ms = self.0.clamp(MIN, MAX);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// Parses RFC 3339 text.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Accepts RFC 3339 text or Unix milliseconds.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Millis(i64),
        }
        match Either::deserialize(d)? {
            Either::Millis(ms) => Ok(Timestamp(ms)),
            Either::Text(t) => Timestamp::parse_rfc3339(&t)
                .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let t = Timestamp(1_763_800_000_123);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert!(t.to_rfc3339().ends_with('Z'));
    }

    #[test]
    fn extreme_times_still_serialize() {
        for ms in [i64::MIN, -1, 0, i64::MAX] {
            assert!(!Timestamp(ms).to_rfc3339().is_empty(), "{ms}");
        }
        assert!(Timestamp(i64::MAX).to_rfc3339().starts_with("9999-12-31"));
    }

    #[test]
    fn pushed_times_far_in_the_future_or_past_become_the_arrival() {
        let arrived = Timestamp(1_763_800_000_000);
        assert_eq!(Timestamp(i64::MAX).clamp_pushed(arrived), arrived);
        assert_eq!(
            arrived.plus_millis(3_600_000).clamp_pushed(arrived),
            arrived
        );
        assert_eq!(Timestamp(0).clamp_pushed(arrived), arrived);
        assert_eq!(Timestamp(-5).clamp_pushed(arrived), arrived);
        // Small skew and genuine history are kept.
        let skewed = arrived.plus_millis(60_000);
        assert_eq!(skewed.clamp_pushed(arrived), skewed);
        let last_year = arrived.plus_millis(-365 * 86_400_000);
        assert_eq!(last_year.clamp_pushed(arrived), last_year);
    }
}
