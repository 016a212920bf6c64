//! The one configuration file, `vantage.toml`, layered with environment and flags.
//!
//! Precedence, highest first: flag > environment > file > default (DESIGN.md,
//! Conventions). The top-level options (`data`, the warehouse URL) are typed here; each
//! kind's section (`[packets]`, `[reports]`, `[passive]`, `[netstate]`) is kept as TOML
//! and typed by the kind itself through [`Config::section`], so that no kind's options
//! leak into the foundation. Any section key can be overridden from the environment as
//! `VANTAGE_<SECTION>_<KEY>` or on the command line as `--set section.key=value`, nested
//! keys too (`--set reports.collector.rate=5`, `VANTAGE_REPORTS_COLLECTOR_RATE=5`). An
//! environment name does not say which underscores separate tables, so each reading is
//! tried against the section's type: a key the file already has, then the flat key, then
//! nested readings, the first the type accepts winning.

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
    /// Requests per second per client address on `/api/v1` (429 beyond the burst).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Requests one address may make at once before `rate` applies.
    #[serde(default = "default_burst")]
    pub burst: f64,
    /// Largest body of an `/api/v1` write without a limit of its own (netstate uploads).
    #[serde(default = "default_max_body")]
    pub max_body: u64,
    /// Seconds shutdown waits for a tick in progress; past them the tick is abandoned
    /// (its open transaction rolls back, as after a crash, and the next start redoes it).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: default_bind(),
            token: None,
            tick_seconds: default_tick(),
            rate: default_rate(),
            burst: default_burst(),
            max_body: default_max_body(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn default_rate() -> f64 {
    100.0
}

fn default_burst() -> f64 {
    500.0
}

fn default_max_body() -> u64 {
    256 << 20
}

fn default_shutdown_grace() -> u64 {
    30
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
    overrides: Overrides,
}

/// Overrides kept apart from the file's table, applied when a section is typed: the
/// environment's (whose nesting the type decides), then the flags' (which win).
#[derive(Debug, Clone, Default)]
struct Overrides {
    /// `(section, key in lower case with '_' between words and tables, value)`.
    env: Vec<(String, String, toml::Value)>,
    /// `(section, key path, value)`.
    flags: Vec<(String, Vec<String>, toml::Value)>,
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
        let table = match &file {
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
        let mut overrides = Overrides { env: env_overrides(&vars), flags: Vec::new() };
        for o in &args.overrides {
            overrides.flags.push(flag_override(o)?);
        }
        let origin = file.clone().unwrap_or_else(|| PathBuf::from("<defaults>"));
        let mut warehouse: WarehouseConfig = typed(&table, &overrides, "warehouse", &origin)?;
        let server: ServerConfig = typed(&table, &overrides, "server", &origin)?;
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
        Ok(Config { data, warehouse, server, file, table, overrides })
    }

    /// A kind's section, typed by the kind; an absent section is the type's default.
    ///
    /// Errors name the file and the section, e.g. `vantage.toml: [netstate]: unknown
    /// field "snapshot_intervl"`.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T, ConfigError> {
        let origin = self.file.clone().unwrap_or_else(|| PathBuf::from("<defaults>"));
        typed(&self.table, &self.overrides, name, &origin)
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
    overrides: &Overrides,
    name: &str,
    origin: &Path,
) -> Result<T, ConfigError> {
    let touched = overrides.env.iter().any(|(s, _, _)| s == name)
        || overrides.flags.iter().any(|(s, _, _)| s == name);
    let mut section = match table.get(name) {
        None if !touched => return Ok(T::default()),
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => t.clone(),
        // Not a table: the type says what it expected.
        Some(other) => {
            return decode::<T>(other.clone()).map_err(|message| invalid(origin, name, &message))
        }
    };
    for (s, key, value) in &overrides.env {
        if s == name {
            let path = env_path::<T>(&section, key, value);
            set_path(&mut section, &path, value.clone());
        }
    }
    for (s, path, value) in &overrides.flags {
        if s == name {
            set_path(&mut section, path, value.clone());
        }
    }
    decode::<T>(toml::Value::Table(section)).map_err(|message| invalid(origin, name, &message))
}

fn decode<T: DeserializeOwned>(v: toml::Value) -> Result<T, String> {
    v.try_into().map_err(|e: toml::de::Error| e.message().to_string())
}

fn invalid(origin: &Path, name: &str, message: &str) -> ConfigError {
    ConfigError::Invalid { path: origin.to_path_buf(), message: format!("[{name}]: {message}") }
}

/// Which key path an environment key names: one the section already holds, else the
/// first reading (flat first, then fewer tables first) that the type accepts — one that
/// adds no error of its own; the flat key when none does (its error then names it).
fn env_path<T: DeserializeOwned>(
    section: &toml::Table,
    key: &str,
    value: &toml::Value,
) -> Vec<String> {
    let readings = readings(key);
    if let Some(p) = readings.iter().find(|p| has_path(section, p)) {
        return p.clone();
    }
    let before = decode::<T>(toml::Value::Table(section.clone())).err();
    readings
        .iter()
        .find(|p| {
            let mut t = section.clone();
            set_path(&mut t, p, value.clone());
            let after = decode::<T>(toml::Value::Table(t)).err();
            after.is_none() || after == before
        })
        .cloned()
        .unwrap_or_else(|| vec![key.to_string()])
}

/// Every way to cut `a_b_c` into key paths at underscores: `[a_b_c]`, then `[a, b_c]`,
/// `[a_b, c]`, then `[a, b, c]`.
fn readings(key: &str) -> Vec<Vec<String>> {
    let words: Vec<&str> = key.split('_').collect();
    let gaps = words.len().saturating_sub(1).min(12);
    let mut out: Vec<Vec<String>> = (0u32..(1 << gaps))
        .map(|cuts| {
            let mut path = vec![words[0].to_string()];
            for (i, w) in words.iter().enumerate().skip(1) {
                if cuts & (1 << (i - 1)) != 0 {
                    path.push(w.to_string());
                } else if let Some(last) = path.last_mut() {
                    last.push('_');
                    last.push_str(w);
                }
            }
            path
        })
        .collect();
    out.sort_by_key(Vec::len);
    out
}

fn has_path(table: &toml::Table, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => table.contains_key(last),
        [first, rest @ ..] => match table.get(first) {
            Some(toml::Value::Table(t)) => has_path(t, rest),
            _ => false,
        },
    }
}

/// Sets `path` in `table`, making the tables on the way (a non-table in the way is
/// replaced: the override wins).
fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
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

fn env_overrides(vars: &[(String, String)]) -> Vec<(String, String, toml::Value)> {
    let mut out = Vec::new();
    for (name, value) in vars {
        for section in SECTIONS {
            let prefix = format!("VANTAGE_{}_", section.to_uppercase());
            if let Some(key) = name.strip_prefix(&prefix) {
                let is_url = *section == "warehouse" && key == "URL";
                if !key.is_empty() && !is_url {
                    out.push((section.to_string(), key.to_lowercase(), override_value(value)));
                }
            }
        }
    }
    // The environment has no order of its own: sort, so that runs agree.
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn flag_override(text: &str) -> Result<(String, Vec<String>, toml::Value), ConfigError> {
    let bad = || ConfigError::BadOverride(text.to_string());
    let (path, value) = text.split_once('=').ok_or_else(bad)?;
    let mut parts = path.split('.');
    let section = parts.next().filter(|s| SECTIONS.contains(s)).ok_or_else(bad)?;
    let keys: Vec<String> = parts.map(str::to_string).collect();
    if keys.is_empty() || keys.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok((section.to_string(), keys, override_value(value)))
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

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Collector {
        rate: f64,
        burst: f64,
        max_open: u64,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Reports {
        can_max_wait: u64,
        collector: Collector,
    }

    #[test]
    fn nested_keys_from_flags_and_environment_keep_the_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vantage.toml");
        std::fs::write(&file, "[reports]\ncan_max_wait = 9\n[reports.collector]\nrate = 1.0\n")
            .unwrap();
        let mut args = GlobalArgs { config: Some(file), ..Default::default() };
        let r = |c: Config| c.section::<Reports>("reports").unwrap();
        assert_eq!(r(load(&args, &[]).unwrap()).collector.rate, 1.0);
        // Environment: nested (rate in the file; burst and max_open not), and flat keys
        // whose words are joined by underscores too.
        let env = [
            ("VANTAGE_REPORTS_COLLECTOR_RATE", "2"),
            ("VANTAGE_REPORTS_COLLECTOR_BURST", "7.5"),
            ("VANTAGE_REPORTS_COLLECTOR_MAX_OPEN", "3"),
            ("VANTAGE_REPORTS_CAN_MAX_WAIT", "4"),
        ];
        let got = r(load(&args, &env).unwrap());
        assert_eq!(
            got,
            Reports {
                can_max_wait: 4,
                collector: Collector { rate: 2.0, burst: 7.5, max_open: 3 }
            }
        );
        // Flags win over both.
        args.overrides = vec!["reports.collector.rate=5".into(), "reports.can_max_wait=0".into()];
        let got = r(load(&args, &env).unwrap());
        assert_eq!((got.collector.rate, got.can_max_wait, got.collector.burst), (5.0, 0, 7.5));
        // Without a file, nested keys make their tables.
        let bare = GlobalArgs {
            overrides: vec!["reports.collector.max_open=11".into()],
            ..Default::default()
        };
        let got = r(load(&bare, &[("VANTAGE_REPORTS_COLLECTOR_RATE", "6")]).unwrap());
        assert_eq!((got.collector.max_open, got.collector.rate), (11, 6.0));
    }

    #[test]
    fn unknown_environment_keys_are_named_and_server_keys_resolve() {
        let e = load(&GlobalArgs::default(), &[("VANTAGE_REPORTS_NO_SUCH_KEY", "1")])
            .unwrap()
            .section::<Reports>("reports")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[reports]") && e.contains("no_such_key"), "{e}");
        let env = [
            ("VANTAGE_SERVER_MAX_BODY", "1024"),
            ("VANTAGE_SERVER_SHUTDOWN_GRACE", "0"),
            ("VANTAGE_SERVER_RATE", "3"),
        ];
        let c = load(&GlobalArgs::default(), &env).unwrap();
        assert_eq!((c.server.max_body, c.server.shutdown_grace, c.server.rate), (1024, 0, 3.0));
        assert_eq!(c.server.burst, 500.0);
        let bad = GlobalArgs { overrides: vec!["reports..rate=1".into()], ..Default::default() };
        assert!(matches!(load(&bad, &[]), Err(ConfigError::BadOverride(_))));
    }
}
