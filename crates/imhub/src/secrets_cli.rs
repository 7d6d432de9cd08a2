//! `imhub secrets`: the operator's tools for the key that encrypts the
//! credentials, platform tokens and webhook secrets in the database.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use imhub_server::Config;
use imhub_store::{SecretKey, SqlStore, StoreOptions, secrets::default_key_path};

/// Stored secrets.
#[derive(Subcommand)]
pub enum Command {
    /// Re-encrypt every stored secret under a new key.
    #[command(long_about = ROTATE_HELP)]
    Rotate(RotateArgs),
}

const ROTATE_HELP: &str = "\
Re-encrypt every stored secret (channel credentials, Douyin tokens, webhook
signing secrets) under a new key, in one transaction. Values already under the
new key are left alone, so the command may be run again.

Procedure:
  1. Stop every imhub node of this database (a node left running would write
     under the old key; after the rotation it is refused at its next start,
     naming the key it lacks).
  2. imhub secrets rotate --new-key-file NEW
     NEW is created with a random key (mode 0600) when it does not exist, or
     made by hand: openssl rand -base64 32 > NEW. The old key is the
     configured one (secret_key, secret_key_file, IMHUB_SECRET_KEY,
     IMHUB_SECRET_KEY_FILE; on SQLite without one, the key file beside the
     database), or --old-key-file OLD.
  3. Configure NEW as the key: secret_key_file = NEW (or IMHUB_SECRET_KEY_FILE);
     on SQLite with the default key file, move NEW over <database>.key.
  4. Start the nodes. Keep the old key while backups taken before the
     rotation may still be restored: they need it.";

/// Arguments of `imhub secrets rotate`. Keys come from files, never from
/// the command line, where other users of the machine could read them.
#[derive(Args)]
pub struct RotateArgs {
    /// File with the key the secrets are encrypted with now (default: the
    /// configured key, or on SQLite the key file beside the database).
    #[arg(long)]
    old_key_file: Option<PathBuf>,
    /// File with the new key (32 bytes, base64 or hex); created with a
    /// random key (mode 0600) when it does not exist.
    #[arg(long)]
    new_key_file: PathBuf,
}

/// Runs an `imhub secrets` command.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Rotate(args) => {
            let summary = rotate(&args, &config).await?;
            println!("{summary}");
            Ok(())
        }
    }
}

/// The key the database's secrets are under now.
fn old_key(args: &RotateArgs, config: &Config) -> anyhow::Result<SecretKey> {
    if let Some(path) = &args.old_key_file {
        return Ok(SecretKey::from_file(path)?);
    }
    if let Some(key) = imhub_server::configured_secret_key(config)? {
        return Ok(key);
    }
    match config.database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let path = default_key_path(std::path::Path::new(path));
            SecretKey::from_file(&path).with_context(
                || "no key is configured and the key file beside the database cannot be read",
            )
        }
        None => bail!(
            "no key is configured: give the key the secrets are encrypted with now as \
             --old-key-file, or configure it (secret_key_file / IMHUB_SECRET_KEY_FILE)"
        ),
    }
}

/// Moves every stored secret to the new key; returns what to tell the operator.
async fn rotate(args: &RotateArgs, config: &Config) -> anyhow::Result<String> {
    let old = old_key(args, config)?;
    let (new, created) = SecretKey::load_or_create(&args.new_key_file)?;
    if new.id() == old.id() {
        bail!("the new key is the old key");
    }
    let mut options = StoreOptions::new(config.database_url.clone());
    options.secret_key = Some(new.clone());
    options.old_secret_keys = vec![old.clone()];
    let store = SqlStore::open(options)
        .await
        .context("cannot re-encrypt the stored secrets (nothing was changed)")?;
    let done = store.resealed();
    Ok(format!(
        "{created}re-encrypted {rotated} stored secrets from key {old} to key {new} \
         ({encrypted} more were in clear and are now encrypted). Now configure {path} as the \
         key (secret_key_file / IMHUB_SECRET_KEY_FILE, or on SQLite with the default key file \
         move it over <database>.key) and start imhub.",
        created = if created {
            format!("created {} with a new key; ", args.new_key_file.display())
        } else {
            String::new()
        },
        rotated = done.rotated,
        encrypted = done.encrypted,
        old = old.id(),
        new = new.id(),
        path = args.new_key_file.display(),
    ))
}

#[cfg(test)]
mod tests {
    use imhub_core::Platform;
    use imhub_store::Store;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("imhub-rotate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn rotate_moves_the_default_sqlite_key_to_a_new_one() {
        let dir = scratch("default");
        let db = dir.join("imhub.db");
        let url = format!("sqlite://{}", db.display());
        // A store on the default key file, with one secret.
        let store = SqlStore::open(StoreOptions::new(&url)).await.unwrap();
        let ws = store.create_workspace("w").await.unwrap().id;
        let channel = store
            .create_channel(
                ws,
                Platform::Custom,
                "c",
                &serde_json::json!({"secret": "s-1"}),
            )
            .await
            .unwrap();
        drop(store);
        let config = Config {
            database_url: url.clone(),
            ..Config::default()
        };
        let args = RotateArgs {
            old_key_file: None,
            new_key_file: dir.join("new.key"),
        };
        let summary = rotate(&args, &config).await.unwrap();
        assert!(
            summary.contains("re-encrypted 1 stored secrets"),
            "{summary}"
        );
        assert!(summary.contains("created"), "{summary}");
        // The old default key no longer opens the database; the new one does.
        assert!(SqlStore::open(StoreOptions::new(&url)).await.is_err());
        std::fs::rename(dir.join("new.key"), default_key_path(&db)).unwrap();
        let store = SqlStore::open(StoreOptions::new(&url)).await.unwrap();
        let read = store.get_channel(ws, channel.id).await.unwrap();
        assert_eq!(read.config["secret"], "s-1");
        drop(store);
        // Rotating to the key in use is refused.
        let same = RotateArgs {
            old_key_file: None,
            new_key_file: default_key_path(&db),
        };
        let err = rotate(&same, &config).await.unwrap_err().to_string();
        assert!(err.contains("the new key is the old key"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn rotate_with_a_wrong_old_key_changes_nothing() {
        let dir = scratch("wrong");
        let url = format!("sqlite://{}", dir.join("imhub.db").display());
        let store = SqlStore::open(StoreOptions::new(&url)).await.unwrap();
        let ws = store.create_workspace("w").await.unwrap().id;
        store
            .create_webhook(ws, "https://example.com/h", "whsec-1", &[])
            .await
            .unwrap();
        drop(store);
        let wrong = dir.join("wrong.key");
        std::fs::write(&wrong, SecretKey::generate().to_base64()).unwrap();
        let config = Config {
            database_url: url.clone(),
            ..Config::default()
        };
        let args = RotateArgs {
            old_key_file: Some(wrong),
            new_key_file: dir.join("new.key"),
        };
        let err = format!("{:#}", rotate(&args, &config).await.unwrap_err());
        assert!(err.contains("nothing was changed"), "{err}");
        // The default key still opens everything.
        SqlStore::open(StoreOptions::new(&url)).await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn postgres_without_any_key_says_how_to_give_one() {
        let config = Config {
            database_url: "postgres://u@127.0.0.1:1/db".into(),
            ..Config::default()
        };
        let args = RotateArgs {
            old_key_file: None,
            new_key_file: PathBuf::from("/nonexistent/new.key"),
        };
        let err = old_key(&args, &config).unwrap_err().to_string();
        assert!(err.contains("--old-key-file"), "{err}");
    }
}
