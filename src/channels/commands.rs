//! Maintainers' commands applied to their incident in the runner's commit: the decision,
//! its timeline, herald's answer and the jobs that follow, all in one durable write (see
//! [`apply_commands`]). `maintainer.rs` reads the commands and asks GitHub who gave them.

use super::ChannelError;
use crate::drafts::escape;
use crate::incident::{
    Authority, Command, CommandEffect, DeliveryId, GhsaId, HELP, Incident, PrenotifyTerms,
    RepoName, TimelineEntry, TimelineKind, apply_command_with,
};
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
    let Some(current) = work
        .find_incident(&batch.advisory_repository, &batch.ghsa_id)
        .await?
    else {
        return Ok(());
    };
    let mut decided = if batch.authority >= Authority::Maintainer {
        decide(&batch, current.incident, now)
    } else {
        refuse_all(&batch, current.incident, now)
    };
    if decided.changed {
        let (id, revision) = work.save_incident(&decided.incident, now).await?;
        let (incident, timeline) = (&decided.incident, &decided.timeline);
        let urgent = crate::store::Priority::Urgent;
        crate::jobs::follow::follow_incident(work, (id, revision), incident, timeline, urgent)?;
    }
    for effect in std::mem::take(&mut decided.effects) {
        if effect == CommandEffect::RetryFailed {
            let retried = work.retry_failed_jobs(current.id).await?;
            let detail = format!("{retried} failed job(s) queued again");
            decided.timeline.push(entry(now, &batch.sender, detail));
            continue;
        }
        let incident = (current.id, &decided.incident);
        crate::jobs::follow::after_command(work, incident, effect, &batch.delivery_id).await?;
    }
    work.append_timeline(current.id, &decided.timeline, Some(&batch.delivery_id))?;
    // An approval of pre-notification is answered even by label: it names who receives
    // the embargoed text.
    let answered =
        batch.from_comment || decided.refused || approves_prenotification(&batch.commands);
    if answered && !decided.replies.is_empty() {
        crate::jobs::queue_comment(
            work,
            &batch.delivery_id,
            &batch.repository,
            batch.issue,
            &format!("@{} {}", batch.sender, decided.replies.join("\n\n")),
        )?;
    }
    Ok(())
}

/// What one batch of commands decided, before it is written.
struct Decided {
    incident: Incident,
    timeline: Vec<TimelineEntry>,
    /// herald's answer, a paragraph per command.
    replies: Vec<String>,
    effects: Vec<CommandEffect>,
    changed: bool,
    refused: bool,
}

/// Applies each command a maintainer gave, in order, unless it needs more than the sender
/// has, or a second person.
fn decide(batch: &CommandBatch, incident: Incident, now: DateTime<Utc>) -> Decided {
    let sender = &batch.sender;
    let mut decided = Decided {
        incident,
        timeline: Vec::new(),
        replies: Vec::new(),
        effects: Vec::new(),
        changed: false,
        refused: false,
    };
    let mut needs_help = false;
    for (text, command) in &batch.commands {
        let quoted = escape::markdown_line(text);
        let command = match command {
            Ok(command) => command,
            Err(problem) => {
                needs_help = true;
                let problem = escape::markdown_line(problem);
                decided
                    .replies
                    .push(format!("I did not understand “{quoted}”: {problem}"));
                continue;
            }
        };
        let needed = command.needs(&decided.incident);
        let second = match command {
            Command::Publish => decided
                .incident
                .second_person_needed(sender, batch.second_person),
            _ => None,
        };
        if batch.authority < needed {
            decided.refused = true;
            let standing = &batch.standing;
            decided
                .timeline
                .push(refusal_entry(now, sender, text, standing));
            decided.replies.push(format!(
                "Not done: “{quoted}” needs {needed}, as GitHub reserves it; you have the {}.",
                escape::markdown_line(standing)
            ));
        } else if let Some(reason) = second {
            decided.refused = true;
            let detail = format!("refused `{text}`: {reason}");
            decided.timeline.push(entry(now, sender, detail));
            let reason = escape::markdown_line(&reason);
            decided
                .replies
                .push(format!("Not done: “{quoted}”: {reason}."));
        } else {
            let outcome = apply_command_with(
                &mut decided.incident,
                command,
                sender,
                now,
                &batch.prenotify,
            );
            decided.changed |= outcome.changed;
            decided.refused |= outcome.refused;
            decided.timeline.extend(outcome.timeline);
            decided.effects.extend(outcome.effects);
            decided.replies.push(outcome.reply);
        }
    }
    if needs_help {
        decided.replies.push(HELP.to_owned());
    }
    decided
}

/// Refuses every command of someone without a maintainer's permission.
fn refuse_all(batch: &CommandBatch, incident: Incident, now: DateTime<Utc>) -> Decided {
    let timeline = batch
        .commands
        .iter()
        .map(|(text, _)| refusal_entry(now, &batch.sender, text, &batch.standing))
        .collect();
    let reply = format!(
        "Sorry, herald takes commands only from people with {} (you have the {}), so \
         nothing changed.",
        Authority::Maintainer,
        escape::markdown_line(&batch.standing)
    );
    Decided {
        incident,
        timeline,
        replies: vec![reply],
        effects: Vec::new(),
        changed: false,
        refused: true,
    }
}

/// A command's line on the timeline, by `sender`.
fn entry(at: DateTime<Utc>, sender: &str, detail: String) -> TimelineEntry {
    TimelineEntry {
        at,
        actor: Some(sender.to_owned()),
        kind: TimelineKind::Command,
        detail,
    }
}

/// Whether `commands` approve pre-notification.
pub(super) fn approves_prenotification(commands: &[(String, Result<Command, String>)]) -> bool {
    commands
        .iter()
        .any(|(_, command)| matches!(command, Ok(Command::Prenotify(true))))
}

/// A refused command on the timeline: what was asked, and the role of who asked.
fn refusal_entry(at: DateTime<Utc>, sender: &str, text: &str, standing: &str) -> TimelineEntry {
    entry(
        at,
        sender,
        format!("refused `{text}`: {sender} has the {standing}"),
    )
}
