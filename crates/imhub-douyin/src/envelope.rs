//! The three response envelopes Douyin uses side by side (reference §3) and
//! the lenient number parsing its OAuth answers need ("expires_in": "86400").
//!
//! * A, OAuth: `{"data": {..., "error_code": 0, "description": ""}, "message": "success"}`
//! * B, extra + data: `{"extra": {"logid", "error_code", "sub_error_code", ...}, "data": {...}, <fields>}`
//! * C, err_no: `{"err_no": 0, "err_msg": "", "log_id": "...", "data": {...}}`
//!
//! A call succeeds when the HTTP status is 200 and every code present is 0.

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::Value;

use crate::errors::{ApiError, DouyinError};

/// Reads an integer that may arrive as a JSON number or as a quoted string.
pub fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .or_else(|| n.as_u64().map(|u| u as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// serde helper: an optional integer that may be quoted.
pub fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => lenient_i64(&v)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {v}"))),
    }
}

/// serde helper: an integer that may be quoted, 0 when absent.
pub fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    de_opt_i64(d).map(|v| v.unwrap_or(0))
}

/// serde helper: a string that may arrive as a number (ids are sometimes numeric).
pub fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    })
}

/// The `extra` block of envelope B, kept for callers who log it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Extra {
    /// Official samples spell it `logid`; one SDK reads `log_id`: accept both.
    #[serde(default, alias = "log_id")]
    pub logid: Option<String>,
    /// Documented as milliseconds, sampled as seconds; kept as sent.
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub now: Option<i64>,
    #[serde(default, deserialize_with = "de_i64")]
    pub error_code: i64,
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub sub_error_code: i64,
    #[serde(default)]
    pub sub_description: String,
}

fn code_at(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(lenient_i64)
}

fn text_at(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The logid of any envelope: `extra.logid`, `extra.log_id`, `log_id`, `data.log_id`.
pub fn logid_of(v: &Value) -> Option<String> {
    let extra = v.get("extra");
    extra
        .and_then(|e| text_at(e, "logid").or_else(|| text_at(e, "log_id")))
        .or_else(|| text_at(v, "log_id"))
        .or_else(|| text_at(v, "logid"))
        .or_else(|| v.get("data").and_then(|d| text_at(d, "log_id")))
}

/// Applies the success rule to a parsed answer: every present code must be 0.
pub fn check(v: &Value, http_status: u16) -> Result<(), ApiError> {
    let extra = v.get("extra");
    let data = v.get("data").filter(|d| d.is_object());
    // Order matters only for which code we report: the most specific first.
    let candidates = [
        (code_at(v, "err_no"), text_at(v, "err_msg")),
        (
            extra.and_then(|e| code_at(e, "error_code")),
            extra.and_then(|e| text_at(e, "description")),
        ),
        (
            data.and_then(|d| code_at(d, "error_code")),
            data.and_then(|d| text_at(d, "description")),
        ),
        (code_at(v, "error_code"), text_at(v, "description")),
    ];
    let sub_code = extra
        .and_then(|e| code_at(e, "sub_error_code"))
        .filter(|c| *c != 0);
    let sub_description = extra.and_then(|e| text_at(e, "sub_description"));
    let failing = candidates
        .iter()
        .find(|(code, _)| code.is_some_and(|c| c != 0));
    let logid = logid_of(v);
    match (failing, sub_code) {
        (Some((Some(code), text)), _) => Err(ApiError {
            code: *code,
            sub_code,
            description: text
                .clone()
                .or(sub_description)
                .or_else(|| text_at(v, "message"))
                .unwrap_or_default(),
            logid,
            http_status,
        }),
        (_, Some(sub)) => Err(ApiError {
            code: sub,
            sub_code: Some(sub),
            description: sub_description.unwrap_or_default(),
            logid,
            http_status,
        }),
        _ if http_status != 200 => Err(ApiError {
            code: -i64::from(http_status),
            sub_code: None,
            description: format!("HTTP {http_status}"),
            logid,
            http_status,
        }),
        _ => Ok(()),
    }
}

/// Parses a raw answer: JSON, envelope check, then the typed body.
pub fn decode<T: DeserializeOwned>(http_status: u16, body: &[u8]) -> Result<T, DouyinError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| DouyinError::Decode {
        status: http_status,
        message: format!("not JSON: {e}"),
    })?;
    check(&v, http_status)?;
    serde_json::from_value(v).map_err(|e| DouyinError::Decode {
        status: http_status,
        message: e.to_string(),
    })
}

/// Envelope C with nothing but the status: recall, group settings.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrNoResponse {
    #[serde(default, deserialize_with = "de_i64")]
    pub err_no: i64,
    #[serde(default)]
    pub err_msg: String,
    #[serde(default, alias = "logid")]
    pub log_id: Option<String>,
}

/// Envelope B with nothing but the status: deletes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExtraResponse {
    #[serde(default)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn oauth_envelope_error_code_in_data_is_an_error() {
        let v = json!({"data": {"error_code": "10010", "description": "refresh_token过期"}, "message": "error"});
        let e = check(&v, 200).unwrap_err();
        assert_eq!(e.code, 10010);
        assert_eq!(e.description, "refresh_token过期");
    }

    #[test]
    fn extra_envelope_reports_logid_and_description() {
        let v = json!({
            "extra": {"logid": "20220401", "now": 1648797449, "error_code": 28001008,
                      "description": "access_token过期", "sub_error_code": 0, "sub_description": ""},
            "data": {"error_code": 28001008, "description": "access_token过期"}
        });
        let e = check(&v, 200).unwrap_err();
        assert_eq!((e.code, e.logid.as_deref()), (28_001_008, Some("20220401")));
    }

    #[test]
    fn extra_sub_error_code_alone_is_an_error() {
        let v = json!({"extra": {"error_code": 0, "sub_error_code": 2190004, "sub_description": "no"}, "data": {}});
        assert_eq!(check(&v, 200).unwrap_err().code, 2_190_004);
    }

    #[test]
    fn err_no_envelope_is_checked_and_log_id_kept() {
        let v = json!({"err_no": 28003070, "err_msg": "超出频控限制次数", "log_id": "abc"});
        let e = check(&v, 200).unwrap_err();
        assert_eq!(e.code, 28_003_070);
        assert_eq!(e.logid.as_deref(), Some("abc"));
        assert!(check(&json!({"err_no": 0, "err_msg": "", "log_id": "x"}), 200).is_ok());
    }

    #[test]
    fn success_needs_every_present_code_zero_and_http_200() {
        let ok = json!({"extra": {"error_code": 0, "log_id": "l"}, "data": {"error_code": "0"}, "msg_id": "@a"});
        assert!(check(&ok, 200).is_ok());
        assert!(check(&ok, 502).is_err());
    }

    #[test]
    fn quoted_numbers_are_read_leniently() {
        assert_eq!(lenient_i64(&json!("86400")), Some(86400));
        assert_eq!(lenient_i64(&json!(1296000)), Some(1_296_000));
        assert_eq!(lenient_i64(&json!("x")), None);
    }
}
