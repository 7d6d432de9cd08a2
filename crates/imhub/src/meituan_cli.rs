//! `imhub meituan ...`: the operator's Meituan tools.

use clap::Subcommand;
use imhub_server::Config;

/// Meituan commands.
#[derive(Subcommand)]
pub enum Command {}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let _ = config;
    match command {}
}
