//! The one configuration file, `vantage.toml`, layered with environment and flags.
//!
//! Precedence, highest first: flag > environment > file > default (DESIGN.md,
//! Conventions). The top-level options (`data`, the warehouse URL) are typed here; each
//! kind's section (`[packets]`, `[reports]`, `[passive]`, `[netstate]`) is kept as TOML
//! and typed by the kind itself through [`Config::section`], so that no kind's options
//! leak into the foundation. Any section key can be overridden from the environment as
//! `VANTAGE_<SECTION>_<KEY>` or on the command line as `--set section.key=value`.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A configuration problem; always exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read configuration: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong shape.
    #[error("{}: {message}", .path.display())]
    Invalid {
        /// The file (or `<environment>` / `<flags>` for overrides).
        path: PathBuf,
        /// What is wrong, with the line and column TOML gives.
        message: String,
    },
    /// A `--set` flag was not `section.key=value`.
    #[error("--set {0:?}: expected section.key=value, e.g. --set netstate.snapshot_interval=1000")]
    BadOverride(String),
}

impl crate::HasExit for ConfigError {
    fn exit(&self) -> crate::Exit {
        crate::Exit::Usage
    }
}

/// The global options as the command line gave them (`None` when absent).
#[derive(Debug, Clone, Default)]
pub struct GlobalArgs {
    /// `--data DIR`.
    pub data: Option<PathBuf>,
    /// `--warehouse URL`.
    pub warehouse: Option<String>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--set section.key=value`, repeatable.
    pub overrides: Vec<String>,
}

/// `[warehouse]`: where the tables live.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// `postgres://...` for PostgreSQL; absent means the SQLite file in the data directory.
    pub url: Option<String>,
    /// Rows per bulk-load batch.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

fn default_batch_rows() -> usize {
    10_000
}

/// `[server]`: the daemon's listener and ticks (`vantage serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP listen address; loopback by default.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Token required for uploads, writes and any non-loopback bind.
    pub token: Option<String>,
    /// Seconds between pipeline ticks of each kind.
    #[serde(default = "default_tick")]
    pub tick_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { bind: default_bind(), token: None, tick_seconds: default_tick() }
    }
}

fn default_bind() -> String {
    "127.0.0.1:8080".to_string()
}

fn default_tick() -> u64 {
    60
}

/// The sections a `vantage.toml` may hold; anything else is a typo worth an error.
const SECTIONS: &[&str] = &["warehouse", "server", "packets", "reports", "passive", "netstate"];

/// The resolved configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory.
    pub data: PathBuf,
    /// `[warehouse]`, with the URL resolved from flag, environment and file.
    pub warehouse: WarehouseConfig,
    /// `[server]`.
    pub server: ServerConfig,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    table: toml::Table,
}

impl Config {
    /// Resolves the configuration from flags, the process environment and the file.
    pub fn load(args: &GlobalArgs) -> Result<Config, ConfigError> {
        Config::load_with_env(args, |k| std::env::var(k).ok(), std::env::vars().collect())
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        args: &GlobalArgs,
        var: impl Fn(&str) -> Option<String>,
        vars: Vec<(String, String)>,
    ) -> Result<Config, ConfigError> {
        let file = match (&args.config, var("VANTAGE_CONFIG")) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(p)) if !p.is_empty() => Some(PathBuf::from(p)),
            _ => Some(PathBuf::from("vantage.toml")).filter(|p| p.is_file()),
        };
        let mut table = match &file {
            Some(path) => read_table(path)?,
            None => toml::Table::new(),
        };
        for key in table.keys() {
            if key != "data" && !SECTIONS.contains(&key.as_str()) {
                return Err(ConfigError::Invalid {
                    path: file.clone().unwrap_or_default(),
                    message: format!(
                        "unknown key or section {key:?}; the sections are {}",
                        SECTIONS.join(", ")
                    ),
                });
            }
        }
        apply_env_overrides(&mut table, &vars);
        for o in &args.overrides {
            apply_flag_override(&mut table, o)?;
        }
        let origin = file.clone().unwrap_or_else(|| PathBuf::from("<defaults>"));
        let mut warehouse: WarehouseConfig = typed(&table, "warehouse", &origin)?;
        let server: ServerConfig = typed(&table, "server", &origin)?;
        if let Some(url) = args.warehouse.clone().or_else(|| var("VANTAGE_WAREHOUSE")) {
            warehouse.url = Some(url).filter(|u| !u.is_empty());
        }
        let file_data = table.get("data").and_then(|v| v.as_str()).map(PathBuf::from);
        let data = args
            .data
            .clone()
            .or_else(|| var("VANTAGE_DATA").filter(|d| !d.is_empty()).map(PathBuf::from))
            .or(file_data)
            .unwrap_or_else(|| PathBuf::from("vantage-data"));
        Ok(Config { data, warehouse, server, file, table })
    }

    /// A kind's section, typed by the kind; an absent section is the type's default.
    ///
    /// Errors name the file and the section, e.g. `vantage.toml: [netstate]: unknown
    /// field "snapshot_intervl"`.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T, ConfigError> {
        let origin = self.file.clone().unwrap_or_else(|| PathBuf::from("<defaults>"));
        typed(&self.table, name, &origin)
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string() })
}

fn typed<T: DeserializeOwned + Default>(
    table: &toml::Table,
    name: &str,
    origin: &Path,
) -> Result<T, ConfigError> {
    match table.get(name) {
        None => Ok(T::default()),
        Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| ConfigError::Invalid {
            path: origin.to_path_buf(),
            message: format!("[{name}]: {}", e.message()),
        }),
    }
}

/// A TOML value from override text: a number, boolean or inline value when it parses as
/// one, otherwise the text as a string (so `--set server.bind=0.0.0.0:80` needs no quotes).
fn override_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn set_key(table: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    let entry =
        table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = entry {
        t.insert(key.to_string(), value);
    }
}

fn apply_env_overrides(table: &mut toml::Table, vars: &[(String, String)]) {
    for (name, value) in vars {
        for section in SECTIONS {
            let prefix = format!("VANTAGE_{}_", section.to_uppercase());
            if let Some(key) = name.strip_prefix(&prefix) {
                let is_url = *section == "warehouse" && key == "URL";
                if !key.is_empty() && !is_url {
                    set_key(table, section, &key.to_lowercase(), override_value(value));
                }
            }
        }
    }
}

fn apply_flag_override(table: &mut toml::Table, text: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::BadOverride(text.to_string());
    let (path, value) = text.split_once('=').ok_or_else(bad)?;
    let (section, key) = path.split_once('.').ok_or_else(bad)?;
    if !SECTIONS.contains(&section) || key.is_empty() {
        return Err(bad());
    }
    set_key(table, section, key, override_value(value));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        #[serde(default)]
        interval: u64,
        #[serde(default)]
        name: String,
    }

    fn load(args: &GlobalArgs, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = vars.clone();
        Config::load_with_env(
            args,
            move |k| lookup.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            vars,
        )
    }

    #[test]
    fn precedence_is_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vantage.toml");
        std::fs::write(&file, "data = \"from-file\"\n[netstate]\ninterval = 1\nname = \"f\"\n")
            .unwrap();
        let mut args = GlobalArgs { config: Some(file), ..Default::default() };
        let c = load(&args, &[]).unwrap();
        assert_eq!(c.data, PathBuf::from("from-file"));
        assert_eq!(c.section::<Demo>("netstate").unwrap(), Demo { interval: 1, name: "f".into() });

        let env = [("VANTAGE_DATA", "from-env"), ("VANTAGE_NETSTATE_INTERVAL", "2")];
        let c = load(&args, &env).unwrap();
        assert_eq!(c.data, PathBuf::from("from-env"));
        assert_eq!(c.section::<Demo>("netstate").unwrap().interval, 2);

        args.data = Some("from-flag".into());
        args.overrides = vec!["netstate.interval=3".into()];
        let c = load(&args, &env).unwrap();
        assert_eq!(c.data, PathBuf::from("from-flag"));
        assert_eq!(c.section::<Demo>("netstate").unwrap(), Demo { interval: 3, name: "f".into() });
    }

    #[test]
    fn defaults_without_file() {
        let c = load(&GlobalArgs { config: None, ..Default::default() }, &[]).unwrap();
        assert_eq!(c.warehouse.url, None);
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.section::<Demo>("passive").unwrap(), Demo::default());
    }

    #[test]
    fn warehouse_url_from_env_and_flag() {
        let env = [("VANTAGE_WAREHOUSE", "postgres://env")];
        let c = load(&GlobalArgs::default(), &env).unwrap();
        assert_eq!(c.warehouse.url.as_deref(), Some("postgres://env"));
        let args = GlobalArgs { warehouse: Some("postgres://flag".into()), ..Default::default() };
        assert_eq!(load(&args, &env).unwrap().warehouse.url.as_deref(), Some("postgres://flag"));
    }

    #[test]
    fn errors_name_file_and_section() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vantage.toml");
        std::fs::write(&file, "[netstate]\nintervall = 1\n").unwrap();
        let args = GlobalArgs { config: Some(file.clone()), ..Default::default() };
        let e = load(&args, &[]).unwrap().section::<Demo>("netstate").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with(&file.display().to_string()), "{msg}");
        assert!(msg.contains("[netstate]") && msg.contains("intervall"), "{msg}");

        std::fs::write(&file, "[netstat]\n").unwrap();
        assert!(load(&args, &[]).unwrap_err().to_string().contains("unknown key or section"));
        std::fs::write(&file, "[netstate\n").unwrap();
        assert!(load(&args, &[]).unwrap_err().to_string().contains("line 1"));
        let bad = GlobalArgs { overrides: vec!["nokey".into()], ..Default::default() };
        assert!(matches!(load(&bad, &[]), Err(ConfigError::BadOverride(_))));
    }
}
