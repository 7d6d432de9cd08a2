//! `imhub tencent ...`: the operator's Tencent tools.

use clap::Subcommand;
use imhub_server::Config;

/// Tencent commands.
#[derive(Subcommand)]
pub enum Command {}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let _ = config;
    match command {}
}

/// `imhub import tencent ...`: pulls past conversations with admin_getroammsg.
#[derive(clap::Args)]
pub struct ImportArgs {}

/// Runs a history import.
pub async fn import(args: ImportArgs, config: Config) -> anyhow::Result<()> {
    let _ = (args, config);
    anyhow::bail!("the Tencent history import is not built yet")
}
