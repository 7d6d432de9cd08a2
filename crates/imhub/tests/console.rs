//! The admin console (issue 15) in real Chromium, each scenario from a
//! fresh `imhub serve` process (not the demo) on its own SQLite file, with
//! the platform sandboxes it needs started by the test. One binary, so the
//! scenarios link once: `console/channels.rs` (channels, Douyin QR
//! authorization, channel health, accounts) and the team pages beside it,
//! sharing `browser/mod.rs` and the launcher in `console/server.rs`.

mod browser;
#[path = "console/server.rs"]
mod server;

#[path = "console/channels.rs"]
mod channels;

#[path = "console/operator.rs"]
mod operator;
#[path = "console/serve.rs"]
mod serve;
#[path = "console/team.rs"]
mod team;
