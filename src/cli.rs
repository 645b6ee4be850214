//! The `herald` command line.

use crate::config::{LogFormat, Settings};
use crate::ingest::{Ingestor, Receipt};
use crate::outbox::{JobOutcome, Worker};
use crate::report;
use crate::server::Server;
use crate::store::Store;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
        delivery_id: Option<String>,
    },
    /// Show the incidents in the store.
    Incidents {
        #[command(subcommand)]
        command: IncidentsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// A table of all incidents, most recently changed first.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One incident with its timeline.
    Show {
        /// The advisory's GHSA id.
        ghsa_id: String,
        /// The repository (owner/name), when two repositories share the GHSA id.
        #[arg(long)]
        repo: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn init_tracing(settings: &Settings, json: bool, default_filter: &str) -> anyhow::Result<()> {
    let directives = settings.log_filter.as_deref().unwrap_or(default_filter);
    let filter = tracing_subscriber::EnvFilter::try_new(directives)
        .with_context(|| format!("HERALD_LOG: invalid log filter {directives:?}"))?;
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), &|name| std::env::var(name).ok())?;
    match cli.command {
        Command::Serve => {
            init_tracing(&settings, cli.log_json, "info")?;
            serve(&settings).await
        }
        Command::DryRun {
            payload,
            event,
            delivery_id,
        } => {
            init_tracing(&settings, cli.log_json, "warn")?;
            dry_run(&settings, &payload, &event, delivery_id).await
        }
        Command::Incidents { command } => {
            init_tracing(&settings, cli.log_json, "warn")?;
            incidents(&settings, command).await
        }
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let server = Server::start(settings).await?;
    shutdown_signal().await;
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

async fn dry_run(
    settings: &Settings,
    payload: &std::path::Path,
    event: &str,
    delivery_id: Option<String>,
) -> anyhow::Result<()> {
    let body = std::fs::read(payload)
        .with_context(|| format!("cannot read the payload {}", payload.display()))?;
    let store = Store::open(&settings.database_url).await?;
    let delivery_id = delivery_id.unwrap_or_else(|| {
        format!(
            "dry-run-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        )
    });
    let wake = Arc::new(Notify::new());
    let (ingestor, writer) = Ingestor::start(store.clone(), wake.clone());
    let receipt = ingestor
        .receive(&delivery_id, event, &body)
        .await
        .with_context(|| format!("{} was refused", payload.display()))?;
    drop(ingestor);
    writer.await?;
    println!(
        "herald dry-run: {event} delivery {delivery_id} from {} into {}",
        payload.display(),
        crate::config::redact_url(&settings.database_url)
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
    let mut failures = 0;
    let mut touched = Vec::new();
    for outcome in worker.drain().await? {
        match outcome {
            JobOutcome::Done(processed) => {
                print!("{}", report::processed_summary(&processed));
                if let Some(change) = processed.incident {
                    touched.push((change.repository, change.ghsa_id));
                }
            }
            JobOutcome::Failed { error, gave_up } => {
                failures += 1;
                println!(
                    "FAILED: {}{}",
                    report::safe_line(&error),
                    if gave_up {
                        " (given up)"
                    } else {
                        " (will be retried)"
                    }
                );
            }
        }
    }
    touched.dedup();
    for (repository, ghsa_id) in touched {
        for row in store.incidents_by_ghsa(&ghsa_id).await? {
            if row.incident.repository == repository {
                println!();
                print!(
                    "{}",
                    report::incident_detail(&row.incident, &store.timeline(row.id).await?)
                );
            }
        }
    }
    store.close().await;
    if failures > 0 {
        bail!("{failures} job(s) failed");
    }
    Ok(())
}

async fn incidents(settings: &Settings, command: IncidentsCommand) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    match command {
        IncidentsCommand::List { json } => {
            let rows = store.list_incidents().await?;
            if json {
                let incidents: Vec<_> = rows.iter().map(|row| &row.incident).collect();
                println!("{}", serde_json::to_string_pretty(&incidents)?);
            } else {
                print!("{}", report::incident_table(&rows));
            }
        }
        IncidentsCommand::Show {
            ghsa_id,
            repo,
            json,
        } => {
            let mut rows = store.incidents_by_ghsa(&ghsa_id).await?;
            if let Some(repo) = &repo {
                rows.retain(|row| &row.incident.repository == repo);
            }
            let row = match rows.len() {
                0 => bail!("no incident {}", report::safe_line(&ghsa_id)),
                1 => rows.remove(0),
                _ => bail!(
                    "{} is tracked in several repositories ({}); name one with --repo",
                    report::safe_line(&ghsa_id),
                    rows.iter()
                        .map(|row| report::safe_line(&row.incident.repository))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let timeline = store.timeline(row.id).await?;
            if json {
                let entries: Vec<_> = timeline.iter().map(|stored| &stored.entry).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "incident": row.incident,
                        "timeline": entries,
                    }))?
                );
            } else {
                print!("{}", report::incident_detail(&row.incident, &timeline));
            }
        }
    }
    store.close().await;
    Ok(())
}
