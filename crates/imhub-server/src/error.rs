//! API errors as `application/problem+json`, each with a stable snake_case
//! `code` clients can branch on.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use imhub_store::StoreError;
use serde::Serialize;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Seconds for a `Retry-After` header (a quota that resets later).
    pub retry_after: Option<u64>,
}

/// The problem document (RFC 9457) with imhub's `code`, the body of every
/// error answer (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://imhub.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Stable snake_case code to branch on; each response lists its codes.
    #[schema(pattern = "^[a-z0-9_]+$")]
    pub code: String,
    /// What went wrong, for humans; may change between versions.
    pub detail: String,
}

impl ApiError {
    /// An error with a status, a stable code and a human explanation.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The same error with a `Retry-After` of `secs` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token or session is required",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this needs an admin token",
        )
    }

    /// 415 `unsupported_media_type`: the body is not of a type the route takes.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            detail,
        )
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict(detail) => ApiError::new(StatusCode::CONFLICT, "conflict", detail),
            StoreError::InvalidState(detail) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_state", detail)
            }
            StoreError::QuotaExceeded(detail) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", detail)
            }
            // A domain rule's refusal: a role rule is a 403, the rest 422.
            StoreError::Refused { code, detail } => match code {
                "forbidden" | "needs_user" => ApiError::new(StatusCode::FORBIDDEN, code, detail),
                _ => ApiError::unprocessable(code, detail),
            },
            StoreError::Retryable(detail) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("the database is busy; try again ({detail})"),
            ),
            StoreError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<imhub_core::Refusal> for ApiError {
    fn from(r: imhub_core::Refusal) -> Self {
        ApiError::unprocessable(r.code, r.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("https://imhub.dev/problems/{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}
