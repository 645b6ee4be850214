//! Reminders and escalation, so that nothing waits unnoticed. When the tracking issue is
//! synced, herald queues durable reminder jobs for the reaction clock: one at 75% of the
//! allowance and one at the deadline (keyed by the deadline, so a moved deadline gets new
//! ones and each fires once, also across restarts), and for an active threat one at once.
//! When a reminder runs, it checks the clock still stands where it was scheduled (not
//! acknowledged, not moved), then mentions the people and teams of the `escalation:`
//! section (and the coordinator) on the private tracking issue and mails the addresses, signed.
//! These notices are private, so they are not gated by the embargo: they carry the GHSA id,
//! the severity and the deadline, never advisory text.

use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::incident::{Audience, Incident, ReactionClock, SlaPolicy, TimelineEntry, TimelineKind};
use crate::jobs::{ChatNotice, ClaimedJob, Job, PendingChat, PendingEscalation, Stage};
use crate::markers::key;
use crate::repo_config::{EscalationTarget, MailingList, SigningMode};
use crate::store::IncidentId;
use chrono::{DateTime, Utc};

/// The share of the allowance after which the first reminder goes out.
const WARNING_SHARE: f64 = 0.75;

/// A reminder job, with its idempotency key and when it is due.
pub(super) struct Reminder {
    pub job: Job,
    pub key: String,
    pub at: DateTime<Utc>,
}

/// The reminder jobs the incident's clock calls for now.
pub(super) fn schedule(
    incident_id: IncidentId,
    incident: &Incident,
    sla: &SlaPolicy,
    now: DateTime<Utc>,
) -> Vec<Reminder> {
    let mut jobs = Vec::new();
    let mut push = |stage: Stage, due: Option<DateTime<Utc>>, at: DateTime<Utc>| {
        let key = key::escalate(
            incident_id,
            stage.as_str(),
            due.map(|due| due.timestamp_millis()),
        );
        let job = Job::Escalate(PendingEscalation {
            incident_id,
            stage,
            due,
        });
        jobs.push(Reminder { job, key, at });
    };
    if incident.active_threat() && incident.decisions.acknowledged_at.is_none() {
        push(Stage::ActiveThreat, None, now);
    }
    if let ReactionClock::Running { due } = incident.reaction_clock(sla) {
        let active = incident.active_threat();
        let warning = sla.share_of_allowance(incident.learned_at, due, active, WARNING_SHARE);
        push(Stage::Warning, Some(due), warning);
        push(Stage::Breach, Some(due), due);
    }
    jobs
}

/// Runs one reminder: checks it still applies, then comments, mails and records it.
pub(super) async fn escalate(
    channels: &Channels,
    job: &ClaimedJob,
    pending: &PendingEscalation,
    incident: &Incident,
) -> Result<Record, ChannelError> {
    let store = &channels.store;
    let api = channels.installation(&incident.repository).await?;
    let loaded = channels.repo_config(&api, &incident.repository).await?;
    if !still_applies(pending, incident, &loaded.config.sla.policy()) {
        return Ok(Record::note(
            "reminder no longer applies (acknowledged, or the deadline moved)",
        ));
    }
    let Some(tracking) = store.tracking_link(pending.incident_id).await? else {
        return Ok(Record::note("no tracking issue to remind on"));
    };
    let Some((repository, number)) = tracking.issue() else {
        return Ok(Record::note("no tracking issue to remind on"));
    };
    let (mut mentions, addresses) =
        split_targets(loaded.config.escalation.for_severity(incident.severity));
    let (addresses, held) = shown_only(addresses, tracking.audience.as_ref());
    add_coordinator(&mut mentions, incident);
    let situation = situation(pending, incident);
    let what = match pending.stage {
        Stage::Warning => "reaction due soon",
        Stage::Breach => "reaction deadline passed",
        Stage::ActiveThreat => "active threat",
    };
    let tag = format!(
        "{}-{}",
        pending.stage.as_str(),
        pending.due.map(|due| due.timestamp()).unwrap_or_default()
    );
    let mailed = mail_privately(
        channels,
        incident,
        &addresses,
        Notice {
            what,
            situation: &situation,
            tag: &tag,
        },
        tracking.url.as_deref(),
    )
    .await?;
    let comment = format!(
        "{}{situation}\n\n`/herald ack` acknowledges the report and stops the reaction clock.",
        mention_prefix(&mentions)
    );
    let notified: Vec<String> = mentions.iter().cloned().chain(mailed).collect();
    let detail = format!(
        "escalation ({}): {}{}",
        pending.stage.as_str(),
        if notified.is_empty() {
            "reminder posted on the tracking issue".to_owned()
        } else {
            format!("notified {}", notified.join(", "))
        },
        held_note(&held)
    );
    let entry = TimelineEntry {
        at: Utc::now(),
        actor: None,
        kind: TimelineKind::Escalation,
        detail: detail.clone(),
    };
    let chat = Job::Chat(PendingChat {
        incident_id: pending.incident_id,
        notice: ChatNotice::Escalated(pending.stage),
    });
    let mut record = Record::note(detail);
    record.sla_notice = Some(pending.stage.as_str());
    Ok(record
        .with_timeline(pending.incident_id, entry)
        .with(Write::Comment {
            key: key::escalation_notice(job.id, pending.stage.as_str()),
            repository,
            issue: number,
            body: comment,
        })
        .with(Write::Job {
            job: chat,
            key: key::chat(pending.incident_id, &format!("escalation:{}", job.id)),
            at: None,
        }))
}

/// Whether a reminder still applies: an active threat not yet acknowledged, or a deadline
/// still the one it was scheduled for (an acknowledgement or a moved deadline ends it).
fn still_applies(pending: &PendingEscalation, incident: &Incident, sla: &SlaPolicy) -> bool {
    match pending.stage {
        Stage::ActiveThreat => {
            incident.active_threat() && incident.decisions.acknowledged_at.is_none()
        }
        Stage::Warning | Stage::Breach => matches!(
            incident.reaction_clock(sla),
            ReactionClock::Running { due } if Some(due) == pending.due
        ),
    }
}

/// What a reminder says happened.
fn situation(pending: &PendingEscalation, incident: &Incident) -> String {
    let ghsa = &incident.ghsa_id;
    let due = pending.due.map(crate::incident::utc_minute);
    match (pending.stage, &due) {
        (Stage::Warning, Some(due)) => format!(
            "75% of the reaction time for {ghsa} ({} severity) has passed: a reaction is due by {due}.",
            incident.severity
        ),
        (Stage::Breach, Some(due)) => format!(
            "The reaction deadline for {ghsa} ({} severity) passed at {due} without an acknowledgement.",
            incident.severity
        ),
        _ => format!(
            "{ghsa} is an active threat (evidence of exploitation attempts): an emergency. Any \
             maintainer may take temporary containment action now and must record it here."
        ),
    }
}

/// The mentions that open a notice comment, followed by a space; empty without any.
pub(super) fn mention_prefix(mentions: &[String]) -> String {
    if mentions.is_empty() {
        String::new()
    } else {
        format!("{} ", mentions.join(" "))
    }
}

/// The coordinator joins the mentions (once).
pub(super) fn add_coordinator(mentions: &mut Vec<String>, incident: &Incident) {
    if let Some(coordinator) = &incident.decisions.coordinator {
        let coordinator = format!("@{coordinator}");
        if !mentions.contains(&coordinator) {
            mentions.push(coordinator);
        }
    }
}

/// The people and teams to mention and the addresses to mail among `targets`.
pub(super) fn split_targets(targets: &[EscalationTarget]) -> (Vec<String>, Vec<&str>) {
    let mut mentions = Vec::new();
    let mut addresses = Vec::new();
    for target in targets {
        match target {
            EscalationTarget::GitHub(handle) => mentions.push(format!("@{handle}")),
            EscalationTarget::Email(address) => addresses.push(address.as_str()),
        }
    }
    (mentions, addresses)
}

/// Of `addresses`, those the tracking issue has shown as receiving the incident's text
/// (see [`Audience`]), and those it has not yet, which wait for it: a repository's
/// configuration cannot add a reader without the incident's people seeing it first.
pub(super) fn shown_only<'a>(
    addresses: Vec<&'a str>,
    audience: Option<&Audience>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    addresses
        .into_iter()
        .partition(|address| audience.is_some_and(|audience| audience.includes(address)))
}

/// What a notice's record says of addresses that were held back.
pub(super) fn held_note(held: &[&str]) -> String {
    if held.is_empty() {
        String::new()
    } else {
        format!(
            "; not mailed until the tracking issue shows them: {}",
            held.join(", ")
        )
    }
}

/// A private notice by mail.
pub(super) struct Notice<'a> {
    /// What happened, for the subject after the incident's opaque reference (headers
    /// travel in the clear: no GHSA id, repository or date).
    pub what: &'a str,
    /// The text, one paragraph.
    pub situation: &'a str,
    /// Tells this notice's Message-ID apart from the incident's other notices.
    pub tag: &'a str,
}

/// Mails `addresses` a private notice, signed, when mail is configured; returns who was
/// mailed.
pub(super) async fn mail_privately(
    channels: &Channels,
    incident: &Incident,
    addresses: &[&str],
    notice: Notice<'_>,
    tracking_url: Option<&str>,
) -> Result<Vec<String>, ChannelError> {
    let Notice {
        what,
        situation,
        tag,
    } = notice;
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let Some(announcer) = &channels.mail else {
        tracing::warn!(incident = %incident.ghsa_id, "notice addresses configured but no SMTP server (HERALD_SMTP_URL)");
        return Ok(Vec::new());
    };
    let subject = format!(
        "[herald] Security incident {}: {what}",
        announcer.author.incident_reference(&incident.ghsa_id)?
    );
    let body = format!(
        "{situation}\n\nTracking issue: {}\n\nThis notice is internal: do not forward it to any \
         public place before the advisory is disclosed.\n",
        tracking_url.unwrap_or("(see the private tracking repository)")
    );
    let mut mailed = Vec::new();
    for address in addresses {
        let recipient = MailingList {
            address: (*address).to_owned(),
            name: None,
            signing: SigningMode::Cleartext,
            attach_cleartext: false,
        };
        let (_, message) = announcer.author.message(
            &incident.ghsa_id,
            &recipient,
            (&subject, &body),
            tag,
            None,
        )?;
        announcer.mailer.send(message).await?;
        mailed.push((*address).to_owned());
    }
    Ok(mailed)
}
