//! Maintainers' commands applied to their incident in the runner's commit: the decision,
//! its timeline, herald's answer and the jobs that follow, all in one durable write (see
//! [`apply_commands`]). `maintainer.rs` reads the commands and asks GitHub who gave them.

use super::ChannelError;
use crate::drafts::escape;
use crate::incident::{
    Authority, Command, CommandEffect, DeliveryId, GhsaId, HELP, PrenotifyTerms, RepoName,
    TimelineEntry, TimelineKind, apply_command_with,
};
use crate::jobs::{Job, PendingPull};
use crate::markers::key;
use crate::store::Work;
use chrono::{DateTime, Utc};

/// Maintainer commands read from one comment or label, with what GitHub said of the
/// commenter: applied to the incident in the runner's commit (see [`apply_commands`]).
#[derive(Debug)]
pub struct CommandBatch {
    pub(super) delivery_id: DeliveryId,
    /// The tracking issue the commands were given on.
    pub(super) repository: RepoName,
    pub(super) issue: u64,
    pub(super) sender: String,
    /// What the sender may do, as GitHub answered.
    pub(super) authority: Authority,
    /// The sender's role as GitHub named it, for refusals.
    pub(super) standing: String,
    /// The incident's key.
    pub(super) advisory_repository: RepoName,
    pub(super) ghsa_id: GhsaId,
    /// Each command with the text it came from.
    pub(super) commands: Vec<(String, Result<Command, String>)>,
    /// A comment is answered; a label only when refused (labels speak for themselves).
    pub(super) from_comment: bool,
    /// Who is told before disclosure, and the rules (from the repository's configuration,
    /// with the recipients' keys read when an approval needs them).
    pub(super) prenotify: PrenotifyTerms,
    /// A second person publishes what one approved (`disclosure.second_person`).
    pub(super) second_person: bool,
}

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
        crate::jobs::follow::follow_incident(
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
                    crate::jobs::follow::on_action_taken(incident_id, number, action, inform)
                {
                    work.enqueue_at(&job, &key, at)?;
                }
                continue;
            }
            CommandEffect::Prenotify { until, send_at } => {
                for (job, key) in
                    crate::jobs::follow::prenotices(incident_id, &incident, until, None)
                {
                    work.enqueue_at(&job, &key, send_at)?;
                }
                let (job, key) = crate::jobs::follow::embargo_end(incident_id, until);
                work.enqueue_at(&job, &key, until)?;
                continue;
            }
            CommandEffect::PrenotifyMoved { from, to, send_at } => {
                for (job, key) in crate::jobs::follow::prenotices(incident_id, &incident, to, None)
                {
                    work.enqueue_at(&job, &key, send_at)?;
                }
                for (job, key) in
                    crate::jobs::follow::prenotices(incident_id, &incident, to, Some(from))
                {
                    work.enqueue(&job, &key)?;
                }
                let (job, key) = crate::jobs::follow::embargo_end(incident_id, to);
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
        crate::jobs::queue_comment(
            work,
            &delivery_id,
            &repository,
            issue,
            &format!("@{sender} {}", replies.join("\n\n")),
        )?;
    }
    Ok(())
}

/// Whether `commands` approve pre-notification.
pub(super) fn approves_prenotification(commands: &[(String, Result<Command, String>)]) -> bool {
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
