//! Configuration: the one place that reads files and the environment.
//!
//! Precedence, lowest first:
//! 1. built-in defaults (the `Default` impls below, which `config/example.toml` shows);
//! 2. the config file: `--config PATH`, else `TOMORI_CONFIG`, else `./tomori.toml` (a missing
//!    `./tomori.toml` is fine, a missing explicit file is an error);
//! 3. environment variables `TOMORI_<SECTION>__<KEY>` (for example `TOMORI_DISCORD__TOKEN`,
//!    `TOMORI_PROVIDERS__LOCAL__API_KEY`), `DATABASE_URL` for `database.url` and `DATABASE_APP_URL` for
//!    `database.app_url`.
//!
//! Unknown keys are errors that name the key. Secrets (`discord.token`, `web.client_secret`, `database.url`, `database.app_url`,
//! `providers.*.api_key`, `mcp.*.env`) are `SecretString`s: their `Debug` shows `[REDACTED]` and
//! they are never logged. The key ring is not part of this file: it is `TOMORI_SECRET_V<n>` in the environment,
//! or key files under `<data_dir>/keys/` (see `keyring`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tomori_core::limits::Limits;
use url::Url;

pub(crate) mod example;
mod schema;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Directory for the embedded database, key files and other local state.
    pub(crate) data_dir: PathBuf,
    /// Connection to Discord.
    pub(crate) discord: DiscordConfig,
    /// PostgreSQL.
    pub(crate) database: DatabaseConfig,
    /// The key ring that seals stored secrets.
    pub(crate) secrets: SecretsConfig,
    /// Outbound network policy for URLs that users, admins and the model supply.
    pub(crate) net: NetConfig,
    /// Logging.
    pub(crate) log: LogConfig,
    /// Storage limits per server and user.
    pub(crate) limits: Limits,
    /// Tools the model may use.
    pub(crate) tools: ToolsConfig,
    /// The operator's HTTP listener: health probes, Prometheus metrics and the dashboard.
    pub(crate) web: WebConfig,
    /// Instance-level LLM providers, usable without any slash command. They form the instance's
    /// fallback chain in name order: the first answers, the next ones step in when it fails.
    #[schemars(extend("x-example" = {
        "local": {
            "kind": "openai-compatible",
            "base_url": "http://127.0.0.1:11434/v1",
            "model": "llama3.1",
            "api_key": "optional",
            "first_byte_timeout_secs": 120,
            "idle_timeout_secs": 120
        }
    }))]
    pub(crate) providers: BTreeMap<String, ProviderConfig>,
    /// Operator MCP servers: programs that speak the Model Context Protocol on stdin and stdout,
    /// whose tools the model may call in every server and DM. Tomori starts each with an empty
    /// environment (only PATH and the `env` listed here; never its own secrets) and restarts it
    /// when it exits. Such a program runs with the bot's own rights on this machine: list only
    /// servers you trust, under an account with no more rights than they need.
    #[schemars(extend("x-example" = {
        "files": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"],
            "env": { "NODE_ENV": "production" }
        }
    }))]
    pub(crate) mcp: BTreeMap<String, McpServerConfig>,
    /// What models cost, in US dollars per million tokens, for `/tool estimate`: keys are
    /// "provider/model" as servers name their models (a custom endpoint as "custom:<label>/model";
    /// a key ending in "*" covers every model id that starts with the rest). An entry replaces
    /// the built-in list price of the same key.
    #[schemars(extend("x-example" = {
        "openai/gpt-4o-mini": { "input_per_mtok": 0.15, "output_per_mtok": 0.6 },
        "custom:local/*": { "input_per_mtok": 0.0, "output_per_mtok": 0.0 }
    }))]
    pub(crate) prices: BTreeMap<String, PriceConfig>,
}

/// `[prices."provider/model"]`
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceConfig {
    /// US dollars per million input tokens.
    pub(crate) input_per_mtok: f64,
    /// US dollars per million output tokens.
    pub(crate) output_per_mtok: f64,
}

impl Config {
    /// The built-in list prices with the operator's `[prices]`.
    pub(crate) fn price_table(&self) -> tomori_core::pricing::PriceTable {
        self.prices.iter().fold(tomori_core::pricing::PriceTable::built_in(), |table, (key, p)| {
            let price = tomori_core::pricing::Price {
                input_per_mtok: p.input_per_mtok,
                output_per_mtok: p.output_per_mtok,
            };
            table.with(key, price)
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            discord: DiscordConfig::default(),
            database: DatabaseConfig::default(),
            secrets: SecretsConfig::default(),
            net: NetConfig::default(),
            log: LogConfig::default(),
            limits: Limits::default(),
            tools: ToolsConfig::default(),
            web: WebConfig::default(),
            providers: BTreeMap::new(),
            mcp: BTreeMap::new(),
            prices: BTreeMap::new(),
        }
    }
}

/// `[discord]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DiscordConfig {
    /// Bot token from the Discord developer portal (Applications > your app > Bot > Reset Token).
    /// Prefer the TOMORI_DISCORD__TOKEN environment variable over writing it here.
    #[serde(skip_serializing)]
    #[schemars(with = "Option<String>")]
    pub(crate) token: Option<SecretString>,
    /// REST API base URL; change it only to run against a Discord-compatible server.
    pub(crate) api_base: Url,
    /// Gateway WebSocket URL; when unset, the URL Discord's REST API returns is used.
    pub(crate) gateway_url: Option<Url>,
    /// The shards this process runs, for running one bot across several processes; all of the
    /// recommended shards when unset.
    pub(crate) shards: Option<ShardsConfig>,
}

/// `[discord.shards]`: a range of shard ids out of a total.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShardsConfig {
    /// First shard id this process runs.
    pub(crate) first: u32,
    /// Last shard id this process runs (inclusive).
    pub(crate) last: u32,
    /// Total shards across all processes.
    pub(crate) total: u32,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            token: None,
            api_base: Url::parse("https://discord.com/api/v10").expect("a valid constant URL"),
            gateway_url: None,
            shards: None,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DatabaseConfig {
    /// postgres:// URL of an existing server (also read from DATABASE_URL). When unset, Tomori runs
    /// a private PostgreSQL under `<data_dir>/postgres` on a unix socket, using the machine's
    /// installed server binaries.
    #[serde(skip_serializing)]
    #[schemars(with = "Option<String>")]
    pub(crate) url: Option<SecretString>,
    /// postgres:// URL that logs in as the `tomori_app` role with its own credentials (also read
    /// from DATABASE_APP_URL). When unset, the bot logs in as `tomori_app` on the server of `url`
    /// with a password derived from the key ring, which it sets itself through `url`'s owner.
    #[serde(skip_serializing)]
    #[schemars(with = "Option<String>")]
    pub(crate) app_url: Option<SecretString>,
    /// Connections in the bot's pool.
    pub(crate) max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: None, app_url: None, max_connections: 10 }
    }
}

/// `[secrets]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SecretsConfig {
    /// Key version that seals new values; the highest version present when unset. Key material
    /// itself comes from TOMORI_SECRET_V1, TOMORI_SECRET_V2, ... or `<data_dir>/keys/v<n>.key`.
    pub(crate) current_version: Option<u32>,
}

/// Production or development network policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NetMode {
    /// Remote endpoints need https and public addresses.
    #[default]
    Production,
    /// Admin endpoints may use http and loopback; logged loudly at startup.
    Development,
}

/// `[net]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NetConfig {
    /// "production" (default) or "development".
    pub(crate) mode: NetMode,
    /// Let admin-configured endpoints and model fetches reach private networks (10/8,
    /// 192.168/16, ...). Cloud-metadata addresses stay refused whatever this says.
    pub(crate) allow_private_networks: bool,
    /// For test rigs only: loopback addresses (such as "127.0.0.5") that the model's web tools
    /// may fetch from. Empty in production; logged loudly at startup when set.
    pub(crate) tool_test_loopback: Vec<std::net::IpAddr>,
}

/// `[tools]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ToolsConfig {
    /// A SearXNG instance for web_search (its base URL). Operator-configured only, never a
    /// per-server setting. A server with its own Brave Search key (provider `brave`) searches
    /// Brave first; DuckDuckGo's HTML page is the keyless fallback.
    pub(crate) searxng_url: Option<Url>,
}

/// `[web]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct WebConfig {
    /// Address and port of the listener that answers GET /health/live, /health/ready and
    /// /metrics; "" turns it off. Loopback by default: metrics carry no message text, ids or
    /// secrets, but they are for the operator and a scraper, so expose them only on purpose
    /// (for example "0.0.0.0:9100" inside a container whose port is published privately).
    pub(crate) listen: String,
    /// Where members reach the dashboard, for example "https://tomori.example.org"; unset
    /// leaves the dashboard off. It is served on the listener above, so a TLS-terminating
    /// proxy forwards this URL to it (and should not forward /metrics). Plain http is accepted
    /// only on loopback. Discord's OAuth2 redirect is this URL plus /auth/callback: add it in the
    /// developer portal (Applications > your app > OAuth2 > Redirects).
    pub(crate) public_url: Option<Url>,
    /// The application's OAuth2 client id (Applications > your app > OAuth2), for the
    /// dashboard's sign-in.
    pub(crate) client_id: Option<u64>,
    /// The application's OAuth2 client secret. Prefer the TOMORI_WEB__CLIENT_SECRET environment
    /// variable over writing it here.
    #[serde(skip_serializing)]
    #[schemars(with = "Option<String>")]
    pub(crate) client_secret: Option<SecretString>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9100".to_owned(),
            public_url: None,
            client_id: None,
            client_secret: None,
        }
    }
}

impl WebConfig {
    /// The address to listen on, or `None` when the listener is off.
    pub(crate) fn address(&self) -> Option<&str> {
        Some(self.listen.trim()).filter(|listen| !listen.is_empty())
    }
}

impl NetConfig {
    /// The same settings in tomori-net's terms.
    pub(crate) fn to_net(&self) -> tomori_net::NetConfig {
        let mode = match self.mode {
            NetMode::Production => tomori_net::Mode::Production,
            NetMode::Development => tomori_net::Mode::Development,
        };
        tomori_net::NetConfig { mode, allow_private_networks: self.allow_private_networks }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LogConfig {
    /// A tracing filter, e.g. "info" or "info,tomori_store=debug".
    pub(crate) level: String,
    /// "text" or "json".
    pub(crate) format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Text }
    }
}

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProviderKind {
    /// OpenAI-compatible chat completions (OpenAI, OpenRouter, DeepSeek, Ollama, LM Studio, vLLM, KoboldCPP).
    OpenaiCompatible,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
}

/// `[providers.<name>]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderConfig {
    /// "openai-compatible", "anthropic" or "gemini".
    pub(crate) kind: ProviderKind,
    /// API base URL, e.g. "http://127.0.0.1:11434/v1" for a local Ollama. Required for
    /// openai-compatible; the provider's own API when unset for the others.
    pub(crate) base_url: Option<Url>,
    /// Model name, e.g. "llama3.1".
    pub(crate) model: String,
    /// API key, if the provider needs one.
    #[serde(default, skip_serializing)]
    #[schemars(with = "Option<String>")]
    pub(crate) api_key: Option<SecretString>,
    /// The model sees images.
    #[serde(default)]
    pub(crate) vision: bool,
    /// The model calls tools (on unless the model refuses them).
    #[serde(default = "default_true")]
    pub(crate) tools: bool,
    /// Context window in tokens, when known.
    #[serde(default)]
    pub(crate) context_length: Option<u32>,
    /// Headers sent with every request, as name = "value" (a gateway's own header, or Azure
    /// OpenAI's `api-key`). Values are kept out of logs like the API key.
    #[serde(default, skip_serializing)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(crate) extra_headers: BTreeMap<String, SecretString>,
    /// Query parameters added to every request, as name = "value" (Azure OpenAI's
    /// `api-version`).
    #[serde(default)]
    pub(crate) extra_query: BTreeMap<String, String>,
    /// Seconds to wait for the first byte of an answer (reasoning models think first);
    /// default 120.
    #[serde(default)]
    pub(crate) first_byte_timeout_secs: Option<u64>,
    /// Seconds a streamed answer may pause between two chunks; default 120.
    #[serde(default)]
    pub(crate) idle_timeout_secs: Option<u64>,
}

fn default_true() -> bool {
    true
}

/// `[mcp.<name>]`: one operator MCP server, started as a child process speaking MCP over stdio.
/// The name (a-z, 0-9, '_' and '-') appears in logs and in the tool descriptions the model sees.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct McpServerConfig {
    /// The program, found through PATH unless it is a path, e.g. "npx".
    pub(crate) command: String,
    /// Its arguments.
    #[serde(default)]
    pub(crate) args: Vec<String>,
    /// The only environment variables it gets besides PATH, as NAME = "value" (a PATH here
    /// replaces the bot's). Values are kept out of logs.
    #[serde(default, skip_serializing)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub(crate) env: BTreeMap<String, SecretString>,
    /// Whether Tomori starts it.
    #[serde(default = "default_true")]
    pub(crate) enabled: bool,
}

/// Where the configuration came from, for `tomori doctor` and the startup log.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) config: Config,
    /// The file that was read, if any.
    pub(crate) file: Option<PathBuf>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file named by `--config` or `TOMORI_CONFIG` does not exist.
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    /// Syntax, type or unknown key; figment's message names the key and the source.
    #[error("{0}")]
    Invalid(String),
    /// A value that parses but is refused.
    #[error("{key}: {reason}")]
    Refused {
        /// The key path.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The environment as the loader sees it; tests pass their own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    vars: Vec<(String, String)>,
}

impl Environment {
    /// The process environment.
    pub(crate) fn from_process() -> Self {
        #[expect(
            clippy::disallowed_methods,
            reason = "this module is the one reader of the environment"
        )]
        let vars = std::env::vars().collect();
        Self { vars }
    }

    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self { vars: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `TOMORI_SECRET_V<n>` entries.
    pub(crate) fn secret_versions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .filter(|(k, _)| k.starts_with("TOMORI_SECRET_V"))
            .map(|(k, v)| (k.trim_start_matches("TOMORI_SECRET_V"), v.as_str()))
    }
}

/// Loads the configuration from defaults, the file and the environment.
///
/// # Errors
/// A missing explicit file, a syntax or type error, an unknown key, or a refused value.
pub(crate) fn load(flag: Option<&Path>, env: &Environment) -> Result<Loaded, ConfigError> {
    let explicit =
        flag.map(Path::to_path_buf).or_else(|| env.get("TOMORI_CONFIG").map(PathBuf::from));
    let file = match explicit {
        Some(path) if !path.is_file() => return Err(ConfigError::Missing(path)),
        Some(path) => Some(path),
        None => Some(PathBuf::from("tomori.toml")).filter(|p| p.is_file()),
    };
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(EnvProvider(env.clone()));
    if let Some(url) = env.get("DATABASE_URL").filter(|u| !u.is_empty()) {
        figment = figment.merge(Serialized::default("database.url", url));
    }
    if let Some(url) = env.get("DATABASE_APP_URL").filter(|u| !u.is_empty()) {
        figment = figment.merge(Serialized::default("database.app_url", url));
    }
    let config: Config = figment.extract().map_err(|err| ConfigError::Invalid(describe(&err)))?;
    validate(&config)?;
    Ok(Loaded { config, file })
}

/// `TOMORI_<SECTION>__<KEY>` variables as a figment provider, so errors name the variable's key
/// and say it came from the environment.
struct EnvProvider(Environment);

impl figment::Provider for EnvProvider {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("TOMORI_* environment variable")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (name, raw) in &self.0.vars {
            let Some(rest) = name.strip_prefix("TOMORI_") else { continue };
            if name == "TOMORI_CONFIG" || rest.starts_with("SECRET_V") || rest.is_empty() {
                continue;
            }
            let path = rest.to_ascii_lowercase().replace("__", ".");
            let segments: Vec<&str> = path.split('.').collect();
            // A string key keeps its text (an API key of digits is still a key); other keys are
            // parsed, so that numbers and booleans can be given too.
            let value: figment::value::Value = if schema::expects_string(&segments) {
                raw.as_str().into()
            } else {
                raw.parse().unwrap_or_else(|_| raw.as_str().into())
            };
            let nested = figment::util::nest(&path, value).into_dict().ok_or_else(|| {
                figment::Error::from(format!("environment variable {name} is not a key path"))
            })?;
            dict = merge_dicts(dict, nested);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

fn merge_dicts(mut into: figment::value::Dict, from: figment::value::Dict) -> figment::value::Dict {
    for (key, value) in from {
        let merged = match (into.remove(&key), value) {
            (Some(figment::value::Value::Dict(_, a)), figment::value::Value::Dict(tag, b)) => {
                figment::value::Value::Dict(tag, merge_dicts(a, b))
            }
            (_, value) => value,
        };
        into.insert(key, merged);
    }
    into
}

fn describe(err: &figment::Error) -> String {
    // One line per problem, each naming its key and where it came from.
    err.clone()
        .into_iter()
        .map(|e| {
            let hint = match &e.kind {
                figment::error::Kind::UnknownField(field, expected) => {
                    schema::did_you_mean(field, expected)
                        .map(|name| format!(" (did you mean `{name}`?)"))
                }
                _ => None,
            };
            format!("{e}{}", hint.unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    for (key, price) in &config.prices {
        let valid = tomori_core::pricing::Price {
            input_per_mtok: price.input_per_mtok,
            output_per_mtok: price.output_per_mtok,
        }
        .is_valid();
        if !valid || key.trim().is_empty() || key.len() > 200 {
            return Err(ConfigError::Refused {
                key: format!("prices.{key}"),
                reason: "a non-empty key of at most 200 characters, with prices of 0 or more"
                    .to_owned(),
            });
        }
    }
    for (name, provider) in &config.providers {
        let key = |field: &str| format!("providers.{name}.{field}");
        if provider.model.trim().is_empty() {
            return Err(ConfigError::Refused {
                key: key("model"),
                reason: "must not be empty".to_owned(),
            });
        }
        match (&provider.base_url, provider.kind) {
            (None, ProviderKind::OpenaiCompatible) => {
                return Err(ConfigError::Refused {
                    key: key("base_url"),
                    reason: "openai-compatible providers need a base_url".to_owned(),
                });
            }
            (Some(url), _) => {
                // Security: SSRF. Operator providers are trusted like the operator (http, loopback
                // and private addresses are fine), but never a cloud-metadata address.
                tomori_net::check_operator_endpoint(url).map_err(|refusal| {
                    ConfigError::Refused { key: key("base_url"), reason: refusal.to_string() }
                })?;
            }
            (None, _) => {}
        }
        for (header, value) in &provider.extra_headers {
            tomori_llm::ExtraHeader::new(header, value.clone()).map_err(|err| {
                ConfigError::Refused { key: key("extra_headers"), reason: err.to_string() }
            })?;
        }
        for (field, value) in [
            ("first_byte_timeout_secs", provider.first_byte_timeout_secs),
            ("idle_timeout_secs", provider.idle_timeout_secs),
        ] {
            if value.is_some_and(|secs| !(1..=3600).contains(&secs)) {
                return Err(ConfigError::Refused {
                    key: key(field),
                    reason: "must be between 1 and 3600 seconds".to_owned(),
                });
            }
        }
    }
    for (name, server) in &config.mcp {
        let key = |field: &str| format!("mcp.{name}.{field}");
        let valid_name = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(ConfigError::Refused {
                key: format!("mcp.{name}"),
                reason: "server names are 1 to 32 of a-z, 0-9, '_' and '-'".to_owned(),
            });
        }
        if server.command.trim().is_empty() {
            return Err(ConfigError::Refused {
                key: key("command"),
                reason: "must not be empty".to_owned(),
            });
        }
        if let Some(bad) =
            server.env.keys().find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
        {
            return Err(ConfigError::Refused {
                key: key("env"),
                reason: format!("{bad:?} is not an environment variable name"),
            });
        }
    }
    if let Some(ip) = config.net.tool_test_loopback.iter().find(|ip| !ip.is_loopback()) {
        return Err(ConfigError::Refused {
            key: "net.tool_test_loopback".to_owned(),
            reason: format!("{ip} is not a loopback address"),
        });
    }
    if let Some(shards) = config.discord.shards {
        tomori_discord::ShardRange::new(shards.first, shards.last, shards.total).map_err(
            |err| ConfigError::Refused {
                key: "discord.shards".to_owned(),
                reason: err.to_string(),
            },
        )?;
    }
    if let Some(listen) = config.web.address()
        && listen.parse::<std::net::SocketAddr>().is_err()
    {
        return Err(ConfigError::Refused {
            key: "web.listen".to_owned(),
            reason: format!("{listen:?} is not an IP address and port such as 127.0.0.1:9100"),
        });
    }
    if config.database.max_connections == 0 {
        return Err(ConfigError::Refused {
            key: "database.max_connections".to_owned(),
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
