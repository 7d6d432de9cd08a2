//! Tencent routes under `/api/v1/tencent/...`.

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
