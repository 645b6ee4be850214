//! Maintainers' comments and labels on a tracking issue: who may command is asked of
//! GitHub (write or admin on the advisory's repository), then the commands change the
//! incident, land on its timeline, and herald answers in a comment, all recorded in one
//! durable commit. Follow-up work (the answer, a CVE request, publication) is queued there
//! too, so a crash never loses it and never doubles it.

use super::{ChannelError, Channels};
use crate::drafts::escape;
use crate::incident::{
    Command, CommandEffect, HELP, LabelNames, Phase, TimelineEntry, TimelineKind, apply_command,
    label_command, parse_comment,
};
use crate::ingest::events::WebhookEvent;
use crate::store::{JobKind, Work};
use chrono::Utc;
use serde::{Deserialize, Serialize};

/// A comment herald owes GitHub: the payload of a [`JobKind::PostComment`] job.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingComment {
    pub repository: String,
    pub issue: u64,
    pub body: String,
    /// Hidden in the body, so a retried job finds the comment it already posted.
    pub marker: String,
}

/// What a maintainer did, as herald reads it.
enum Said {
    Comment(String),
    Label { name: String, added: bool },
}

pub(super) async fn handle(
    channels: &Channels,
    job_id: i64,
    delivery_id: &str,
) -> Result<String, ChannelError> {
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
        return complete(channels, job_id).await;
    };
    let Some(row) = store.incident(incident_id).await? else {
        return complete(channels, job_id).await;
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
        return complete(channels, job_id).await;
    }
    let permission = api.permission(&advisory_repository, &sender).await?;
    let allowed = matches!(permission.as_str(), "admin" | "write");

    let now = Utc::now();
    let mut work = store.begin_durable().await?;
    let Some(current) = work
        .find_incident(&advisory_repository, &row.incident.ghsa_id)
        .await?
    else {
        work.rollback().await?;
        return complete(channels, job_id).await;
    };
    let mut incident = current.incident;
    let mut timeline = Vec::new();
    let mut replies = Vec::new();
    let mut effects = Vec::new();
    let mut changed = false;
    if allowed {
        let mut needs_help = false;
        for (text, command) in &commands {
            match command {
                Ok(command) => {
                    let outcome = apply_command(&mut incident, command, &sender, now);
                    changed |= outcome.changed;
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
            timeline.push(TimelineEntry {
                at: now,
                actor: Some(sender.clone()),
                kind: TimelineKind::Command,
                detail: format!(
                    "refused `{text}`: {sender} has {permission} permission on \
                     {advisory_repository}"
                ),
            });
        }
        replies.push(format!(
            "Sorry, only people with write or admin permission on {} can command herald, \
             so nothing changed.",
            escape::markdown_line(&advisory_repository)
        ));
    }

    if changed {
        let (id, revision) = work.save_incident(&incident, now).await?;
        work.follow_incident(id, revision, incident.phase >= Phase::Disclosure)
            .await?;
    }
    work.append_timeline(current.id, &timeline, Some(delivery_id))
        .await?;
    for effect in effects {
        let kind = match effect {
            CommandEffect::RequestCve => JobKind::RequestCve,
            CommandEffect::PublishAdvisory => JobKind::PublishAdvisory,
            CommandEffect::PostReview => JobKind::PostReview,
        };
        work.enqueue(
            kind,
            &format!("{}:{delivery_id}", kind.as_str()),
            &current.id.to_string(),
        )
        .await?;
    }
    // Answers to labels stay quiet unless something was refused: labels speak for themselves.
    let answer = matches!(said, Said::Comment(_)) || !allowed;
    if answer && !replies.is_empty() {
        queue_comment(
            &mut work,
            delivery_id,
            &repository,
            issue,
            &format!("@{sender} {}", replies.join("\n\n")),
        )
        .await?;
    }
    work.complete_jobs(&[job_id]).await?;
    work.commit().await?;
    Ok(format!(
        "{} command(s) from {sender} on {repository}#{issue}: {}",
        commands.len(),
        if allowed { "applied" } else { "refused" }
    ))
}

pub(super) async fn queue_comment(
    work: &mut Work,
    key: &str,
    repository: &str,
    issue: u64,
    body: &str,
) -> Result<(), ChannelError> {
    let marker = format!(
        "<!-- herald:reply {} -->",
        escape::file_name(key).replace("--", "-")
    );
    let comment = PendingComment {
        repository: repository.to_owned(),
        issue,
        body: format!("{body}\n\n{marker}"),
        marker,
    };
    let payload = serde_json::to_string(&comment)
        .map_err(|error| crate::store::StoreError::Corrupt(error.to_string()))?;
    work.enqueue(JobKind::PostComment, &format!("reply:{key}"), &payload)
        .await?;
    Ok(())
}

/// Posts a queued comment once: a retry first looks for its marker.
pub(super) async fn post_comment(
    channels: &Channels,
    job_id: i64,
    comment: &PendingComment,
) -> Result<String, ChannelError> {
    let api = channels.installation(&comment.repository).await?;
    let posted = api
        .comments(&comment.repository, comment.issue)
        .await?
        .iter()
        .any(|existing| {
            existing
                .body
                .as_deref()
                .is_some_and(|body| body.contains(&comment.marker))
        });
    if !posted {
        api.create_comment(&comment.repository, comment.issue, &comment.body)
            .await?;
    }
    complete(channels, job_id).await?;
    Ok(format!(
        "comment on {}#{}{}",
        comment.repository,
        comment.issue,
        if posted {
            " was already posted"
        } else {
            " posted"
        }
    ))
}

/// Asks GitHub for a CVE id, or publishes the advisory, then records it.
pub(super) async fn advisory_action(
    channels: &Channels,
    job_id: i64,
    incident_id: i64,
    kind: JobKind,
) -> Result<String, ChannelError> {
    let Some(row) = channels.store.incident(incident_id).await? else {
        return complete(channels, job_id).await;
    };
    let incident = &row.incident;
    let api = channels.installation(&incident.repository).await?;
    let detail = match kind {
        JobKind::RequestCve => {
            if api
                .request_cve(&incident.repository, &incident.ghsa_id)
                .await?
            {
                "CVE id requested from GitHub".to_owned()
            } else {
                "GitHub says the advisory already has a CVE id".to_owned()
            }
        }
        _ => {
            api.publish_advisory(&incident.repository, &incident.ghsa_id)
                .await?;
            "advisory published on GitHub at the maintainers' request".to_owned()
        }
    };
    let mut work = channels.store.begin_durable().await?;
    work.append_timeline(
        incident_id,
        &[TimelineEntry {
            at: Utc::now(),
            actor: None,
            kind: TimelineKind::Command,
            detail: detail.clone(),
        }],
        None,
    )
    .await?;
    work.complete_jobs(&[job_id]).await?;
    work.commit().await?;
    Ok(detail)
}

pub(super) async fn complete(channels: &Channels, job_id: i64) -> Result<String, ChannelError> {
    let mut work = channels.store.begin_durable().await?;
    work.complete_jobs(&[job_id]).await?;
    work.commit().await?;
    Ok("nothing to do".to_owned())
}
