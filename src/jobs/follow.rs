//! The one place that decides which jobs follow a change to an incident, whatever made
//! it (a delivery, a maintainer's command, an effect's record): a saved revision's
//! tracking issue, public channels and chat notices, queued here; and the jobs a decision
//! calls for (pre-notifications, the embargo's end, a temporary action's notices), built
//! here and queued by the callers, who know when each is due.

use super::{
    ChatNotice, ContainmentNotice, Job, PendingChat, PendingContainment, PendingEmbargoEnd,
    PendingPrenotice, PendingPull, PendingReporterNotice, PublicChannel, ReporterNotice,
};
use crate::incident::{
    CommandEffect, DeliveryId, Incident, IncidentId, TemporaryAction, TimelineEntry, TimelineKind,
};
use crate::markers::key;
use crate::store::{Priority, StoreError, Work};
use chrono::{DateTime, Duration, Utc};

/// What follows a saved revision of an incident, queued in the transaction that saved it,
/// as the domain says ([`Incident::follow`]): its tracking issue catches up with the
/// revision and, once GitHub has published the advisory, so does every public channel, in
/// the order of [`PublicChannel::ALL`] (the embargo gate checks each again when it runs).
/// The tracking issue and the chat go at `priority`; a disclosure is always urgent.
pub fn follow_incident(
    work: &mut Work,
    (incident_id, revision): (IncidentId, i64),
    incident: &Incident,
    timeline: &[TimelineEntry],
    priority: Priority,
) -> Result<(), StoreError> {
    let follow = incident.follow();
    let mut jobs = Vec::new();
    if follow.tracking_issue {
        let job = Job::SyncTrackingIssue {
            incident: incident_id,
        };
        jobs.push((job, priority));
    }
    if follow.public_channels {
        jobs.extend(PublicChannel::ALL.map(|channel| {
            let job = Job::Public {
                channel,
                incident: incident_id,
            };
            (job, Priority::Urgent)
        }));
    }
    for (job, priority) in jobs {
        let key = key::follow(job.kind().as_str(), incident_id, revision);
        work.enqueue_with(&job, &key, priority)?;
    }
    if follow.tracking_issue {
        for (notice, key) in chat_notices((incident_id, revision), incident, timeline) {
            let job = Job::Chat(PendingChat {
                incident_id,
                notice,
            });
            work.enqueue_with(&job, &key, priority)?;
        }
    }
    if let Some(intake) = incident.intake {
        for notice in reporter_notices(incident) {
            let job = Job::TellReporter(PendingReporterNotice {
                incident_id,
                intake,
                notice,
            });
            work.enqueue(&job, &key::reporter_notice(intake, notice.as_str()))?;
        }
    }
    Ok(())
}

/// What the reporter of an accepted mailed report is owed, each once (its key): that it
/// was accepted, and as the incident reaches them, a merged fix, its CVE id, publication.
fn reporter_notices(incident: &Incident) -> Vec<ReporterNotice> {
    ReporterNotice::ALL
        .into_iter()
        .filter(|notice| match notice {
            ReporterNotice::Accepted => true,
            ReporterNotice::Fixed => incident.fixes.iter().any(|fix| fix.merged_at.is_some()),
            ReporterNotice::Cve => incident.cve_id.is_some(),
            ReporterNotice::Published => incident.published_on_github(),
        })
        .collect()
}

/// The chat notices a saved revision calls for, with their idempotency keys: a new
/// incident and the disclosure once each, every severity change.
fn chat_notices(
    (incident_id, revision): (IncidentId, i64),
    incident: &Incident,
    timeline: &[TimelineEntry],
) -> Vec<(ChatNotice, String)> {
    let mut notices: Vec<(ChatNotice, String)> = timeline
        .iter()
        .filter_map(|entry| match entry.kind {
            TimelineKind::Opened | TimelineKind::Reported => {
                Some((ChatNotice::Opened, key::chat(incident_id, "opened")))
            }
            TimelineKind::SeverityChanged => Some((
                ChatNotice::SeverityChanged(entry.detail.clone()),
                key::chat(incident_id, &format!("severity:{revision}")),
            )),
            _ => None,
        })
        .collect();
    // A history incident was disclosed before herald came: nothing to tell.
    if incident.published_on_github() && !incident.history {
        notices.push((ChatNotice::Disclosed, key::chat(incident_id, "disclosed")));
    }
    notices
}

/// Queues the jobs one effect of a maintainer's command calls for, on incident
/// `incident_id` as the command left it (`RetryFailed` is the caller's: it changes the
/// queue, not what follows).
pub async fn after_command(
    work: &mut Work,
    (incident_id, incident): (IncidentId, &Incident),
    effect: CommandEffect,
    delivery_id: &DeliveryId,
) -> Result<(), StoreError> {
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
            let job_key = key::track_pull(delivery_id, &repository, number);
            let job = Job::TrackPull(PendingPull {
                incident_id,
                repository,
                number,
            });
            return work.enqueue(&job, &job_key);
        }
        CommandEffect::ActionTaken { number, inform } => {
            let Some(action) = number
                .checked_sub(1)
                .and_then(|index| incident.decisions.actions.get(index))
            else {
                return Ok(());
            };
            for (job, key, at) in on_action_taken(incident_id, number, action, inform) {
                work.enqueue_at(&job, &key, at)?;
            }
            return Ok(());
        }
        CommandEffect::Prenotify { until, send_at } => {
            for (job, key) in prenotices(incident_id, incident, until, None) {
                work.enqueue_at(&job, &key, send_at)?;
            }
            let (job, key) = embargo_end(incident_id, until);
            return work.enqueue_at(&job, &key, until);
        }
        CommandEffect::PrenotifyMoved { from, to, send_at } => {
            for (job, key) in prenotices(incident_id, incident, to, None) {
                work.enqueue_at(&job, &key, send_at)?;
            }
            for (job, key) in prenotices(incident_id, incident, to, Some(from)) {
                work.enqueue(&job, &key)?;
            }
            let (job, key) = embargo_end(incident_id, to);
            return work.enqueue_at(&job, &key, to);
        }
        CommandEffect::RetryFailed => return Ok(()),
    };
    work.enqueue(&job, &key::command(job.kind().as_str(), delivery_id))
}

/// One job per configured recipient: the notice of the embargo ending `until`, or with
/// `moved_from`, the update for those told that earlier date.
pub fn prenotices(
    incident_id: IncidentId,
    incident: &Incident,
    until: DateTime<Utc>,
    moved_from: Option<DateTime<Utc>>,
) -> Vec<(Job, String)> {
    let approved = incident.decisions.prenotify.as_ref();
    approved
        .map_or(&[][..], |approved| approved.recipients.as_slice())
        .iter()
        .map(|recipient| {
            let key = key::prenotify(
                incident_id,
                &recipient.address,
                until.timestamp_millis(),
                moved_from.is_some(),
            );
            let job = Job::Prenotify(PendingPrenotice {
                incident_id,
                address: recipient.address.clone(),
                embargo_until: until,
                moved_from,
            });
            (job, key)
        })
        .collect()
}

/// The look at the end of the embargo `until` for downstreams still waiting, due then.
pub fn embargo_end(incident_id: IncidentId, until: DateTime<Utc>) -> (Job, String) {
    (
        Job::EmbargoEnd(PendingEmbargoEnd {
            incident_id,
            embargo_until: until,
        }),
        key::embargo_end(incident_id, until.timestamp_millis()),
    )
}

/// The jobs a newly recorded temporary action calls for: its first daily reminder and,
/// under an active threat, the notice to the security leads at once; each with its
/// idempotency key and when it is due.
pub fn on_action_taken(
    incident_id: IncidentId,
    number: usize,
    action: &TemporaryAction,
    inform: bool,
) -> Vec<(Job, String, DateTime<Utc>)> {
    let mut jobs = vec![reminder(incident_id, number, action, 1)];
    if inform {
        let job = Job::Containment(PendingContainment {
            incident_id,
            action: number,
            notice: ContainmentNotice::Inform,
        });
        jobs.push((
            job,
            key::containment(incident_id, number, "inform"),
            action.taken.at,
        ));
    }
    jobs
}

/// The reminder of day `day` after the action was taken.
pub fn reminder(
    incident_id: IncidentId,
    number: usize,
    action: &TemporaryAction,
    day: u32,
) -> (Job, String, DateTime<Utc>) {
    let job = Job::Containment(PendingContainment {
        incident_id,
        action: number,
        notice: ContainmentNotice::Reminder(day),
    });
    let key = key::containment(incident_id, number, &format!("day-{day}"));
    (job, key, action.taken.at + Duration::days(i64::from(day)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::testing::{published, reported};

    #[test]
    fn chat_hears_of_new_incidents_severity_changes_and_disclosures_but_not_history() {
        let at = DateTime::parse_from_rfc3339("2026-11-02T09:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let id = (IncidentId(3), 7);
        let entry = |kind: TimelineKind| TimelineEntry {
            at,
            actor: None,
            kind,
            detail: "severity high → critical (computed from CVSS 4.0)".to_owned(),
        };
        let incident = reported("high", at);
        let notices = chat_notices(
            id,
            &incident,
            &[
                entry(TimelineKind::Reported),
                entry(TimelineKind::SeverityChanged),
            ],
        );
        assert_eq!(
            notices,
            [
                (ChatNotice::Opened, "chat:3:opened".to_owned()),
                (
                    ChatNotice::SeverityChanged(
                        "severity high → critical (computed from CVSS 4.0)".to_owned()
                    ),
                    "chat:3:severity:7".to_owned()
                ),
            ]
        );
        let mut disclosed = published(incident, at);
        assert_eq!(
            chat_notices(id, &disclosed, &[]),
            [(ChatNotice::Disclosed, "chat:3:disclosed".to_owned())]
        );
        disclosed.history = true;
        assert!(chat_notices(id, &disclosed, &[]).is_empty());
    }
}
