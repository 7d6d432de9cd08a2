//! `imhub tencent ...`: the operator's Tencent tools, and `imhub import
//! tencent ...`, the history import with a progress bar.

use anyhow::Context;
use clap::Subcommand;
use imhub_core::ChannelId;
use imhub_server::{
    Config,
    api::tencent::{ImportRequest, TimeArg, import_history},
};
use imhub_store::Store;
use imhub_tencent::{
    HistoryCursor,
    usersig::{DEFAULT_EXPIRE_SECS, MAX_EXPIRE_SECS, MAX_IDENTIFIER_BYTES, gen_usersig, now_secs},
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Tencent commands.
#[derive(Subcommand)]
pub enum Command {
    /// Print a UserSig (v2, HMAC-SHA256) for an identifier, to debug a setup.
    Usersig {
        /// The app's SDKAppID.
        #[arg(long)]
        sdkappid: u64,
        /// The app's secret key (also from IMHUB_TENCENT_KEY).
        #[arg(long, env = "IMHUB_TENCENT_KEY", hide_env_values = true)]
        key: String,
        /// The UserID the sig is for (the admin identifier for REST calls).
        #[arg(long)]
        identifier: String,
        /// Validity in seconds (default 180 days, at most 50 years).
        #[arg(long, default_value_t = DEFAULT_EXPIRE_SECS)]
        expire: u64,
    },
}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let _ = config;
    match command {
        Command::Usersig {
            sdkappid,
            key,
            identifier,
            expire,
        } => {
            let sig = usersig(sdkappid, &key, &identifier, expire, now_secs())?;
            println!("{sig}");
            Ok(())
        }
    }
}

/// Checks the arguments as Tencent would and generates the sig.
fn usersig(
    sdkappid: u64,
    key: &str,
    identifier: &str,
    expire: u64,
    now: u64,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        sdkappid > 0 && sdkappid <= u64::from(u32::MAX),
        "--sdkappid must be a positive 32-bit integer"
    );
    anyhow::ensure!(!key.trim().is_empty(), "--key must not be empty");
    anyhow::ensure!(
        !identifier.is_empty() && identifier.len() <= MAX_IDENTIFIER_BYTES,
        "--identifier must have 1 to {MAX_IDENTIFIER_BYTES} bytes"
    );
    anyhow::ensure!(
        expire > 0 && expire <= MAX_EXPIRE_SECS,
        "--expire must be 1 to {MAX_EXPIRE_SECS} seconds"
    );
    Ok(gen_usersig(sdkappid, key, identifier, expire, now))
}

/// `imhub import tencent ...`: pulls one past conversation with
/// admin_getroammsg. Interrupted imports resume when run again with the same
/// `--since`; messages already stored are skipped.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The Tencent channel's id.
    #[arg(long)]
    channel: i64,
    /// The merchant's sender UserID.
    #[arg(long)]
    account: String,
    /// The customer's UserID.
    #[arg(long)]
    peer: String,
    /// Oldest message: RFC 3339 (2024-05-01T00:00:00+08:00) or Unix seconds.
    #[arg(long)]
    since: String,
    /// Newest message (default: now, or the interrupted import's end).
    #[arg(long)]
    until: Option<String>,
}

/// Runs a history import with a progress bar on the terminal.
pub async fn import(args: ImportArgs, config: Config) -> anyhow::Result<()> {
    let store = imhub_server::open_store(&config).await?;
    let channel = store
        .find_channel(ChannelId(args.channel))
        .await?
        .with_context(|| format!("no channel {}", args.channel))?;
    let request = ImportRequest {
        account: args.account,
        peer: args.peer,
        since: TimeArg::Text(args.since),
        until: args.until.map(TimeArg::Text),
    };
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut show = |c: &HistoryCursor| {
        bar.set_length(c.range_secs().max(1));
        bar.set_position(c.covered_secs());
        bar.set_message(format!("{} fetched, {} new", c.fetched, c.stored));
    };
    let report = import_history(store.as_ref(), &channel, &request, &mut show).await;
    bar.finish();
    let report = report.map_err(|e| {
        anyhow::anyhow!("{e} (progress is kept: run the same command again to resume)")
    })?;
    println!(
        "{} messages fetched, {} new, {} already stored{}",
        report.fetched,
        report.stored,
        report.fetched.saturating_sub(report.stored),
        if report.resumed {
            " (resumed an interrupted import)"
        } else {
            ""
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use imhub_tencent::verify_usersig;

    use super::*;

    #[test]
    fn usersig_verifies_and_bad_arguments_are_refused() {
        let sig = usersig(1_400_000_000, "k", "administrator", 86_400, 1_700_000_000).unwrap();
        let doc = verify_usersig(&sig, 1_400_000_000, "k", "administrator", 1_700_000_001).unwrap();
        assert_eq!(doc.expire, 86_400);
        assert!(usersig(0, "k", "a", 1, 0).is_err());
        assert!(usersig(1 << 33, "k", "a", 1, 0).is_err());
        assert!(usersig(1, " ", "a", 1, 0).is_err());
        assert!(usersig(1, "k", "", 1, 0).is_err());
        assert!(usersig(1, "k", &"x".repeat(33), 1, 0).is_err());
        assert!(usersig(1, "k", "a", 0, 0).is_err());
        assert!(usersig(1, "k", "a", MAX_EXPIRE_SECS + 1, 0).is_err());
    }
}
