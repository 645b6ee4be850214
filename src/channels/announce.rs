//! The signed mailing-list announcement. On disclosure, herald queues one send per list
//! configured in `mailing_lists:` (keyed by incident, list and announcement version, so each
//! list gets it once however often the incident changes); each send passes the embargo
//! gate again when it runs. A send that fails is retried with backoff and reported on the
//! tracking issue; once the server has answered 250 the send is recorded and never repeated.

use super::record::Record;
use super::{ChannelError, Channels, Publication};
use crate::drafts::{ANNOUNCEMENT, ANNOUNCEMENT_SUBJECT, DraftView, escape};
use crate::incident::{GhsaId, TimelineKind};
use crate::jobs::{ClaimedJob, Job, PendingMail};
use crate::markers::key;
use crate::repo_config::MailingList;
use crate::store::IncidentId;

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

/// Renders, signs and sends the announcement to one list. A failure goes back to the
/// runner, which retries it and tells the maintainers ([`first_failure`]).
pub(super) async fn send(
    publication: &Publication<'_>,
    list: &MailingList,
) -> Result<Record, ChannelError> {
    let Publication {
        channels,
        api,
        disclosed,
        incident_id,
        ..
    } = *publication;
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
        (&subject, &body),
        &format!("v{VERSION}"),
        None,
    )?;
    announcer.mailer.send(message).await?;
    Ok(Record::publication(
        incident_id,
        Some(format!(
            "signed announcement sent to {address} ({}, {})",
            escape::plain_line(&id),
            match list.signing {
                crate::repo_config::SigningMode::Cleartext => "cleartext-signed",
                crate::repo_config::SigningMode::PgpMime => "PGP/MIME",
            }
        )),
        format!("announcement sent to {address}"),
    ))
}

/// The first failure to send, for the timeline and, where there is one, the tracking
/// issue (a refusal is reported when the job ends instead; retries follow quietly).
pub(super) async fn first_failure(
    channels: &Channels,
    job: &ClaimedJob,
    incident_id: IncidentId,
    ghsa_id: &GhsaId,
    list: &MailingList,
    error: &crate::mail::SmtpError,
) -> Result<Record, ChannelError> {
    // Checked when the configuration was read: an address, one line, no mention.
    let address = list.address.as_str();
    let error = escape::plain_line(&error.to_string());
    let detail = format!("announcement to {address} failed: {error}; herald retries with backoff");
    let body = format!(
        "herald could not send the signed announcement of {ghsa_id} to {}: {}\n\nIt retries \
         with backoff; the timeline records when it goes out.",
        escape::markdown(address),
        escape::markdown(&error)
    );
    channels
        .notice(
            incident_id,
            TimelineKind::Publication,
            detail,
            key::mail_failed(ghsa_id, job.id),
            body,
        )
        .await
}
