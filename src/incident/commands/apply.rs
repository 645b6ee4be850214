//! Applying a command to an incident: what it changes, what herald answers, what the
//! timeline records and what is to be done outside the store. Each command's own work is
//! in its family's file; this one dispatches and records.

use super::Command;
use super::assess::{set_breach, set_cvss, set_kind, set_severity, set_threat};
use super::disclose::{
    approve_disclosure, approve_prenotification, publish, request_cve, set_embargo,
    withdraw_prenotification,
};
use super::fix::{fork, track_fix};
use super::parse::HELP;
use super::respond::{
    acknowledge, affected, close, consulted, contain, move_phase, retry, set_coordinator, settle,
};
use crate::incident::{Incident, PrenotifyTerms, RepoName, TimelineEntry, TimelineKind};
use chrono::{DateTime, Utc};

/// Something to do outside the store because of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEffect {
    RequestCve,
    PublishAdvisory,
    /// Render the post-incident review and post it on the tracking issue.
    PostReview,
    /// Queue the incident's failed jobs again.
    RetryFailed,
    /// Temporary action `n` (from 1) was recorded: remind of it daily until it is settled
    /// and, under an active threat, inform the people of the `notify:` section now.
    ActionTaken {
        number: usize,
        inform: bool,
    },
    /// Ask GitHub for a temporary private fork and link it once it exists.
    RequestFork,
    /// Read a linked fix's state from GitHub.
    TrackPull {
        repository: RepoName,
        number: u64,
    },
    /// Tell every configured downstream at `send_at`, under the embargo ending `until`.
    Prenotify {
        until: DateTime<Utc>,
        send_at: DateTime<Utc>,
    },
    /// The approved embargo moved from `from` to `to`: downstreams already told get an
    /// update now; the others get the notice for `to` at `send_at`.
    PrenotifyMoved {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        send_at: DateTime<Utc>,
    },
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    pub changed: bool,
    pub timeline: Vec<TimelineEntry>,
    /// What herald answers the maintainer.
    pub reply: String,
    pub effects: Vec<CommandEffect>,
    /// A rule refused the command: the answer says why, also to a label (which is
    /// otherwise not answered).
    pub refused: bool,
}

/// Applies one command of `actor` to `incident` at `at`, under the default pre-notification
/// terms (nobody to tell).
pub fn apply_command(
    incident: &mut Incident,
    command: &Command,
    actor: &str,
    at: DateTime<Utc>,
) -> CommandOutcome {
    apply_command_with(incident, command, actor, at, &PrenotifyTerms::default())
}

/// Applies one command of `actor` to `incident` at `at`, with the repository's
/// pre-notification `terms`.
pub fn apply_command_with(
    incident: &mut Incident,
    command: &Command,
    actor: &str,
    at: DateTime<Utc>,
    terms: &PrenotifyTerms,
) -> CommandOutcome {
    let before = incident.clone();
    let mut effects = Vec::new();
    let mut refused = false;
    let reply = match command {
        Command::Help => HELP.to_owned(),
        Command::Severity(level) => set_severity(incident, Some(*level)),
        Command::ClearSeverity => set_severity(incident, None),
        Command::Cvss(vector) => set_cvss(incident, vector),
        Command::Kind(kind) => set_kind(incident, *kind),
        Command::Threat(threat) => set_threat(incident, *threat),
        Command::Breach(breach) => set_breach(incident, *breach),
        Command::Coordinator(login) => set_coordinator(incident, login),
        Command::Acknowledge => acknowledge(incident, at),
        Command::Phase(phase) => move_phase(incident, *phase, at),
        Command::Close => close(incident, at, &mut effects),
        Command::Retry => retry(&mut effects),
        Command::Contain(what) => contain(incident, what, actor, at, &mut effects),
        Command::Consulted(lead) => consulted(incident, lead, actor, at),
        Command::Revert(number) => settle(incident, *number, false, actor, at),
        Command::Keep(number) => settle(incident, *number, true, actor, at),
        Command::Affected(text) => affected(incident, text, actor, at),
        Command::ApproveDisclosure(approved) => approve_disclosure(incident, *approved, actor),
        Command::Embargo(until) => set_embargo(incident, *until, at, terms, &mut effects),
        Command::Prenotify(true) => {
            match approve_prenotification(incident, actor, at, terms, &mut effects) {
                Ok(reply) => reply,
                Err(refusal) => {
                    refused = true;
                    refusal
                }
            }
        }
        Command::Prenotify(false) => withdraw_prenotification(incident),
        Command::RequestCve => request_cve(incident, at, &mut effects),
        Command::Publish => publish(incident, actor, at, &mut effects),
        Command::Fork => fork(incident, &mut effects),
        Command::Fix { repository, number } => {
            track_fix(incident, repository.as_ref(), *number, actor, &mut effects)
        }
    };
    CommandOutcome {
        changed: *incident != before,
        timeline: timeline(incident, &before, command, actor, at, &reply, &effects),
        reply,
        effects,
        refused,
    }
}

/// What the timeline records of `command`, which made `before` into `incident`: the command
/// itself (with why, when it changed nothing), and the severity and phase it moved.
fn timeline(
    incident: &Incident,
    before: &Incident,
    command: &Command,
    actor: &str,
    at: DateTime<Utc>,
    reply: &str,
    effects: &[CommandEffect],
) -> Vec<TimelineEntry> {
    let mut timeline = Vec::new();
    if *incident != *before || !effects.is_empty() {
        timeline.push(TimelineEntry {
            at,
            actor: Some(actor.to_owned()),
            kind: TimelineKind::Command,
            detail: command_words(command),
        });
    } else if *command != Command::Help {
        // A command that changed nothing is on the record too, with why.
        timeline.push(TimelineEntry {
            at,
            actor: Some(actor.to_owned()),
            kind: TimelineKind::Command,
            detail: format!(
                "{}: nothing changed ({})",
                command_words(command),
                reply.chars().take(200).collect::<String>()
            ),
        });
    }
    timeline.extend(incident.severity_change(before, Some(actor), at));
    if before.phase != incident.phase {
        timeline.push(TimelineEntry {
            at,
            actor: Some(actor.to_owned()),
            kind: TimelineKind::PhaseChanged,
            detail: format!("phase {} → {}", before.phase, incident.phase),
        });
    }
    timeline
}

/// A command as the timeline records it.
fn command_words(command: &Command) -> String {
    match command {
        Command::Severity(level) => format!("severity set to {level}"),
        Command::ClearSeverity => "maintainer severity cleared".to_owned(),
        Command::Cvss(vector) => format!("CVSS vector set to {vector}"),
        Command::Threat(Some(threat)) => format!("threat set to {threat}"),
        Command::Threat(None) => "threat label removed".to_owned(),
        Command::Breach(true) => "breach confirmed (incident label)".to_owned(),
        Command::Breach(false) => "breach label removed".to_owned(),
        Command::ApproveDisclosure(true) => "disclosure approved".to_owned(),
        Command::ApproveDisclosure(false) => "disclosure approval withdrawn".to_owned(),
        Command::Coordinator(login) => format!("coordinator set to {login}"),
        Command::Embargo(until) => format!("embargo until {}", until.to_rfc3339()),
        Command::Prenotify(true) => "pre-notification approved".to_owned(),
        Command::Prenotify(false) => "pre-notification approval withdrawn".to_owned(),
        Command::Acknowledge => "report acknowledged".to_owned(),
        Command::Kind(kind) => format!("kind set to {kind}"),
        Command::Phase(phase) => format!("phase set to {phase}"),
        Command::RequestCve => "CVE requested".to_owned(),
        Command::Publish => "publication requested".to_owned(),
        Command::Retry => "failed work queued again".to_owned(),
        Command::Close => "incident closed".to_owned(),
        Command::Help => "help".to_owned(),
        Command::Contain(what) => format!("temporary action: {what}"),
        Command::Consulted(lead) => format!("{lead} consulted"),
        Command::Revert(number) => format!("temporary action {number} reverted"),
        Command::Keep(number) => format!("temporary action {number} made permanent"),
        Command::Affected(text) => format!("affected: {text}"),
        Command::Fork => "temporary private fork requested".to_owned(),
        Command::Fix { repository, number } => match repository {
            Some(repository) => format!("fix {repository}#{number} linked"),
            None => format!("fix #{number} linked"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_changes_nothing_is_on_the_timeline_with_why() {
        let at = Utc::now();
        let mut incident = Incident::new(
            RepoName::parse("acme/widget").expect("name"),
            crate::incident::GhsaId::parse("GHSA-abcd-efgh-ijkm").expect("id"),
            at,
        );
        let outcome = apply_command(&mut incident, &Command::Publish, "alice", at);
        assert!(!outcome.changed && outcome.effects.is_empty());
        let details: Vec<&str> = outcome
            .timeline
            .iter()
            .map(|entry| entry.detail.as_str())
            .collect();
        assert_eq!(
            details,
            [
                "publication requested: nothing changed (Not published: disclosure needs the \
              `disclosure:approved` label first.)"
            ]
        );
        let help = apply_command(&mut incident, &Command::Help, "alice", at);
        assert!(help.timeline.is_empty(), "asking for help is no event");
    }
}
