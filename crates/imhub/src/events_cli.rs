//! `imhub events ...`: pushes that were kept raw because they could not be
//! processed, and replaying them once the cause is fixed.

use anyhow::Context;
use clap::Subcommand;
use imhub_core::WorkspaceId;
use imhub_server::{AppState, Config};
use imhub_store::Store;

/// Kept pushes.
#[derive(Subcommand)]
pub enum Command {
    /// List kept pushes with the reason they could not be processed.
    List {
        #[arg(long)]
        workspace: i64,
        /// `unprocessable` (default) or `processed`.
        #[arg(long, default_value = "unprocessable")]
        status: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Verify, parse and record the unprocessable pushes again.
    Replay {
        #[arg(long)]
        workspace: i64,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = imhub_server::open_store(&config).await?;
    match command {
        Command::List {
            workspace,
            status,
            limit,
        } => {
            let events = store
                .list_raw_events(WorkspaceId(workspace), &status, limit)
                .await?;
            for e in &events {
                println!(
                    "{}\tchannel {}\t{}\t{}\t{}",
                    e.id,
                    e.channel_id,
                    e.received_at.to_rfc3339(),
                    e.event_key.as_deref().unwrap_or("-"),
                    e.reason.as_deref().unwrap_or("")
                );
            }
            println!("{} {status} push(es)", events.len());
            Ok(())
        }
        Command::Replay { workspace, limit } => {
            let state = AppState::new(store, config);
            let results = imhub_server::ingest::replay(&state, WorkspaceId(workspace), limit)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))
                .context("replay failed")?;
            let processed = results.iter().filter(|r| r.status == "processed").count();
            for r in results.iter().filter(|r| r.status != "processed") {
                println!(
                    "{}\tstill unprocessable: {}",
                    r.raw_event_id,
                    r.reasons.join("; ")
                );
            }
            println!("replayed {} push(es): {processed} processed", results.len());
            Ok(())
        }
    }
}
