//! Lenient number parsing for Meituan's ids (reference §8): the same field
//! arrives as a JSON number in one place and as text in another, and order
//! ids have ~17 digits, so every id is read as "number or string" into `i64`.

use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

/// Reads a JSON value as an `i64`: a number, or text holding one. `null`,
/// an empty string and absence are `None`.
pub fn value_to_i64(v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => match n.as_f64() {
                // A float with no fraction (some encoders write `1.0`).
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(Some(f as i64)),
                _ => Err(format!("{n} is not a 64-bit integer")),
            },
        },
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{s:?} is not an integer")),
        other => Err(format!("{other} is not an integer")),
    }
}

/// serde helper: an optional id, number or text.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    value_to_i64(&v).map_err(D::Error::custom)
}

/// serde helper: a required-ish number that defaults to 0 when absent or empty.
pub fn i64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    opt_i64(d).map(|v| v.unwrap_or(0))
}

/// serde helper: text that may arrive as a number (`app_poi_code`, `app_id`).
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(D::Error::custom(format!("{other} is not text"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_read_from_numbers_and_text() {
        assert_eq!(value_to_i64(&json!(12)), Ok(Some(12)));
        assert_eq!(
            value_to_i64(&json!("27012345678901234")),
            Ok(Some(27012345678901234))
        );
        assert_eq!(value_to_i64(&json!(-1)), Ok(Some(-1)));
        assert_eq!(value_to_i64(&json!("")), Ok(None));
        assert_eq!(value_to_i64(&json!(null)), Ok(None));
        assert!(value_to_i64(&json!("abc")).is_err());
        assert!(value_to_i64(&json!([1])).is_err());
    }
}
