//! The JSON API under `/api/v1`: one module per resource, each exporting
//! its routes; this module nests them and holds the shared extractors.

pub mod accounts;
pub mod channels;
pub mod conversations;
pub mod douyin;
pub mod events;
pub mod media;
pub mod meituan;
pub mod messages;
pub mod openapi;
pub mod session;
pub mod tencent;
pub mod tokens;
pub mod users;
pub mod webhooks;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::StatusCode,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::{AppState, error::ApiError};

/// Every API route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(session::routes())
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
/// code: `body_too_large` (413), `malformed_json` (400, not JSON, invalid
/// UTF-8, nested too deep) or `invalid_request` (422, wrong fields).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON with the error codes of [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::unprocessable("invalid_request", e.to_string())
        }
        _ => ApiError::bad_request("malformed_json", e.to_string()),
    })
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
