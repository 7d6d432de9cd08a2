//! Meituan routes under `/api/v1/meituan/...`.

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
