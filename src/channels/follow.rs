//! The jobs that follow a decision on an incident, whatever recorded it (a command applied
//! in the worker's commit, or an effect's record): built here, queued by their callers.

use crate::incident::{Incident, IncidentId, TemporaryAction};
use crate::markers::key;
use crate::store::{
    ContainmentNotice, Job, PendingContainment, PendingEmbargoEnd, PendingPrenotice,
};
use chrono::{DateTime, Duration, Utc};

/// One job per configured recipient: the notice of the embargo ending `until`, or with
/// `moved_from`, the update for those told that earlier date.
pub(super) fn prenotices(
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
pub(super) fn embargo_end(incident_id: IncidentId, until: DateTime<Utc>) -> (Job, String) {
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
pub(super) fn on_action_taken(
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
pub(super) fn reminder(
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
