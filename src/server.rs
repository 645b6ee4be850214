//! `herald serve`: the store, the ingest writer, the outbox worker and the HTTP server,
//! started and stopped together.

use crate::channels::Channels;
use crate::config::Settings;
use crate::drafts::Drafts;
use crate::github::GitHub;
use crate::ingest::Ingestor;
use crate::metrics::Metrics;
use crate::outbox::{EffectRunner, Idle, Worker};
use crate::poller::Poller;
use crate::redact::redact_url;
use crate::redelivery::Redeliverer;
use crate::store::Store;
use crate::webhook::{AppState, metrics_router, router};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub struct Server {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when not on `addr` (`metrics_listen`).
    pub metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    metrics_http: Option<JoinHandle<std::io::Result<()>>>,
    writer: JoinHandle<()>,
    worker: Option<JoinHandle<()>>,
    effects: Option<JoinHandle<()>>,
    poller: Option<JoinHandle<()>>,
    redelivery: Option<JoinHandle<()>>,
    /// The reader of the security team's mailbox, when one is configured.
    mailbox: Option<JoinHandle<()>>,
    /// The reader of the upstreams' announcements, when `[[upstream]]` lists any.
    upstream: Option<JoinHandle<()>>,
    store: Store,
    idle: Idle,
    /// Turned true when the process starts stopping: `/readyz` says 503 from then on.
    draining: watch::Sender<bool>,
}

/// A reader of what comes from outside GitHub, when one is configured.
type Reader = Option<JoinHandle<()>>;

/// What the worker and the effect runner are started with.
struct Tasks<'a> {
    settings: &'a Settings,
    store: &'a Store,
    metrics: &'a Arc<Metrics>,
    idle: &'a Idle,
    worker_wake: &'a Arc<Notify>,
    effects_wake: Arc<Notify>,
    app_bot: &'a Arc<std::sync::OnceLock<String>>,
    shutdown: &'a watch::Receiver<bool>,
}

impl Tasks<'_> {
    /// The readers of what comes from outside GitHub: the security team's mailbox and the
    /// upstreams' announcements, each when configured.
    fn readers(&self) -> anyhow::Result<(Reader, Reader)> {
        let around = (self.store, self.metrics);
        Ok((
            read_mailbox(self.settings, around, &self.effects_wake, self.shutdown),
            read_upstream(self.settings, around, &self.effects_wake, self.shutdown)?,
        ))
    }

    fn worker(&self, ingestor: &Ingestor) -> JoinHandle<()> {
        let worker = Worker::new(
            self.store.clone(),
            self.worker_wake.clone(),
            self.settings.worker.clone(),
        )
        .giving_way_to(ingestor.load())
        .waking(self.effects_wake.clone())
        .reporting_idle(self.idle.clone())
        .counting_in(self.metrics.clone())
        .recognising(self.app_bot.clone());
        tokio::spawn(worker.run(self.shutdown.clone()))
    }

    /// The effect runner, where there is a GitHub App to act as and the worker runs.
    fn effects(
        self,
        github: Option<&Arc<GitHub>>,
        drafts: Drafts,
        mail: Option<crate::mail::Announcer>,
    ) -> anyhow::Result<Option<JoinHandle<()>>> {
        let settings = self.settings;
        let github = match (github, settings.worker_enabled) {
            (Some(github), true) => github,
            (None, _) => {
                tracing::warn!(
                    "no GitHub App configured (HERALD_GITHUB_APP_ID): GitHub work stays queued"
                );
                return Ok(None);
            }
            (Some(_), false) => return Ok(None),
        };
        let channels = Arc::new(Channels {
            store: self.store.clone(),
            github: github.clone(),
            drafts,
            mail,
            forum: crate::channels::forum::Discourse::new()?,
            counterparts: settings.channels.counterparts.clone(),
            chat: chat(settings)?,
            intake: settings.intake.clone(),
            intake_key: crate::config::load_decryption_key(&settings.intake)?,
            worker_wake: self.worker_wake.clone(),
            app_bot: self.app_bot.clone(),
        });
        let runner = EffectRunner::new(
            self.store.clone(),
            channels,
            self.effects_wake,
            settings.worker.clone(),
            settings.replica_id.clone(),
        )
        .reporting_idle(self.idle.clone())
        .counting_in(self.metrics.clone());
        Ok(Some(tokio::spawn(runner.run(self.shutdown.clone()))))
    }
}

/// What `serve` opens before it listens; each refuses a bad setting before any delivery
/// is taken.
struct Opened {
    secret: secrecy::SecretString,
    github: Option<Arc<GitHub>>,
    mail: Option<crate::mail::Announcer>,
    drafts: Drafts,
    store: Store,
    metrics: Arc<Metrics>,
}

impl Opened {
    async fn open(settings: &Settings) -> anyhow::Result<Opened> {
        let secret = settings
            .webhook_secret
            .clone()
            .ok_or(crate::config::ConfigError::MissingWebhookSecret)?;
        // A bad App key stops herald here, before it takes any delivery.
        let github = settings.github.as_ref().map(GitHub::new).transpose()?;
        // So does a bad signing key or a half-configured mail setup.
        let mail = crate::mail::announcer(&settings.mail)?;
        if mail.is_none() {
            tracing::warn!(
                "no SMTP server configured (HERALD_SMTP_URL): announcements are not mailed"
            );
        }
        let drafts = Drafts::new()?;
        let store = Store::open_pooled(&settings.database_url, settings.database_max_connections)
            .await
            .with_context(|| format!("store {}", redact_url(&settings.database_url)))?;
        let metrics = Arc::new(Metrics::new());
        let github = github.map(|github| {
            Arc::new(
                github
                    .sharing_write_slots(store.clone())
                    .counting_in(metrics.clone()),
            )
        });
        Ok(Opened {
            secret,
            github,
            mail,
            drafts,
            store,
            metrics,
        })
    }
}

/// The webhook listener and, where configured, the metrics one.
async fn listen(
    settings: &Settings,
) -> anyhow::Result<(tokio::net::TcpListener, Option<tokio::net::TcpListener>)> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let metrics = match settings.metrics_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (metrics_listen)"))?,
        ),
        None => None,
    };
    Ok((listener, metrics))
}

/// The team's chat, where its webhook is configured.
fn chat(settings: &Settings) -> anyhow::Result<Option<crate::channels::ChatWebhook>> {
    let url = settings.channels.chat_webhook_url.clone();
    Ok(url.map(crate::channels::ChatWebhook::new).transpose()?)
}

/// What the loops that read GitHub on their own share: the poller of advisory lists and
/// the redelivery of failed deliveries.
struct GitHubLoops<'a> {
    store: &'a Store,
    github: &'a Arc<GitHub>,
    ingestor: &'a Ingestor,
    metrics: &'a Arc<Metrics>,
    replica: &'a str,
}

impl GitHubLoops<'_> {
    fn spawn(
        self,
        settings: &crate::github::GitHubSettings,
        shutdown: &watch::Receiver<bool>,
    ) -> (JoinHandle<()>, JoinHandle<()>) {
        let poller = Poller::new(
            self.store.clone(),
            self.github.clone(),
            self.ingestor.clone(),
            settings.poll_interval,
            self.replica.to_owned(),
        );
        let redeliverer = Redeliverer::new(
            self.store.clone(),
            self.github.clone(),
            self.replica.to_owned(),
        )
        .counting_in(self.metrics.clone());
        (
            tokio::spawn(poller.run(shutdown.clone())),
            tokio::spawn(redeliverer.run(
                settings.redelivery_interval,
                self.ingestor.health().recovered(),
                shutdown.clone(),
            )),
        )
    }
}

impl Server {
    /// Opens the store (queued jobs of an earlier run are simply still queued), binds the
    /// address, then starts the writer, the worker and the HTTP server.
    pub async fn start(settings: &Settings) -> anyhow::Result<Server> {
        let Opened {
            secret,
            github,
            mail,
            drafts,
            store,
            metrics,
        } = Opened::open(settings).await?;
        let (listener, metrics_listener) = listen(settings).await?;
        let addr = listener.local_addr()?;
        let metrics_addr = metrics_listener
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()?;
        let wake = Arc::new(Notify::new());
        let (ingestor, writer) = Ingestor::start(store.clone(), wake.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let effects_wake = Arc::new(Notify::new());
        let idle = Idle::new();
        let app_bot = Arc::new(std::sync::OnceLock::new());
        if let Some(github) = &github {
            tokio::spawn(learn_app_bot(github.clone(), app_bot.clone()));
        }
        let tasks = Tasks {
            settings,
            store: &store,
            metrics: &metrics,
            idle: &idle,
            worker_wake: &wake,
            effects_wake,
            app_bot: &app_bot,
            shutdown: &shutdown_rx,
        };
        let (mailbox, upstream) = tasks.readers()?;
        let worker = settings.worker_enabled.then(|| tasks.worker(&ingestor));
        let effects = tasks.effects(github.as_ref(), drafts, mail)?;
        let (poller, redelivery) = github
            .as_ref()
            .zip(settings.github.as_ref())
            .map(|(github, github_settings)| {
                let loops = GitHubLoops {
                    store: &store,
                    github,
                    ingestor: &ingestor,
                    metrics: &metrics,
                    replica: &settings.replica_id,
                };
                loops.spawn(github_settings, &shutdown_rx)
            })
            .unzip();
        let (draining, draining_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            secret,
            ingestor,
            store: store.clone(),
            bodies: crate::webhook::body::BodyBudget::new(settings.max_body_bytes),
            metrics,
            draining: draining_rx,
        });
        let app = router(state.clone(), metrics_listener.is_some());
        let metrics_http = metrics_listener
            .map(|listener| serve_until(listener, metrics_router(state), shutdown_rx.clone()));
        let http = serve_until(listener, app, shutdown_rx);
        tracing::info!(
            %addr,
            store = %redact_url(&settings.database_url),
            worker = settings.worker_enabled,
            replica = %settings.replica_id,
            github = github.as_ref().map(|github| github.api_url()),
            "herald is listening"
        );
        Ok(Server {
            addr,
            metrics_addr,
            shutdown,
            http,
            metrics_http,
            writer,
            worker,
            effects,
            poller,
            redelivery,
            mailbox,
            upstream,
            store,
            idle,
            draining,
        })
    }

    /// Starts stopping: `/readyz` answers 503 from now on, so a load balancer sends new
    /// deliveries elsewhere, while this process still answers those that come.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    /// Each moment the worker or the effect runner finds nothing due.
    pub fn idle(&self) -> watch::Receiver<u64> {
        self.idle.subscribe()
    }

    /// Which background task has ended while herald runs (a panic, say): `None` while
    /// all run.
    pub fn ended_task(&self) -> Option<&'static str> {
        let tasks = [
            ("HTTP server", Some(self.http.is_finished())),
            (
                "metrics server",
                self.metrics_http.as_ref().map(JoinHandle::is_finished),
            ),
            ("ingest writer", Some(self.writer.is_finished())),
            (
                "outbox worker",
                self.worker.as_ref().map(JoinHandle::is_finished),
            ),
            (
                "effect runner",
                self.effects.as_ref().map(JoinHandle::is_finished),
            ),
            (
                "advisory poller",
                self.poller.as_ref().map(JoinHandle::is_finished),
            ),
            (
                "redelivery scans",
                self.redelivery.as_ref().map(JoinHandle::is_finished),
            ),
            (
                "mailbox reader",
                self.mailbox.as_ref().map(JoinHandle::is_finished),
            ),
            (
                "upstream reader",
                self.upstream.as_ref().map(JoinHandle::is_finished),
            ),
        ];
        tasks
            .into_iter()
            .find(|(_, ended)| *ended == Some(true))
            .map(|(name, _)| name)
    }

    /// Stops taking deliveries, lets the in-flight ones commit, stops the worker and the
    /// effect runner, and releases the job leases and poll claims this process holds, so
    /// another replica takes them at once.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.drain();
        let _ = self.shutdown.send(true);
        // The HTTP server, the poller and the redelivery scans own the ingestor: once all
        // are down, the writer drains and ends.
        if let Some(poller) = self.poller {
            poller.await?;
        }
        if let Some(redelivery) = self.redelivery {
            redelivery.await?;
        }
        if let Some(mailbox) = self.mailbox {
            mailbox.await?;
        }
        if let Some(upstream) = self.upstream {
            upstream.await?;
        }
        self.http.await??;
        if let Some(metrics_http) = self.metrics_http {
            metrics_http.await??;
        }
        self.writer.await?;
        if let Some(worker) = self.worker {
            worker.await?;
        }
        if let Some(effects) = self.effects {
            effects.await?;
        }
        self.store.close().await;
        tracing::info!("herald stopped");
        Ok(())
    }
}

/// Reads the security team's mailbox until `shutdown`, when one is configured; a message
/// taken wakes the effect runner (`wake`) for its jobs.
fn read_mailbox(
    settings: &Settings,
    (store, metrics): (&Store, &Arc<Metrics>),
    wake: &Arc<Notify>,
    shutdown: &watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let imap = settings.mailbox.clone()?;
    let reader = crate::mailbox::MailboxReader::new(
        store.clone(),
        imap,
        (
            settings.intake.max_message_bytes,
            crate::mailbox::known(
                settings.mail.from.as_deref(),
                &settings.intake.own_lists,
                settings.upstream.as_ref(),
            ),
        ),
        wake.clone(),
    )
    .counting_in(metrics.clone());
    Some(tokio::spawn(reader.run(shutdown.clone())))
}

/// Reads the upstreams' announcements until `shutdown`, when `[[upstream]]` lists any; an
/// incident opened or joined wakes the effect runner (`wake`) for its issue's job.
fn read_upstream(
    settings: &Settings,
    (store, metrics): (&Store, &Arc<Metrics>),
    wake: &Arc<Notify>,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(upstream) = settings.upstream.clone() else {
        return Ok(None);
    };
    let reader = crate::feeds::UpstreamReader::new(store.clone(), upstream)?
        .running_with(metrics.clone(), wake.clone());
    Ok(Some(tokio::spawn(reader.run(shutdown.clone()))))
}

/// Serves `app` on `listener` until `shutdown` turns true.
fn serve_until(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(crate::webhook::serve::serve(listener, app, shutdown))
}

/// Asks GitHub for the App's slug until it answers, and keeps its bot login
/// (`<slug>[bot]`): the account herald's own pull requests are opened as.
async fn learn_app_bot(github: Arc<GitHub>, app_bot: Arc<std::sync::OnceLock<String>>) {
    loop {
        match github.app_info().await {
            Ok(app) => {
                match app.slug.filter(|slug| !slug.is_empty()) {
                    Some(slug) => {
                        let _ = app_bot.set(format!("{slug}[bot]"));
                    }
                    // Then no comment, issue or pull request is taken for herald's own.
                    None => tracing::error!("GitHub told no slug for the App"),
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot ask GitHub for the App's slug yet; trying again in 30 s");
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
        }
    }
}
