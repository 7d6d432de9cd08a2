//! `imhub tencent ...`: the operator's Tencent tools, and `imhub import
//! tencent ...`, the history import with a progress bar.

use anyhow::Context;
use clap::Subcommand;
use imhub_core::{ChannelId, Content};
use imhub_server::{
    Config,
    api::tencent::{
        AccountImportBody, BroadcastRequest, CreateGroupBody, GroupHistoryQuery, ImportRequest,
        TimeArg, broadcast_message, create_tencent_group, group_history_page, import_history,
        import_merchant_account,
    },
    channels::operator_channel,
};
use imhub_store::{Store, StoredChannel};
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
    /// Send one message to up to 500 customers (batchsendmsg); prints who
    /// Tencent could not reach.
    Broadcast {
        /// The Tencent channel's id.
        #[arg(long)]
        channel: i64,
        /// The merchant's sender UserID.
        #[arg(long)]
        account: String,
        /// A customer's UserID; repeat for each (at most 500).
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        /// The text to send.
        #[arg(long, conflicts_with = "content")]
        text: Option<String>,
        /// Any content as imhub JSON (`{"type":"image","url":"..."}`).
        #[arg(long)]
        content: Option<String>,
    },
    /// Register a merchant sender UserID with Tencent (account_import) and
    /// add it as an account of the channel.
    ImportAccount {
        /// The Tencent channel's id.
        #[arg(long)]
        channel: i64,
        /// The UserID (1 to 32 bytes).
        #[arg(long)]
        user_id: String,
        /// Display name (Tencent's Nick).
        #[arg(long)]
        name: Option<String>,
        /// Avatar URL.
        #[arg(long)]
        face_url: Option<String>,
    },
    /// Create a Tencent group (create_group); prints its id.
    CreateGroup {
        /// The Tencent channel's id.
        #[arg(long)]
        channel: i64,
        /// The group's name (1 to 30 bytes).
        #[arg(long)]
        name: String,
        /// Private, Public (default), ChatRoom, AVChatRoom or Community.
        #[arg(long = "type")]
        group_type: Option<String>,
        /// The owner's UserID (default: the app admin).
        #[arg(long)]
        owner: Option<String>,
        /// A custom group id.
        #[arg(long)]
        group_id: Option<String>,
        /// An initial member's UserID; repeat for each (at most 100).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Print a page of a group's history (group_msg_get_simple), newest first.
    GroupHistory {
        /// The Tencent channel's id.
        #[arg(long)]
        channel: i64,
        /// The group's id.
        #[arg(long)]
        group_id: String,
        /// Messages to show, 1 to 20.
        #[arg(long)]
        limit: Option<u32>,
        /// Only messages up to this seq (the previous page's "next").
        #[arg(long)]
        max_seq: Option<u64>,
    },
}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
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
        Command::Broadcast {
            channel,
            account,
            to,
            text,
            content,
        } => {
            let request = BroadcastRequest {
                account,
                to,
                content: broadcast_content(text, content)?,
            };
            let (_, channel) = channel_of(&config, channel).await?;
            let report = broadcast_message(&channel, &request).await?;
            println!("sent to {} (MsgKey {})", report.sent, report.msg_key);
            for f in &report.failed {
                println!("not sent to {}: tencent error {}", f.to, f.error_code);
            }
            Ok(())
        }
        Command::ImportAccount {
            channel,
            user_id,
            name,
            face_url,
        } => {
            let (store, channel) = channel_of(&config, channel).await?;
            let body = AccountImportBody {
                user_id,
                name,
                face_url,
            };
            let account = import_merchant_account(store.as_ref(), &channel, &body).await?;
            println!(
                "account {} ({}) is registered with tencent",
                account.id.0, account.external_id
            );
            Ok(())
        }
        Command::CreateGroup {
            channel,
            name,
            group_type,
            owner,
            group_id,
            members,
        } => {
            let (_, channel) = channel_of(&config, channel).await?;
            let body = CreateGroupBody {
                name,
                group_type,
                owner,
                group_id,
                members,
            };
            println!("{}", create_tencent_group(&channel, &body).await?.group_id);
            Ok(())
        }
        Command::GroupHistory {
            channel,
            group_id,
            limit,
            max_seq,
        } => {
            let (_, channel) = channel_of(&config, channel).await?;
            let query = GroupHistoryQuery { limit, max_seq };
            let page = group_history_page(&channel, &group_id, &query).await?;
            for m in &page.items {
                println!(
                    "#{} {} {}: {}",
                    m.seq,
                    m.time,
                    m.from,
                    serde_json::to_string(&m.content)?
                );
            }
            if let Some(next) = page.next_seq {
                println!("more: --max-seq {next}");
            }
            Ok(())
        }
    }
}

/// The store and a stored channel by id.
async fn channel_of(
    config: &Config,
    id: i64,
) -> anyhow::Result<(std::sync::Arc<dyn Store>, StoredChannel)> {
    let store: std::sync::Arc<dyn Store> = imhub_server::open_store(config).await?;
    let channel = store
        .find_channel(ChannelId(id))
        .await?
        .with_context(|| format!("no channel {id}"))?;
    Ok((store, operator_channel(&config.platforms, channel)))
}

/// The content of a broadcast: `--text`, or `--content` as imhub JSON.
fn broadcast_content(text: Option<String>, content: Option<String>) -> anyhow::Result<Content> {
    match (text, content) {
        (Some(text), None) => Ok(Content::Text { text }),
        (None, Some(json)) => {
            serde_json::from_str(&json).context("--content must be imhub content JSON")
        }
        _ => anyhow::bail!("give --text or --content"),
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
    let channel = operator_channel(&config.platforms, channel);
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
    fn broadcast_content_is_text_or_imhub_json() {
        assert_eq!(
            broadcast_content(Some("hi".into()), None).unwrap(),
            Content::Text { text: "hi".into() }
        );
        let image = broadcast_content(
            None,
            Some(r#"{"type":"image","url":"https://x/a.png"}"#.into()),
        );
        assert!(matches!(image, Ok(Content::Image { .. })), "{image:?}");
        assert!(broadcast_content(None, Some("{".into())).is_err());
        assert!(broadcast_content(None, None).is_err());
    }

    #[test]
    fn tencent_commands_parse_their_arguments() {
        use clap::Parser;

        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            command: Command,
        }
        let cli = Cli::try_parse_from([
            "imhub",
            "broadcast",
            "--channel",
            "1",
            "--account",
            "shop",
            "--to",
            "a",
            "--to",
            "b",
            "--text",
            "hi",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Broadcast { ref to, .. } if to == &["a", "b"]));
        assert!(
            Cli::try_parse_from(["imhub", "broadcast", "--channel", "1", "--account", "s"])
                .is_err(),
            "--to is required"
        );
        let cli = Cli::try_parse_from([
            "imhub",
            "create-group",
            "--channel",
            "1",
            "--name",
            "g",
            "--type",
            "Private",
            "--member",
            "a",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::CreateGroup { ref group_type, ref members, .. }
                if group_type.as_deref() == Some("Private") && members == &["a"])
        );
        assert!(
            Cli::try_parse_from([
                "imhub",
                "import-account",
                "--channel",
                "1",
                "--user-id",
                "s"
            ])
            .is_ok()
        );
        assert!(
            Cli::try_parse_from([
                "imhub",
                "group-history",
                "--channel",
                "1",
                "--group-id",
                "g",
                "--limit",
                "x"
            ])
            .is_err()
        );
    }

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
