//! Maintainers' comments and labels on a tracking issue: who may command is asked of
//! GitHub (the sender's role on the advisory's repository and, for what GitHub reserves for
//! admins, the organisation's security managers; see [`Authority`]), then the commands change the
//! incident, land on its timeline, and herald answers in a comment, all recorded in one
//! durable commit. Follow-up work (the answer, a CVE request, publication) is queued there
//! too, so a crash never loses it and never doubles it.

use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::drafts::escape;
use crate::github::api::Lookup;
use crate::incident::{
    AdvisoryState, Authority, Command, CommandEffect, GhsaId, HELP, LabelNames, PrenotifyTerms,
    RepoName, TimelineEntry, TimelineKind, apply_command_with, label_command, parse_comment,
};
use crate::ingest::events::WebhookEvent;
use crate::markers::key;
use crate::store::{IncidentRow, Job, PendingComment, PendingPull, Work};
use chrono::{DateTime, Utc};

/// What a maintainer did, as herald reads it.
enum Said {
    Comment(String),
    Label { name: String, added: bool },
}

/// Maintainer commands read from one comment or label, with what GitHub said of the
/// commenter: applied to the incident in the runner's commit (see [`apply_commands`]).
#[derive(Debug)]
pub struct CommandBatch {
    delivery_id: String,
    /// The tracking issue the commands were given on.
    repository: RepoName,
    issue: u64,
    sender: String,
    /// What the sender may do, as GitHub answered.
    authority: Authority,
    /// The sender's role as GitHub named it, for refusals.
    standing: String,
    /// The incident's key.
    advisory_repository: RepoName,
    ghsa_id: GhsaId,
    /// Each command with the text it came from.
    commands: Vec<(String, Result<Command, String>)>,
    /// A comment is answered; a label only when refused (labels speak for themselves).
    from_comment: bool,
    /// Who is told before disclosure, and the rules (from the repository's configuration,
    /// with the recipients' keys read when an approval needs them).
    prenotify: PrenotifyTerms,
    /// A second person publishes what one approved (`disclosure.second_person`).
    second_person: bool,
}

pub(super) async fn handle(
    channels: &Channels,
    job_id: i64,
    delivery_id: &str,
) -> Result<Record, ChannelError> {
    let store = &channels.store;
    let unusable = || ChannelError::Payload {
        id: job_id,
        payload: delivery_id.to_owned(),
    };
    let event = channels.stored_event(job_id, delivery_id).await?;
    let signal = event.maintainer_signal().ok_or_else(unusable)?;
    let (repository, issue, sender) = (
        signal.repository.to_owned(),
        signal.issue,
        signal.sender.to_owned(),
    );
    let said = match &event {
        WebhookEvent::IssueComment(event) => {
            Said::Comment(event.comment.body.clone().unwrap_or_default())
        }
        WebhookEvent::Issues(event) => Said::Label {
            name: event
                .label
                .as_ref()
                .map(|label| label.name.clone())
                .unwrap_or_default(),
            added: event.action == "labeled",
        },
        _ => return Err(unusable()),
    };
    let Some(incident_id) = store.incident_tracked_by(&repository, issue).await? else {
        return Ok(Record::note("not a tracking issue"));
    };
    let Some(row) = store.incident(incident_id).await? else {
        return Ok(Record::note("incident gone"));
    };
    let advisory_repository = row.incident.repository.clone();
    let api = channels.installation(&advisory_repository).await?;
    let loaded = channels.repo_config(&api, &advisory_repository).await?;
    let labels = &loaded.config.labels;
    let names = LabelNames {
        severity_prefix: &labels.severity_prefix,
        threat_prefix: &labels.threat_prefix,
        incident: &labels.incident,
        disclosure_approved: &labels.disclosure_approved,
        prenotify_approved: &labels.prenotify_approved,
    };
    // Each command with the text it came from.
    let commands: Vec<(String, Result<Command, String>)> = match &said {
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
    };
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
        delivery_id: delivery_id.to_owned(),
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
    let role = api.repository_role(repository, sender).await?;
    let authority = Authority::of_repository_role(role.name(), &role.permission);
    let standing = format!("{} role on {repository}", role.name());
    let may_need_security = commands
        .iter()
        .any(|(_, command)| command.as_ref().is_ok_and(Command::may_need_security));
    if authority >= Authority::Security || !may_need_security {
        return Ok((authority, standing));
    }
    Ok(
        match api.security_manager(repository.owner(), sender).await? {
            Lookup::Found(()) => (
                Authority::Security,
                format!("security manager of {}", repository.owner()),
            ),
            Lookup::Absent => (authority, standing),
            Lookup::Unknown(words) => (
                authority,
                format!(
                    "{standing}; GitHub did not say whether they are a security manager of {}: {words}",
                    repository.owner()
                ),
            ),
        },
    )
}

/// Applies maintainer commands to the incident as it is now in the store, within `work`:
/// the incident, its timeline, the jobs the commands call for and herald's answer.
pub(super) async fn apply_commands(
    work: &mut Work,
    batch: CommandBatch,
    now: DateTime<Utc>,
) -> Result<(), ChannelError> {
    let CommandBatch {
        delivery_id,
        repository,
        issue,
        sender,
        authority,
        standing,
        advisory_repository,
        ghsa_id,
        commands,
        from_comment,
        prenotify,
        second_person,
    } = batch;
    let terms = prenotify;
    let Some(current) = work.find_incident(&advisory_repository, &ghsa_id).await? else {
        return Ok(());
    };
    let allowed = authority >= Authority::Maintainer;
    let mut incident = current.incident;
    let mut timeline = Vec::new();
    let mut replies = Vec::new();
    let mut effects = Vec::new();
    let mut changed = false;
    let mut refused = !allowed;
    if allowed {
        let mut needs_help = false;
        for (text, command) in &commands {
            match command {
                Ok(command) if authority < command.needs(&incident) => {
                    refused = true;
                    let needed = command.needs(&incident);
                    timeline.push(refusal_entry(now, &sender, text, &standing));
                    replies.push(format!(
                        "Not done: “{}” needs {needed}, as GitHub reserves it; you have the {}.",
                        escape::markdown_line(text),
                        escape::markdown_line(&standing)
                    ));
                }
                Ok(Command::Publish)
                    if let Some(reason) = incident.second_person_needed(&sender, second_person) =>
                {
                    refused = true;
                    timeline.push(TimelineEntry {
                        at: now,
                        actor: Some(sender.clone()),
                        kind: TimelineKind::Command,
                        detail: format!("refused `{text}`: {reason}"),
                    });
                    replies.push(format!(
                        "Not done: “{}”: {}.",
                        escape::markdown_line(text),
                        escape::markdown_line(&reason)
                    ));
                }
                Ok(command) => {
                    let outcome = apply_command_with(&mut incident, command, &sender, now, &terms);
                    changed |= outcome.changed;
                    refused |= outcome.refused;
                    timeline.extend(outcome.timeline);
                    effects.extend(outcome.effects);
                    replies.push(outcome.reply);
                }
                Err(problem) => {
                    needs_help = true;
                    replies.push(format!(
                        "I did not understand “{}”: {}",
                        escape::markdown_line(text),
                        escape::markdown_line(problem)
                    ));
                }
            }
        }
        if needs_help {
            replies.push(HELP.to_owned());
        }
    } else {
        for (text, _) in &commands {
            timeline.push(refusal_entry(now, &sender, text, &standing));
        }
        replies.push(format!(
            "Sorry, herald takes commands only from people with {} (you have the {}), so \
             nothing changed.",
            Authority::Maintainer,
            escape::markdown_line(&standing)
        ));
    }

    if changed {
        let (id, revision) = work.save_incident(&incident, now).await?;
        crate::pipeline::follow_incident(
            work,
            (id, revision),
            &incident,
            &timeline,
            crate::store::Priority::Urgent,
        )?;
    }
    for effect in effects {
        let incident_id = current.id;
        let job = match effect {
            CommandEffect::RequestCve => Job::RequestCve {
                incident: incident_id,
            },
            CommandEffect::PublishAdvisory => Job::PublishAdvisory {
                incident: incident_id,
            },
            CommandEffect::PostReview => Job::PostReview {
                incident: incident_id,
            },
            CommandEffect::RequestFork => Job::PrivateFork {
                incident: incident_id,
            },
            CommandEffect::TrackPull { repository, number } => {
                work.link_fix(&repository, number, incident_id).await?;
                let job_key = key::track_pull(&delivery_id, &repository, number);
                let job = Job::TrackPull(PendingPull {
                    incident_id,
                    repository,
                    number,
                });
                work.enqueue(&job, &job_key)?;
                continue;
            }
            CommandEffect::ActionTaken { number, inform } => {
                let Some(action) = number
                    .checked_sub(1)
                    .and_then(|index| incident.decisions.actions.get(index))
                else {
                    continue;
                };
                for (job, key, at) in
                    super::containment::on_action_taken(incident_id, number, action, inform)
                {
                    work.enqueue_at(&job, &key, at)?;
                }
                continue;
            }
            CommandEffect::Prenotify { until, send_at } => {
                for (job, key) in super::prenotify::notices(incident_id, &incident, until, None) {
                    work.enqueue_at(&job, &key, send_at)?;
                }
                let (job, key) = super::prenotify::embargo_end(incident_id, until);
                work.enqueue_at(&job, &key, until)?;
                continue;
            }
            CommandEffect::PrenotifyMoved { from, to, send_at } => {
                for (job, key) in super::prenotify::notices(incident_id, &incident, to, None) {
                    work.enqueue_at(&job, &key, send_at)?;
                }
                for (job, key) in super::prenotify::notices(incident_id, &incident, to, Some(from))
                {
                    work.enqueue(&job, &key)?;
                }
                let (job, key) = super::prenotify::embargo_end(incident_id, to);
                work.enqueue_at(&job, &key, to)?;
                continue;
            }
            CommandEffect::RetryFailed => {
                let retried = work.retry_failed_jobs(current.id).await?;
                timeline.push(TimelineEntry {
                    at: now,
                    actor: Some(sender.clone()),
                    kind: TimelineKind::Command,
                    detail: format!("{retried} failed job(s) queued again"),
                });
                continue;
            }
        };
        work.enqueue(&job, &key::command(job.kind().as_str(), &delivery_id))?;
    }
    work.append_timeline(current.id, &timeline, Some(&delivery_id))?;
    // An approval of pre-notification is answered even by label: it names who receives
    // the embargoed text.
    if (from_comment || refused || approves_prenotification(&commands)) && !replies.is_empty() {
        work.queue_comment(
            &delivery_id,
            &repository,
            issue,
            &format!("@{sender} {}", replies.join("\n\n")),
        )?;
    }
    Ok(())
}

/// Whether `commands` approve pre-notification.
fn approves_prenotification(commands: &[(String, Result<Command, String>)]) -> bool {
    commands
        .iter()
        .any(|(_, command)| matches!(command, Ok(Command::Prenotify(true))))
}

/// A refused command on the timeline: what was asked, and the role of who asked.
fn refusal_entry(at: DateTime<Utc>, sender: &str, text: &str, standing: &str) -> TimelineEntry {
    TimelineEntry {
        at,
        actor: Some(sender.to_owned()),
        kind: TimelineKind::Command,
        detail: format!("refused `{text}`: {sender} has the {standing}"),
    }
}

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
