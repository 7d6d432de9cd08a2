//! The JSON API under `/api/v1`: one module per resource, each exporting
//! its routes; this module nests them and holds the shared extractors.

pub mod accounts;
pub mod alert_targets;
pub mod assignment;
pub mod automation;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod douyin;
pub mod events;
pub mod kept_pushes;
pub mod labels;
pub mod leads;
pub mod media;
pub mod meituan;
pub mod messages;
pub mod notes;
pub mod openapi;
pub mod operator;
pub mod quick_replies;
pub mod reports;
pub mod search;
pub mod session;
pub mod team;
pub mod tencent;
pub mod text;
pub mod tokens;
pub mod users;
pub mod webhooks;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::{AppState, error::ApiError};

/// Every API route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(session::routes())
        .merge(alert_targets::routes())
        .merge(tokens::routes())
        .merge(users::routes())
        .merge(channels::routes())
        .merge(accounts::routes())
        .merge(conversations::routes())
        .merge(messages::routes())
        .merge(events::routes())
        .merge(media::routes())
        .merge(webhooks::routes())
        .merge(openapi::routes())
        .merge(douyin::routes())
        .merge(tencent::routes())
        .merge(meituan::routes())
        .merge(assignment::routes())
        .merge(team::routes())
        .merge(notes::routes())
        .merge(labels::routes())
        .merge(quick_replies::routes())
        .merge(contacts::routes())
        .merge(search::routes())
        .merge(automation::routes())
        .merge(leads::routes())
        .merge(reports::routes())
        .merge(kept_pushes::routes())
        .merge(operator::routes())
}

/// A page of results with the cursor of the next page (absent at the end).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A list that is not paginated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
}

/// Maps a body that could not be read to a problem: 413 over the limit.
pub fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is over the size limit",
        )
    } else {
        ApiError::bad_request("unreadable_body", e.body_text())
    }
}

/// A JSON request body whose every failure is a problem document with a
/// code: `unsupported_media_type` (415, no JSON `Content-Type`),
/// `body_too_large` (413), `malformed_json` (400, not JSON, invalid UTF-8,
/// nested too deep) or `invalid_request` (422, wrong fields).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        // Every JSON body of this API is an object; serde would also read
        // a struct from an array of its fields in order (`[null, null]`).
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "the body must be a JSON object",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Refuses a body that does not say it is JSON (`application/json` or a
/// `+json` type) with 415 `unsupported_media_type`. A browser's form post
/// or a `text/plain` "simple request" cannot reach a JSON route this way.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if openapi::is_json(content_type) {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(
            "the body must be JSON: send Content-Type: application/json",
        ))
    }
}

/// Parses JSON with the error codes of [`ApiJson`].
///
/// JSON has one kind of number, and the spec's JSON Schema (2020-12) counts
/// `2.0` as the integer 2, so a whole number written with a fraction is
/// taken wherever an integer is: the body is read as a value, such numbers
/// are turned into integers, and the value is then read as `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::unprocessable("invalid_request", e.to_string())
            }
            _ => ApiError::bad_request("malformed_json", e.to_string()),
        })?;
    whole_numbers_as_integers(&mut value);
    serde_json::from_value(value)
        .map_err(|e| ApiError::unprocessable("invalid_request", e.to_string()))
}

/// Largest magnitude below which every whole `f64` is exactly one integer.
const EXACT_F64_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// Rewrites every number that is a whole `f64` within ±2^53 (`2.0`,
/// `-7.0`) as that integer, in place.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() <= EXACT_F64_INTEGERS
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// Default page size of the paginated lists.
pub const DEFAULT_PAGE: u32 = 50;

/// A list's `limit`: 1 to `max`, [`DEFAULT_PAGE`] when absent; outside the
/// range a 400 `invalid_query`, as the spec declares, rather than a quiet
/// clamp that would hide a client's mistake.
pub fn page_limit(limit: Option<u32>, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE.min(max)),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {max}, not {n}"),
        )),
    }
}

/// Encodes a pair of integers as an opaque cursor.
pub fn encode_cursor(a: i64, b: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{a}:{b}"))
}

/// Decodes [`encode_cursor`]'s output; a bad cursor is a 400.
pub fn decode_cursor(cursor: &str) -> Result<(i64, i64), ApiError> {
    let bad = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API issued");
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

/// A path parameter; one that does not parse names nothing, so it is a 404.
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::not_found("resource"))
    }
}

/// Query parameters; bad ones are a 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits_outside_the_range_are_refused() {
        assert_eq!(page_limit(None, 200).unwrap(), 50);
        assert_eq!(page_limit(Some(1), 200).unwrap(), 1);
        assert_eq!(page_limit(Some(200), 200).unwrap(), 200);
        assert_eq!(page_limit(Some(0), 200).unwrap_err().code, "invalid_query");
        assert_eq!(
            page_limit(Some(201), 200).unwrap_err().code,
            "invalid_query"
        );
    }

    #[test]
    fn json_bodies_need_a_json_content_type() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            h
        };
        assert!(require_json(&with("application/json")).is_ok());
        assert!(require_json(&with("application/json; charset=utf-8")).is_ok());
        assert!(require_json(&with("application/problem+json")).is_ok());
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            let e = require_json(&with(bad)).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (415, "unsupported_media_type"),
                "{bad}"
            );
        }
        assert_eq!(require_json(&HeaderMap::new()).unwrap_err().status, 415);
    }

    #[test]
    fn whole_numbers_with_a_fraction_are_integers() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Ids {
            id: i64,
            small: u32,
            ratio: f64,
            list: Vec<i64>,
        }
        let ids: Ids =
            parse_json(br#"{"id": -858.0, "small": 7.0, "ratio": 2.0, "list": [1.0, 2]}"#).unwrap();
        assert_eq!(
            ids,
            Ids {
                id: -858,
                small: 7,
                ratio: 2.0,
                list: vec![1, 2]
            }
        );
        for bad in [
            r#"{"id": 1.5, "small": 1, "ratio": 1, "list": []}"#,
            r#"{"id": 1, "small": -1.0, "ratio": 1, "list": []}"#,
            r#"{"id": 1e300, "small": 1, "ratio": 1, "list": []}"#,
            r#"{"id": 1, "small": 1, "ratio": 1, "list": [], "extra": 1}"#,
        ] {
            let e = parse_json::<Ids>(bad.as_bytes()).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (422, "invalid_request"),
                "{bad}"
            );
        }
        let e = parse_json::<Ids>(b"{").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "malformed_json"));
    }

    #[test]
    fn large_whole_numbers_with_a_fraction_read_back_exactly() {
        // The fuzzer's case: without exact float parsing this read back as
        // -2222230111110235.25 and was refused as "not an integer".
        let list: Vec<i64> =
            parse_json(b"[-2222230111110235.0, -3744861466011630.0, 9007199254740991.0]").unwrap();
        assert_eq!(
            list,
            vec![
                -2_222_230_111_110_235,
                -3_744_861_466_011_630,
                9_007_199_254_740_991
            ]
        );
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor(1_700_000_000_000, 42);
        assert_eq!(decode_cursor(&c).unwrap(), (1_700_000_000_000, 42));
        assert_eq!(decode_cursor("!!").unwrap_err().code, "invalid_cursor");
        assert_eq!(
            decode_cursor(&URL_SAFE_NO_PAD.encode("x:y"))
                .unwrap_err()
                .code,
            "invalid_cursor"
        );
    }
}
