//! `imhub meituan ...`: the operator's Meituan tools.

use anyhow::Context;
use clap::Subcommand;
use imhub_core::ChannelId;
use imhub_server::{
    Config,
    api::meituan::{ChannelStatus, check_connection, check_status},
    channels::operator_channel,
};
use imhub_store::{Store, StoredChannel};

/// Meituan commands.
#[derive(Subcommand)]
pub enum Command {
    /// Ask Meituan for a long-connection token (getConnectionToken) and
    /// print it with its appKey and userCount.
    ConnectionToken {
        /// The imhub id of the Meituan channel.
        #[arg(long)]
        channel: i64,
    },
    /// Show a channel's IM status: userCount, the customers whose messages
    /// Meituan failed to push in the last 30 minutes (non-zero exits 2).
    Status {
        /// The imhub id of the Meituan channel.
        #[arg(long)]
        channel: i64,
    },
}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = imhub_server::open_store(&config).await?;
    match command {
        Command::ConnectionToken { channel } => {
            let channel = operator_channel(&config.platforms, find(store.as_ref(), channel).await?);
            let (status, token) = check_connection(store.as_ref(), &channel).await?;
            println!("connectionToken\t{}", token.connection_token);
            println!("appKey\t{}", token.app_key);
            print_status(&status);
            Ok(())
        }
        Command::Status { channel } => {
            let channel = operator_channel(&config.platforms, find(store.as_ref(), channel).await?);
            let status = check_status(store.as_ref(), &channel).await?;
            print_status(&status);
            if status.failing {
                // A distinct exit code lets cron jobs and monitors alert.
                std::process::exit(2);
            }
            Ok(())
        }
    }
}

async fn find(store: &dyn Store, id: i64) -> anyhow::Result<StoredChannel> {
    store
        .find_channel(ChannelId(id))
        .await?
        .with_context(|| format!("no channel {id}"))
}

fn print_status(status: &ChannelStatus) {
    println!("channel\t{}", status.channel_id);
    println!("app_id\t{}", status.app_id);
    println!("userCount\t{}", status.user_count);
    println!("long_connection\t{}", status.long_connection);
    println!("checked_at\t{}", status.checked_at.to_rfc3339());
    if status.failing {
        eprintln!(
            "warning: meituan failed to push messages from {} customer(s) to imhub in the last 30 minutes; check the push URL and signature settings",
            status.user_count
        );
    }
}
