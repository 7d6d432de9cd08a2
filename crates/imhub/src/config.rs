//! Loads [`Config`] once: `imhub.toml` (or `--config` / `IMHUB_CONFIG`),
//! then `IMHUB_*` environment variables on top, then `IMHUB_*_FILE`
//! variables for secrets kept in files, then the command line's overrides.
//! `IMHUB_DELIVERY__CONCURRENCY=8` sets `delivery.concurrency`.

use std::path::Path;

use anyhow::{Context, bail};
use imhub_server::Config;

/// Variables the binary reads itself (by clap or directly), not keys of
/// the configuration.
const NOT_CONFIG: &[&str] = &["CONFIG", "LOG", "USER_PASSWORD"];

/// Reads the configuration; a missing default file is fine, a missing
/// explicit one is an error. Unknown keys are refused, naming the key and
/// the file or variable they came from.
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
    parse(&table).with_context(|| format!("invalid configuration in {}", path.display()))?;
    overlay_env(&mut table, std::env::vars())?;
    parse(&table)
}

fn parse(table: &toml::Table) -> anyhow::Result<Config> {
    toml::Value::Table(table.clone())
        .try_into::<Config>()
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim()))
}

/// Applies `IMHUB_*` variables to the table. A variable's text is typed by
/// the field it sets: each reading (integer, boolean, string, then a
/// comma-separated list) is tried until the configuration accepts it, so
/// `IMHUB_NODE_ID=1` sets a string and `IMHUB_DELIVERY__CONCURRENCY=8` a
/// number.
fn overlay_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    let mut vars: Vec<(String, String)> = vars.collect();
    // Sorted so that errors and precedence do not depend on the environment's order.
    vars.sort();
    for (name, value) in vars {
        let Some(key) = name.strip_prefix("IMHUB_") else {
            continue;
        };
        if key.starts_with("TEST_") || NOT_CONFIG.contains(&key) {
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
        let mut last_error = None;
        for candidate in readings(&value) {
            let mut trial = table.clone();
            set(&mut trial, &path, candidate).with_context(|| name.clone())?;
            match parse(&trial) {
                Ok(_) => {
                    *table = trial;
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            bail!("{name}: {e}");
        }
    }
    Ok(())
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    let Some((leaf, parents)) = path.split_last() else {
        bail!("empty key");
    };
    let mut node = table;
    for part in parents {
        let entry = node
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(next) = entry.as_table_mut() else {
            bail!("{part} is not a table");
        };
        node = next;
    }
    node.insert(leaf.clone(), value);
    Ok(())
}

/// The TOML values an environment text may stand for, most specific first.
fn readings(value: &str) -> Vec<toml::Value> {
    let mut out = Vec::new();
    if let Ok(i) = value.parse::<i64>() {
        out.push(toml::Value::Integer(i));
    }
    if let Ok(b) = value.parse::<bool>() {
        out.push(toml::Value::Boolean(b));
    }
    out.push(toml::Value::String(value.to_string()));
    out.push(toml::Value::Array(
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.to_string()))
            .collect(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn environment_overrides_file_and_reaches_nested_keys() {
        let mut table: toml::Table = "listen = \"127.0.0.1:9000\"".parse().unwrap();
        overlay_env(
            &mut table,
            vars(&[
                ("IMHUB_DATABASE_URL", "postgres://x/y"),
                ("IMHUB_DELIVERY__CONCURRENCY", "8"),
                ("OTHER", "z"),
            ]),
        )
        .unwrap();
        let config = parse(&table).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.database_url, "postgres://x/y");
        assert_eq!(config.delivery.concurrency, 8);
    }

    #[test]
    fn environment_values_are_typed_by_the_field_they_set() {
        let mut table = toml::Table::new();
        overlay_env(
            &mut table,
            vars(&[
                ("IMHUB_NODE_ID", "1"),
                ("IMHUB_INBOX", "false"),
                ("IMHUB_OUTBOUND__ALLOW_CIDRS", "127.0.0.0/8, 10.0.0.0/8"),
            ]),
        )
        .unwrap();
        let config = parse(&table).unwrap();
        assert_eq!(config.node_id.as_deref(), Some("1"));
        assert!(!config.inbox);
        assert_eq!(config.outbound.allow_cidrs, ["127.0.0.0/8", "10.0.0.0/8"]);
    }

    #[test]
    fn the_config_file_variable_is_not_a_key() {
        let mut table = toml::Table::new();
        overlay_env(&mut table, vars(&[("IMHUB_CONFIG", "/etc/imhub.toml")])).unwrap();
        assert!(parse(&table).is_ok());
    }

    #[test]
    fn an_unknown_variable_is_refused_by_name() {
        let mut table = toml::Table::new();
        let e = overlay_env(&mut table, vars(&[("IMHUB_LISEN", "x")])).unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("IMHUB_LISEN"), "{text}");
        assert!(text.contains("lisen"), "{text}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_by_name() {
        let mut table = toml::Table::new();
        let e =
            overlay_env(&mut table, vars(&[("IMHUB_DELIVERY__CONCURRENCY", "many")])).unwrap_err();
        assert!(format!("{e:#}").contains("IMHUB_DELIVERY__CONCURRENCY"));
    }

    #[test]
    fn unknown_keys_in_a_file_are_refused_naming_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("imhub-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("imhub.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = load(Some(&path)).unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("imhub.toml") && text.contains("lisen"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn defaults_work_with_no_file() {
        let config = load(None).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://imhub.db");
    }
}
