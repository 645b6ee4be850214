//! Server settings: defaults, then `herald.toml`, then `HERALD_*` environment variables
//! (the environment wins), then command-line flags.

mod counterparts;

pub use counterparts::{Counterparts, Forum, Wiki, counterpart_url};

pub use crate::github::{GitHubSettings, Pacing};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// GitHub caps webhook payloads at 25 MB; herald refuses anything larger.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://herald.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_CONFIG_FILE: &str = "herald.toml";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// How often the draft-advisory reconciler polls each repository.
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 300;
/// How often GitHub's failed webhook deliveries are looked for (also on start, and when
/// the store is back after an outage).
pub const DEFAULT_REDELIVERY_INTERVAL_SECS: u64 = 180;
/// How long a stopping `serve` keeps answering deliveries while `/readyz` says 503, so a
/// load balancer sends the next ones elsewhere.
pub const DEFAULT_DRAIN_SECS: u64 = 5;
/// The longest drain: a load balancer notices a failing readiness probe within seconds.
const MAX_DRAIN_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// How the outbox worker and effect runner pace themselves.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often the queue is looked at when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Attempts before a job is given up.
    pub max_attempts: i64,
    /// How long one batch may hold the store's write lock (it finishes the job at hand).
    pub batch_time: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            poll_interval: Duration::from_secs(1),
            max_attempts: 8,
            batch_time: Duration::from_millis(3),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    /// Connections one process keeps to a PostgreSQL store (SQLite has its own: one
    /// writer, a few readers).
    pub database_max_connections: u32,
    pub listen: SocketAddr,
    /// Where `/metrics` is served instead of on `listen` (which faces the internet).
    pub metrics_listen: Option<SocketAddr>,
    /// Required by `serve`; never logged (SecretString redacts itself in Debug).
    pub webhook_secret: Option<SecretString>,
    pub log_format: LogFormat,
    /// The configured log filter; without one, each command picks its own default.
    pub log_filter: Option<String>,
    pub max_body_bytes: usize,
    /// Whether `serve` runs the outbox worker in-process.
    pub worker_enabled: bool,
    pub worker: WorkerSettings,
    /// The GitHub App herald acts as; without it herald works offline (GitHub jobs wait).
    pub github: Option<GitHubSettings>,
    /// GitHub's API and web addresses, configured or not an App (`herald setup` registers
    /// one there).
    pub github_urls: GitHubUrls,
    pub mail: MailSettings,
    pub channels: ChannelSecrets,
    /// This process's name on the leases and claims it holds in a shared store.
    pub replica_id: String,
    /// How long a stopping `serve` still answers deliveries while `/readyz` says 503.
    pub drain: Duration,
}

/// How announcements are signed and sent. All optional: without an SMTP URL herald sends
/// no mail (and says so on the timeline); without a key, `dry-run` signs with a throwaway.
#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    /// `smtp://` or `smtps://`, may hold a password; never logged whole.
    pub smtp_url: Option<SecretString>,
    /// `Name <address>` the announcements come from.
    pub from: Option<String>,
    pub reply_to: Option<String>,
    /// The armored OpenPGP secret key that signs announcements.
    pub signing_key_file: Option<PathBuf>,
    pub signing_key_passphrase: Option<SecretString>,
}

/// The channels outside GitHub, each bound to the secret it receives.
#[derive(Debug, Clone, Default)]
pub struct ChannelSecrets {
    /// The forums and wikis, by the names repositories choose them by.
    pub counterparts: Counterparts,
    /// The incoming-webhook URL of the team's chat (Slack, a Matrix hookshot, Discord),
    /// where `channels.chat` posts private notices. Secret: the URL is the credential.
    pub chat_webhook_url: Option<SecretString>,
}

/// GitHub's web address for its API address: github.com for api.github.com, the host for
/// GitHub Enterprise Server's `https://HOST/api/v3`.
pub fn web_url_for(api_url: &str) -> String {
    if api_url == DEFAULT_GITHUB_API_URL {
        return "https://github.com".to_owned();
    }
    api_url
        .strip_suffix("/api/v3")
        .unwrap_or(api_url)
        .to_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{name}: {message}")]
    Invalid { name: String, message: String },
    #[error(
        "no webhook secret: set HERALD_WEBHOOK_SECRET or HERALD_WEBHOOK_SECRET_FILE \
         (or webhook_secret_file in herald.toml) to the secret configured on the GitHub App"
    )]
    MissingWebhookSecret,
    #[error(
        "GitHub App half configured: {0}. Set both HERALD_GITHUB_APP_ID and \
         HERALD_GITHUB_PRIVATE_KEY_FILE (or HERALD_GITHUB_PRIVATE_KEY), or neither to run offline"
    )]
    IncompleteGitHubApp(&'static str),
}

/// The keys of herald.toml; each also has an environment variable `HERALD_<KEY>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    database_max_connections: Option<toml::Value>,
    listen: Option<String>,
    metrics_listen: Option<String>,
    webhook_secret: Option<String>,
    webhook_secret_file: Option<PathBuf>,
    log_format: Option<String>,
    log: Option<String>,
    max_body_bytes: Option<toml::Value>,
    worker_enabled: Option<toml::Value>,
    worker_poll_interval_ms: Option<toml::Value>,
    worker_max_attempts: Option<toml::Value>,
    github_api_url: Option<String>,
    github_web_url: Option<String>,
    github_app_id: Option<toml::Value>,
    github_private_key: Option<String>,
    github_private_key_file: Option<PathBuf>,
    poll_interval_secs: Option<toml::Value>,
    github_read_cache_secs: Option<toml::Value>,
    github_write_interval_ms: Option<toml::Value>,
    github_write_budgets: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    mail_reply_to: Option<String>,
    signing_key_file: Option<PathBuf>,
    signing_key_passphrase: Option<String>,
    signing_key_passphrase_file: Option<PathBuf>,
    chat_webhook_url: Option<String>,
    replica_id: Option<String>,
    drain_secs: Option<toml::Value>,
    redelivery_interval_secs: Option<toml::Value>,
    /// `[discourse.<name>]` tables.
    #[serde(default)]
    discourse: BTreeMap<String, counterparts::ForumFile>,
    /// `[mediawiki.<name>]` tables.
    #[serde(default)]
    mediawiki: BTreeMap<String, counterparts::WikiFile>,
}

/// Every setting: key in herald.toml, environment variable, default, meaning.
pub const SETTINGS_TABLE: &[(&str, &str, &str, &str)] = &[
    (
        "database_url",
        "HERALD_DATABASE_URL",
        DEFAULT_DATABASE_URL,
        "where the store lives",
    ),
    (
        "database_max_connections",
        "HERALD_DATABASE_MAX_CONNECTIONS",
        "10",
        "connections each replica keeps to a PostgreSQL store",
    ),
    (
        "listen",
        "HERALD_LISTEN",
        DEFAULT_LISTEN,
        "address `serve` listens on",
    ),
    (
        "metrics_listen",
        "HERALD_METRICS_LISTEN",
        "(none: `/metrics` on `listen`)",
        "address `/metrics` is served on instead, away from the webhook port",
    ),
    (
        "webhook_secret",
        "HERALD_WEBHOOK_SECRET",
        "(none)",
        "the GitHub App's webhook secret",
    ),
    (
        "webhook_secret_file",
        "HERALD_WEBHOOK_SECRET_FILE",
        "(none)",
        "file holding the webhook secret",
    ),
    (
        "log_format",
        "HERALD_LOG_FORMAT",
        "human",
        "`human` or `json`",
    ),
    (
        "log",
        "HERALD_LOG",
        "info (serve), warn (other commands)",
        "log filter (tracing EnvFilter syntax)",
    ),
    (
        "max_body_bytes",
        "HERALD_MAX_BODY_BYTES",
        "26214400",
        "largest webhook body accepted",
    ),
    (
        "worker_enabled",
        "HERALD_WORKER_ENABLED",
        "true",
        "run the outbox worker inside `serve`",
    ),
    (
        "worker_poll_interval_ms",
        "HERALD_WORKER_POLL_INTERVAL_MS",
        "1000",
        "queue poll interval",
    ),
    (
        "worker_max_attempts",
        "HERALD_WORKER_MAX_ATTEMPTS",
        "8",
        "attempts before a job is given up",
    ),
    (
        "github_api_url",
        "HERALD_GITHUB_API_URL",
        DEFAULT_GITHUB_API_URL,
        "GitHub's REST API (for GitHub Enterprise Server: `https://HOST/api/v3`)",
    ),
    (
        "github_web_url",
        "HERALD_GITHUB_WEB_URL",
        "from the API URL (https://github.com, or https://HOST for GHES)",
        "GitHub's web and git address, where wikis are pushed",
    ),
    (
        "github_app_id",
        "HERALD_GITHUB_APP_ID",
        "(none: offline)",
        "the GitHub App's id",
    ),
    (
        "github_private_key_file",
        "HERALD_GITHUB_PRIVATE_KEY_FILE",
        "(none)",
        "the App's PEM private key file",
    ),
    (
        "github_private_key",
        "HERALD_GITHUB_PRIVATE_KEY",
        "(none)",
        "the App's PEM private key itself",
    ),
    (
        "poll_interval_secs",
        "HERALD_POLL_INTERVAL_SECS",
        "300",
        "how often draft advisories are polled per repository",
    ),
    (
        "redelivery_interval_secs",
        "HERALD_REDELIVERY_INTERVAL_SECS",
        "180",
        "how often GitHub's failed webhook deliveries are looked for and asked for again (also on start, and once the store is back after an outage)",
    ),
    (
        "replica_id",
        "HERALD_REPLICA_ID",
        "HOSTNAME/PID",
        "this process's name on the job leases and poll claims it holds in a shared store (`herald jobs` shows it); unique per running replica",
    ),
    (
        "drain_secs",
        "HERALD_DRAIN_SECS",
        "5",
        "how long a stopping `serve` (SIGTERM) still answers deliveries while `/readyz` says 503, so a load balancer moves on (at most 300); a second signal stops at once",
    ),
    (
        "github_read_cache_secs",
        "HERALD_GITHUB_READ_CACHE_SECS",
        "60",
        "how long a repository's `.github/herald.yml` and template overrides are used before GitHub is asked again (with their ETag)",
    ),
    (
        "github_write_interval_ms",
        "HERALD_GITHUB_WRITE_INTERVAL_MS",
        "1000",
        "least time between two content-creating requests of one installation",
    ),
    (
        "github_write_budgets",
        "HERALD_GITHUB_WRITE_BUDGETS",
        "80/60,500/3600",
        "content-creating requests allowed per installation, as COUNT/SECONDS pairs (GitHub's secondary limits; set your GitHub Enterprise Server's)",
    ),
    (
        "smtp_url",
        "HERALD_SMTP_URL",
        "(none: no mail)",
        "SMTP server for announcements: `smtps://user:pass@host`, or `smtp://host` (STARTTLS required unless `?tls=opportunistic` or `?tls=none`)",
    ),
    (
        "mail_from",
        "HERALD_MAIL_FROM",
        "(none)",
        "`Name <address>` announcements come from (required with `smtp_url`)",
    ),
    (
        "mail_reply_to",
        "HERALD_MAIL_REPLY_TO",
        "(none)",
        "Reply-To of announcements",
    ),
    (
        "signing_key_file",
        "HERALD_SIGNING_KEY_FILE",
        "(none)",
        "armored OpenPGP secret key that signs announcements (required with `smtp_url`)",
    ),
    (
        "signing_key_passphrase",
        "HERALD_SIGNING_KEY_PASSPHRASE",
        "(none)",
        "passphrase of the signing key",
    ),
    (
        "signing_key_passphrase_file",
        "HERALD_SIGNING_KEY_PASSPHRASE_FILE",
        "(none)",
        "file holding the signing key's passphrase",
    ),
    (
        "chat_webhook_url",
        "HERALD_CHAT_WEBHOOK_URL",
        "(none)",
        "incoming-webhook URL of the team's chat (Slack, Matrix hookshot, Discord) for `channels.chat`'s private notices",
    ),
];

/// A TOML scalar as the text an environment variable would hold.
fn scalar(value: toml::Value) -> String {
    match value {
        toml::Value::String(text) => text,
        other => other.to_string(),
    }
}

fn env_name(key: &str) -> String {
    format!("HERALD_{}", key.to_ascii_uppercase())
}

/// A setting's raw value and where it came from (for error messages).
struct Raw {
    value: String,
    origin: String,
}

fn pick(
    key: &str,
    file: Option<String>,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Raw> {
    let name = env_name(key);
    match env(&name) {
        Some(value) => Some(Raw {
            value,
            origin: name,
        }),
        None => file.map(|value| Raw {
            value,
            origin: format!("{} key `{key}`", path.display()),
        }),
    }
}

fn parse<T>(raw: Option<Raw>, default: T, what: &str) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .value
            .trim()
            .parse()
            .map_err(|error| ConfigError::Invalid {
                name: raw.origin,
                message: format!("expected {what}, got {:?}: {error}", raw.value),
            }),
    }
}

/// `value` of setting `name`, refused when 0.
fn at_least_one(name: &str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        return Err(ConfigError::Invalid {
            name: name.to_owned(),
            message: "must be at least 1".to_owned(),
        });
    }
    Ok(value)
}

fn read_secret_file(path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

impl Settings {
    /// Loads settings. `config` is an explicit file (which must exist); without it,
    /// `HERALD_CONFIG` or else `./herald.toml` is read when present.
    pub fn load(
        config: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let explicit = config
            .map(Path::to_owned)
            .or_else(|| env("HERALD_CONFIG").map(PathBuf::from));
        let path = explicit
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str::<FileSettings>(&text).map_err(|source| ConfigError::File {
                    path: path.clone(),
                    source: Box::new(source),
                })?
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                FileSettings::default()
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };

        let webhook_secret = match (
            pick("webhook_secret", file.webhook_secret, &path, env),
            pick(
                "webhook_secret_file",
                file.webhook_secret_file.map(|p| p.display().to_string()),
                &path,
                env,
            ),
        ) {
            (Some(secret), _) if !secret.value.is_empty() => Some(SecretString::from(secret.value)),
            (_, Some(file)) => Some(read_secret_file(Path::new(&file.value))?),
            _ => None,
        };
        let log_format = match pick("log_format", file.log_format, &path, env) {
            None => LogFormat::Human,
            Some(raw) => match raw.value.trim() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Invalid {
                        name: raw.origin,
                        message: format!("expected `human` or `json`, got {other:?}"),
                    });
                }
            },
        };
        let poll_ms: u64 = parse(
            pick(
                "worker_poll_interval_ms",
                file.worker_poll_interval_ms.map(scalar),
                &path,
                env,
            ),
            1000,
            "a number of milliseconds",
        )?;
        let defaults = WorkerSettings::default();
        let path_setting = |key: &str, file: Option<PathBuf>| {
            pick(key, file.map(|p| p.display().to_string()), &path, env)
                .map(|raw| raw.value)
                .filter(|value| !value.trim().is_empty())
        };
        let text_setting = |key: &str, file: Option<String>| {
            pick(key, file, &path, env)
                .map(|raw| raw.value)
                .filter(|value| !value.trim().is_empty())
        };
        let signing_key_passphrase = match (
            text_setting("signing_key_passphrase", file.signing_key_passphrase),
            path_setting(
                "signing_key_passphrase_file",
                file.signing_key_passphrase_file,
            ),
        ) {
            (Some(passphrase), _) => Some(SecretString::from(passphrase)),
            (None, Some(file)) => Some(read_secret_file(Path::new(&file))?),
            (None, None) => None,
        };
        let mail = MailSettings {
            smtp_url: text_setting("smtp_url", file.smtp_url).map(SecretString::from),
            from: text_setting("mail_from", file.mail_from),
            reply_to: text_setting("mail_reply_to", file.mail_reply_to),
            signing_key_file: path_setting("signing_key_file", file.signing_key_file)
                .map(PathBuf::from),
            signing_key_passphrase,
        };
        let github_file = FileGitHub {
            api_url: file.github_api_url,
            web_url: file.github_web_url,
            app_id: file.github_app_id.map(scalar),
            private_key: file.github_private_key,
            private_key_file: file
                .github_private_key_file
                .map(|path| path.display().to_string()),
            poll_interval_secs: file.poll_interval_secs.map(scalar),
            redelivery_interval_secs: file.redelivery_interval_secs.map(scalar),
            read_cache_secs: file.github_read_cache_secs.map(scalar),
            write_interval_ms: file.github_write_interval_ms.map(scalar),
            write_budgets: file.github_write_budgets,
        };
        let github_urls = github_urls(&github_file, &path, env)?;
        let github = github_settings(&github_file, &path, env)?;
        let replica_id = match text_setting("replica_id", file.replica_id) {
            Some(id) => tame_replica_id(&id).ok_or_else(|| ConfigError::Invalid {
                name: "replica_id".to_owned(),
                message: format!(
                    "{id:?} is not 1 to 100 printable ASCII characters without spaces"
                ),
            })?,
            None => default_replica_id(env),
        };
        let drain_secs: u64 = parse(
            pick("drain_secs", file.drain_secs.map(scalar), &path, env),
            DEFAULT_DRAIN_SECS,
            "a number of seconds",
        )?;
        if drain_secs > MAX_DRAIN_SECS {
            return Err(ConfigError::Invalid {
                name: "drain_secs".to_owned(),
                message: format!(
                    "{drain_secs} s is longer than a stop should wait (at most {MAX_DRAIN_SECS})"
                ),
            });
        }
        Ok(Settings {
            replica_id,
            drain: Duration::from_secs(drain_secs),
            database_url: pick("database_url", file.database_url, &path, env)
                .map(|raw| raw.value)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            database_max_connections: parse(
                pick(
                    "database_max_connections",
                    file.database_max_connections.map(scalar),
                    &path,
                    env,
                ),
                crate::store::DEFAULT_MAX_CONNECTIONS,
                "a number of connections",
            )
            .and_then(|connections| at_least_one("database_max_connections", connections))?,
            listen: parse(
                pick("listen", file.listen, &path, env),
                SocketAddr::from(([127, 0, 0, 1], 3000)),
                "a socket address such as 127.0.0.1:3000",
            )?,
            metrics_listen: pick("metrics_listen", file.metrics_listen, &path, env)
                .map(|raw| {
                    parse(
                        Some(raw),
                        SocketAddr::from(([127, 0, 0, 1], 9090)),
                        "a socket address such as 127.0.0.1:9090",
                    )
                })
                .transpose()?,
            webhook_secret,
            log_format,
            log_filter: pick("log", file.log, &path, env).map(|raw| raw.value),
            max_body_bytes: parse(
                pick(
                    "max_body_bytes",
                    file.max_body_bytes.map(scalar),
                    &path,
                    env,
                ),
                DEFAULT_MAX_BODY_BYTES,
                "a number of bytes",
            )?,
            worker_enabled: parse(
                pick(
                    "worker_enabled",
                    file.worker_enabled.map(scalar),
                    &path,
                    env,
                ),
                true,
                "true or false",
            )?,
            worker: WorkerSettings {
                poll_interval: Duration::from_millis(poll_ms.max(1)),
                max_attempts: parse(
                    pick(
                        "worker_max_attempts",
                        file.worker_max_attempts.map(scalar),
                        &path,
                        env,
                    ),
                    defaults.max_attempts,
                    "a number of attempts",
                )?,
                ..defaults
            },
            github,
            github_urls,
            mail,
            channels: ChannelSecrets {
                counterparts: Counterparts::load(file.discourse, file.mediawiki, env)?,
                chat_webhook_url: text_setting("chat_webhook_url", file.chat_webhook_url)
                    .map(|url| {
                        if url.starts_with("https://") || url.starts_with("http://") {
                            Ok(SecretString::from(url))
                        } else {
                            // The URL is a credential: the error does not repeat it.
                            Err(ConfigError::Invalid {
                                name: "chat_webhook_url".to_owned(),
                                message: "not an http:// or https:// URL".to_owned(),
                            })
                        }
                    })
                    .transpose()?,
            },
        })
    }
}

/// A replica id as configured, when it is tame enough for logs and `herald jobs`.
fn tame_replica_id(id: &str) -> Option<String> {
    let id = id.trim();
    (!id.is_empty() && id.len() <= 100 && id.bytes().all(|byte| byte.is_ascii_graphic()))
        .then(|| id.to_owned())
}

/// `HOSTNAME/PID`: unique among replicas on different hosts (or pods) and among processes
/// on one.
fn default_replica_id(env: &dyn Fn(&str) -> Option<String>) -> String {
    let host = env("HOSTNAME")
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .and_then(|host| tame_replica_id(&host))
        .unwrap_or_else(|| "herald".to_owned());
    format!("{host}/{}", std::process::id())
}

/// The GitHub keys of herald.toml, taken out so the App settings are read in one place.
struct FileGitHub {
    api_url: Option<String>,
    web_url: Option<String>,
    app_id: Option<String>,
    private_key: Option<String>,
    private_key_file: Option<String>,
    poll_interval_secs: Option<String>,
    redelivery_interval_secs: Option<String>,
    read_cache_secs: Option<String>,
    write_interval_ms: Option<String>,
    write_budgets: Option<String>,
}

/// GitHub's API and web addresses: as configured, else github.com's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUrls {
    pub api_url: String,
    pub web_url: String,
}

fn github_urls(
    file: &FileGitHub,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<GitHubUrls, ConfigError> {
    let url = |key: &str, value: Option<String>| {
        pick(key, value, path, env)
            .map(|raw| {
                let url = raw.value.trim().trim_end_matches('/').to_owned();
                let host = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .unwrap_or("");
                if host.is_empty() || host.starts_with('/') {
                    return Err(ConfigError::Invalid {
                        name: raw.origin,
                        message: format!(
                            "{:?} is not an http:// or https:// URL with a host",
                            raw.value
                        ),
                    });
                }
                Ok(url)
            })
            .transpose()
    };
    let api_url = url("github_api_url", file.api_url.clone())?
        .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_owned());
    let web_url =
        url("github_web_url", file.web_url.clone())?.unwrap_or_else(|| web_url_for(&api_url));
    Ok(GitHubUrls { api_url, web_url })
}

fn github_settings(
    file: &FileGitHub,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<GitHubSettings>, ConfigError> {
    let app_id = pick("github_app_id", file.app_id.clone(), path, env)
        .filter(|raw| !raw.value.trim().is_empty());
    let private_key = match (
        pick("github_private_key", file.private_key.clone(), path, env),
        pick(
            "github_private_key_file",
            file.private_key_file.clone(),
            path,
            env,
        ),
    ) {
        (Some(key), _) if !key.value.trim().is_empty() => Some(SecretString::from(key.value)),
        (_, Some(file)) if !file.value.trim().is_empty() => {
            Some(read_secret_file(Path::new(&file.value))?)
        }
        _ => None,
    };
    let (app_id, private_key) = match (app_id, private_key) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(ConfigError::IncompleteGitHubApp("no private key")),
        (None, Some(_)) => return Err(ConfigError::IncompleteGitHubApp("no App id")),
        (Some(app_id), Some(key)) => (app_id, key),
    };
    let poll_secs: u64 = parse(
        pick(
            "poll_interval_secs",
            file.poll_interval_secs.clone(),
            path,
            env,
        ),
        DEFAULT_POLL_INTERVAL_SECS,
        "a number of seconds",
    )?;
    let redelivery_secs: u64 = parse(
        pick(
            "redelivery_interval_secs",
            file.redelivery_interval_secs.clone(),
            path,
            env,
        ),
        DEFAULT_REDELIVERY_INTERVAL_SECS,
        "a number of seconds",
    )?;
    if redelivery_secs == 0 {
        return Err(ConfigError::Invalid {
            name: "redelivery_interval_secs".to_owned(),
            message: "0 is no interval: at least 1 (herald always asks for what it missed)"
                .to_owned(),
        });
    }
    let GitHubUrls { api_url, web_url } = github_urls(file, path, env)?;
    let read_cache_secs: u64 = parse(
        pick(
            "github_read_cache_secs",
            file.read_cache_secs.clone(),
            path,
            env,
        ),
        60,
        "a number of seconds",
    )?;
    let default_pacing = Pacing::default();
    let write_interval_ms: u64 = parse(
        pick(
            "github_write_interval_ms",
            file.write_interval_ms.clone(),
            path,
            env,
        ),
        u64::try_from(default_pacing.spacing.as_millis()).unwrap_or(1000),
        "a number of milliseconds",
    )?;
    let budgets = match pick(
        "github_write_budgets",
        file.write_budgets.clone(),
        path,
        env,
    ) {
        None => default_pacing.budgets,
        Some(raw) => Pacing::parse_budgets(&raw.value).map_err(|message| ConfigError::Invalid {
            name: raw.origin,
            message,
        })?,
    };
    Ok(Some(GitHubSettings {
        api_url,
        web_url,
        app_id: parse(Some(app_id), 0, "the numeric App id")?,
        private_key,
        poll_interval: Duration::from_secs(poll_secs.max(1)),
        read_cache_for: Duration::from_secs(read_cache_secs),
        pacing: Pacing {
            spacing: Duration::from_millis(write_interval_ms),
            budgets,
        },
        redelivery_interval: Duration::from_secs(redelivery_secs),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    #[test]
    fn every_documented_settings_file_parses() {
        let examples: Vec<&str> = crate::DOCS
            .iter()
            .flat_map(|(_, text)| text.split("```toml\n").skip(1))
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert!(
            examples.len() >= 2,
            "the docs show herald.toml: {examples:?}"
        );
        for example in examples {
            toml::from_str::<FileSettings>(example)
                .unwrap_or_else(|error| panic!("{error}\n{example}"));
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn no_database_connections_is_refused() {
        let env = env_of(&[("HERALD_DATABASE_MAX_CONNECTIONS", "0")]);
        let error = Settings::load(None, &env).expect_err("0").to_string();
        assert!(error.contains("database_max_connections"), "{error}");
        assert!(error.contains("must be at least 1"), "{error}");
    }

    #[test]
    fn a_github_address_without_its_scheme_or_host_is_refused_by_name() {
        for bad in ["api.github.com", "notaurl", "http://", "https:///api"] {
            let env = env_of(&[("HERALD_GITHUB_API_URL", bad)]);
            let error = Settings::load(None, &env).expect_err(bad).to_string();
            assert!(error.contains("HERALD_GITHUB_API_URL"), "{bad}: {error}");
            assert!(
                error.contains("not an http:// or https:// URL"),
                "{bad}: {error}"
            );
        }
        let env = env_of(&[("HERALD_GITHUB_API_URL", "https://ghes.example/api/v3/")]);
        let settings = Settings::load(None, &env).expect("a good URL");
        assert_eq!(settings.github_urls.api_url, "https://ghes.example/api/v3");
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("herald.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn forums_and_wikis_are_bound_to_their_secrets_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("discourse-key");
        std::fs::write(&key_file, "forum-key\n").expect("write key");
        let path = write(
            &dir,
            &format!(
                "[discourse.community]\nurl = \"https://discuss.example.org/\"\napi_username = \"herald\"\napi_key_file = {:?}\n\n[mediawiki.docs]\napi_url = \"http://127.0.0.1:8080/api.php\"\nusername = \"Bot@herald\"\n",
                key_file.display().to_string()
            ),
        );
        let settings = Settings::load(
            Some(&path),
            &env_of(&[("HERALD_MEDIAWIKI_DOCS_PASSWORD", "wiki-password")]),
        )
        .expect("settings");
        let counterparts = &settings.channels.counterparts;
        let forum = counterparts.forum(Some("community")).expect("the forum");
        assert_eq!(forum.url, "https://discuss.example.org");
        assert_eq!(forum.api_key.expose_secret(), "forum-key");
        assert_eq!(forum.max_post_length, 32_000);
        let wiki = counterparts.wiki(None).expect("the only wiki");
        assert_eq!(wiki.password.expose_secret(), "wiki-password");
        // Debug output never shows a secret.
        let shown = format!("{settings:?}");
        assert!(!shown.contains("forum-key") && !shown.contains("wiki-password"));

        let refused = |text: &str, env: &[(&str, &str)]| {
            Settings::load(Some(&write(&dir, text)), &env_of(env))
                .expect_err("refused")
                .to_string()
        };
        let error = refused(
            "[discourse.x]\nurl = \"http://localhost.attacker.example\"\napi_username = \"h\"\napi_key = \"k\"\n",
            &[],
        );
        assert!(
            error.contains("[discourse.x] url") && error.contains("https://"),
            "{error}"
        );
        let error = refused(
            "[discourse.x]\nurl = \"https://d.example\"\napi_username = \"h\"\n",
            &[],
        );
        assert!(
            error.contains(
                "no secret: set `api_key_file` (or `api_key`, or HERALD_DISCOURSE_X_API_KEY)"
            ),
            "{error}"
        );
        let error = refused("", &[("HERALD_DISCOURSE_API_KEY", "k")]);
        assert!(
            error.contains("HERALD_DISCOURSE_API_KEY: no longer read") && !error.contains(": k"),
            "{error}"
        );
        let error = refused(
            "[mediawiki.Docs]\napi_url = \"https://w.example/api.php\"\nusername = \"u\"\npassword = \"p\"\n",
            &[],
        );
        assert!(error.contains("[mediawiki.Docs]: a name is"), "{error}");
    }

    #[test]
    fn defaults_without_file_or_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("absent.toml");
        let env = env_of(&[("HERALD_CONFIG", missing.to_str().expect("utf8"))]);
        // An explicitly named file must exist.
        assert!(matches!(
            Settings::load(None, &env),
            Err(ConfigError::Read { .. })
        ));
        let settings = Settings::load(Some(&write(&dir, "")), &env_of(&[])).expect("defaults");
        assert_eq!(settings.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(settings.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(settings.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(settings.webhook_secret.is_none());
        assert!(settings.worker_enabled);
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            &dir,
            "listen = \"127.0.0.1:4000\"\ndatabase_url = \"sqlite://file.db\"\nlog_format = \"json\"\n",
        );
        let settings = Settings::load(Some(&path), &env_of(&[("HERALD_LISTEN", "127.0.0.1:5000")]))
            .expect("settings");
        assert_eq!(settings.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(settings.database_url, "sqlite://file.db");
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.database_max_connections, 10);
        let settings = Settings::load(
            Some(&path),
            &env_of(&[("HERALD_DATABASE_MAX_CONNECTIONS", "25")]),
        )
        .expect("settings");
        assert_eq!(settings.database_max_connections, 25);
        let error = Settings::load(
            Some(&path),
            &env_of(&[("HERALD_DATABASE_MAX_CONNECTIONS", "many")]),
        )
        .expect_err("not a number")
        .to_string();
        assert!(error.contains("HERALD_DATABASE_MAX_CONNECTIONS"), "{error}");
    }

    #[test]
    fn a_github_app_needs_both_its_id_and_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "github_app_id = 42\n");
        let error = Settings::load(Some(&path), &env_of(&[])).expect_err("no key");
        assert!(error.to_string().contains("no private key"), "{error}");
        let key = "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----";
        let error = Settings::load(Some(&path), &env_of(&[("HERALD_GITHUB_APP_ID", "")]))
            .map(|settings| settings.github.is_none());
        assert!(
            matches!(error, Ok(true)),
            "an empty id in the environment turns GitHub off"
        );
        let settings = Settings::load(
            Some(&path),
            &env_of(&[
                ("HERALD_GITHUB_PRIVATE_KEY", key),
                ("HERALD_GITHUB_API_URL", "https://ghe.example.org/api/v3/"),
            ]),
        )
        .expect("settings");
        let github = settings.github.expect("configured");
        assert_eq!(github.app_id, 42);
        assert_eq!(github.api_url, "https://ghe.example.org/api/v3");
        assert!(
            !format!("{github:?}").contains("BEGIN RSA"),
            "the key is redacted"
        );
    }

    #[test]
    fn a_broken_file_names_the_line_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "listen = \"127.0.0.1:4000\"\nlisten_port = 3\n");
        let error = Settings::load(Some(&path), &env_of(&[]))
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("listen_port"), "{error}");
        assert!(error.contains("line 2"), "{error}");

        let path = write(&dir, "listen = \"nowhere\"\n");
        let error = Settings::load(Some(&path), &env_of(&[]))
            .expect_err("bad address")
            .to_string();
        assert!(error.contains("key `listen`"), "{error}");
    }

    #[test]
    fn the_secret_comes_from_a_file_and_never_shows_in_debug() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret_path = dir.path().join("secret");
        std::fs::write(&secret_path, "s3cr3t-value\n").expect("write secret");
        let settings = Settings::load(
            Some(&write(&dir, "")),
            &env_of(&[(
                "HERALD_WEBHOOK_SECRET_FILE",
                secret_path.to_str().expect("utf8"),
            )]),
        )
        .expect("settings");
        let secret = settings.webhook_secret.as_ref().expect("secret");
        assert_eq!(secret.expose_secret(), "s3cr3t-value");
        assert!(!format!("{settings:?}").contains("s3cr3t"));
    }
}
