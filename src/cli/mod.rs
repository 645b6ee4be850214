//! The `herald` command line.

mod intake;
mod upstream;

pub use intake::{EX_DATAERR, EX_TEMPFAIL, Exit, IntakeCommand};

use crate::config::{LogFormat, Settings};
use crate::drafts::{
    ANNOUNCEMENT, ANNOUNCEMENT_SUBJECT, DraftView, Drafts, render_all, tracking_issue,
};
use crate::github::GitHub;
use crate::incident::{
    DeliveryId, GhsaId, Incident, Phase, RepoName, Severity, TimelineEntry, TimelineKind,
};
use crate::ingest::{Ingestor, Receipt};
use crate::jobs::JobKind;
use crate::mail::{Author, Sender, SigningKey, load_signing_key};
use crate::outbox::{JobOutcome, Worker};
use crate::printable::to_json_pretty;
use crate::redact::redact_url;
use crate::redelivery::{ListedDelivery, Redeliverer};
use crate::repo_config::{MailingList, RepoConfig, SigningMode};
use crate::report;
use crate::server::Server;
use crate::store::{IncidentFilter, JobControl, JobControlError, JobFilter, JobRecord, Store};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Security incident response for open-source projects, as a GitHub App"
)]
pub struct Cli {
    /// Settings file (default: ./herald.toml when present; also HERALD_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive GitHub webhooks and process them.
    Serve,
    /// Process one webhook payload offline, through the same path as `serve`
    /// (no signature, no GitHub), into the local store, and print what happened.
    DryRun {
        /// The webhook payload (JSON), as GitHub would POST it.
        payload: PathBuf,
        /// The X-GitHub-Event the payload belongs to.
        #[arg(long, default_value = "repository_advisory")]
        event: String,
        /// The X-GitHub-Delivery id to use (default: a fresh one).
        #[arg(long)]
        delivery_id: Option<DeliveryId>,
        /// Where the rendered drafts are written, one folder per advisory.
        #[arg(long, default_value = "herald-drafts", value_name = "DIR")]
        out: PathBuf,
        /// A repository's `.github/herald.yml`: its mailing lists get one signed `.eml`
        /// announcement each (without it, one to a placeholder list).
        #[arg(long, value_name = "FILE")]
        repo_config: Option<PathBuf>,
    },
    /// The store itself: move it to another database.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Make or inspect the OpenPGP key that signs announcements.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check the configuration: store, webhook secret, GitHub App key, API and installations.
    Doctor,
    /// Register herald as a GitHub App through GitHub's manifest flow: open the page it
    /// serves on this machine and press its button; GitHub asks you to confirm and sends you
    /// back, and herald writes the App's id, webhook secret and private key to new files.
    Setup {
        /// Where GitHub sends webhooks: herald's public address and `/webhooks`.
        #[arg(long, value_name = "URL")]
        webhook_url: String,
        /// The App's name on GitHub (names are unique across GitHub).
        #[arg(long, default_value = "herald")]
        name: String,
        /// The App's homepage, shown on GitHub (default: app.yml's).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Register the App for this organisation instead of your own account.
        #[arg(long)]
        org: Option<String>,
        /// Where the page listens (on this machine).
        #[arg(long, default_value = "127.0.0.1:3333")]
        listen: std::net::SocketAddr,
        /// The settings file to write; it must not exist.
        #[arg(long, default_value = "herald.toml", value_name = "FILE")]
        settings_out: PathBuf,
        /// The App's private key file to write (mode 0600); it must not exist.
        #[arg(long, default_value = "herald-github-app.pem", value_name = "FILE")]
        key_out: PathBuf,
    },
    /// Print an incident's drafts (as last shown for review, else rendered now).
    Drafts {
        /// The advisory's GHSA id.
        ghsa_id: GhsaId,
        /// The repository (owner/name), when two repositories share the GHSA id.
        #[arg(long)]
        repo: Option<RepoName>,
        /// Print JSON (the incident's id and an array of named drafts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// An incident's advisory in a machine-readable format, printed.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Show the incidents in the store.
    Incidents {
        #[command(subcommand)]
        command: IncidentsCommand,
    },
    /// The job queue: what herald still has to do, what it gave up on, and retrying or
    /// cancelling a job.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// GitHub's webhook deliveries to the App: which failed and whether herald has them,
    /// and asking GitHub to deliver those herald missed again (`serve` does this on start,
    /// every few minutes, and once its store is back after an outage).
    Deliveries {
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
    /// Mail to the security team's address: take a message from the mail server (standard
    /// input), list what was taken, show one.
    Intake {
        #[command(subcommand)]
        command: IntakeCommand,
    },
    /// The software the project runs (`[[upstream]]`): read its upstreams' announcements
    /// now, list the product incidents they opened, show one.
    Upstream {
        #[command(subcommand)]
        command: upstream::UpstreamCommand,
    },
    /// Open private tracking issues for history: advisories already published, closed or
    /// withdrawn before herald served their repository (recorded, but untracked until now).
    /// Nothing is announced; `herald incidents announce` does that for one advisory.
    Import {
        /// Only this repository's history (owner/name).
        #[arg(long)]
        repo: Option<RepoName>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The advisory in the OSV format (JSON), as herald commits it on disclosure.
    Osv {
        /// The advisory's GHSA id.
        ghsa_id: GhsaId,
        /// The repository (owner/name), when two repositories share the GHSA id.
        #[arg(long)]
        repo: Option<RepoName>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the store (`HERALD_DATABASE_URL`) into an empty database, such as a PostgreSQL
    /// one when herald moves to several replicas: every delivery, incident, job,
    /// installation and channel post, in one transaction. A target with rows is refused.
    Copy {
        /// The target database (`postgres://USER@HOST/DATABASE` or `sqlite://PATH`).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// The deliveries GitHub lists back to where herald's scans start (GitHub keeps three
    /// days), oldest first: their latest attempt, and what herald has of each.
    List {
        /// Only those that failed and that herald has not stored.
        #[arg(long)]
        failed: bool,
        /// Print JSON (an array of deliveries) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Scan now: ask GitHub to deliver again each delivery that failed and that herald has
    /// not stored (unless another replica is scanning).
    Resync {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// The jobs not finished (pending or given up), in queue order.
    List {
        /// Only the jobs herald gave up on.
        #[arg(long, conflicts_with = "due")]
        failed: bool,
        /// Only the pending jobs whose time has come.
        #[arg(long)]
        due: bool,
        /// Only jobs of this kind (such as send_mail or sync_tracking_issue).
        #[arg(long, value_parser = job_kind_named)]
        kind: Option<JobKind>,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// Print JSON (an array of jobs) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job: its state, attempts, last error and what it works on.
    Show {
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a job again now, with a fresh count of attempts: one herald gave up on, one
    /// cancelled, or one waiting to retry. Its incident's timeline records it.
    Retry { id: i64 },
    /// Never run a pending job (or drop one herald gave up on). Its incident's timeline
    /// records it.
    Cancel { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an Ed25519 (OpenPGP v4) signing key, valid three years: the secret key goes
    /// to a new file (mode 0600), the public key to publish is printed.
    Generate {
        /// The key's user id, e.g. "Project Security <security@example.org>".
        #[arg(long)]
        uid: String,
        /// The file the secret key is written to; it must not exist yet.
        #[arg(long, default_value = "herald-signing-key.asc", value_name = "FILE")]
        out: PathBuf,
    },
    /// Show the configured signing key: fingerprint, user ids, expiry.
    Show {
        /// Also print the armored public key.
        #[arg(long)]
        public: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// A table of the incidents, most recently changed first, a page at a time.
    List {
        /// Incidents per page.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Which page (from 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        page: u32,
        /// Only incidents in this phase.
        #[arg(long, value_parser = phase_named)]
        phase: Option<Phase>,
        /// Only incidents of this severity.
        #[arg(long, value_parser = severity_named)]
        severity: Option<Severity>,
        /// Only incidents of this repository (owner/name).
        #[arg(long)]
        repo: Option<RepoName>,
        /// Print JSON (an array of incidents) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One incident with its timeline.
    Show {
        /// The advisory's GHSA id.
        ghsa_id: GhsaId,
        /// The repository (owner/name), when two repositories share the GHSA id.
        #[arg(long)]
        repo: Option<RepoName>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Queue an incident's failed jobs again, once their cause is fixed (as `/herald retry`
    /// on its tracking issue does; for when there is no tracking issue to comment on).
    Retry {
        /// The advisory's GHSA id.
        ghsa_id: GhsaId,
        /// The repository (owner/name), when two repositories share the GHSA id.
        #[arg(long)]
        repo: Option<RepoName>,
    },
    /// Announce an advisory GitHub has published on every public channel again (for
    /// history, which herald never announces on its own). A running `herald serve` sends it.
    Announce {
        /// The advisory's GHSA id.
        ghsa_id: GhsaId,
        /// The repository (owner/name), when two repositories share the GHSA id.
        #[arg(long)]
        repo: Option<RepoName>,
    },
}

fn init_tracing(settings: &Settings, json: bool, default_filter: &str) -> anyhow::Result<()> {
    // octocrab logs each failed request at error level, without what herald was doing;
    // herald reports the same failure in its own words. HERALD_LOG can still show it.
    let directives = settings
        .log_filter
        .clone()
        .unwrap_or_else(|| format!("{default_filter},octocrab=off"));
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .with_context(|| format!("HERALD_LOG: invalid log filter {directives:?}"))?
        // The template engine logs the data it renders at debug level: advisory text under
        // embargo. It never logs below warn, whatever the filter says.
        .add_directive(
            "handlebars=warn"
                .parse()
                .context("the handlebars log directive")?,
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json || settings.log_format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

/// `error` and its causes for the terminal, each cause once (many errors already give
/// their cause in their own words, which a plain chain would repeat), escaped.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    // A counterpart's words may be among them: shown, never obeyed, by the terminal.
    report::safe_line(&text)
}

impl Command {
    /// Whether the command only prints and reads the store: closing its output (`| head`)
    /// may simply end it, as it ends any Unix tool. A server, the setup page and the mail
    /// server's pipe keep going whatever their output does.
    pub fn only_prints(&self) -> bool {
        !matches!(self, Command::Serve | Command::Setup { .. }) && !self.takes_mail()
    }

    /// Whether a mail server runs this command: it reads herald's exit status.
    pub fn takes_mail(&self) -> bool {
        matches!(
            self,
            Command::Intake {
                command: IntakeCommand::Mail { .. }
            }
        )
    }
}

/// The exit status for `error`: its own, else for a mail server a temporary failure (it
/// keeps the message: a broken setting or a store that is down loses no mail), else 1.
pub fn exit_status(error: &anyhow::Error, takes_mail: bool) -> u8 {
    match error.downcast_ref::<Exit>() {
        Some(exit) => exit.status,
        None if takes_mail => EX_TEMPFAIL,
        None => 1,
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), &|name| std::env::var(name).ok())?;
    // `serve` says what it does; the other commands speak through their output.
    let default_level = match cli.command {
        Command::Serve => "info",
        _ => "warn",
    };
    init_tracing(&settings, cli.log_json, default_level)?;
    match cli.command {
        Command::Serve => serve(&settings).await,
        Command::DryRun {
            payload,
            event,
            delivery_id,
            out,
            repo_config,
        } => {
            let repo_config = match repo_config {
                None => RepoConfig::default(),
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    RepoConfig::parse(&text).with_context(|| path.display().to_string())?
                }
            };
            let run = DryRun {
                payload: &payload,
                event: &event,
                out: &out,
                repo_config: &repo_config,
            };
            dry_run(&settings, &run, delivery_id).await
        }
        Command::Store {
            command: StoreCommand::Copy { to },
        } => copy_store(&settings, &to).await,
        Command::Keys { command } => keys(&settings, command),
        Command::Incidents { command } => incidents(&settings, command).await,
        Command::Jobs { command } => jobs(&settings, command).await,
        Command::Deliveries { command } => deliveries(&settings, command).await,
        Command::Import { repo } => import(&settings, repo.as_ref()).await,
        Command::Intake { command } => intake::intake(&settings, command).await,
        Command::Upstream { command } => upstream::upstream(&settings, command).await,
        Command::Drafts {
            ghsa_id,
            repo,
            json,
        } => print_drafts(&settings, &ghsa_id, repo.as_ref(), json).await,
        Command::Export {
            command: ExportCommand::Osv { ghsa_id, repo },
        } => export_osv(&settings, &ghsa_id, repo.as_ref()).await,
        Command::Doctor => doctor(&settings).await,
        Command::Setup {
            webhook_url,
            name,
            url,
            org,
            listen,
            settings_out,
            key_out,
        } => {
            let request = crate::setup::SetupRequest {
                webhook_url,
                name,
                homepage: url,
                org,
                listen,
                settings_out,
                key_out,
                github: settings.github_urls.clone(),
            };
            setup(request).await
        }
    }
}

/// `herald setup`: registers the App through GitHub's manifest flow, then says what next.
async fn setup(request: crate::setup::SetupRequest) -> anyhow::Result<()> {
    let (settings_out, key_out) = (request.settings_out.clone(), request.key_out.clone());
    let registered = crate::setup::run(request, |addr| {
        println!(
            "Open http://{addr}/ in a browser on this machine and press its button; \
             GitHub asks you to confirm, then sends you back here."
        );
    })
    .await?;
    println!(
        "herald is registered on GitHub as {} ({}).\n\
         The settings are in {} and the private key in {} (both mode 0600).\n\
         Next: install the App ({}/installations/new), then run `herald doctor`.",
        report::safe_line(&registered.slug),
        report::safe_line(&registered.html_url),
        settings_out.display(),
        key_out.display(),
        report::safe_line(&registered.html_url),
    );
    Ok(())
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let server = Server::start(settings).await?;
    shutdown_signal().await;
    // Readiness fails first and deliveries are still answered for a while, so a load
    // balancer moves on before the port closes; a second signal cuts that short.
    server.drain();
    tracing::info!(
        drain_secs = settings.drain.as_secs(),
        "stopping: /readyz says 503; still answering deliveries while the load balancer moves on"
    );
    tokio::select! {
        _ = tokio::time::sleep(settings.drain) => {}
        _ = shutdown_signal() => tracing::info!("second signal: stopping now"),
    }
    tracing::info!("shutting down");
    server.stop().await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch SIGTERM; stop with Ctrl-C");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// What `herald dry-run` was asked to do.
struct DryRun<'a> {
    payload: &'a Path,
    event: &'a str,
    out: &'a Path,
    repo_config: &'a RepoConfig,
}

/// Prints what each job of a dry run did; returns the incidents they touched and how many
/// jobs failed.
fn print_outcomes(outcomes: Vec<JobOutcome>) -> (Vec<(RepoName, GhsaId)>, usize) {
    let mut failures = 0;
    let mut touched = Vec::new();
    for outcome in outcomes {
        match outcome {
            JobOutcome::Done(processed) => {
                print!("{}", report::processed_summary(&processed));
                if let Some(change) = processed.incident {
                    touched.push((change.repository, change.ghsa_id));
                }
            }
            JobOutcome::Effect(note) => println!("{}", report::safe_line(&note)),
            JobOutcome::Paced(wait) => println!(
                "deferred {} s: the GitHub write budget is spent",
                wait.as_secs()
            ),
            JobOutcome::Failed { error, gave_up } => {
                failures += 1;
                let then = if gave_up {
                    " (given up)"
                } else {
                    " (will be retried)"
                };
                println!("FAILED: {}{then}", report::safe_line(&error.to_string()));
            }
            // Only `drain` of another runner on the same store records it instead.
            JobOutcome::TakenOver => {}
        }
    }
    touched.dedup();
    (touched, failures)
}

/// Prints each touched incident and writes its drafts (and signed announcements) to the
/// dry run's folder.
async fn print_incidents(
    settings: &Settings,
    run: &DryRun<'_>,
    store: &Store,
    touched: Vec<(RepoName, GhsaId)>,
) -> anyhow::Result<()> {
    let drafts = Drafts::new()?;
    let signer = DryRunSigner::new(settings)?;
    for (repository, ghsa_id) in touched {
        for row in store.incidents_by_ghsa(&ghsa_id).await? {
            if row.incident.repository != repository {
                continue;
            }
            println!();
            let timeline = store.timeline(row.id).await?;
            print!("{}", report::incident_detail(&row.incident, &timeline));
            let timeline: Vec<_> = timeline.into_iter().map(|stored| stored.entry).collect();
            let written = write_drafts(&drafts, &row.incident, &timeline, run.out)?;
            println!("drafts written to {}", written.display());
            let config = run.repo_config;
            for file in signer.write_announcements(&drafts, &row.incident, config, &written)? {
                println!("signed announcement written to {}", file.display());
            }
        }
    }
    Ok(())
}

async fn dry_run(
    settings: &Settings,
    run: &DryRun<'_>,
    delivery_id: Option<DeliveryId>,
) -> anyhow::Result<()> {
    let (payload, event) = (run.payload, run.event);
    let body = std::fs::read(payload)
        .with_context(|| format!("cannot read the payload {}", payload.display()))?;
    let store = Store::open(&settings.database_url).await?;
    let delivery_id = match delivery_id {
        Some(id) => id,
        None => DeliveryId::parse(&format!(
            "dry-run-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ))?,
    };
    let wake = Arc::new(Notify::new());
    let (ingestor, writer) = Ingestor::start(store.clone(), wake.clone());
    let receipt = ingestor
        .receive(&delivery_id, event, &body, None)
        .await
        .with_context(|| format!("{} was refused", payload.display()))?;
    drop(ingestor);
    writer.await?;
    println!(
        "herald dry-run: {event} delivery {delivery_id} from {} into {}",
        payload.display(),
        redact_url(&settings.database_url)
    );
    match receipt {
        Receipt::Pong => println!("ping: nothing to do"),
        Receipt::Ignored => println!("{event}: herald does not handle this event; nothing stored"),
        Receipt::Duplicate => {
            println!("delivery {delivery_id} was stored before; not processed again")
        }
        Receipt::Accepted => println!("stored delivery {delivery_id} and queued it"),
    }
    let worker = Worker::new(store.clone(), wake, settings.worker.clone());
    let (touched, failures) = print_outcomes(worker.drain().await?);
    if !touched.is_empty() {
        print_incidents(settings, run, &store, touched).await?;
    }
    let waiting = store.pending_effects().await?;
    if !waiting.is_empty() {
        let mut kinds: Vec<String> = waiting
            .iter()
            .map(|job| report::safe_line(&job.kind))
            .collect();
        kinds.dedup();
        println!(
            "{} job(s) queued ({}); a dry run never contacts GitHub or anyone else, \
             `herald serve` with a GitHub App configured runs them",
            waiting.len(),
            kinds.join(", ")
        );
    }
    store.close().await;
    if failures > 0 {
        bail!("{failures} job(s) failed");
    }
    Ok(())
}

/// One line of `herald doctor`; returns whether it passed.
fn check(passed: bool, text: &str) -> bool {
    println!(
        "{} {}",
        if passed { "ok     " } else { "PROBLEM" },
        report::safe_line(text)
    );
    passed
}

/// A line of `herald doctor` about an optional part that is not set up.
fn note(text: &str) {
    println!("note    {}", report::safe_line(text));
}

async fn doctor(settings: &Settings) -> anyhow::Result<()> {
    let mut healthy = true;
    let store = match Store::open(&settings.database_url).await {
        Ok(store) => {
            healthy &= check(
                true,
                &format!(
                    "store {} opens and its schema is current",
                    redact_url(&settings.database_url)
                ),
            );
            Some(store)
        }
        Err(error) => {
            healthy &= check(false, &format!("store: {error}"));
            None
        }
    };
    healthy &= check(
        settings.webhook_secret.is_some(),
        if settings.webhook_secret.is_some() {
            "webhook secret is set"
        } else {
            "no webhook secret: set HERALD_WEBHOOK_SECRET or HERALD_WEBHOOK_SECRET_FILE"
        },
    );
    match &settings.github {
        None => {
            healthy &= check(
                false,
                "no GitHub App configured: set HERALD_GITHUB_APP_ID and \
                 HERALD_GITHUB_PRIVATE_KEY_FILE (herald runs offline without them)",
            );
        }
        Some(github_settings) => healthy &= doctor_github(github_settings).await,
    }
    if let Some(store) = store {
        if let Some(github_settings) = &settings.github {
            doctor_tracking(github_settings, &store).await;
        }
        store.close().await;
    }
    healthy &= doctor_mail(&settings.mail).await;
    if let Some(mailbox) = &settings.mailbox {
        healthy &= match crate::mailbox::imap::check(mailbox).await {
            Ok(found) => check(true, &found),
            Err(error) => check(false, &format!("mailbox {}: {error}", mailbox.name())),
        };
    }
    if let Some(upstream) = &settings.upstream {
        healthy &= match &settings.intake.repository {
            Some(repository) => check(
                true,
                &format!(
                    "{} upstream product(s) listed; their incidents' issues open in {repository} \
                     (`herald upstream check` reads their sources now)",
                    upstream.products.len()
                ),
            ),
            None => check(
                false,
                "[[upstream]] lists products but no intake_repository is set: their \
                 incidents' issues have nowhere to open",
            ),
        };
    }
    if healthy {
        println!("herald is ready");
        Ok(())
    } else {
        bail!("herald doctor found problems (above)")
    }
}

async fn doctor_github(settings: &crate::github::GitHubSettings) -> bool {
    let github = match GitHub::new(settings) {
        Ok(github) => github,
        Err(error) => return check(false, &error.to_string()),
    };
    check(
        true,
        &format!(
            "App {} private key is a valid RSA key; JWT signed",
            settings.app_id
        ),
    );
    let app = match github.app_info().await {
        Ok(app) => app,
        Err(error) => {
            return check(
                false,
                &format!(
                    "GitHub API at {} refused the App: {error}",
                    github.api_url()
                ),
            );
        }
    };
    if !check(
        app.id == settings.app_id,
        &format!(
            "GitHub API at {} knows the App: {} (id {})",
            github.api_url(),
            app.slug.as_deref().unwrap_or(&app.name),
            app.id
        ),
    ) {
        return false;
    }
    match github.installations().await {
        Ok(installations) if installations.is_empty() => check(
            false,
            "the App is not installed anywhere yet: install it on your organisation",
        ),
        Ok(installations) => {
            let accounts: Vec<String> = installations
                .iter()
                .map(|installation| {
                    format!(
                        "{} (installation {})",
                        installation
                            .account
                            .as_ref()
                            .map(|account| account.login.as_str())
                            .unwrap_or("?"),
                        installation.id
                    )
                })
                .collect();
            let installed = check(true, &format!("installed on {}", accounts.join(", ")));
            for installation in &installations {
                doctor_security_managers(&github, installation).await;
            }
            installed
        }
        Err(error) => check(false, &format!("cannot list installations: {error}")),
    }
}

/// Whether herald can tell an organisation's security managers (who may publish, as on
/// GitHub); without it, only repository admins may. A note, not a failure: the fallback
/// grants less, never more.
async fn doctor_security_managers(
    github: &GitHub,
    installation: &crate::github::api::InstallationInfo,
) {
    use crate::github::api::Lookup;
    let Some(account) = installation
        .account
        .as_ref()
        .filter(|account| account.kind.as_deref() == Some("Organization"))
    else {
        return;
    };
    let org = &account.login;
    let lookup = match github.installation(crate::store::InstallationId(installation.id)) {
        Ok(api) => api.security_manager_role(org).await,
        Err(error) => Err(error),
    };
    match lookup {
        Ok(Lookup::Found(_)) => {
            check(
                true,
                &format!("{org}'s security managers may publish, as repository admins may"),
            );
        }
        Ok(Lookup::Absent) => note(&format!(
            "{org} has no security manager role: only repository admins may publish"
        )),
        Ok(Lookup::Unknown(words)) => note(&format!(
            "herald cannot see {org}'s security managers ({words}): only repository admins may \
             publish, approve disclosure or pre-notification, or request a CVE or fork until the \
             App is granted the organisation permissions \"Custom organization roles\" and \
             \"Members\" (read), as app.yml asks"
        )),
        Err(error) => note(&format!("cannot check {org}'s security managers: {error}")),
    }
}

/// The most repositories `herald doctor` looks at (each costs a GitHub request or two).
const DOCTOR_REPOSITORIES: usize = 100;

/// Where each served repository's tracking issues go, noted when that is not a place only
/// the security team reads: the advisory's own repository (the default), whose readers
/// GitHub would not show a report to, or a repository that is not private.
async fn doctor_tracking(settings: &crate::github::GitHubSettings, store: &Store) {
    let (Ok(github), Ok(served)) = (GitHub::new(settings), store.served_repositories().await)
    else {
        return;
    };
    for (repository, installation) in served.iter().take(DOCTOR_REPOSITORIES) {
        let Ok(api) = github.installation(*installation) else {
            continue;
        };
        let loaded = match crate::channels::load_repo_config(&api, repository).await {
            Ok(loaded) => loaded,
            Err(error) => {
                note(&format!(
                    "cannot read {repository}'s configuration: {error}"
                ));
                continue;
            }
        };
        match &loaded.config.tracking.repository {
            None => note(&format!(
                "{repository}: tracking issues go into {repository} itself (no \
                 `tracking.repository`): everyone who can read it reads the embargoed reports \
                 GitHub shows only to admins and security managers. Name a private repository \
                 only the security team reads"
            )),
            Some(tracking) => match api.repository(tracking).await {
                Ok(info) if info.visibility() == "private" => {}
                Ok(info) => note(&format!(
                    "{repository}: its tracking repository {tracking} is {}: herald refuses to \
                     open tracking issues there while an incident is undisclosed",
                    info.visibility()
                )),
                Err(error) => note(&format!(
                    "{repository}: cannot see its tracking repository {tracking}: {error}"
                )),
            },
        }
    }
    if served.len() > DOCTOR_REPOSITORIES {
        note(&format!(
            "{} more served repositories were not checked",
            served.len() - DOCTOR_REPOSITORIES
        ));
    }
}

async fn doctor_mail(settings: &crate::mail::MailSettings) -> bool {
    let mut healthy = match load_signing_key(settings) {
        Ok(Some(key)) => check(
            true,
            &format!(
                "signing key {} can sign (expires {})",
                key.fingerprint(),
                key.expires_at()
                    .map(|at| at.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| "never".to_owned())
            ),
        ),
        Ok(None) if settings.smtp_url.is_none() => {
            note("no signing key configured (HERALD_SIGNING_KEY_FILE)");
            true
        }
        Ok(None) => check(
            false,
            "no signing key configured (HERALD_SIGNING_KEY_FILE): announcements cannot be signed",
        ),
        Err(error) => check(false, &error.to_string()),
    };
    if settings.smtp_url.is_none() {
        note("no SMTP server configured (HERALD_SMTP_URL): announcements are not mailed");
        return healthy;
    }
    match crate::mail::announcer(settings) {
        Ok(Some(announcer)) => match announcer.mailer.check().await {
            Ok(()) => {
                healthy &= check(
                    true,
                    &format!("SMTP server {} answers", announcer.mailer.server()),
                )
            }
            Err(error) => healthy &= check(false, &error.to_string()),
        },
        Ok(None) => {}
        Err(error) => healthy &= check(false, &error.to_string()),
    }
    healthy
}

/// Every draft of `incident` with the shipped templates and default configuration, as
/// (file name, text).
fn render_drafts(
    drafts: &Drafts,
    incident: &Incident,
    timeline: &[crate::incident::TimelineEntry],
) -> anyhow::Result<Vec<(String, String)>> {
    let config = RepoConfig::default();
    let rendered = render_all(drafts, &DraftView::new(incident, timeline, None));
    if let Some(error) = rendered.errors.first() {
        bail!("{error}");
    }
    let tracking = tracking_issue(
        drafts,
        incident,
        &crate::drafts::TrackingRecord {
            timeline,
            published: &[],
        },
        &config.labels,
        &config.sla.policy(),
        None,
    )?;
    let mut files = vec![(
        "tracking-issue.md".to_owned(),
        format!(
            "<!-- title: {} -->\n<!-- labels: {} -->\n{}",
            tracking.title.replace("--", "- -"),
            tracking.labels.join(", "),
            tracking.body
        ),
    )];
    files.extend(
        rendered
            .drafts
            .into_iter()
            .chain(crate::drafts::osv::osv_draft(incident))
            .map(|draft| (draft.name.to_owned(), draft.text)),
    );
    Ok(files)
}

/// Writes every draft of `incident` under `out/<GHSA id>/`.
fn write_drafts(
    drafts: &Drafts,
    incident: &Incident,
    timeline: &[crate::incident::TimelineEntry],
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let dir = out.join(crate::drafts::escape::file_name(&incident.ghsa_id));
    // Readable by its owner alone: the drafts of an undisclosed advisory.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in render_drafts(drafts, incident, timeline)? {
        let path = dir.join(crate::drafts::escape::file_name(&name));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir)
}

/// `herald export osv`: the advisory as herald would commit it now.
async fn export_osv(
    settings: &Settings,
    ghsa_id: &GhsaId,
    repo: Option<&RepoName>,
) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let row = pick_incident(&store, ghsa_id, repo).await;
    store.close().await;
    print!("{}", crate::drafts::osv::osv_json(&row?.incident)?);
    Ok(())
}

/// `herald drafts`: the drafts last shown for review, else rendered now.
async fn print_drafts(
    settings: &Settings,
    ghsa_id: &GhsaId,
    repo: Option<&RepoName>,
    json: bool,
) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let row = pick_incident(&store, ghsa_id, repo).await?;
    let mut files = store.drafts(row.id).await?;
    let source = if files.is_empty() {
        let timeline = store.timeline_entries(row.id).await?;
        files = render_drafts(&Drafts::new()?, &row.incident, &timeline)?;
        "rendered"
    } else {
        "review"
    };
    if json {
        let drafts: Vec<_> = files
            .iter()
            .map(|(name, text)| serde_json::json!({ "name": name, "text": text }))
            .collect();
        let printed = serde_json::json!({
            "ghsa_id": row.incident.ghsa_id,
            "repository": row.incident.repository,
            "source": source,
            "drafts": drafts,
        });
        println!("{}", to_json_pretty(&printed)?);
    } else {
        for (name, text) in files {
            // Drafts carry advisory text: no control character reaches the terminal raw.
            println!(
                "==> {} <==\n{}\n",
                report::safe_line(&name),
                report::safe_text(&text)
            );
        }
    }
    store.close().await;
    Ok(())
}

/// The one incident with this GHSA id (in `repo`, when given).
async fn pick_incident(
    store: &Store,
    ghsa_id: &GhsaId,
    repo: Option<&RepoName>,
) -> anyhow::Result<crate::store::IncidentRow> {
    let mut rows = store.incidents_by_ghsa(ghsa_id).await?;
    if let Some(repo) = repo {
        rows.retain(|row| row.incident.repository == *repo);
    }
    match rows.len() {
        0 => bail!("no incident {ghsa_id}"),
        1 => Ok(rows.remove(0)),
        _ => bail!(
            "{ghsa_id} is tracked in several repositories ({}); name one with --repo",
            rows.iter()
                .map(|row| report::safe_line(&row.incident.repository))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `herald incidents show`: the incident, its timeline, its tracking issue and the jobs
/// herald gave up on.
async fn show_incident(
    store: &Store,
    row: crate::store::IncidentRow,
    json: bool,
) -> anyhow::Result<()> {
    let timeline = store.timeline(row.id).await?;
    let tracking = store.tracking_link(row.id).await?;
    let failed = store.failed_jobs(row.id).await?;
    if json {
        let entries: Vec<_> = timeline.iter().map(|stored| &stored.entry).collect();
        let failed: Vec<_> = failed.iter().map(report::failed_job_json).collect();
        let shown = serde_json::json!({
            "incident": row.incident,
            "tracking_issue": tracking.as_ref().map(report::tracking_json),
            "timeline": entries,
            "failed_jobs": failed,
        });
        println!("{}", to_json_pretty(&shown)?);
    } else {
        print!("{}", report::incident_detail(&row.incident, &timeline));
        print!("{}", report::failed_jobs(&failed));
        println!("{}", report::tracking_line(tracking.as_ref()));
    }
    Ok(())
}

async fn incidents(settings: &Settings, command: IncidentsCommand) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    match command {
        IncidentsCommand::List {
            limit,
            page,
            phase,
            severity,
            repo,
            json,
        } => {
            let filter = IncidentFilter {
                limit,
                page,
                phase,
                severity,
                repository: repo,
            };
            let (rows, total) = store.list_incidents(&filter).await?;
            if json {
                let incidents: Vec<_> = rows.iter().map(|row| &row.incident).collect();
                println!("{}", to_json_pretty(&incidents)?);
            } else {
                if !rows.is_empty() {
                    print!("{}", report::incident_table(&rows));
                }
                // Says which of how many, or why there are none.
                print!("{}", report::page_footer(&filter, rows.len(), total));
            }
        }
        IncidentsCommand::Show {
            ghsa_id,
            repo,
            json,
        } => {
            let row = pick_incident(&store, &ghsa_id, repo.as_ref()).await?;
            show_incident(&store, row, json).await?;
        }
        IncidentsCommand::Retry { ghsa_id, repo } => {
            let row = pick_incident(&store, &ghsa_id, repo.as_ref()).await?;
            let mut work = store.begin_durable().await?;
            let retried = work.retry_failed_jobs(row.id).await?;
            work.commit().await?;
            println!(
                "{retried} failed job(s) of {} queued again; a running `herald serve` runs them",
                report::safe_line(&row.incident.ghsa_id)
            );
        }
        IncidentsCommand::Announce { ghsa_id, repo } => {
            let row = pick_incident(&store, &ghsa_id, repo.as_ref()).await?;
            if !row.incident.published_on_github() {
                bail!(
                    "{} is not published on GitHub (its state is {}); nothing is announced \
                     before GitHub publishes it",
                    report::safe_line(&row.incident.ghsa_id),
                    row.incident.advisory_state
                );
            }
            let mut incident = row.incident;
            incident.decisions.history_reannounce = true;
            save_decision(
                &store,
                &incident,
                "announcement requested with `herald incidents announce`",
            )
            .await?;
            println!(
                "{} queued for every configured public channel; a running `herald serve` publishes it",
                report::safe_line(&incident.ghsa_id)
            );
        }
    }
    store.close().await;
    Ok(())
}

/// Saves a maintainer's decision taken on the command line, with a timeline entry, and
/// queues what follows from it.
async fn save_decision(store: &Store, incident: &Incident, detail: &str) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let mut work = store.begin_durable().await?;
    let entry = TimelineEntry {
        at: now,
        actor: None,
        kind: TimelineKind::Command,
        detail: detail.to_owned(),
    };
    crate::pipeline::save_incident(
        &mut work,
        incident,
        &[entry],
        None,
        (now, crate::store::Priority::Urgent),
    )
    .await?;
    work.commit().await?;
    Ok(())
}

/// `herald store copy --to URL`.
async fn copy_store(settings: &Settings, to: &str) -> anyhow::Result<()> {
    let source = Store::open(&settings.database_url)
        .await
        .with_context(|| format!("store {}", redact_url(&settings.database_url)))?;
    let target = Store::open(to)
        .await
        .with_context(|| format!("target {}", redact_url(to)))?;
    let copied = source.copy_to(&target).await?;
    for (table, rows) in &copied.0 {
        println!("{table:<18} {rows} row(s)");
    }
    println!(
        "copied {} into {}; point HERALD_DATABASE_URL at it",
        redact_url(&settings.database_url),
        redact_url(to)
    );
    source.close().await;
    target.close().await;
    Ok(())
}

/// A phase by its name, for `--phase`.
fn phase_named(name: &str) -> Result<Phase, String> {
    one_named(name, &Phase::ALL, Phase::as_str)
}

/// A job kind by its name, for `--kind`.
fn job_kind_named(name: &str) -> Result<JobKind, String> {
    one_named(name, JobKind::ALL, JobKind::as_str)
}

/// A severity by its name, for `--severity`.
fn severity_named(name: &str) -> Result<Severity, String> {
    one_named(name, &Severity::ALL, Severity::as_str)
}

/// The one of `all` whose `word` is `name`, else which names there are.
fn one_named<T: Copy>(name: &str, all: &[T], word: fn(T) -> &'static str) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|candidate| word(*candidate) == name)
        .ok_or_else(|| {
            let words: Vec<&str> = all.iter().map(|candidate| word(*candidate)).collect();
            format!("`{name}` is none of {}", words.join(", "))
        })
}

/// `herald jobs`.
async fn jobs(settings: &Settings, command: JobsCommand) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let now = chrono::Utc::now();
    match command {
        JobsCommand::List {
            failed,
            due,
            kind,
            limit,
            json,
        } => {
            let filter = JobFilter {
                failed,
                due,
                kind: kind.map(JobKind::as_str),
                limit,
            };
            let jobs = store.jobs(&filter, now).await?;
            if json {
                println!("{}", to_json_pretty(&jobs)?);
            } else if jobs.is_empty() {
                println!("no such jobs");
            } else {
                print!("{}", report::job_table(&jobs, now));
            }
            // SQLite: deliveries whose jobs the worker has not queued yet are no rows.
            let unqueued = store.unqueued_deliveries().await?.count;
            if !json && !failed && unqueued > 0 {
                println!(
                    "and {unqueued} stored deliveries whose processing jobs the worker has yet to queue"
                );
            }
        }
        JobsCommand::Show { id, json } => {
            let job = store.job(id).await?.ok_or(JobControlError::NoSuchJob(id))?;
            if json {
                println!("{}", to_json_pretty(&job)?);
            } else {
                print!("{}", report::job_detail(&job));
            }
        }
        JobsCommand::Retry { id } => {
            let job = control_job(&store, id, JobControl::Retry, now).await?;
            println!(
                "job {id} ({}) queued again; a running `herald serve` runs it",
                report::safe_line(&job.kind)
            );
        }
        JobsCommand::Cancel { id } => {
            let job = control_job(&store, id, JobControl::Cancel, now).await?;
            println!("job {id} ({}) cancelled", report::safe_line(&job.kind));
        }
    }
    store.close().await;
    Ok(())
}

/// `herald deliveries`.
async fn deliveries(settings: &Settings, command: DeliveriesCommand) -> anyhow::Result<()> {
    let github_settings = settings.github.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "no GitHub App configured (HERALD_GITHUB_APP_ID and its private key): GitHub's \
             deliveries are read with the App's key"
        )
    })?;
    let store = Store::open(&settings.database_url).await?;
    let github = Arc::new(GitHub::new(github_settings)?);
    let redeliverer = Redeliverer::new(store.clone(), github, settings.replica_id.clone());
    let done: anyhow::Result<()> = async {
        match command {
            DeliveriesCommand::List { failed, json } => {
                let mut listed = redeliverer.recent().await?;
                if failed {
                    listed.retain(ListedDelivery::missing);
                }
                if json {
                    println!("{}", to_json_pretty(&listed)?);
                } else if listed.is_empty() {
                    println!("no such deliveries");
                } else {
                    print!("{}", report::delivery_table(&listed));
                }
            }
            DeliveriesCommand::Resync { json } => {
                let scanned = tokio::select! {
                    scanned = redeliverer.scan() => scanned?,
                    _ = tokio::signal::ctrl_c() => {
                        // What was asked for is recorded; the next scan goes on at once.
                        redeliverer.release().await?;
                        bail!("interrupted: the scan stopped and its claim was released");
                    }
                };
                if json {
                    println!("{}", to_json_pretty(&scanned)?);
                } else {
                    print!("{}", report::scan_report(&scanned));
                }
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    done
}

/// Retries or cancels a job, and records that on its incident's timeline.
async fn control_job(
    store: &Store,
    id: i64,
    control: JobControl,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<JobRecord> {
    let mut work = store.begin_durable().await?;
    let job = work.control_job(id, control, now).await?;
    if let Some(incident) = job.incident_id {
        let (command, done) = match control {
            JobControl::Retry => ("retry", "queued again"),
            JobControl::Cancel => ("cancel", "cancelled"),
        };
        let entry = TimelineEntry {
            at: now,
            actor: None,
            kind: TimelineKind::Command,
            detail: format!(
                "job {id} ({}) {done} with `herald jobs {command}`",
                job.kind
            ),
        };
        work.append_timeline(incident, &[entry], None)?;
    }
    work.commit().await?;
    Ok(job)
}

/// `herald import`: history incidents get their tracking issues.
async fn import(settings: &Settings, repo: Option<&RepoName>) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let mut imported = 0;
    for row in store.all_incidents().await? {
        let mut incident = row.incident;
        let wanted = repo.is_none_or(|repo| incident.repository == *repo);
        if !wanted || !incident.history || incident.decisions.history_imported {
            continue;
        }
        incident.decisions.history_imported = true;
        save_decision(
            &store,
            &incident,
            "imported with `herald import`: tracking issue requested",
        )
        .await?;
        println!(
            "{}  {}",
            report::safe_line(&incident.ghsa_id),
            report::safe_line(&incident.repository)
        );
        imported += 1;
    }
    println!(
        "{imported} advisory(ies) imported; a running `herald serve` opens their tracking issues"
    );
    store.close().await;
    Ok(())
}

/// How `herald dry-run` signs the announcements it writes: with the configured key, or a
/// throwaway key made for the run (and said so).
struct DryRunSigner {
    author: Author,
}

/// The list a dry run addresses when the repository configuration names none.
const PLACEHOLDER_LIST: &str = "announce@example.invalid";

impl DryRunSigner {
    fn new(settings: &Settings) -> anyhow::Result<DryRunSigner> {
        let key = match load_signing_key(&settings.mail)? {
            Some(key) => key,
            None => {
                let (key, _) = SigningKey::generate("herald dry run <dry-run@example.invalid>")?;
                println!(
                    "no signing key configured (HERALD_SIGNING_KEY_FILE): announcements are \
                     signed with a throwaway key generated for this run, {}",
                    key.fingerprint()
                );
                key
            }
        };
        let from = settings
            .mail
            .from
            .as_deref()
            .unwrap_or("herald dry run <security@example.invalid>");
        let sender = Sender::parse(from, settings.mail.reply_to.as_deref())?;
        Ok(DryRunSigner {
            author: Author { sender, key },
        })
    }

    /// One signed `.eml` per configured list (or the placeholder list) in `dir`.
    fn write_announcements(
        &self,
        drafts: &Drafts,
        incident: &Incident,
        config: &RepoConfig,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let placeholder = [MailingList {
            address: PLACEHOLDER_LIST.to_owned(),
            name: None,
            signing: SigningMode::default(),
            attach_cleartext: false,
        }];
        let lists = if config.mailing_lists.is_empty() {
            &placeholder[..]
        } else {
            &config.mailing_lists[..]
        };
        let rendered = render_all(drafts, &DraftView::new(incident, &[], None));
        let (Some(subject), Some(body)) = (
            rendered.get(ANNOUNCEMENT_SUBJECT),
            rendered.get(ANNOUNCEMENT),
        ) else {
            bail!("the announcement templates did not render");
        };
        let mut written = Vec::new();
        for list in lists {
            let (_, message) =
                self.author
                    .message(&incident.ghsa_id, list, (subject, body), "v1", None)?;
            let path = dir.join(format!(
                "announcement.{}.eml",
                crate::drafts::escape::file_name(&list.address)
            ));
            std::fs::write(&path, message.formatted())
                .with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { uid, out } => {
            let (key, secret) = SigningKey::generate(&uid)?;
            write_new_secret_file(&out, &secret)?;
            println!(
                "generated signing key {}\nsecret key written to {} (keep it safe; point \
                 HERALD_SIGNING_KEY_FILE at it)\nexpires: {}\n\npublish this public key so \
                 that subscribers can verify announcements:\n",
                key.fingerprint(),
                out.display(),
                key.expires_at()
                    .map(|at| at.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| "never".to_owned()),
            );
            print!("{}", key.public_key()?);
        }
        KeysCommand::Show { public } => {
            let Some(key) = load_signing_key(&settings.mail)? else {
                bail!(
                    "no signing key configured: set HERALD_SIGNING_KEY_FILE (`herald keys \
                     generate` makes one)"
                );
            };
            println!("fingerprint: {}", key.fingerprint());
            for user_id in key.user_ids() {
                println!("user id:     {}", report::safe_line(&user_id));
            }
            println!(
                "expires:     {}",
                key.expires_at()
                    .map(crate::incident::utc_minute)
                    .unwrap_or_else(|| "never".to_owned())
            );
            if public {
                print!("\n{}", key.public_key()?);
            }
        }
    }
    Ok(())
}

/// Writes a secret to a file that must not exist yet, readable by its owner only.
fn write_new_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create {} (an existing key is never overwritten)",
            path.display()
        )
    })?;
    file.write_all(secret.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("GET /app/hook/deliveries: {0}")]
    struct Request(#[source] Client);

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Client(#[source] std::io::Error);

    #[test]
    fn an_error_says_each_cause_once() {
        let error =
            anyhow::Error::new(Request(Client(std::io::Error::other("connection refused"))))
                .context("listing the deliveries");
        assert_eq!(
            super::error_text(&error),
            "listing the deliveries: GET /app/hook/deliveries: client error (Connect): \
             connection refused"
        );
    }
}
