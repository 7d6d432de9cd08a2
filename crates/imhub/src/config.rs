//! Loads [`Config`] once: `imhub.toml` (or `--config`), then `IMHUB_*`
//! environment variables on top, then `IMHUB_*_FILE` variables for secrets
//! kept in files. `IMHUB_DELIVERY__CONCURRENCY=8` sets `delivery.concurrency`.

use std::path::Path;

use anyhow::{Context, bail};
use imhub_server::Config;

/// Reads the configuration; a missing default file is fine, a missing
/// explicit one is an error.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (Path::new("imhub.toml").to_path_buf(), false),
    };
    let mut table = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .with_context(|| format!("{} is not valid TOML", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => toml::Table::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    overlay_env(&mut table, std::env::vars())?;
    toml::Value::Table(table)
        .try_into::<Config>()
        .context("invalid configuration")
}

/// Applies `IMHUB_*` variables to the table.
fn overlay_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    for (name, value) in vars {
        let Some(key) = name.strip_prefix("IMHUB_") else {
            continue;
        };
        // Variables the binary reads itself, not configuration.
        if key.starts_with("TEST_") || key == "LOG" || key == "USER_PASSWORD" {
            continue;
        }
        let (key, value) = match key.strip_suffix("_FILE") {
            Some(key) => (
                key,
                std::fs::read_to_string(&value)
                    .with_context(|| format!("{name}: cannot read {value}"))?
                    .trim()
                    .to_string(),
            ),
            None => (key, value),
        };
        let path: Vec<String> = key.split("__").map(str::to_lowercase).collect();
        let mut node = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(next) = entry.as_table_mut() else {
                bail!("{name}: {part} is not a table");
            };
            node = next;
        }
        let leaf = path.last().cloned().unwrap_or_default();
        node.insert(leaf, scalar(&value));
    }
    Ok(())
}

/// An environment value as the TOML scalar it looks like.
fn scalar(value: &str) -> toml::Value {
    if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_and_reaches_nested_keys() {
        let mut table: toml::Table = "listen = \"127.0.0.1:9000\"".parse().unwrap();
        overlay_env(
            &mut table,
            vec![
                (
                    "IMHUB_DATABASE_URL".to_string(),
                    "postgres://x/y".to_string(),
                ),
                ("IMHUB_DELIVERY__CONCURRENCY".to_string(), "8".to_string()),
                ("OTHER".to_string(), "z".to_string()),
            ]
            .into_iter(),
        )
        .unwrap();
        let config: Config = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.database_url, "postgres://x/y");
        assert_eq!(config.delivery.concurrency, 8);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let table: toml::Table = "lisen = \"x\"".parse().unwrap();
        assert!(toml::Value::Table(table).try_into::<Config>().is_err());
    }

    #[test]
    fn defaults_work_with_no_file() {
        let config = load(None).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://imhub.db");
    }
}
