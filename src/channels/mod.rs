//! Where herald's work leaves the store: GitHub (the tracking issue, replies, publication,
//! the public channels), mail, forums and wikis. Each effect runs from a leased outbox job,
//! outside any transaction, and returns a [`Record`] of what it did; the effect runner
//! (`outbox::effects`) commits it with the job's completion in one durable commit.

mod announce;
mod authority;
mod chat;
mod commands;
mod containment;
mod counterparts;
mod discussions;
mod escalation;
mod fixes;
mod fork;
pub mod forum;
mod gate;
mod intake;
mod maintainer;
mod mediawiki;
mod post;
mod prenotify;
mod product;
mod publication;
mod record;
mod reporter;
mod review;
mod tracking_issue;
mod upstream;
mod wiki;

use crate::drafts::{DraftError, Drafts, OVERRIDE_DIR, SHIPPED};
use crate::github::{Api, GitHub, GitHubError};
use crate::incident::{DeliveryId, RepoName, TimelineKind};
use crate::ingest::events::{EventKind, WebhookEvent};
use crate::jobs::{ClaimedJob, Job};
use crate::mail::Announcer;
use crate::markers::key;
use crate::repo_config::{REPO_CONFIG_PATH, RepoConfig, parse_lenient};
use crate::store::{IncidentId, IncidentRow, InstallationId, Store, StoreError};
pub use chat::ChatWebhook;
pub use counterparts::{ChannelSecrets, Counterparts, Forum, Wiki};
pub use record::Record;

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Draft(#[from] DraftError),
    #[error("no GitHub App installation is known for {0}; install the App on it")]
    NoInstallation(RepoName),
    #[error("job {id} has an unusable payload {payload:?}")]
    Payload { id: i64, payload: String },
    #[error("{0} jobs are the store worker's, not an effect")]
    NotAnEffect(&'static str),
    #[error(transparent)]
    Message(#[from] crate::mail::MessageError),
    #[error(transparent)]
    Smtp(#[from] crate::mail::SmtpError),
    #[error(transparent)]
    Forum(#[from] forum::ForumError),
    #[error(transparent)]
    Wiki(#[from] wiki::WikiError),
    #[error(transparent)]
    MediaWiki(#[from] mediawiki::MediaWikiError),
    #[error(transparent)]
    Chat(#[from] chat::ChatError),
    /// The repository's configuration chose a counterpart herald's operator did not
    /// configure: the maintainers fix either and retry.
    #[error("{0}")]
    Unconfigured(String),
    /// A pre-notification that cannot go as configured (a missing or unusable key, no
    /// SMTP server): the maintainers fix it and retry.
    #[error("{0}")]
    Prenotify(String),
    /// What the job would do is no longer allowed (an approval was withdrawn, a date moved).
    #[error("{0}")]
    NotAllowed(String),
    /// A bug in herald: running the job again would end the same way.
    #[error("herald failed while running this job ({0}); it is not run again on its own")]
    Panicked(String),
    /// What the job needs is not there yet (an intake's issue, say): it runs again later.
    #[error("{0}")]
    NotYet(String),
    #[error("GitHub did not publish {ghsa_id}: the advisory's state is {state}")]
    NotPublished {
        ghsa_id: crate::incident::GhsaId,
        state: String,
    },
}

/// What a counterpart (GitHub, a forum, a wiki, a mail server, the repository's own
/// template) said when it refused what herald asked, in its own words: a message for the
/// maintainers, who can act on it, and never retried, unlike herald's internal failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(String);

impl Refusal {
    pub fn words(&self) -> &str {
        &self.0
    }
}

impl ChannelError {
    /// How long until the write this job was refused by herald's own pacing may go.
    pub fn paced_for(&self) -> Option<std::time::Duration> {
        match self {
            ChannelError::GitHub(error) => error.paced_for(),
            _ => None,
        }
    }

    /// The counterpart's own words when it refused what herald asked in a way that asking
    /// again cannot change (GitHub's validation, a missing or forbidden resource, a forum's
    /// or wiki's refusal, a mail server's permanent rejection, a broken template): the job
    /// ends and the maintainers are told. `None` for what is worth retrying.
    pub fn refusal(&self) -> Option<Refusal> {
        let words = match self {
            ChannelError::GitHub(error) => error.refusal().map(str::to_owned),
            ChannelError::Draft(error) => Some(error.to_string()),
            ChannelError::NotPublished { .. }
            | ChannelError::Prenotify(_)
            | ChannelError::Unconfigured(_)
            | ChannelError::NotAllowed(_) => Some(self.to_string()),
            ChannelError::Forum(error) => error.refusal(),
            ChannelError::MediaWiki(error) => error.refusal(),
            ChannelError::Smtp(error) => error.refusal(),
            ChannelError::Chat(error) => error.refusal(),
            ChannelError::Wiki(error) => error.refusal(),
            ChannelError::Store(_)
            | ChannelError::NoInstallation(_)
            | ChannelError::Payload { .. }
            | ChannelError::NotAnEffect(_)
            | ChannelError::Panicked(_)
            | ChannelError::NotYet(_)
            | ChannelError::Message(_) => None,
        };
        words.map(Refusal)
    }
}

/// One public job's context: the disclosed incident, its repository's configuration and
/// the installation that reaches it.
struct Publication<'a> {
    channels: &'a Channels,
    api: &'a Api,
    loaded: &'a LoadedConfig,
    disclosed: &'a gate::Disclosed<'a>,
    incident_id: IncidentId,
}

/// What the effects need: the store, GitHub, the templates, and (when configured) the
/// SMTP server and signing key for announcements.
pub struct Channels {
    pub store: Store,
    pub github: Arc<GitHub>,
    pub drafts: Drafts,
    pub mail: Option<Announcer>,
    pub forum: forum::Discourse,
    /// The forums and wikis herald's operator configured, each with its secret.
    pub counterparts: Counterparts,
    /// Where reports mailed to the security team open their issues.
    pub intake: crate::intake::IntakeSettings,
    /// The key reports are encrypted to, when the operator configured one.
    pub intake_key: Option<crate::intake::DecryptionKey>,
    /// The team's chat webhook (`HERALD_CHAT_WEBHOOK_URL`) for `channels.chat`.
    pub chat: Option<ChatWebhook>,
    /// Wakes the store worker when an effect hands it a delivery to process.
    pub worker_wake: Arc<tokio::sync::Notify>,
    /// The App's own bot login (`<slug>[bot]`), once GitHub has told it: herald knows its
    /// own comments and issues by it, never by a marker anyone could write.
    pub app_bot: Arc<std::sync::OnceLock<String>>,
}

/// Reads `repository`'s configuration (see [`LoadedConfig`]).
pub async fn load_repo_config(
    github: &Api,
    repository: &RepoName,
) -> Result<LoadedConfig, GitHubError> {
    let organisation = repository.owner_defaults();
    let policy = github
        .file(&organisation, REPO_CONFIG_PATH)
        .await?
        .map(|text| parsed(&organisation, &text));
    let own = if organisation == *repository {
        None
    } else {
        github.file(repository, REPO_CONFIG_PATH).await?
    };
    Ok(match (own, policy) {
        (Some(text), policy) => {
            let (config, error) = parsed(repository, &text);
            let (policy, policy_error) = policy.unwrap_or_default();
            // The organisation's locked sections apply, and overriding them is said.
            let (config, overridden) = config.under(&policy);
            let locked = (!overridden.is_empty()).then(|| {
                format!(
                    "{repository}: `{}` locked by the organisation's policy in {organisation}: \
                     the repository's own value is not used",
                    overridden.join("`, `")
                )
            });
            let problems: Vec<String> = [error, policy_error, locked]
                .into_iter()
                .flatten()
                .collect();
            LoadedConfig {
                config,
                error: (!problems.is_empty()).then(|| problems.join("; ")),
                source: Some(repository.clone()),
            }
        }
        (None, Some((config, error))) => LoadedConfig {
            config,
            error,
            source: Some(organisation),
        },
        (None, None) => LoadedConfig {
            config: RepoConfig::default(),
            error: None,
            source: None,
        },
    })
}

/// `text` as the configuration of `source`: the defaults and the error when it is broken.
fn parsed(source: &RepoName, text: &str) -> (RepoConfig, Option<String>) {
    let (config, error) = parse_lenient(text);
    let error = error.map(|error| format!("{source}: {error}"));
    if let Some(error) = &error {
        tracing::warn!(repository = %source, %error, "repository configuration is broken; using defaults");
    }
    (config, error)
}

/// The repository's configuration as found: its own `.github/herald.yml`, else the
/// organisation's `.github` repository's (Probot's convention), else the defaults. A broken
/// file gives the defaults plus the error, to be shown to the maintainers.
pub struct LoadedConfig {
    pub config: RepoConfig,
    pub error: Option<String>,
    /// The repository whose `.github/herald.yml` it is; `None`: the defaults.
    pub source: Option<RepoName>,
}

impl Channels {
    /// The App's bot login, once known.
    fn app_bot(&self) -> Option<&str> {
        self.app_bot.get().map(String::as_str)
    }

    /// What the repository's `channels:` chose that herald's operator did not configure,
    /// shown on the tracking issue long before disclosure would find it.
    fn unconfigured(&self, config: &crate::repo_config::RepoConfig) -> Vec<String> {
        let channels = &config.channels;
        let forum = channels.discourse.as_ref().map(|discourse| {
            self.counterparts
                .forum(discourse.server.as_deref())
                .map(|_| ())
        });
        let wiki = channels.mediawiki.as_ref().map(|mediawiki| {
            self.counterparts
                .wiki(mediawiki.server.as_deref())
                .map(|_| ())
        });
        [forum, wiki]
            .into_iter()
            .flatten()
            .filter_map(Result::err)
            .collect()
    }

    /// Runs one leased effect job and returns what it did, for the runner to record with
    /// the job's completion; or fails.
    /// `about` is the incident the job is for (read by the runner for its log span), where
    /// it is for one.
    pub async fn run(
        &self,
        claimed: &ClaimedJob,
        about: Option<&IncidentRow>,
    ) -> Result<Record, ChannelError> {
        crate::github::reading_since(claimed.due_since, self.dispatch(claimed, about)).await
    }

    async fn dispatch(
        &self,
        claimed: &ClaimedJob,
        about: Option<&IncidentRow>,
    ) -> Result<Record, ChannelError> {
        let id = claimed.id;
        match (&claimed.job, about) {
            (Job::ProcessDelivery { .. }, _) => Err(ChannelError::NotAnEffect(claimed.kind_name())),
            (Job::MaintainerAction { delivery }, _) => maintainer::handle(self, id, delivery).await,
            (Job::PostComment(comment), _) => maintainer::post_comment(self, comment).await,
            (Job::MatchUpstream { delivery }, _) => {
                upstream::match_upstream(self, id, delivery).await
            }
            (Job::OpenIntake { intake }, _) => {
                intake::open(self, *intake, claimed.first_try()).await
            }
            (Job::AcknowledgeReport { intake }, _) => reporter::acknowledge(self, *intake).await,
            (Job::PostReply { intake }, _) => intake::post_reply(self, *intake).await,
            (Job::ProductIssue { incident }, _) => {
                product::sync(self, *incident, claimed.first_try()).await
            }
            // Every other job is for an incident, which may have gone since it was queued.
            (_, None) => Ok(Record::note("incident gone")),
            (Job::SyncTrackingIssue { .. }, Some(row)) => {
                tracking_issue::sync(self, row, claimed.first_try()).await
            }
            (Job::RequestCve { .. }, Some(row)) => maintainer::request_cve(self, row).await,
            (Job::PublishAdvisory { .. }, Some(row)) => {
                maintainer::publish_advisory(self, row).await
            }
            // The public channels and the mail, each through the embargo gate.
            (Job::Public { channel, .. }, Some(row)) => {
                publication::publish(self, claimed, row, publication::Target::Channel(*channel))
                    .await
            }
            (Job::SendMail(mail), Some(row)) => {
                publication::publish(self, claimed, row, publication::Target::List(&mail.list))
                    .await
            }
            (Job::Escalate(pending), Some(row)) => {
                escalation::escalate(self, claimed, pending, &row.incident).await
            }
            (Job::PostReview { .. }, Some(row)) => review::post(self, id, row).await,
            (Job::Containment(pending), Some(row)) => {
                containment::notify(self, claimed, pending, &row.incident).await
            }
            (Job::PrivateFork { .. }, Some(row)) => fork::private_fork(self, row).await,
            (Job::Chat(pending), Some(row)) => chat::notify(self, &pending.notice, row).await,
            (Job::TrackPull(pending), Some(row)) => {
                fixes::track_pull(self, pending, &row.incident).await
            }
            (Job::Prenotify(pending), Some(row)) => prenotify::send(self, pending, row).await,
            (Job::EmbargoEnd(pending), Some(row)) => {
                prenotify::embargo_ended(self, claimed, pending, row).await
            }
            (Job::TellReporter(pending), Some(row)) => reporter::tell(self, pending, row).await,
        }
    }

    /// What the maintainers are told about a failed attempt, for the runner to commit with
    /// the failure: for a job herald gives up on (after its last attempt, or at once when
    /// the counterpart refused it, in its own words), the timeline and tracking issue say
    /// so and what the maintainers can do, so nobody waits for something that will not
    /// happen on its own; a first failed send of the announcement is told at once, as it
    /// may go through on a retry; other retries are quiet.
    /// `about` is the job's incident, as the runner read it for the job.
    pub async fn failure_notice(
        &self,
        job: &ClaimedJob,
        about: Option<&IncidentRow>,
        error: &ChannelError,
        gave_up: bool,
    ) -> Result<Option<Record>, ChannelError> {
        let Some(row) = about else {
            return Ok(None);
        };
        let incident_id = row.id;
        let ghsa_id = &row.incident.ghsa_id;
        // One line each; the comment escapes them for Markdown.
        let one_line = |text: &str| text.replace(['\r', '\n'], " ");
        let (detail, advice) = match (gave_up, error.refusal(), &job.job, error) {
            (true, Some(words), Job::PublishAdvisory { .. }, _) => (
                format!(
                    "GitHub refused to publish {ghsa_id}: {}",
                    one_line(words.words())
                ),
                "Fix what GitHub names on the advisory, then `/herald publish` again. \
                 Nothing public was started.",
            ),
            (true, Some(words), _, _) => (
                format!(
                    "{} for {ghsa_id} was refused: {}",
                    job.kind_name(),
                    one_line(words.words())
                ),
                "Fix the cause, then `/herald retry` (or `herald incidents retry`) runs it again.",
            ),
            (true, None, _, _) => (
                format!(
                    "herald gave up on {} after {} attempts: {}",
                    job.kind_name(),
                    job.attempts + 1,
                    one_line(&error.to_string())
                ),
                "Fix the cause, then `/herald retry` (or `herald incidents retry`) runs it again; \
                 herald does not try again on its own.",
            ),
            (false, None, Job::SendMail(mail), ChannelError::Smtp(smtp)) if job.attempts == 0 => {
                return Ok(Some(
                    announce::first_failure(self, job, incident_id, ghsa_id, &mail.list, smtp)
                        .await?,
                ));
            }
            (false, _, _, _) => return Ok(None),
        };
        let body = format!("{}\n\n{advice}", crate::drafts::escape::markdown(&detail));
        let key = key::gave_up(job.id, chrono::Utc::now().timestamp_millis());
        let notice = self
            .notice(incident_id, TimelineKind::Publication, detail, key, body)
            .await?;
        Ok(Some(notice))
    }

    /// `detail` on the incident's timeline (as `kind`) and, where it has a tracking issue,
    /// the comment `body` there (queued under `key`).
    async fn notice(
        &self,
        incident_id: IncidentId,
        kind: TimelineKind,
        detail: String,
        key: String,
        body: String,
    ) -> Result<Record, ChannelError> {
        let entry = crate::incident::TimelineEntry {
            at: chrono::Utc::now(),
            actor: None,
            kind,
            detail: detail.clone(),
        };
        let mut notice = Record::note(detail).with_timeline(incident_id, entry);
        let tracking = self.store.tracking_link(incident_id).await?;
        if let Some((repository, issue)) = tracking.as_ref().and_then(|link| link.issue()) {
            notice.push(record::Write::Comment {
                key,
                repository,
                issue,
                body,
            });
        }
        Ok(notice)
    }

    /// The stored webhook event a job refers to by its delivery id.
    async fn stored_event(
        &self,
        job_id: i64,
        delivery_id: &DeliveryId,
    ) -> Result<WebhookEvent, ChannelError> {
        let unusable = || ChannelError::Payload {
            id: job_id,
            payload: delivery_id.to_string(),
        };
        let delivery = self
            .store
            .delivery(delivery_id)
            .await?
            .ok_or_else(unusable)?;
        let kind = EventKind::from_name(&delivery.event).ok_or_else(unusable)?;
        WebhookEvent::parse(kind, &delivery.payload).map_err(|_| unusable())
    }

    /// The installation that serves `repository`: the one herald saw it in, else the
    /// installation on its owner's account (a repository herald has had no event from yet,
    /// such as a private tracking repository).
    async fn installation(&self, repository: &RepoName) -> Result<Api, ChannelError> {
        let id = self.installation_id(repository).await?;
        Ok(self.github.installation(id)?)
    }

    async fn installation_id(&self, repository: &RepoName) -> Result<InstallationId, ChannelError> {
        let id = match self.store.installation_for(repository).await? {
            Some(id) => Some(id),
            None => {
                self.store
                    .installation_for_account(repository.owner())
                    .await?
            }
        };
        id.ok_or_else(|| ChannelError::NoInstallation(repository.clone()))
    }

    /// Wakes the store worker (a committed record handed it a delivery).
    pub fn wake_worker(&self) {
        self.worker_wake.notify_one();
    }

    /// The templates with the repository's overrides (`.github/herald/templates/*.hbs`),
    /// and what was wrong with any of them.
    async fn templates(
        &self,
        github: &Api,
        repository: &RepoName,
    ) -> Result<(Drafts, Vec<DraftError>), ChannelError> {
        let Some(files) = github.folder(repository, OVERRIDE_DIR).await? else {
            return Ok((self.drafts.clone(), Vec::new()));
        };
        let mut overrides = Vec::new();
        for file in files {
            let Some(name) = file.strip_suffix(".hbs") else {
                continue;
            };
            // herald's own templates are not read: their override is refused unread.
            let known = SHIPPED.iter().any(|shipped| shipped.name == name)
                && !crate::drafts::FIXED.contains(&name);
            let text = if known {
                github
                    .file(repository, &format!("{OVERRIDE_DIR}/{file}"))
                    .await?
                    .unwrap_or_default()
            } else {
                String::new()
            };
            overrides.push((name.to_owned(), text));
        }
        Ok(self.drafts.with_overrides(&overrides))
    }

    /// The templates for one channel's drafts (`names`): an override of one of them that
    /// does not parse is this channel's error, reported rather than replaced by the shipped
    /// text in public; the other templates' errors are no concern of this channel.
    async fn templates_for(
        &self,
        github: &Api,
        repository: &RepoName,
        names: &[&str],
    ) -> Result<Drafts, ChannelError> {
        let (drafts, errors) = self.templates(github, repository).await?;
        // A refused override of herald's own template leaves the shipped one, which serves.
        match errors.into_iter().find(|error| {
            names.contains(&error.template()) && !matches!(error, DraftError::Fixed { .. })
        }) {
            Some(error) => Err(error.into()),
            None => Ok(drafts),
        }
    }

    async fn repo_config(
        &self,
        github: &Api,
        repository: &RepoName,
    ) -> Result<LoadedConfig, ChannelError> {
        Ok(load_repo_config(github, repository).await?)
    }
}
