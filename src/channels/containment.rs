//! Temporary actions (`/herald contain`). The response plans let anyone act at once under
//! an active threat (disable a feature, block traffic, rotate a key) as long as the action
//! stays temporary and the security leads hear of it afterwards. herald tells the people
//! of `notify:` right after such an action is recorded (mentions on the private tracking
//! issue, signed mail to the addresses) and reminds of every open action once a day,
//! keyed by the day, so a reminder fires once also across restarts, until a maintainer
//! reverts it or makes it permanent. These notices are private, like the escalations.

use super::escalation::{
    Notice, add_coordinator, held_note, mail_privately, mention_prefix, shown_only, split_targets,
};
use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::drafts::escape;
use crate::incident::{Incident, TimelineEntry, TimelineKind};
use crate::jobs::{ClaimedJob, ContainmentNotice, PendingContainment};
use crate::markers::key;
use chrono::Utc;

/// Runs one notice about a temporary action.
pub(super) async fn notify(
    channels: &Channels,
    job: &ClaimedJob,
    pending: &PendingContainment,
    incident: &Incident,
) -> Result<Record, ChannelError> {
    let store = &channels.store;
    let number = pending.action;
    let Some(action) = number
        .checked_sub(1)
        .and_then(|index| incident.decisions.actions.get(index))
    else {
        return Ok(Record::note(format!("no temporary action {number}")));
    };
    if let ContainmentNotice::Reminder(_) = pending.notice
        && !action.is_open()
    {
        return Ok(Record::note(format!(
            "temporary action {number} is settled: no more reminders"
        )));
    }
    let tracking = store.tracking_link(pending.incident_id).await?;
    let Some(((repository, issue), tracking_url, audience)) = tracking
        .as_ref()
        .and_then(|link| Some((link.issue()?, link.url.as_deref(), link.audience.as_ref())))
    else {
        return Ok(Record::note("no tracking issue to tell on"));
    };
    let api = channels.installation(&incident.repository).await?;
    let loaded = channels.repo_config(&api, &incident.repository).await?;
    let (mut mentions, addresses, situation) =
        situation(pending, incident, action, &loaded.config.notify);
    add_coordinator(&mut mentions, incident);
    let (addresses, held) = shown_only(addresses, audience);
    let tag = match pending.notice {
        ContainmentNotice::Inform => format!("contain-{number}"),
        ContainmentNotice::Reminder(day) => format!("contain-{number}-day-{day}"),
    };
    let what = format!("temporary action {number}");
    let mailed = mail_privately(
        channels,
        incident,
        &addresses,
        Notice {
            what: &what,
            situation: &escape::plain_line(&situation),
            tag: &tag,
        },
        tracking_url,
    )
    .await?;
    let comment = format!(
        "{}{}\n\n{}",
        mention_prefix(&mentions),
        escape::markdown(&situation),
        what_next(incident, number, pending.notice)
    );
    let notified: Vec<String> = mentions.iter().cloned().chain(mailed).collect();
    let detail = told(pending.notice, number, &notified) + &held_note(&held);
    let entry = TimelineEntry {
        at: Utc::now(),
        actor: None,
        kind: TimelineKind::Escalation,
        detail: detail.clone(),
    };
    let mut record = Record::note(detail)
        .with_timeline(pending.incident_id, entry)
        .with(Write::Comment {
            key: key::containment_notice(job.id),
            repository,
            issue,
            body: comment,
        });
    if let ContainmentNotice::Reminder(day) = pending.notice {
        let (job, key, at) =
            crate::jobs::follow::reminder(pending.incident_id, number, action, day + 1);
        record.push(Write::Job {
            job,
            key,
            at: Some(at),
        });
    }
    Ok(record)
}

/// Who hears of the action (mentions on the issue, mail addresses) and what they are told:
/// under an active threat, the people of `notify:`; on a reminder, who took it.
fn situation<'a>(
    pending: &PendingContainment,
    incident: &Incident,
    action: &crate::incident::TemporaryAction,
    notify: &'a [crate::repo_config::EscalationTarget],
) -> (Vec<String>, Vec<&'a str>, String) {
    let (number, taken) = (pending.action, &action.taken);
    match pending.notice {
        ContainmentNotice::Inform => {
            let (mentions, addresses) = split_targets(notify);
            let situation = format!(
                "{} took temporary action {number} on {} under an active threat, at {}: {}",
                taken.by,
                incident.ghsa_id,
                crate::incident::utc_minute(taken.at),
                taken.text
            );
            (mentions, addresses, situation)
        }
        ContainmentNotice::Reminder(day) => {
            let situation = format!(
                "Temporary action {number} on {} ({} took it {day} day(s) ago) is still \
                 temporary: {}",
                incident.ghsa_id, taken.by, taken.text
            );
            (vec![format!("@{}", taken.by)], Vec::new(), situation)
        }
    }
}

/// The timeline's words for a notice about action `number` that reached `notified`.
fn told(notice: ContainmentNotice, number: usize, notified: &[String]) -> String {
    match notice {
        ContainmentNotice::Inform if notified.is_empty() => {
            format!("temporary action {number}: nobody to inform (no `notify:` section)")
        }
        ContainmentNotice::Inform => {
            format!(
                "temporary action {number}: informed {}",
                notified.join(", ")
            )
        }
        ContainmentNotice::Reminder(day) => {
            format!("temporary action {number} still open on day {day}: reminded")
        }
    }
}

/// What the maintainers can do about an open action.
fn what_next(incident: &Incident, number: usize, notice: ContainmentNotice) -> String {
    let settle = format!(
        "`/herald revert {number}` once it is undone, or `/herald keep {number}` to make it \
         permanent (you agree to it)."
    );
    match notice {
        ContainmentNotice::Inform if incident.decisions.consulted.is_empty() => format!(
            "The response plan asks the security leads to review every temporary action. {settle}"
        ),
        _ => settle,
    }
}
