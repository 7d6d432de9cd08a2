//! The two response envelopes of the gateway (reference §3): the classic
//! `{"data": …}` / `{"data":"ng","error":{code,msg}}` and the batch
//! `{"result_code":1..4, "error_list":[…]}` used by `ecommerce/*` (msgSend).
//! One parser handles both, so every call site reads the same [`ApiSuccess`].

use serde_json::Value;

use crate::{
    errors::{CODE_SYSTEM_ERROR, ErrorItem, MeituanError},
    lenient,
};

/// What a successful (or partly successful) call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSuccess {
    /// The `data` payload: `"ok"` for writes, an object or array for reads.
    pub data: Value,
    /// `result_code` of a batch answer (1 or 2); `None` for the classic one.
    pub result_code: Option<i64>,
    /// What failed in a partial success (`result_code` 2's `error_list`).
    pub failed: Vec<ErrorItem>,
    /// A classic partial success: `data` is `"ok"` and a top-level `msg`
    /// says what failed (official SDK's `partSuccess`).
    pub partial_msg: Option<String>,
}

impl ApiSuccess {
    /// Whether Meituan reported that only part of the request succeeded.
    pub fn is_partial(&self) -> bool {
        !self.failed.is_empty() || self.partial_msg.is_some()
    }
}

/// Parses either envelope; failures become [`MeituanError::Api`] or
/// [`MeituanError::AllFailed`] carrying Meituan's own codes.
pub fn parse(body: &[u8]) -> Result<ApiSuccess, MeituanError> {
    // Error texts here are our own: the remote body is never quoted.
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| MeituanError::BadResponse("the answer is not JSON".into()))?;
    let Value::Object(obj) = &v else {
        return Err(MeituanError::BadResponse(
            "the answer is not a JSON object".into(),
        ));
    };
    if let Some(rc) = obj.get("result_code") {
        let result_code = lenient::value_to_i64(rc)
            .ok()
            .flatten()
            .ok_or_else(|| MeituanError::BadResponse("result_code is not a number".into()))?;
        let errors = error_list(obj.get("error_list"));
        let data = obj.get("data").cloned().unwrap_or(Value::Null);
        return match result_code {
            1 => Ok(ApiSuccess {
                data,
                result_code: Some(1),
                failed: Vec::new(),
                partial_msg: None,
            }),
            2 => Ok(ApiSuccess {
                data,
                result_code: Some(2),
                failed: errors,
                partial_msg: None,
            }),
            3 => Err(MeituanError::AllFailed { errors }),
            4 => Err(error_object(obj.get("error"))
                .or_else(|| errors.into_iter().next())
                .map(|e| MeituanError::Api {
                    code: e.code,
                    msg: e.msg,
                })
                .unwrap_or_else(|| {
                    MeituanError::BadResponse("result_code 4 without error".into())
                })),
            other => Err(MeituanError::BadResponse(format!("result_code {other}"))),
        };
    }
    if let Some(e) = error_object(obj.get("error")) {
        return Err(MeituanError::Api {
            code: e.code,
            msg: e.msg,
        });
    }
    match obj.get("data") {
        None | Some(Value::Null) => Err(MeituanError::Api {
            // The official SDK treats a missing `data` as a system error.
            code: CODE_SYSTEM_ERROR,
            msg: "answer without data".into(),
        }),
        Some(Value::String(s)) if s == "ng" => Err(MeituanError::Api {
            code: CODE_SYSTEM_ERROR,
            msg: "data ng without error".into(),
        }),
        Some(data) => Ok(ApiSuccess {
            data: data.clone(),
            result_code: None,
            failed: Vec::new(),
            partial_msg: obj
                .get("msg")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(str::to_string),
        }),
    }
}

fn error_object(v: Option<&Value>) -> Option<ErrorItem> {
    match v? {
        Value::Object(_) => serde_json::from_value(v?.clone()).ok(),
        // Some answers carry the error as JSON text.
        Value::String(s) if !s.is_empty() => serde_json::from_str(s).ok(),
        _ => None,
    }
}

/// `error_list` as an array or as JSON in a string (S5 types it as a string).
fn error_list(v: Option<&Value>) -> Vec<ErrorItem> {
    match v {
        Some(Value::Array(_)) => v
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
        Some(Value::String(s)) if !s.is_empty() => serde_json::from_str(s).unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_ok_and_ng() {
        let ok = parse(br#"{"data":"ok"}"#).unwrap();
        assert_eq!(ok.data, "ok");
        assert!(!ok.is_partial());
        let ng = parse(r#"{"data":"ng","error":{"code":703,"msg":"签名验证错误"}}"#.as_bytes())
            .unwrap_err();
        assert_eq!(ng.code(), Some(703));
        let partial = parse(br#"{"data":"ok","msg":"1 of 2 failed"}"#).unwrap();
        assert!(partial.is_partial());
        assert_eq!(parse(br#"{"data":null}"#).unwrap_err().code(), Some(700));
    }

    #[test]
    fn batch_result_codes() {
        assert_eq!(
            parse(br#"{"result_code":1,"data":"ok"}"#)
                .unwrap()
                .result_code,
            Some(1)
        );
        let partial =
            parse(br#"{"result_code":2,"data":[],"error_list":[{"code":705,"msg":"x"}]}"#).unwrap();
        assert_eq!(partial.failed.len(), 1);
        let all = parse(br#"{"result_code":3,"error_list":"[{\"code\":806,\"msg\":\"no\"}]"}"#)
            .unwrap_err();
        assert_eq!(all.code(), Some(806));
        let refused = parse(r#"{"result_code":4,"error":{"code":"711","msg":"流控"}}"#.as_bytes())
            .unwrap_err();
        assert_eq!(refused.code(), Some(711));
        assert!(matches!(
            parse(b"<html>").unwrap_err(),
            MeituanError::BadResponse(_)
        ));
    }
}
