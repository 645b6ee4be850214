//! The signed mailing-list announcement. On disclosure, herald queues one send per list
//! configured in `mailing_lists:` (keyed by incident, list and announcement version, so each
//! list gets it once however often the incident changes); each send passes the embargo
//! gate again when it runs. A send that fails is retried with backoff and reported on the
//! tracking issue; once the server has answered 250 the send is recorded and never repeated.

use super::maintainer::queue_comment;
use super::record::Record;
use super::{Channel, ChannelError, Channels};
use crate::config::repo::MailingList;
use crate::drafts::{ANNOUNCEMENT, ANNOUNCEMENT_SUBJECT, DraftView, escape};
use crate::incident::{GhsaId, TimelineEntry, TimelineKind};
use crate::markers::key;
use crate::store::{ClaimedJob, IncidentId, Job, PendingMail, TrackingLink};
use chrono::Utc;

/// The announcement's version: the first announcement of an incident is v1 (its
/// Message-ID says so, so a resend of the same version is recognisable).
const VERSION: u32 = 1;

/// One send job per list, with its idempotency key.
pub(super) fn sends(lists: &[MailingList], incident_id: IncidentId) -> Vec<(Job, String)> {
    lists
        .iter()
        .map(|list| {
            let key = key::send_mail(incident_id, &list.address, VERSION);
            let job = Job::SendMail(PendingMail {
                incident_id,
                list: list.clone(),
            });
            (job, key)
        })
        .collect()
}

/// Renders, signs and sends the announcement to one list. Returns the timeline detail and
/// a note; a failure is recorded (and, the first time, reported on the tracking issue)
/// before it is returned for the outbox to retry.
pub(super) async fn send(
    channel: &Channel<'_>,
    job: &ClaimedJob,
    list: &MailingList,
) -> Result<Record, ChannelError> {
    let Channel {
        channels,
        api,
        disclosed,
        incident_id,
        ..
    } = *channel;
    let incident = disclosed.incident();
    // Checked when the configuration was read: an address, one line, no mention.
    let address = list.address.as_str();
    let Some(announcer) = &channels.mail else {
        return Ok(Record::publication(
            incident_id,
            Some(format!(
                "announcement to {address} not sent: no SMTP server is configured (HERALD_SMTP_URL)"
            )),
            "no SMTP server configured",
        ));
    };
    let drafts = channels
        .templates_for(
            api,
            &incident.repository,
            &[ANNOUNCEMENT_SUBJECT, ANNOUNCEMENT],
        )
        .await?;
    let published = channels.store.channel_urls(incident_id).await?;
    let view = DraftView::new(incident, &[], None).with_published(&published);
    let subject = drafts.render_draft(ANNOUNCEMENT_SUBJECT, &view)?;
    let body = drafts.render_draft(ANNOUNCEMENT, &view)?;
    let (id, message) = announcer.author.message(
        &incident.ghsa_id,
        list,
        &subject,
        &body,
        &format!("v{VERSION}"),
    )?;
    match announcer.mailer.send(message).await {
        Ok(()) => Ok(Record::publication(
            incident_id,
            Some(format!(
                "signed announcement sent to {address} ({}, {})",
                escape::plain_line(&id),
                match list.signing {
                    crate::config::repo::SigningMode::Cleartext => "cleartext-signed",
                    crate::config::repo::SigningMode::PgpMime => "PGP/MIME",
                }
            )),
            format!("announcement sent to {address}"),
        )),
        Err(error) => {
            // A refusal is reported when the job ends; what may pass is told at once.
            if job.attempts == 0 && error.refusal().is_none() {
                report_failure(
                    channels,
                    (job, incident_id),
                    &incident.ghsa_id,
                    address,
                    &error,
                )
                .await?;
            }
            Err(error.into())
        }
    }
}

/// The first failure to send goes on the timeline and, where there is one, the tracking
/// issue; retries follow quietly.
async fn report_failure(
    channels: &Channels,
    (job, incident_id): (&ClaimedJob, IncidentId),
    ghsa_id: &GhsaId,
    address: &str,
    error: &crate::mail::SmtpError,
) -> Result<(), ChannelError> {
    let detail = format!(
        "announcement to {address} failed: {}; herald retries with backoff",
        escape::plain_line(&error.to_string())
    );
    let tracking = channels.store.tracking_link(incident_id).await?;
    let mut work = channels.store.begin_durable().await?;
    work.append_timeline(
        incident_id,
        &[TimelineEntry {
            at: Utc::now(),
            actor: None,
            kind: TimelineKind::Publication,
            detail: detail.clone(),
        }],
        None,
    )
    .await?;
    if let Some((repository, number)) = tracking.as_ref().and_then(TrackingLink::issue) {
        queue_comment(
            &mut work,
            &key::mail_failed(ghsa_id, job.id),
            &repository,
            number,
            &format!(
                "herald could not send the signed announcement of {} to {}: {}\n\nIt retries \
                 with backoff; the timeline records when it goes out.",
                ghsa_id,
                escape::markdown(address),
                escape::markdown(&escape::plain_line(&error.to_string()))
            ),
        )
        .await?;
    }
    work.commit().await?;
    Ok(())
}
