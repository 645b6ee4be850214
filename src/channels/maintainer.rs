//! Maintainers' comments and labels on a tracking issue: who may command is asked of
//! GitHub (the sender's role on the advisory's repository and, for what GitHub reserves for
//! admins, the organisation's security managers; see [`Authority`]), then the commands change the
//! incident, land on its timeline, and herald answers in a comment, all recorded in one
//! durable commit. Follow-up work (the answer, a CVE request, publication) is queued there
//! too, so a crash never loses it and never doubles it.

use super::authority::authority_of;
use super::commands::{CommandBatch, approves_prenotification};
use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::incident::{
    AdvisoryState, Authority, Command, DeliveryId, LabelNames, RepoName, TimelineEntry,
    TimelineKind, label_command, parse_comment,
};
use crate::ingest::events::{IssuesAction, WebhookEvent};
use crate::jobs::PendingComment;
use crate::store::IncidentRow;
use chrono::Utc;

/// What a maintainer did, as herald reads it.
enum Said {
    Comment(String),
    Label { name: String, added: bool },
}

impl Said {
    fn of(event: &WebhookEvent) -> Option<Said> {
        Some(match event {
            WebhookEvent::IssueComment(event) => {
                Said::Comment(event.comment.body.clone().unwrap_or_default())
            }
            WebhookEvent::Issues(event) => Said::Label {
                name: event
                    .label
                    .as_ref()
                    .map(|label| label.name.clone())
                    .unwrap_or_default(),
                added: event.action == IssuesAction::Labeled,
            },
            _ => return None,
        })
    }

    /// Each command said, with the text it came from.
    fn commands(
        &self,
        labels: &crate::repo_config::LabelConfig,
    ) -> Vec<(String, Result<Command, String>)> {
        let names = LabelNames {
            severity_prefix: &labels.severity_prefix,
            threat_prefix: &labels.threat_prefix,
            incident: &labels.incident,
            disclosure_approved: &labels.disclosure_approved,
            prenotify_approved: &labels.prenotify_approved,
        };
        match self {
            Said::Comment(body) => parse_comment(body)
                .into_iter()
                .map(|line| (line.text, line.command))
                .collect(),
            Said::Label { name, added } => label_command(name, *added, &names)
                .map(|command| {
                    let verb = if *added { "added" } else { "removed" };
                    (format!("label `{name}` {verb}"), Ok(command))
                })
                .into_iter()
                .collect(),
        }
    }
}

/// Reads a maintainer's comment or label on a tracking issue into a batch of commands,
/// with what GitHub says the sender may do, for the runner's commit.
pub(super) async fn handle(
    channels: &Channels,
    job_id: i64,
    delivery_id: &DeliveryId,
) -> Result<Record, ChannelError> {
    let store = &channels.store;
    let unusable = || ChannelError::Payload {
        id: job_id,
        payload: delivery_id.to_string(),
    };
    let event = channels.stored_event(job_id, delivery_id).await?;
    let signal = event.maintainer_signal().ok_or_else(unusable)?;
    let (repository, issue, sender) = (
        signal.repository.to_owned(),
        signal.issue,
        signal.sender.to_owned(),
    );
    let said = Said::of(&event).ok_or_else(unusable)?;
    let Some(incident_id) = store.incident_tracked_by(&repository, issue).await? else {
        let Some(intake) = store.intake_tracked_by(&repository, issue).await? else {
            return Ok(Record::note("not a tracking issue"));
        };
        let Said::Comment(body) = said else {
            return Ok(Record::note("labels do not command an intake"));
        };
        let spoken = super::intake::Spoken {
            delivery_id,
            sender: &sender,
            body: &body,
        };
        return super::intake::command(channels, &intake, &spoken).await;
    };
    let Some(row) = store.incident(incident_id).await? else {
        return Ok(Record::note("incident gone"));
    };
    let advisory_repository = row.incident.repository.clone();
    let api = channels.installation(&advisory_repository).await?;
    let loaded = channels.repo_config(&api, &advisory_repository).await?;
    let commands = said.commands(&loaded.config.labels);
    if commands.is_empty() {
        return Ok(Record::note("no command"));
    }
    let (authority, standing) =
        sender_authority(&api, &advisory_repository, &sender, &commands).await?;
    let prenotify = super::prenotify::terms(
        &api,
        &advisory_repository,
        &loaded.config.prenotify,
        approves_prenotification(&commands) && authority >= Authority::Security,
    )
    .await?;
    let note = format!(
        "{} command(s) from {sender} ({standing}) on {repository}#{issue}",
        commands.len(),
    );
    let batch = CommandBatch {
        delivery_id: delivery_id.clone(),
        repository,
        issue,
        sender,
        authority,
        standing,
        advisory_repository,
        ghsa_id: row.incident.ghsa_id.clone(),
        commands,
        from_comment: matches!(said, Said::Comment(_)),
        prenotify,
        second_person: loaded.config.disclosure.second_person,
    };
    Ok(Record::note(note).with(Write::Commands(Box::new(batch))))
}

/// What `sender` may do on `repository`, and their role in GitHub's words. The
/// organisation's security managers are looked up only when a command may need them and
/// the repository role does not already grant it.
async fn sender_authority(
    api: &crate::github::Api,
    repository: &RepoName,
    sender: &str,
    commands: &[(String, Result<Command, String>)],
) -> Result<(Authority, String), ChannelError> {
    let may_need_security = commands
        .iter()
        .any(|(_, command)| command.as_ref().is_ok_and(Command::may_need_security));
    authority_of(api, repository, sender, may_need_security).await
}

/// Applies maintainer commands to the incident as it is now in the store, within `work`:
/// the incident, its timeline, the jobs the commands call for and herald's answer.
/// Posts a queued comment once: a retry first looks for its marker.
pub(super) async fn post_comment(
    channels: &Channels,
    comment: &PendingComment,
) -> Result<Record, ChannelError> {
    let api = channels.installation(&comment.repository).await?;
    let posted = api
        .comments(&comment.repository, comment.issue)
        .await?
        .iter()
        .any(|existing| existing.is_heralds(&comment.marker, channels.app_bot()));
    if !posted {
        api.create_comment(&comment.repository, comment.issue, &comment.body)
            .await?;
    }
    Ok(Record::note(format!(
        "comment on {}#{}{}",
        comment.repository,
        comment.issue,
        if posted {
            " was already posted"
        } else {
            " posted"
        }
    )))
}

/// Asks GitHub for a CVE id, then records it.
pub(super) async fn request_cve(
    channels: &Channels,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    let (incident_id, incident) = (row.id, &row.incident);
    let api = channels.installation(&incident.repository).await?;
    let detail = if api
        .request_cve(&incident.repository, &incident.ghsa_id)
        .await?
    {
        "CVE id requested from GitHub"
    } else {
        "GitHub says the advisory already has a CVE id"
    };
    Ok(Record::note(detail).with_timeline(incident_id, command_entry(detail)))
}

/// Asks GitHub to publish the advisory (unless it already is) and hands GitHub's answer to
/// the pipeline as the advisory's new version, in the commit that completes the job: the
/// incident enters disclosure, and the public channels follow, only from what GitHub
/// answered. A crash after the request runs the job again, which finds the advisory
/// published and goes on from there; a refusal (422) ends the job and is reported.
pub(super) async fn publish_advisory(
    channels: &Channels,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    let (incident_id, incident) = (row.id, &row.incident);
    let repository = &incident.repository;
    let installation = channels.installation_id(repository).await?;
    let api = channels.github.installation(installation)?;
    let current = api.advisory(repository, &incident.ghsa_id).await?;
    let (advisory, detail) = if advisory_state(&current) == AdvisoryState::Published {
        (current, "GitHub says the advisory is published")
    } else {
        // As the incident stands now: a job run again later (`/herald retry`) must not
        // publish what is no longer approved.
        incident
            .publication_allowed(Utc::now())
            .map_err(|reason| ChannelError::NotAllowed(format!("not published: {reason}")))?;
        let second_person = channels
            .repo_config(&api, repository)
            .await?
            .config
            .disclosure
            .second_person;
        let requester = incident.decisions.publication_requested_by.as_deref();
        if let Some(reason) =
            requester.and_then(|requester| incident.second_person_needed(requester, second_person))
        {
            return Err(ChannelError::NotAllowed(format!("not published: {reason}")));
        }
        let answer = api.publish_advisory(repository, &incident.ghsa_id).await?;
        (
            answer,
            "advisory published on GitHub at the maintainers' request",
        )
    };
    let state = advisory_state(&advisory);
    if state != AdvisoryState::Published {
        return Err(ChannelError::NotPublished {
            ghsa_id: incident.ghsa_id.clone(),
            state: state.to_string(),
        });
    }
    let (delivery_id, body) =
        crate::ingest::reconciled_advisory(repository, installation, &advisory).ok_or_else(
            || ChannelError::NotPublished {
                ghsa_id: incident.ghsa_id.clone(),
                state: "published, without its id or update time".to_owned(),
            },
        )?;
    let delivery = crate::ingest::new_delivery(
        &delivery_id,
        crate::ingest::events::EventKind::RepositoryAdvisory,
        &body,
    )
    .map_err(|error| ChannelError::NotPublished {
        ghsa_id: incident.ghsa_id.clone(),
        state: format!("published, in a shape herald cannot read: {error}"),
    })?;
    Ok(Record::note(detail)
        .with(Write::Delivery(delivery))
        .with_timeline(incident_id, command_entry(detail)))
}

/// The state of an advisory as GitHub's REST API returns it.
fn advisory_state(advisory: &serde_json::Value) -> AdvisoryState {
    advisory
        .get("state")
        .and_then(|state| state.as_str())
        .map_or(AdvisoryState::Unknown, AdvisoryState::from_github)
}

/// What GitHub did at herald's request, for the incident's timeline.
fn command_entry(detail: &str) -> TimelineEntry {
    TimelineEntry {
        at: Utc::now(),
        actor: None,
        kind: TimelineKind::Command,
        detail: detail.to_owned(),
    }
}
