//! `GET /api/v1/events`: live events over Server-Sent Events, only the
//! caller's workspace.

use std::{convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
    routing::get,
};
use futures_util::Stream;
use tokio_stream::{StreamExt, wrappers::BroadcastStream};

use crate::{AppState, auth::Caller};

/// The `events` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(stream))
}

/// The event stream: `message.created`, `message.updated`,
/// `conversation.updated`, each with ids only (fetch what changed). A client
/// that falls too far behind is disconnected; it should reconnect and reload.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, description = "Server-Sent Events: a `ready` event, then one event per \
        change named by its `kind`, its data a LiveEvent as JSON; comments keep the connection alive",
        content_type = "text/event-stream", body = String)))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ws = caller.0.workspace_id;
    // A signed-in agent's open stream is their live inbox: it keeps them
    // present (see `crate::presence`) until it ends.
    let presence = caller
        .0
        .user_id
        .map(|user| crate::presence::connected(&state, ws, user));
    let events = BroadcastStream::new(state.live.subscribe())
        // A lagged subscriber ends its stream rather than slowing the server.
        .map_while(|item| item.ok())
        .filter(move |event| event.workspace_id == ws)
        .map(move |event| {
            let _held = &presence;
            Ok(Event::default()
                .event(event.kind)
                .json_data(&event)
                .unwrap_or_else(|_| Event::default().comment("unencodable event")))
        });
    let hello = tokio_stream::once(Ok(Event::default().event("ready").data("{}")));
    let mut stopping = state.stopping.subscribe();
    let stopped = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    Sse::new(futures_util::StreamExt::take_until(
        hello.chain(events),
        stopped,
    ))
    .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
