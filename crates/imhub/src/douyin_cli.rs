//! `imhub douyin ...`: the operator's Douyin tools.

use clap::Subcommand;
use imhub_server::Config;

/// Douyin commands.
#[derive(Subcommand)]
pub enum Command {}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let _ = config;
    match command {}
}
