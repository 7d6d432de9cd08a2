//! `imhub douyin ...`: the operator's Douyin tools. Each command does what
//! the matching `/api/v1/douyin/...` route does, through the same functions
//! (`imhub_server::api::douyin`), on the database named by the configuration;
//! results are printed as JSON.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use imhub_core::{AccountId, ChannelId, Content, WorkspaceId};
use imhub_server::{
    Config,
    api::douyin::{
        self as api, CardTemplateInput, GroupSettingInput, GroupSettingKind, GroupSettingRef,
        JoinDecision, LeadCardInput, NewFansGroup, TemplateQuery,
    },
    config::PlatformsConfig,
    error::ApiError,
};
use imhub_store::Store;
use serde::Serialize;

/// Douyin commands.
#[derive(Subcommand)]
pub enum Command {
    /// Print the QR authorization URL of a channel (redirects to
    /// `{public_url}/api/v1/douyin/oauth/callback`; public_url must be https).
    AuthorizeUrl {
        #[command(flatten)]
        channel: ChannelArgs,
    },
    /// Fan groups of an enterprise account.
    #[command(subcommand)]
    Groups(GroupCommand),
    /// Lead cards (留资卡片) of an enterprise account.
    #[command(subcommand)]
    LeadCards(LeadCardCommand),
    /// Mini-program guide-card templates of a channel.
    #[command(subcommand)]
    Templates(TemplateCommand),
    /// Upload an image; prints the image_id to send as {type:image, media_id}.
    UploadImage {
        #[command(flatten)]
        channel: ChannelArgs,
        /// A jpeg, png, bmp or webp file of at most 10 MB.
        file: PathBuf,
    },
}

/// Which channel of which workspace.
#[derive(Args)]
pub struct ChannelArgs {
    #[arg(long)]
    workspace: i64,
    /// The imhub channel id.
    #[arg(long)]
    channel: i64,
}

/// Which enterprise account of which workspace.
#[derive(Args)]
pub struct AccountArgs {
    #[arg(long)]
    workspace: i64,
    /// The imhub account id (see `GET /api/v1/accounts`).
    #[arg(long)]
    account: i64,
}

/// A group setting on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum Setting {
    /// 进群问候语
    Welcome,
    /// 群公告
    Notice,
}

impl From<Setting> for GroupSettingKind {
    fn from(s: Setting) -> Self {
        match s {
            Setting::Welcome => GroupSettingKind::Welcome,
            Setting::Notice => GroupSettingKind::Notice,
        }
    }
}

/// Fan-group commands.
#[derive(Subcommand)]
pub enum GroupCommand {
    /// Remaining fan-group creation quota.
    Quota(AccountArgs),
    /// The account's fan groups.
    List(AccountArgs),
    /// Create a fan group.
    Create {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// An https URL or an uploaded image id.
        #[arg(long)]
        avatar: Option<String>,
        /// 2 主播粉丝群, 5 万粉群.
        #[arg(long, default_value_t = 2)]
        group_type: i64,
        /// Joining needs approval.
        #[arg(long)]
        audit: bool,
    },
    /// Set a group's greeting or announcement to one text.
    SetSetting {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        group: String,
        #[arg(long, value_enum)]
        setting: Setting,
        #[arg(long)]
        text: String,
    },
    /// Turn a group's greeting or announcement off.
    DisableSetting {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        group: String,
        #[arg(long, value_enum)]
        setting: Setting,
    },
    /// Join requests, a page at a time.
    JoinRequests {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long, default_value_t = 0)]
        cursor: i64,
        /// 1 to 50.
        #[arg(long, default_value_t = 20)]
        count: u32,
    },
    /// Approve a join request.
    Approve {
        #[command(flatten)]
        account: AccountArgs,
        apply_id: String,
    },
    /// Reject a join request.
    Reject {
        #[command(flatten)]
        account: AccountArgs,
        apply_id: String,
    },
}

/// Lead-card commands.
#[derive(Subcommand)]
pub enum LeadCardCommand {
    /// The account's lead cards.
    List(AccountArgs),
    /// Create a lead card, or update one with --card-id.
    Save {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        card_id: Option<String>,
        #[arg(long)]
        title: String,
        /// An uploaded image id.
        #[arg(long)]
        media_id: String,
        /// Fields to ask: 1 name, 2 phone, 3 city (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        components: Vec<i64>,
    },
    /// Delete a lead card.
    Delete {
        #[command(flatten)]
        account: AccountArgs,
        card_id: String,
    },
}

/// Card-template commands.
#[derive(Subcommand)]
pub enum TemplateCommand {
    /// The channel's templates.
    List {
        #[command(flatten)]
        channel: ChannelArgs,
        #[arg(long)]
        cursor: Option<i64>,
        /// 1 to 50.
        #[arg(long, default_value_t = 20)]
        count: i64,
        /// 0 pending review, 1 approved, 2 rejected.
        #[arg(long)]
        status: Option<i64>,
    },
    /// Create a template, or update one with --template-id.
    Save {
        #[command(flatten)]
        channel: ChannelArgs,
        #[arg(long)]
        template_id: Option<String>,
        /// At most 30 characters.
        #[arg(long)]
        title: String,
        /// At most 30 characters.
        #[arg(long)]
        content: String,
        /// An uploaded image id.
        #[arg(long)]
        media_id: String,
        /// The mini-program's appid.
        #[arg(long)]
        app_id: String,
    },
    /// Delete a template.
    Delete {
        #[command(flatten)]
        channel: ChannelArgs,
        template_id: String,
    },
}

fn fail(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.detail)
}

fn print(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn account(
    store: &Arc<dyn Store>,
    platforms: &PlatformsConfig,
    a: &AccountArgs,
) -> anyhow::Result<api::DouyinAccount> {
    api::douyin_account(
        store,
        platforms,
        WorkspaceId(a.workspace),
        AccountId(a.account),
    )
    .await
    .map_err(fail)
}

async fn app(
    store: &Arc<dyn Store>,
    platforms: &PlatformsConfig,
    c: &ChannelArgs,
) -> anyhow::Result<api::DouyinApp> {
    api::douyin_app(
        store,
        platforms,
        WorkspaceId(c.workspace),
        ChannelId(c.channel),
    )
    .await
    .map_err(fail)
}

/// Runs one command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = imhub_server::open_store(&config).await?;
    let done = serde_json::json!({"ok": true});
    match command {
        Command::AuthorizeUrl { channel } => {
            let url = api::start_authorization(
                &store,
                &config.platforms,
                WorkspaceId(channel.workspace),
                ChannelId(channel.channel),
                &config.public_url(),
            )
            .await
            .map_err(fail)?;
            print(&url)
        }
        Command::UploadImage { channel, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let app = app(&store, &config.platforms, &channel).await?;
            print(&app.upload_image(&bytes).await.map_err(fail)?)
        }
        Command::Groups(command) => match command {
            GroupCommand::Quota(a) => print(
                &account(&store, &config.platforms, &a)
                    .await?
                    .group_quota()
                    .await
                    .map_err(fail)?,
            ),
            GroupCommand::List(a) => print(
                &account(&store, &config.platforms, &a)
                    .await?
                    .groups()
                    .await
                    .map_err(fail)?,
            ),
            GroupCommand::Create {
                account: a,
                name,
                description,
                avatar,
                group_type,
                audit,
            } => {
                let group = NewFansGroup {
                    group_name: name,
                    description,
                    avatar_uri: avatar,
                    group_type: Some(group_type),
                    // Only what is set is sent: no switch unless asked for.
                    open_audit_switch: audit.then_some(1),
                    ..NewFansGroup::default()
                };
                let group_id = account(&store, &config.platforms, &a)
                    .await?
                    .create_group(group)
                    .await
                    .map_err(fail)?;
                print(&serde_json::json!({ "group_id": group_id }))
            }
            GroupCommand::SetSetting {
                account: a,
                group,
                setting,
                text,
            } => {
                let input = GroupSettingInput {
                    group_id: group,
                    setting: setting.into(),
                    messages: vec![Content::Text { text }],
                };
                account(&store, &config.platforms, &a)
                    .await?
                    .set_group_setting(input)
                    .await
                    .map_err(fail)?;
                print(&done)
            }
            GroupCommand::DisableSetting {
                account: a,
                group,
                setting,
            } => {
                let input = GroupSettingRef {
                    group_id: group,
                    setting: setting.into(),
                };
                account(&store, &config.platforms, &a)
                    .await?
                    .disable_group_setting(input)
                    .await
                    .map_err(fail)?;
                print(&done)
            }
            GroupCommand::JoinRequests {
                account: a,
                cursor,
                count,
            } => print(
                &account(&store, &config.platforms, &a)
                    .await?
                    .join_requests(cursor, count)
                    .await
                    .map_err(fail)?,
            ),
            GroupCommand::Approve {
                account: a,
                apply_id,
            } => {
                account(&store, &config.platforms, &a)
                    .await?
                    .decide_join_request(&apply_id, JoinDecision::Approve)
                    .await
                    .map_err(fail)?;
                print(&done)
            }
            GroupCommand::Reject {
                account: a,
                apply_id,
            } => {
                account(&store, &config.platforms, &a)
                    .await?
                    .decide_join_request(&apply_id, JoinDecision::Reject)
                    .await
                    .map_err(fail)?;
                print(&done)
            }
        },
        Command::LeadCards(command) => match command {
            LeadCardCommand::List(a) => print(
                &account(&store, &config.platforms, &a)
                    .await?
                    .lead_cards()
                    .await
                    .map_err(fail)?,
            ),
            LeadCardCommand::Save {
                account: a,
                card_id,
                title,
                media_id,
                components,
            } => {
                let input = LeadCardInput {
                    title,
                    media_id,
                    components,
                };
                let card_id = account(&store, &config.platforms, &a)
                    .await?
                    .save_lead_card(card_id, input)
                    .await
                    .map_err(fail)?;
                print(&serde_json::json!({ "card_id": card_id }))
            }
            LeadCardCommand::Delete {
                account: a,
                card_id,
            } => {
                account(&store, &config.platforms, &a)
                    .await?
                    .delete_lead_card(&card_id)
                    .await
                    .map_err(fail)?;
                print(&done)
            }
        },
        Command::Templates(command) => match command {
            TemplateCommand::List {
                channel,
                cursor,
                count,
                status,
            } => {
                let q = TemplateQuery {
                    card_template_id: None,
                    cursor,
                    count: Some(count),
                    status,
                };
                print(
                    &app(&store, &config.platforms, &channel)
                        .await?
                        .card_templates(q)
                        .await
                        .map_err(fail)?,
                )
            }
            TemplateCommand::Save {
                channel,
                template_id,
                title,
                content,
                media_id,
                app_id,
            } => {
                let input = CardTemplateInput {
                    title,
                    content,
                    media_id,
                    app_id,
                    card_type: None,
                };
                let id = app(&store, &config.platforms, &channel)
                    .await?
                    .save_card_template(template_id, input)
                    .await
                    .map_err(fail)?;
                print(&serde_json::json!({ "card_template_id": id }))
            }
            TemplateCommand::Delete {
                channel,
                template_id,
            } => {
                app(&store, &config.platforms, &channel)
                    .await?
                    .delete_card_template(&template_id)
                    .await
                    .map_err(fail)?;
                print(&done)
            }
        },
    }
}
