//! Server settings: defaults, then `herald.toml`, then `HERALD_*` environment variables
//! (the environment wins), then command-line flags.

mod counterparts;
mod upstream;

pub use counterparts::counterpart_url;

// The settings types live with the rooms that use them; `Settings` assembles them, and
// names them here for the binary and the tests that build settings by hand.
pub use crate::channels::{ChannelSecrets, Counterparts, Forum, Wiki};
pub use crate::feeds::{Package, UpstreamProduct, UpstreamSettings};
pub use crate::github::{GitHubSettings, Pacing};
pub use crate::intake::IntakeSettings;
pub use crate::mail::MailSettings;
pub use crate::mailbox::ImapSettings;
pub use crate::outbox::WorkerSettings;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// GitHub caps webhook payloads at 25 MB; herald refuses anything over 25 MiB, the larger reading.
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
    pub intake: IntakeSettings,
    /// The security team's mailbox, read over IMAP, when configured.
    pub mailbox: Option<ImapSettings>,
    /// The software the project runs and its upstreams' announcements, when listed.
    pub upstream: Option<UpstreamSettings>,
    /// This process's name on the leases and claims it holds in a shared store.
    pub replica_id: String,
    /// How long a stopping `serve` still answers deliveries while `/readyz` says 503.
    pub drain: Duration,
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
    #[error("{path}, {at}: {message}")]
    File {
        path: PathBuf,
        /// Where in the file: `line L, column C`.
        at: String,
        message: String,
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
    intake_repository: Option<String>,
    intake_max_message_bytes: Option<toml::Value>,
    intake_decryption_key_file: Option<PathBuf>,
    intake_decryption_key_passphrase: Option<String>,
    intake_decryption_key_passphrase_file: Option<PathBuf>,
    intake_acknowledge: Option<toml::Value>,
    intake_notices: Option<toml::Value>,
    intake_imap_url: Option<String>,
    intake_own_lists: Option<String>,
    intake_imap_poll_secs: Option<toml::Value>,
    upstream_poll_secs: Option<toml::Value>,
    osv_api_url: Option<String>,
    nvd_api_url: Option<String>,
    nvd_api_key: Option<String>,
    nvd_api_key_file: Option<PathBuf>,
    /// `[[upstream]]` tables.
    #[serde(default)]
    upstream: Vec<upstream::UpstreamFile>,
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
        "connections each replica keeps to a PostgreSQL store (at least two: one admits deliveries)",
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
        "intake_repository",
        "HERALD_INTAKE_REPOSITORY",
        "(none)",
        "private repository where each report mailed to the security team opens an intake issue",
    ),
    (
        "intake_max_message_bytes",
        "HERALD_INTAKE_MAX_MESSAGE_BYTES",
        "67108864",
        "largest message `herald intake mail` takes",
    ),
    (
        "intake_decryption_key_file",
        "HERALD_INTAKE_DECRYPTION_KEY_FILE",
        "(none)",
        "armored OpenPGP secret key reports mailed to the security team are encrypted to",
    ),
    (
        "intake_decryption_key_passphrase",
        "HERALD_INTAKE_DECRYPTION_KEY_PASSPHRASE",
        "(none)",
        "passphrase of the intake's decryption key",
    ),
    (
        "intake_decryption_key_passphrase_file",
        "HERALD_INTAKE_DECRYPTION_KEY_PASSPHRASE_FILE",
        "(none)",
        "file holding the intake's decryption key's passphrase",
    ),
    (
        "intake_acknowledge",
        "HERALD_INTAKE_ACKNOWLEDGE",
        "true",
        "acknowledge each mailed report to its sender (signed, encrypted to their key when they sent it)",
    ),
    (
        "intake_notices",
        "HERALD_INTAKE_NOTICES",
        "true",
        "tell the sender of an accepted mailed report of its course: accepted, fixed, its CVE id, published",
    ),
    (
        "intake_own_lists",
        "HERALD_INTAKE_OWN_LISTS",
        "(none)",
        "List-Ids of the mailing lists that are the security team's own address, whose mail is reports",
    ),
    (
        "intake_imap_url",
        "HERALD_INTAKE_IMAP_URL",
        "(none)",
        "the security team's mailbox, read over IMAP: imaps://USER:PASSWORD@HOST[:993][/MAILBOX]",
    ),
    (
        "intake_imap_poll_secs",
        "HERALD_INTAKE_IMAP_POLL_SECS",
        "60",
        "how often the mailbox is looked at (or IDLE renewed)",
    ),
    (
        "upstream_poll_secs",
        "HERALD_UPSTREAM_POLL_SECS",
        "3600",
        "how often the `[[upstream]]` feeds and OSV are read (at least 60; NVD at most every two hours)",
    ),
    (
        "osv_api_url",
        "HERALD_OSV_API_URL",
        crate::feeds::DEFAULT_OSV_URL,
        "OSV's API, asked about products with `osv`",
    ),
    (
        "nvd_api_url",
        "HERALD_NVD_API_URL",
        crate::feeds::DEFAULT_NVD_URL,
        "NVD's CVE API 2.0, asked about products with `cpe`",
    ),
    (
        "nvd_api_key_file",
        "HERALD_NVD_API_KEY_FILE",
        "(none)",
        "file holding an NVD API key (or `nvd_api_key`, `HERALD_NVD_API_KEY`), sent to `nvd_api_url` only: ten times NVD's keyless request rate",
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

impl Raw {
    /// The value, parsed as `what`.
    fn parse<T>(self, what: &str) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.value
            .trim()
            .parse()
            .map_err(|error| ConfigError::Invalid {
                message: format!("expected {what}, got {:?}: {error}", self.value),
                name: self.origin,
            })
    }
}

/// The upstream settings as written.
struct UpstreamFiles {
    products: Vec<upstream::UpstreamFile>,
    poll_secs: Option<toml::Value>,
    osv_api_url: Option<String>,
    nvd_api_url: Option<String>,
    nvd_api_key: Option<String>,
    nvd_api_key_file: Option<PathBuf>,
}

impl UpstreamFiles {
    /// The upstream settings of `file`, taken out of it.
    fn take(file: &mut FileSettings) -> UpstreamFiles {
        UpstreamFiles {
            products: std::mem::take(&mut file.upstream),
            poll_secs: file.upstream_poll_secs.take(),
            osv_api_url: file.osv_api_url.take(),
            nvd_api_url: file.nvd_api_url.take(),
            nvd_api_key: file.nvd_api_key.take(),
            nvd_api_key_file: file.nvd_api_key_file.take(),
        }
    }
}

/// Where settings come from: herald.toml (its path, for messages), then the environment,
/// which wins. Each setting is read by its key in the file, `HERALD_<KEY>` in the
/// environment.
struct Layers<'a> {
    path: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Layers<'_> {
    /// The setting `key` as written: the environment's value, else the file's.
    fn raw(&self, key: &str, file: Option<String>) -> Option<Raw> {
        let name = env_name(key);
        match (self.env)(&name) {
            Some(value) => Some(Raw {
                value,
                origin: name,
            }),
            None => file.map(|value| Raw {
                value,
                origin: format!("{} key `{key}`", self.path.display()),
            }),
        }
    }

    /// A text setting; a blank one is unset.
    fn text(&self, key: &str, file: Option<String>) -> Option<String> {
        self.raw(key, file)
            .map(|raw| raw.value)
            .filter(|value| !value.trim().is_empty())
    }

    /// A path setting; a blank one is unset.
    fn path(&self, key: &str, file: Option<PathBuf>) -> Option<PathBuf> {
        let file = file.map(|path| path.display().to_string());
        self.text(key, file).map(PathBuf::from)
    }

    /// A setting parsed as `what`, or `default` when it is unset.
    fn parsed<T>(
        &self,
        key: &str,
        file: Option<String>,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.raw(key, file)
            .map_or(Ok(default), |raw| raw.parse(what))
    }

    /// A number (or boolean) setting, which the file may write bare or quoted.
    fn number<T>(
        &self,
        key: &str,
        file: Option<toml::Value>,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.parsed(key, file.map(scalar), default, what)
    }

    /// A secret given as a value (`key`) or in a file (`file_key`); the value wins.
    fn secret(
        &self,
        (key, value): (&str, Option<String>),
        (file_key, file): (&str, Option<PathBuf>),
    ) -> Result<Option<SecretString>, ConfigError> {
        match (self.text(key, value), self.path(file_key, file)) {
            (Some(value), _) => Ok(Some(SecretString::from(value))),
            (None, Some(file)) => read_secret_file(&file).map(Some),
            (None, None) => Ok(None),
        }
    }

    fn log_format(&self, file: Option<String>) -> Result<LogFormat, ConfigError> {
        let Some(raw) = self.raw("log_format", file) else {
            return Ok(LogFormat::Human);
        };
        match raw.value.trim() {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::Invalid {
                message: format!("expected `human` or `json`, got {other:?}"),
                name: raw.origin,
            }),
        }
    }

    fn worker(
        &self,
        poll_interval_ms: Option<toml::Value>,
        max_attempts: Option<toml::Value>,
    ) -> Result<WorkerSettings, ConfigError> {
        let defaults = WorkerSettings::default();
        let poll_ms: u64 = self.number(
            "worker_poll_interval_ms",
            poll_interval_ms,
            1000,
            "a number of milliseconds",
        )?;
        Ok(WorkerSettings {
            poll_interval: Duration::from_millis(poll_ms.max(1)),
            max_attempts: self.number(
                "worker_max_attempts",
                max_attempts,
                defaults.max_attempts,
                "a number of attempts",
            )?,
            ..defaults
        })
    }

    fn mail(&self, file: MailFile) -> Result<MailSettings, ConfigError> {
        Ok(MailSettings {
            smtp_url: self.text("smtp_url", file.smtp_url).map(SecretString::from),
            from: self.text("mail_from", file.from),
            reply_to: self.text("mail_reply_to", file.reply_to),
            signing_key_file: self.path("signing_key_file", file.signing_key_file),
            signing_key_passphrase: self.secret(
                ("signing_key_passphrase", file.signing_key_passphrase),
                (
                    "signing_key_passphrase_file",
                    file.signing_key_passphrase_file,
                ),
            )?,
        })
    }

    fn replica_id(&self, file: Option<String>) -> Result<String, ConfigError> {
        match self.text("replica_id", file) {
            Some(id) => tame_replica_id(&id).ok_or_else(|| ConfigError::Invalid {
                name: "replica_id".to_owned(),
                message: format!(
                    "{id:?} is not 1 to 100 printable ASCII characters without spaces"
                ),
            }),
            None => Ok(default_replica_id(self.env)),
        }
    }

    fn drain(&self, file: Option<toml::Value>) -> Result<Duration, ConfigError> {
        let secs: u64 = self.number(
            "drain_secs",
            file,
            DEFAULT_DRAIN_SECS,
            "a number of seconds",
        )?;
        if secs > MAX_DRAIN_SECS {
            return Err(ConfigError::Invalid {
                name: "drain_secs".to_owned(),
                message: format!(
                    "{secs} s is longer than a stop should wait (at most {MAX_DRAIN_SECS})"
                ),
            });
        }
        Ok(Duration::from_secs(secs))
    }

    /// Where reports mailed to the security team go, how large a message may be, and the
    /// key they are encrypted to.
    fn intake(&self, file: IntakeFile) -> Result<IntakeSettings, ConfigError> {
        let repository = self
            .raw("intake_repository", file.repository)
            .filter(|raw| !raw.value.trim().is_empty())
            .map(|raw| raw.parse("a GitHub repository `owner/name`"))
            .transpose()?;
        let max_message_bytes = self.number(
            "intake_max_message_bytes",
            file.max_message_bytes,
            crate::intake::DEFAULT_MAX_MESSAGE_BYTES,
            "a number of bytes",
        )?;
        Ok(IntakeSettings {
            repository,
            max_message_bytes,
            decryption_key_file: self.path("intake_decryption_key_file", file.decryption_key_file),
            decryption_key_passphrase: self.secret(
                (
                    "intake_decryption_key_passphrase",
                    file.decryption_key_passphrase,
                ),
                (
                    "intake_decryption_key_passphrase_file",
                    file.decryption_key_passphrase_file,
                ),
            )?,
            acknowledge: self.number(
                "intake_acknowledge",
                file.acknowledge,
                true,
                "true or false",
            )?,
            notices: self.number("intake_notices", file.notices, true, "true or false")?,
            own_lists: self
                .text("intake_own_lists", file.own_lists)
                .map(|lists| {
                    lists
                        .split(',')
                        .map(|list| list.trim().trim_matches(['<', '>']).to_owned())
                        .filter(|list| !list.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The security team's mailbox: its URL holds the password, which errors do not repeat.
    fn mailbox(
        &self,
        url: Option<String>,
        poll_secs: Option<toml::Value>,
    ) -> Result<Option<ImapSettings>, ConfigError> {
        let poll: u64 = self.number(
            "intake_imap_poll_secs",
            poll_secs,
            60,
            "a number of seconds",
        )?;
        let Some(url) = self.text("intake_imap_url", url) else {
            return Ok(None);
        };
        ImapSettings::parse(url.trim(), Duration::from_secs(poll.max(1)))
            .map(Some)
            .map_err(|message| ConfigError::Invalid {
                name: "intake_imap_url".to_owned(),
                message,
            })
    }

    /// The upstreams, when `[[upstream]]` lists any; OSV's and NVD's addresses (NVD's
    /// receives the API key).
    fn upstream(&self, file: UpstreamFiles) -> Result<Option<UpstreamSettings>, ConfigError> {
        let poll: u64 = self.number(
            "upstream_poll_secs",
            file.poll_secs,
            3600,
            "a number of seconds",
        )?;
        let address = |key: &str, value: Option<String>, default: &str| {
            let text = self.text(key, value).unwrap_or_else(|| default.to_owned());
            counterpart_url(&text).map_err(|message| ConfigError::Invalid {
                name: key.to_owned(),
                message,
            })
        };
        let osv_url = address(
            "osv_api_url",
            file.osv_api_url,
            crate::feeds::DEFAULT_OSV_URL,
        )?;
        let nvd_url = address(
            "nvd_api_url",
            file.nvd_api_url,
            crate::feeds::DEFAULT_NVD_URL,
        )?;
        let nvd_api_key = self.secret(
            ("nvd_api_key", file.nvd_api_key),
            ("nvd_api_key_file", file.nvd_api_key_file),
        )?;
        let products = upstream::products(file.products)?;
        if products.is_empty() {
            return Ok(None);
        }
        Ok(Some(UpstreamSettings {
            products,
            // At most once a minute: NVD asks for no more than every two hours.
            poll: Duration::from_secs(poll.max(60)),
            osv_url,
            nvd_url,
            nvd_api_key,
        }))
    }

    /// The chat's webhook URL: a credential, which errors do not repeat.
    fn chat_webhook_url(&self, file: Option<String>) -> Result<Option<SecretString>, ConfigError> {
        let Some(url) = self.text("chat_webhook_url", file) else {
            return Ok(None);
        };
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(Some(SecretString::from(url)))
        } else {
            Err(ConfigError::Invalid {
                name: "chat_webhook_url".to_owned(),
                message: "not an http:// or https:// URL".to_owned(),
            })
        }
    }

    /// GitHub's API and web addresses: as configured, else github.com's.
    fn github_urls(
        &self,
        api_url: Option<String>,
        web_url: Option<String>,
    ) -> Result<GitHubUrls, ConfigError> {
        let api_url = self
            .url("github_api_url", api_url)?
            .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_owned());
        let web_url = self
            .url("github_web_url", web_url)?
            .unwrap_or_else(|| web_url_for(&api_url));
        Ok(GitHubUrls { api_url, web_url })
    }

    /// An http:// or https:// URL with a host, without its trailing slash.
    fn url(&self, key: &str, file: Option<String>) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.raw(key, file) else {
            return Ok(None);
        };
        let url = raw.value.trim().trim_end_matches('/').to_owned();
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or("");
        if host.is_empty() || host.starts_with('/') {
            return Err(ConfigError::Invalid {
                message: format!(
                    "{:?} is not an http:// or https:// URL with a host",
                    raw.value
                ),
                name: raw.origin,
            });
        }
        Ok(Some(url))
    }

    /// The GitHub App herald acts as, when both its id and its key are set.
    fn github(
        &self,
        file: GitHubFile,
        urls: &GitHubUrls,
    ) -> Result<Option<GitHubSettings>, ConfigError> {
        let app_id = self
            .raw("github_app_id", file.app_id.map(scalar))
            .filter(|raw| !raw.value.trim().is_empty());
        let private_key = self.secret(
            ("github_private_key", file.private_key),
            ("github_private_key_file", file.private_key_file),
        )?;
        let (app_id, private_key) = match (app_id, private_key) {
            (None, None) => return Ok(None),
            (Some(_), None) => return Err(ConfigError::IncompleteGitHubApp("no private key")),
            (None, Some(_)) => return Err(ConfigError::IncompleteGitHubApp("no App id")),
            (Some(app_id), Some(key)) => (app_id, key),
        };
        let seconds = "a number of seconds";
        let poll_secs: u64 = self.number(
            "poll_interval_secs",
            file.poll_interval_secs,
            DEFAULT_POLL_INTERVAL_SECS,
            seconds,
        )?;
        let redelivery_secs: u64 = self.number(
            "redelivery_interval_secs",
            file.redelivery_interval_secs,
            DEFAULT_REDELIVERY_INTERVAL_SECS,
            seconds,
        )?;
        if redelivery_secs == 0 {
            return Err(ConfigError::Invalid {
                name: "redelivery_interval_secs".to_owned(),
                message: "0 is no interval: at least 1 (herald always asks for what it missed)"
                    .to_owned(),
            });
        }
        let read_cache_secs: u64 =
            self.number("github_read_cache_secs", file.read_cache_secs, 60, seconds)?;
        Ok(Some(GitHubSettings {
            api_url: urls.api_url.clone(),
            web_url: urls.web_url.clone(),
            app_id: app_id.parse("the numeric App id")?,
            private_key,
            poll_interval: Duration::from_secs(poll_secs.max(1)),
            read_cache_for: Duration::from_secs(read_cache_secs),
            pacing: self.pacing(file.write_interval_ms, file.write_budgets)?,
            redelivery_interval: Duration::from_secs(redelivery_secs),
        }))
    }

    /// How herald spaces its content-creating GitHub requests.
    fn pacing(
        &self,
        interval_ms: Option<toml::Value>,
        budgets: Option<String>,
    ) -> Result<Pacing, ConfigError> {
        let defaults = Pacing::default();
        let default_ms = u64::try_from(defaults.spacing.as_millis()).unwrap_or(1000);
        let interval_ms: u64 = self.number(
            "github_write_interval_ms",
            interval_ms,
            default_ms,
            "a number of milliseconds",
        )?;
        let budgets = match self.raw("github_write_budgets", budgets) {
            None => defaults.budgets,
            Some(raw) => {
                Pacing::parse_budgets(&raw.value).map_err(|message| ConfigError::Invalid {
                    name: raw.origin,
                    message,
                })?
            }
        };
        Ok(Pacing {
            spacing: Duration::from_millis(interval_ms),
            budgets,
        })
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

/// herald.toml's GitHub keys, as written.
struct GitHubFile {
    app_id: Option<toml::Value>,
    private_key: Option<String>,
    private_key_file: Option<PathBuf>,
    poll_interval_secs: Option<toml::Value>,
    redelivery_interval_secs: Option<toml::Value>,
    read_cache_secs: Option<toml::Value>,
    write_interval_ms: Option<toml::Value>,
    write_budgets: Option<String>,
}

/// herald.toml's intake keys, as written.
struct IntakeFile {
    repository: Option<String>,
    max_message_bytes: Option<toml::Value>,
    decryption_key_file: Option<PathBuf>,
    decryption_key_passphrase: Option<String>,
    decryption_key_passphrase_file: Option<PathBuf>,
    acknowledge: Option<toml::Value>,
    notices: Option<toml::Value>,
    own_lists: Option<String>,
}

/// The intake's decryption key, when one is configured: read and unlocked, or a clear
/// error naming the file (never the key).
pub fn load_decryption_key(
    settings: &IntakeSettings,
) -> Result<Option<crate::intake::DecryptionKey>, ConfigError> {
    let Some(path) = &settings.decryption_key_file else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    crate::intake::DecryptionKey::from_bytes(&bytes, settings.decryption_key_passphrase.as_ref())
        .map(Some)
        .map_err(|error| ConfigError::Invalid {
            name: format!("intake_decryption_key_file {}", path.display()),
            message: error.to_string(),
        })
}

/// herald.toml's mail keys, as written.
struct MailFile {
    smtp_url: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
    signing_key_file: Option<PathBuf>,
    signing_key_passphrase: Option<String>,
    signing_key_passphrase_file: Option<PathBuf>,
}

/// The settings file: `config` (which must exist), else `HERALD_CONFIG` (which must too),
/// else `./herald.toml` when present; its path and its keys.
fn settings_file(
    config: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(PathBuf, FileSettings), ConfigError> {
    let explicit = config
        .map(Path::to_owned)
        .or_else(|| env("HERALD_CONFIG").map(PathBuf::from));
    let path = explicit
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str::<FileSettings>(&text).map_err(|error| {
            let (at, message) = unreadable_file(&text, &error);
            ConfigError::File {
                path: path.clone(),
                at,
                message,
            }
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            FileSettings::default()
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    Ok((path, file))
}

impl Settings {
    /// Loads settings. `config` is an explicit file (which must exist); without it,
    /// `HERALD_CONFIG` or else `./herald.toml` is read when present.
    pub fn load(
        config: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let (path, mut file) = settings_file(config, env)?;
        let upstream = UpstreamFiles::take(&mut file);
        let layers = Layers { path: &path, env };
        let github_urls = layers.github_urls(file.github_api_url, file.github_web_url)?;
        let github = GitHubFile {
            app_id: file.github_app_id,
            private_key: file.github_private_key,
            private_key_file: file.github_private_key_file,
            poll_interval_secs: file.poll_interval_secs,
            redelivery_interval_secs: file.redelivery_interval_secs,
            read_cache_secs: file.github_read_cache_secs,
            write_interval_ms: file.github_write_interval_ms,
            write_budgets: file.github_write_budgets,
        };
        let mail = MailFile {
            smtp_url: file.smtp_url,
            from: file.mail_from,
            reply_to: file.mail_reply_to,
            signing_key_file: file.signing_key_file,
            signing_key_passphrase: file.signing_key_passphrase,
            signing_key_passphrase_file: file.signing_key_passphrase_file,
        };
        let max_connections = layers.number(
            "database_max_connections",
            file.database_max_connections,
            crate::store::DEFAULT_MAX_CONNECTIONS,
            "a number of connections",
        )?;
        Ok(Settings {
            replica_id: layers.replica_id(file.replica_id)?,
            drain: layers.drain(file.drain_secs)?,
            database_url: layers
                .raw("database_url", file.database_url)
                .map_or_else(|| DEFAULT_DATABASE_URL.to_owned(), |raw| raw.value),
            database_max_connections: at_least_one("database_max_connections", max_connections)?,
            listen: layers.parsed(
                "listen",
                file.listen,
                SocketAddr::from(([127, 0, 0, 1], 3000)),
                "a socket address such as 127.0.0.1:3000",
            )?,
            metrics_listen: layers
                .raw("metrics_listen", file.metrics_listen)
                .map(|raw| raw.parse("a socket address such as 127.0.0.1:9090"))
                .transpose()?,
            webhook_secret: layers.secret(
                ("webhook_secret", file.webhook_secret),
                ("webhook_secret_file", file.webhook_secret_file),
            )?,
            log_format: layers.log_format(file.log_format)?,
            log_filter: layers.raw("log", file.log).map(|raw| raw.value),
            max_body_bytes: layers.number(
                "max_body_bytes",
                file.max_body_bytes,
                DEFAULT_MAX_BODY_BYTES,
                "a number of bytes",
            )?,
            worker_enabled: layers.number(
                "worker_enabled",
                file.worker_enabled,
                true,
                "true or false",
            )?,
            worker: layers.worker(file.worker_poll_interval_ms, file.worker_max_attempts)?,
            github: layers.github(github, &github_urls)?,
            github_urls,
            mail: layers.mail(mail)?,
            channels: ChannelSecrets {
                counterparts: counterparts::counterparts(file.discourse, file.mediawiki, env)?,
                chat_webhook_url: layers.chat_webhook_url(file.chat_webhook_url)?,
            },
            intake: layers.intake(IntakeFile {
                repository: file.intake_repository,
                max_message_bytes: file.intake_max_message_bytes,
                decryption_key_file: file.intake_decryption_key_file,
                decryption_key_passphrase: file.intake_decryption_key_passphrase,
                decryption_key_passphrase_file: file.intake_decryption_key_passphrase_file,
                acknowledge: file.intake_acknowledge,
                notices: file.intake_notices,
                own_lists: file.intake_own_lists,
            })?,
            mailbox: layers.mailbox(file.intake_imap_url, file.intake_imap_poll_secs)?,
            upstream: layers.upstream(upstream)?,
        })
    }
}

/// Where herald.toml is wrong, and what is wrong, without its text: the line it would
/// quote may hold a secret, so values the message quotes are left out and only key names
/// stay.
fn unreadable_file(text: &str, error: &toml::de::Error) -> (String, String) {
    let offset = error.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    let mut message = without_values(error.message().trim());
    let in_upstream = before.contains("[[upstream]]");
    if in_upstream && message.starts_with("unknown field") {
        message.push_str(
            " (keys after an [[upstream]] table belong to it: herald's own settings go before \
             the first [[upstream]])",
        );
    }
    (
        format!("line {line}, column {column}"),
        message.replace('\n', " "),
    )
}

/// `message` with what it quotes left out, but for key names (`` `name` ``).
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"', '\'']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let quoted = &after[..end];
        // A key name, or the one character TOML expected.
        let is_key = quote == '`'
            && (quoted.len() == 1 && quoted.bytes().all(|b| b.is_ascii_punctuation())
                || !quoted.is_empty()
                    && quoted.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        match is_key {
            true => out.push_str(&format!("`{quoted}`")),
            false => out.push_str("(a value)"),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
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

/// GitHub's API and web addresses: as configured, else github.com's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUrls {
    pub api_url: String,
    pub web_url: String,
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
    fn a_broken_file_is_located_and_never_quoted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let upstream =
            "[[upstream]]\nproduct = \"X\"\nversions = [\"1.0\"]\ncpe = \"cpe:2.3:a:x:x\"\n";
        for (text, at) in [
            ("nvd_api_key = 8d7f2c1a-1111-2222\n", "line 1, column"),
            ("nvd_api_key = 81723344\n", "line 1, column"),
            (
                "nvd_api_key = \"s3cr3t-value\"\nnvd_api_key = \"s3cr3t-value\"\n",
                "line 2",
            ),
            (
                &format!("{upstream}webhook_secret = \"s3cr3t-value\"\n"),
                "line 5",
            ),
        ] {
            let error = Settings::load(Some(&write(&dir, text)), &env_of(&[]))
                .expect_err(text)
                .to_string();
            for secret in ["8d7f2c1a", "81723344", "s3cr3t"] {
                assert!(!error.contains(secret), "{error}");
            }
            assert!(error.contains(at) && !error.contains('\n'), "{error}");
        }
        let misplaced = format!("{upstream}smtp_url = \"smtp://127.0.0.1\"\n");
        let error = Settings::load(Some(&write(&dir, &misplaced)), &env_of(&[]))
            .expect_err("misplaced")
            .to_string();
        assert!(error.contains("unknown field `smtp_url`"), "{error}");
        assert!(
            error.contains("go before the first [[upstream]]"),
            "{error}"
        );
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
