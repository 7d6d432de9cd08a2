//! Uploads for the inbox's attachments, served back by an unguessable URL
//! that platforms and browsers can fetch.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Serialize;

use crate::{
    AppState,
    api::{ApiPath, body_error},
    auth::{Caller, new_secret},
    error::ApiError,
};

/// The `media` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/media", post(upload))
}

/// Content types accepted for upload.
pub const ACCEPTED_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "video/mp4",
    "audio/mpeg",
    "application/pdf",
];

/// Where an upload can be fetched.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    pub key: String,
    pub url: String,
    pub content_type: String,
    pub size: usize,
}

/// Stores the request body (the file itself, with its `Content-Type`).
/// 415 `unsupported_media_type` for other types; 413 over the body limit.
#[utoipa::path(post, path = "/api/v1/media", tag = "media",
    request_body(description = "The file itself, with its Content-Type; not empty", content(
        (crate::api::openapi::Upload = "image/png"), (crate::api::openapi::Upload = "image/jpeg"),
        (crate::api::openapi::Upload = "image/gif"), (crate::api::openapi::Upload = "image/webp"),
        (crate::api::openapi::Upload = "video/mp4"), (crate::api::openapi::Upload = "audio/mpeg"),
        (crate::api::openapi::Upload = "application/pdf"))),
    responses((status = 201, body = Uploaded),
        (status = 400, description = "`empty_upload`"),
        (status = 413, description = "`quota_exceeded`: the workspace's media quota is used up"),
        (status = 415, description = "`unsupported_media_type`")))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let body = body.map_err(body_error)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_lowercase())
        .unwrap_or_default();
    if !ACCEPTED_TYPES.contains(&content_type.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("accepted: {}", ACCEPTED_TYPES.join(", ")),
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("empty_upload", "the upload is empty"));
    }
    let key = new_secret("");
    let size = body.len();
    state
        .store
        .put_media(
            caller.0.workspace_id,
            &key,
            &content_type,
            body.to_vec(),
            crate::api::operator::media_quota(&state, caller.0.workspace_id).await?,
        )
        .await?;
    let url = format!("{}/media/{key}", state.config.public_url());
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            key,
            url,
            content_type,
            size,
        }),
    ))
}

/// Uploads served inline: raster images only (SVG is not among them: it
/// can carry script).
const INLINE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Serves an upload by its key (no authentication: the key is the secret).
/// Images inline, everything else as an attachment.
pub async fn fetch(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (content_type, bytes) = state.store.get_media(&key).await?;
    // Only raster images are shown in the browser; anything else (a PDF, a
    // video opened on its own) is downloaded, and in any case the answer
    // is a sandboxed document that runs nothing.
    let disposition = if INLINE_TYPES.contains(&content_type.as_str()) {
        "inline"
    } else {
        "attachment"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".into(),
            ),
            (header::CONTENT_DISPOSITION, disposition.into()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; img-src 'self'; media-src 'self'; sandbox".into(),
            ),
        ],
        bytes,
    )
        .into_response())
}
