//! Turns one stored delivery into domain changes. It runs inside the transaction that
//! completes its job, so a crash at any point leaves either nothing or everything done.

use crate::drafts::escape;
use crate::incident::{
    AdvisoryAction, AdvisoryEvent, DeliveryId, GhsaId, Incident, IncidentId, PublicMention,
    PullSnapshot, PullState, RepoName, TimelineEntry, apply_advisory, mentioned_ghsa_ids,
};
use crate::ingest::events::{
    BranchRef, EventKind, InstallationAction, InstallationEvent, InstallationRepositoriesEvent,
    InstallationRepository, PayloadError, PullRequestAction, PullRequestEvent, PushEvent,
    ReleaseAction, ReleaseEvent, RepositoryAdvisoryAction, RepositoryAdvisoryEvent, WebhookEvent,
};
use crate::jobs::Job;
use crate::markers::key;
use crate::store::{IncidentRow, InstallationId, Priority, StoreError, StoredDelivery, Work};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("delivery {0} is not in the store")]
    MissingDelivery(DeliveryId),
    #[error("stored delivery has an event herald cannot process: {0}")]
    UnknownEvent(String),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("{0} jobs are effects, not the store worker's")]
    NotLocal(&'static str),
    /// A bug in herald: processing the delivery again would end the same way.
    #[error("herald failed while processing this delivery ({0}); it is not run again on its own")]
    Panicked(String),
}

/// What processing a delivery changed about an incident.
#[derive(Debug, Clone)]
pub struct IncidentChange {
    pub repository: RepoName,
    pub ghsa_id: crate::incident::GhsaId,
    pub created: bool,
    pub timeline: Vec<TimelineEntry>,
}

/// What herald did with one delivery.
#[derive(Debug, Clone)]
pub struct Processed {
    pub delivery_id: DeliveryId,
    pub event: String,
    pub action: Option<String>,
    pub note: String,
    pub incident: Option<IncidentChange>,
}

/// Saves a changed incident with its timeline's record of the change (from `delivery`,
/// when one carried it) and queues what follows at `priority`, all in `work`.
pub async fn save_incident(
    work: &mut Work,
    incident: &Incident,
    timeline: &[TimelineEntry],
    delivery: Option<&DeliveryId>,
    (at, priority): (DateTime<Utc>, Priority),
) -> Result<IncidentId, StoreError> {
    let (id, revision) = work.save_incident(incident, at).await?;
    if !timeline.is_empty() {
        work.append_timeline(id, timeline, delivery)?;
    }
    crate::jobs::follow::follow_incident(work, (id, revision), incident, timeline, priority)?;
    Ok(id)
}

/// Processes one stored delivery within `work`, the transaction that also completes its job.
pub async fn process_delivery(
    work: &mut Work,
    delivery_id: &DeliveryId,
    app_bot: Option<&str>,
) -> Result<Processed, ProcessError> {
    let delivery = work
        .load_delivery(delivery_id)
        .await?
        .ok_or_else(|| ProcessError::MissingDelivery(delivery_id.clone()))?;
    let kind = EventKind::from_name(&delivery.event)
        .ok_or_else(|| ProcessError::UnknownEvent(delivery.event.clone()))?;
    let event = WebhookEvent::parse(kind, &delivery.payload)?;
    let action = event.action().map(str::to_owned);
    // Every event about a repository says which installation serves it.
    if let (Some(repository), Some(installation_id)) = (event.repository(), event.installation_id())
    {
        work.save_repository(repository, installation_id, None, delivery.received_at)
            .await?;
    }
    // A person speaking on a tracking issue or an intake's: their permission is checked
    // on GitHub, so the command runs as an effect job.
    if let Some(signal) = event.maintainer_signal()
        && (work
            .incident_tracked_by(signal.repository, signal.issue)
            .await?
            .is_some()
            || work
                .is_intake_issue(signal.repository, signal.issue)
                .await?)
    {
        let job = Job::MaintainerAction {
            delivery: delivery.delivery_id.clone(),
        };
        work.enqueue(&job, &key::maintainer_action(&delivery.delivery_id))?;
        tracing::debug!(delivery = %delivery.delivery_id, "maintainer action queued");
    }
    let (note, incident) = match event {
        WebhookEvent::RepositoryAdvisory(advisory) => {
            advisory_delivery(work, &delivery, &advisory).await?
        }
        WebhookEvent::SecurityAdvisory(global) => {
            // Which repositories depend on the package is GitHub's to say (their dependency
            // graphs): an effect job matches them.
            let job = Job::MatchUpstream {
                delivery: delivery.delivery_id.clone(),
            };
            work.enqueue(&job, &key::upstream(&delivery.delivery_id))?;
            (
                format!(
                    "global advisory {} queued for matching against the served repositories' dependencies",
                    global.security_advisory.ghsa_id
                ),
                None,
            )
        }
        WebhookEvent::Installation(installation) => (
            installation_delivery(work, &delivery, &installation).await?,
            None,
        ),
        WebhookEvent::InstallationRepositories(change) => (
            installation_repositories_delivery(work, &delivery, &change).await?,
            None,
        ),
        WebhookEvent::PullRequest(pull) => (
            pull_request_delivery(work, &delivery, &pull, app_bot).await?,
            None,
        ),
        WebhookEvent::Release(release) => {
            (release_delivery(work, &delivery, &release).await?, None)
        }
        WebhookEvent::Push(push) => (push_delivery(work, &delivery, &push).await?, None),
        _ => (
            format!("{} event recorded; no incident change", kind.as_str()),
            None,
        ),
    };
    Ok(Processed {
        delivery_id: delivery.delivery_id,
        event: delivery.event,
        action,
        note,
        incident,
    })
}

/// A pull request that fixes an incident: one it mentions by GHSA id, one in the
/// advisory's temporary private fork, or one a maintainer linked. herald's own pull
/// requests (see [`PullRequestEvent::is_heralds`]) are not fixes.
async fn pull_request_delivery(
    work: &mut Work,
    delivery: &StoredDelivery,
    event: &PullRequestEvent,
    app_bot: Option<&str>,
) -> Result<String, ProcessError> {
    let pull = &event.pull_request;
    let repository = &event.repository.full_name;
    let unchanged = || "pull_request event recorded; no incident change".to_owned();
    let branch = |side: &Option<BranchRef>| side.as_ref().map(|side| side.name.clone());
    if event.is_heralds(app_bot) {
        return Ok(unchanged());
    }
    let snapshot = PullSnapshot {
        repository: repository.clone(),
        number: pull.number,
        url: pull
            .html_url
            .clone()
            .unwrap_or_else(|| format!("https://github.com/{repository}/pull/{}", pull.number)),
        base: branch(&pull.base).unwrap_or_default(),
        default_branch: event.repository.default_branch.clone().unwrap_or_default(),
        state: match (pull.merged, pull.state.as_str()) {
            (Some(true), _) => PullState::Merged,
            (_, "closed") => PullState::Closed,
            _ => PullState::Open,
        },
    };
    let text = format!(
        "{}\n{}",
        pull.title.as_deref().unwrap_or_default(),
        pull.body.as_deref().unwrap_or_default()
    );
    // A pull request in a public repository is public from the moment it is opened.
    let flagged = if event.repository.private
        || !matches!(
            event.action,
            PullRequestAction::Opened | PullRequestAction::Edited | PullRequestAction::Reopened
        ) {
        Vec::new()
    } else {
        let mention = PublicMention {
            place: format!("pull request {repository}#{}", pull.number),
            url: snapshot.url.clone(),
            text: text.clone(),
        };
        flag_public_mentions(work, delivery, repository, &[mention]).await?
    };
    let mut rows = work.incidents_fixed_by(repository, pull.number).await?;
    let mut named: Vec<(RepoName, GhsaId)> = mentioned_ghsa_ids(&text)
        .into_iter()
        .map(|ghsa| (repository.clone(), ghsa))
        .collect();
    named.extend(repository.advisory_fork_of());
    for (origin, ghsa) in named {
        if let Some(row) = work.find_incident(&origin, &ghsa).await?
            && !rows.iter().any(|known| known.id == row.id)
        {
            rows.push(row);
        }
    }
    rows.retain(|row| row.incident.tracked());
    for row in &rows {
        work.link_fix(repository, pull.number, row.id).await?;
    }
    let tracked = amend_each(work, delivery, rows, |incident| {
        incident.track_pull(&snapshot, None, delivery.received_at)
    })
    .await?;
    let flag_note = if flagged.is_empty() {
        String::new()
    } else {
        format!("; possible embargo break of {}", ghsa_ids(&flagged))
    };
    Ok(if tracked.is_empty() {
        format!("{}{flag_note}", unchanged())
    } else {
        format!(
            "pull request {repository}#{} ({}) tracked as a fix of {}",
            pull.number,
            snapshot.state,
            ghsa_ids(&tracked),
        ) + &flag_note
    })
}

/// Commits pushed to a public repository that name one of its undisclosed advisories.
async fn push_delivery(
    work: &mut Work,
    delivery: &StoredDelivery,
    event: &PushEvent,
) -> Result<String, ProcessError> {
    let repository = &event.repository.full_name;
    if event.repository.private {
        return Ok(format!("push to the private {repository}: nothing public"));
    }
    let branch = event
        .reference
        .strip_prefix("refs/heads/")
        .unwrap_or(&event.reference);
    let mentions: Vec<PublicMention> = event
        .commits
        .iter()
        .map(|commit| PublicMention {
            place: format!(
                "commit {} on {}",
                commit.id.chars().take(12).collect::<String>(),
                escape_line(branch)
            ),
            url: commit
                .url
                .clone()
                .unwrap_or_else(|| format!("https://github.com/{repository}/commit/{}", commit.id)),
            text: commit.message.clone(),
        })
        .collect();
    let flagged = flag_public_mentions(work, delivery, repository, &mentions).await?;
    Ok(if flagged.is_empty() {
        format!("push to {repository}: names no undisclosed advisory")
    } else {
        format!(
            "push to {repository}: possible embargo break of {}",
            ghsa_ids(&flagged)
        )
    })
}

/// Flags public `mentions` of `repository`'s undisclosed advisories on their incidents
/// (once per place) and tells each tracking issue; returns the incidents flagged.
async fn flag_public_mentions(
    work: &mut Work,
    delivery: &StoredDelivery,
    repository: &RepoName,
    mentions: &[PublicMention],
) -> Result<Vec<IncidentRow>, StoreError> {
    if mentions.is_empty() {
        return Ok(Vec::new());
    }
    let rows = work.incidents_of(repository).await?;
    let flagged = amend_each(work, delivery, rows, |incident| {
        mentions
            .iter()
            .flat_map(|mention| incident.flag_public_mention(mention, delivery.received_at))
            .collect()
    })
    .await?;
    for row in &flagged {
        if let Some((tracking, issue)) = work.tracking_issue_of(row.id).await? {
            for flag in row
                .incident
                .embargo_breaks
                .iter()
                .filter(|flag| mentions.iter().any(|mention| mention.url == flag.url))
            {
                let body = format!(
                    "**Possible embargo break.** The public {} names {} before the advisory is \
                     disclosed: {}\n\nAnything in a public place counts as disclosure, a fix \
                     pushed to a public repository too. Ask for the mention to be removed, or \
                     move the disclosure earlier (`/herald embargo <time>`, then \
                     `/herald publish`); tell pre-notified downstreams if the date moves.",
                    escape::markdown(&flag.place),
                    escape::markdown(&flag.named),
                    escape::markdown(&flag.url),
                );
                let key = key::embargo_break(row.id, &flag.url);
                crate::jobs::queue_comment(work, &key, &tracking, issue, &body)?;
            }
        }
    }
    Ok(flagged)
}

/// A published release whose tag names a patched version of an incident's advisory.
async fn release_delivery(
    work: &mut Work,
    delivery: &StoredDelivery,
    event: &ReleaseEvent,
) -> Result<String, ProcessError> {
    let release = &event.release;
    let repository = &event.repository.full_name;
    if event.action != ReleaseAction::Published || release.draft || release.prerelease {
        return Ok(format!(
            "release {} of {repository} ({}) is not a published release",
            escape_line(&release.tag_name),
            event.action.as_str()
        ));
    }
    let url = release
        .html_url
        .clone()
        .unwrap_or_else(|| format!("https://github.com/{repository}/releases"));
    let at = release.published_at.unwrap_or(delivery.received_at);
    let mut rows = work.incidents_of(repository).await?;
    rows.retain(|row| row.incident.tracked());
    let patched = amend_each(work, delivery, rows, |incident| {
        incident.note_release(&release.tag_name, &url, at)
    })
    .await?;
    Ok(if patched.is_empty() {
        format!(
            "release {} of {repository} patches no incident",
            escape_line(&release.tag_name)
        )
    } else {
        format!(
            "release {} of {repository} patches {}",
            escape_line(&release.tag_name),
            ghsa_ids(&patched)
        )
    })
}

/// Applies `change` to each incident and saves those it changed (with what the timeline
/// records of it, from `delivery`); returns them as changed.
async fn amend_each(
    work: &mut Work,
    delivery: &StoredDelivery,
    rows: Vec<IncidentRow>,
    mut change: impl FnMut(&mut Incident) -> Vec<TimelineEntry>,
) -> Result<Vec<IncidentRow>, StoreError> {
    let mut changed = Vec::new();
    for mut row in rows {
        let timeline = change(&mut row.incident);
        if !timeline.is_empty() {
            save_incident(
                work,
                &row.incident,
                &timeline,
                Some(&delivery.delivery_id),
                (delivery.received_at, Priority::Urgent),
            )
            .await?;
            changed.push(row);
        }
    }
    Ok(changed)
}

/// The GHSA ids of `rows`, for a note.
fn ghsa_ids(rows: &[IncidentRow]) -> String {
    rows.iter()
        .map(|row| row.incident.ghsa_id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Outside text in a note (which is logged): one line, and short.
fn escape_line(text: &str) -> String {
    crate::drafts::escape::plain_line(text)
        .chars()
        .take(100)
        .collect()
}

async fn advisory_delivery(
    work: &mut Work,
    delivery: &StoredDelivery,
    payload: &RepositoryAdvisoryEvent,
) -> Result<(String, Option<IncidentChange>), ProcessError> {
    let action = match &payload.action {
        RepositoryAdvisoryAction::Reported => AdvisoryAction::Reported,
        RepositoryAdvisoryAction::Published => AdvisoryAction::Published,
        RepositoryAdvisoryAction::Reconciled => AdvisoryAction::Reconciled,
        RepositoryAdvisoryAction::Other(other) => {
            return Ok((
                format!("repository_advisory action {other:?} is not one herald acts on"),
                None,
            ));
        }
    };
    let event = AdvisoryEvent {
        action,
        repository: payload.repository.full_name.clone(),
        advisory: payload.repository_advisory.snapshot(),
        actor: payload.sender.as_ref().map(|sender| sender.login.clone()),
        received_at: delivery.received_at,
        served_since: work.served_since(&payload.repository.full_name).await?,
    };
    let current = work
        .find_incident(&event.repository, &event.advisory.ghsa_id)
        .await?;
    let stored_id = current.as_ref().map(|row| row.id);
    let mut outcome = apply_advisory(current.map(|row| row.incident), &event);
    // A report mailed to the security team and accepted: its reporter follows its course.
    if outcome.created {
        outcome.incident.intake = work
            .intake_of_advisory(&event.repository, &event.advisory.ghsa_id)
            .await?;
    }
    // A redelivery that changes nothing writes nothing.
    match (stored_id, outcome.changed) {
        (Some(id), false) => {
            if !outcome.timeline.is_empty() {
                work.append_timeline(id, &outcome.timeline, Some(&delivery.delivery_id))?;
            }
        }
        _ => {
            // What polling finds waits for what GitHub or the maintainers said.
            let priority = match action {
                AdvisoryAction::Reconciled => Priority::Background,
                _ => Priority::Urgent,
            };
            save_incident(
                work,
                &outcome.incident,
                &outcome.timeline,
                Some(&delivery.delivery_id),
                (delivery.received_at, priority),
            )
            .await?;
        }
    }
    let unchanged = !outcome.changed && outcome.timeline.is_empty();
    let incident = &outcome.incident;
    let note = format!(
        "{} incident {} in {}: severity {}, phase {}",
        match (outcome.created, unchanged) {
            (true, _) => "opened",
            (false, true) => "unchanged",
            (false, false) => "updated",
        },
        incident.ghsa_id,
        incident.repository,
        incident.severity,
        incident.phase,
    );
    Ok((
        note,
        Some(IncidentChange {
            repository: incident.repository.clone(),
            ghsa_id: incident.ghsa_id.clone(),
            created: outcome.created,
            timeline: outcome.timeline,
        }),
    ))
}

async fn installation_delivery(
    work: &mut Work,
    delivery: &StoredDelivery,
    event: &InstallationEvent,
) -> Result<String, ProcessError> {
    let installation = &event.installation;
    let account = installation
        .account
        .as_ref()
        .map(|account| account.login.as_str())
        .unwrap_or("");
    let account_type = installation
        .account
        .as_ref()
        .and_then(|account| account.kind.as_deref());
    let state = match event.action {
        InstallationAction::Deleted => "deleted",
        InstallationAction::Suspend => "suspended",
        _ => "active",
    };
    work.save_installation(
        installation.id,
        (account, account_type),
        state,
        delivery.received_at,
    )
    .await?;
    if state == "deleted" {
        work.forget_installation_repositories(installation.id)
            .await?;
    } else {
        let repositories = event.repositories.as_deref().unwrap_or_default();
        save_repositories(work, installation.id, repositories, delivery).await?;
    }
    Ok(format!(
        "installation {} of {account}: {state}",
        installation.id
    ))
}

async fn installation_repositories_delivery(
    work: &mut Work,
    delivery: &StoredDelivery,
    event: &InstallationRepositoriesEvent,
) -> Result<String, ProcessError> {
    let installation = &event.installation;
    save_repositories(work, installation.id, &event.repositories_added, delivery).await?;
    for repository in &event.repositories_removed {
        work.forget_repository(&repository.full_name).await?;
    }
    Ok(format!(
        "installation {}: {} repositories added, {} removed",
        installation.id,
        event.repositories_added.len(),
        event.repositories_removed.len()
    ))
}

async fn save_repositories(
    work: &mut Work,
    installation_id: InstallationId,
    repositories: &[InstallationRepository],
    delivery: &StoredDelivery,
) -> Result<(), ProcessError> {
    for repository in repositories {
        work.save_repository(
            &repository.full_name,
            installation_id,
            Some(repository.private),
            delivery.received_at,
        )
        .await?;
    }
    Ok(())
}
