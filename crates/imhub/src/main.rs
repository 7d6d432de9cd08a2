//! The `imhub` command: serve the inbox, migrate, and the operator's tools.

mod bench;
mod bench_automation;
mod bench_fairness;
mod bench_limited;
mod bench_load;
mod bench_soak;
mod config;
mod demo;
mod douyin_cli;
mod events_cli;
mod meituan_cli;
mod secrets_cli;
mod tencent_cli;

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use imhub_core::{Role, WorkspaceId};
use imhub_server::auth::{add_user, issue_api_token};
use imhub_store::Store;

/// One inbox for customer messages on Douyin, Tencent IM and Meituan.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (default: ./imhub.toml when it exists).
    #[arg(long, global = true, env = "IMHUB_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: API, webhooks, delivery, web inbox.
    Serve {
        /// Address to listen on (overrides `listen` of the configuration).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Database URL (overrides `database_url` of the configuration).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Try imhub: a throwaway server with a demo agent and simulated
    /// customers who write in and answer; prints the URL and the login.
    Demo {
        /// Address the demo's server listens on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Workspaces (merchants).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Agents who log into the web inbox.
    #[command(subcommand)]
    User(UserCommand),
    /// Douyin tools: authorization, fan groups, cards.
    #[command(subcommand)]
    Douyin(douyin_cli::Command),
    /// Tencent IM tools: UserSig, history import.
    #[command(subcommand)]
    Tencent(tencent_cli::Command),
    /// Meituan tools: connection token, read state.
    #[command(subcommand)]
    Meituan(meituan_cli::Command),
    /// Benchmarks (figures in BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::Command),
    /// Pushes kept because they could not be processed; replay them.
    #[command(subcommand)]
    Events(events_cli::Command),
    /// Import past conversations from a platform.
    #[command(subcommand)]
    Import(ImportCommand),
    /// The key that encrypts stored credentials: rotate it.
    #[command(subcommand)]
    Secrets(secrets_cli::Command),
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Tencent IM history through admin_getroammsg.
    Tencent(tencent_cli::ImportArgs),
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace; prints its id and an admin token, and with
    /// `--admin-email` its first admin, who signs into the web inbox.
    Create {
        name: String,
        /// Email of the first admin (the inbox login).
        #[arg(long)]
        admin_email: Option<String>,
        /// The admin's display name (default: the part of the email before @).
        #[arg(long, requires = "admin_email")]
        admin_name: Option<String>,
        /// The admin's password; generated and printed once when not given.
        #[arg(
            long,
            env = "IMHUB_ADMIN_PASSWORD",
            hide_env_values = true,
            requires = "admin_email"
        )]
        admin_password: Option<String>,
    },
    /// List workspaces: id, name, status (`active`, `suspended`, `resuming`).
    List,
    /// Suspend a workspace: its API and inbox answer 403, it sends nothing,
    /// its pushes are held (as `POST /api/v1/operator/workspaces/{id}/suspend`).
    Suspend { id: i64 },
    /// Resume a suspended workspace: its held pushes are processed in order.
    Resume { id: i64 },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token; printed once, stored hashed.
    Create {
        #[arg(long)]
        workspace: i64,
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long, value_parser = parse_role, default_value = "admin")]
        role: Role,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an agent. The password comes from IMHUB_USER_PASSWORD or --password.
    Add {
        #[arg(long)]
        workspace: i64,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, env = "IMHUB_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, value_parser = parse_role, default_value = "agent")]
        role: Role,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("role must be admin or agent, not {s:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IMHUB_LOG")
                .unwrap_or_else(|_| "info,imhub=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut config = config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve {
            listen,
            database_url,
        } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if let Some(url) = database_url {
                config.database_url = url;
            }
            serve(config).await
        }
        Command::Demo { listen } => demo::run(listen, shutdown_signal()).await,
        Command::Migrate => {
            imhub_server::open_store(&config).await?;
            println!("migrations applied to {}", redact(&config.database_url));
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Create {
            name,
            admin_email,
            admin_name,
            admin_password,
        }) => {
            let store = imhub_server::open_store(&config).await?;
            let ws = store.create_workspace(&name).await?;
            let token = issue_api_token(store.as_ref(), ws.id, "admin", Role::Admin).await?;
            println!("workspace {} created: {}", ws.id, ws.name);
            println!("admin token (shown once): {token}");
            if let Some(email) = admin_email {
                let name = admin_name
                    .unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
                let generated = admin_password.is_none().then(|| {
                    imhub_server::auth::new_secret("")
                        .chars()
                        .take(16)
                        .collect::<String>()
                });
                let password = admin_password.or(generated.clone()).unwrap_or_default();
                add_user(store.as_ref(), ws.id, &email, &name, Role::Admin, &password)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot add the admin {email}: {}: {}", e.code, e.detail)
                    })?;
                println!("admin login: {email}");
                if let Some(password) = generated {
                    println!("admin password (shown once): {password}");
                }
            }
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::List) => {
            let store = imhub_server::open_store(&config).await?;
            for ws in store
                .operator_workspaces(imhub_core::Timestamp::now())
                .await?
            {
                println!("{}\t{}\t{}", ws.id, ws.name, ws.status.as_str());
            }
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Suspend { id }) => {
            let store = imhub_server::open_store(&config).await?;
            store
                .suspend_workspace(WorkspaceId(id), imhub_core::Timestamp::now())
                .await
                .with_context(|| format!("cannot suspend workspace {id} (does it exist?)"))?;
            println!("workspace {id} suspended");
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Resume { id }) => {
            let store = imhub_server::open_store(&config).await?;
            let ws = WorkspaceId(id);
            store
                .begin_resume(ws)
                .await
                .with_context(|| format!("cannot resume workspace {id} (does it exist?)"))?;
            let mut processed = 0;
            loop {
                let drained = store.drain_held_pushes(ws, 100).await?;
                processed += drained.processed;
                if drained.active || drained.processed == 0 {
                    break;
                }
            }
            println!("workspace {id} resumed; {processed} held pushes processed");
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            workspace,
            name,
            role,
        }) => {
            let store = imhub_server::open_store(&config).await?;
            let token = issue_api_token(store.as_ref(), WorkspaceId(workspace), &name, role)
                .await
                .context("cannot create the token (does the workspace exist?)")?;
            println!("{token}");
            Ok(())
        }
        Command::Bench(command) => bench::run(command).await,
        Command::Events(command) => events_cli::run(command, config).await,
        Command::Secrets(command) => secrets_cli::run(command, config).await,
        Command::Douyin(command) => douyin_cli::run(command, config).await,
        Command::Tencent(command) => tencent_cli::run(command, config).await,
        Command::Meituan(command) => meituan_cli::run(command, config).await,
        Command::Import(ImportCommand::Tencent(args)) => tencent_cli::import(args, config).await,
        Command::User(UserCommand::Add {
            workspace,
            email,
            name,
            password,
            role,
        }) => {
            let store = imhub_server::open_store(&config).await?;
            let user = add_user(
                store.as_ref(),
                WorkspaceId(workspace),
                &email,
                &name,
                role,
                &password,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            println!(
                "user {} added: {} ({})",
                user.id,
                user.email,
                user.role.as_str()
            );
            Ok(())
        }
    }
}

async fn serve(config: imhub_server::Config) -> anyhow::Result<()> {
    let store = imhub_server::open_store(&config).await?;
    let running = imhub_server::start(config, store, shutdown_signal()).await?;
    tracing::info!(
        "imhub listening on http://{} (inbox at /, API at /api/v1)",
        running.addr
    );
    running.task.await?;
    tracing::info!("imhub stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
