//! Embargoed pre-notification of downstreams: private mail, on its own rule rather than
//! the embargo gate. The domain approves it (an embargo date in the future and within
//! `max_days`); here each approved notice is sent once per recipient and embargo date,
//! signed with the project's key and, for a recipient with a public key, encrypted to it.
//! A job whose date is no longer the approved one, or that comes after the disclosure or a
//! withdrawal, sends nothing. What went to whom is recorded on the incident (its timeline
//! and tracking issue show it). At the end of each date, downstreams still waiting for the
//! disclosure they were told of are pointed out on the tracking issue.

use super::escalation::{add_coordinator, mention_prefix};
use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::drafts::{DraftView, EmbargoView, PRENOTIFY, PRENOTIFY_UPDATE, escape};
use crate::incident::{
    Amendment, Downstream, Prenotice, Prenotification, PrenotifyTerms, TimelineKind, utc_minute,
};
use crate::jobs::{ClaimedJob, PendingEmbargoEnd, PendingPrenotice};
use crate::mail::RecipientKey;
use crate::markers::key;
use crate::repo_config::{MailingList, PrenotifyConfig, PrenotifyRecipient};
use crate::store::IncidentRow;
use chrono::{DateTime, Utc};

/// At the end of an embargo date: downstreams told it who still wait for the disclosure
/// may take the vulnerability as public now, so the tracking issue says so (to the
/// coordinator) with what the maintainers can do.
pub(super) async fn embargo_ended(
    channels: &Channels,
    job: &ClaimedJob,
    pending: &PendingEmbargoEnd,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    let incident = &row.incident;
    let waiting = incident.waiting_past_embargo(pending.embargo_until);
    if waiting.is_empty() {
        return Ok(Record::note(
            "nobody waits past this embargo date (published, or told another date)",
        ));
    }
    let ended = utc_minute(pending.embargo_until);
    let told = waiting.join(", ");
    let mut mentions = Vec::new();
    add_coordinator(&mut mentions, incident);
    let comment = format!(
        "{}The embargo ended at {ended}, and {} is not published. The {} downstream(s) told \
         this date may now treat it as public: {}.\n\nPublish with `/herald publish` \
         (it needs the `disclosure:approved` label), or agree a later date with them and \
         set it with `/herald embargo <RFC 3339 time>`, which sends each an update while \
         pre-notification is approved (`/herald prenotify` approves it again).",
        mention_prefix(&mentions),
        incident.ghsa_id,
        waiting.len(),
        escape::markdown_line(&told),
    );
    channels
        .notice(
            row.id,
            TimelineKind::Prenotification,
            format!("embargo ended at {ended} without disclosure; told: {told}"),
            key::embargo_end_notice(job.id),
            comment,
        )
        .await
}

/// What a job owes its recipient now, from what they were told: the notice, or an
/// update from the date they were told, under the approval standing; `Err` with why it owes
/// nothing (the incident moved on since the job was queued).
fn owed<'a>(
    pending: &PendingPrenotice,
    row: &'a IncidentRow,
) -> Result<(Option<DateTime<Utc>>, &'a Prenotification), &'static str> {
    let incident = &row.incident;
    if incident.published_on_github() {
        return Err("the advisory is public now");
    }
    let Some(approved) = &incident.decisions.prenotify else {
        return Err("the approval was withdrawn");
    };
    if approved.embargo_until != pending.embargo_until {
        return Err("the embargo date changed since");
    }
    // Whatever the job was queued as, a recipient told another date gets an update, and
    // one told this date nothing: so each hears of each date once.
    match incident.prenotified_until(&pending.address) {
        Some(told) if told == pending.embargo_until => Err("told this date already"),
        Some(told) => Ok((Some(told), approved)),
        None if pending.moved_from.is_some() => {
            Err("not told yet: the notice with the new date follows")
        }
        None => Ok((None, approved)),
    }
}

/// The recipient's public key, from `.github/herald.yml` or the repository; `None` when
/// none is configured (the notice goes signed, in clear).
async fn recipient_key(
    api: &crate::github::Api,
    repository: &crate::incident::RepoName,
    recipient: &PrenotifyRecipient,
) -> Result<Option<RecipientKey>, ChannelError> {
    let (bytes, source) = match (&recipient.key, &recipient.key_file) {
        (Some(armored), _) => (armored.clone(), "the key in .github/herald.yml".to_owned()),
        (None, Some(path)) => match api.file(repository, path).await? {
            Some(text) => (text, format!("the key file {path}")),
            None => {
                return Err(ChannelError::Prenotify(format!(
                    "the key file {path} for {} is not in {repository}",
                    recipient.address
                )));
            }
        },
        (None, None) => return Ok(None),
    };
    RecipientKey::from_bytes(bytes.as_bytes())
        .map(Some)
        .map_err(|error| {
            ChannelError::Prenotify(format!(
                "{source} for {} is unusable: {error}",
                recipient.address
            ))
        })
}

/// The pre-notification rules of `config`, with its recipients: their keys read (and why
/// one cannot be used) when `approving`, since an approval names each key; otherwise by
/// address only, as the rules need no more.
pub(super) async fn terms(
    api: &crate::github::Api,
    repository: &crate::incident::RepoName,
    config: &PrenotifyConfig,
    approving: bool,
) -> Result<PrenotifyTerms, ChannelError> {
    let mut recipients = Vec::new();
    let mut problems = Vec::new();
    for recipient in &config.recipients {
        let key = if approving {
            match recipient_key(api, repository, recipient).await {
                Ok(key) => key.as_ref().map(RecipientKey::fingerprint),
                Err(ChannelError::Prenotify(problem)) => {
                    problems.push(problem);
                    None
                }
                Err(error) => return Err(error),
            }
        } else {
            None
        };
        recipients.push(Downstream {
            address: recipient.address.clone(),
            key,
        });
    }
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    Ok(config.terms(recipients, problem))
}

/// The notice's subject, text and tag (in its Message-ID), from the repository's
/// templates: the notice, or with `moved_from` the update of its date.
async fn compose(
    channels: &Channels,
    (api, loaded): (&crate::github::Api, &super::LoadedConfig),
    incident: &crate::incident::Incident,
    (pending, moved_from, recipient): (
        &PendingPrenotice,
        Option<DateTime<Utc>>,
        &PrenotifyRecipient,
    ),
    announcer: &crate::mail::Announcer,
) -> Result<(String, String, String), ChannelError> {
    let repository = &incident.repository;
    let drafts = channels
        .templates_for(api, repository, &[PRENOTIFY, PRENOTIFY_UPDATE])
        .await?;
    let contact = match &loaded.config.prenotify.contact {
        Some(contact) => contact.clone(),
        None => announcer.author.sender.from.email.to_string(),
    };
    let embargo = EmbargoView::new(
        pending.embargo_until,
        moved_from,
        &contact,
        recipient.name.as_deref(),
    );
    let view = DraftView::new(incident, &[], None).with_embargo(embargo);
    // Headers travel in the clear: the subject names no advisory, repository or date.
    let reference = announcer.author.incident_reference(&incident.ghsa_id)?;
    let (template, subject, tag) = match moved_from {
        None => (
            PRENOTIFY,
            format!("Embargoed security notice {reference}"),
            "prenotify",
        ),
        Some(_) => (
            PRENOTIFY_UPDATE,
            format!("Embargoed security notice {reference}: new disclosure date"),
            "prenotify-update",
        ),
    };
    let subject = match &recipient.subject_tag {
        Some(subject_tag) => format!("{subject_tag} {subject}"),
        None => subject,
    };
    let body = drafts.render_draft(template, &view)?;
    let tag = format!("{tag}-{}", pending.embargo_until.timestamp());
    Ok((subject, body, tag))
}

/// Sends one pre-notification (or update), when it is still owed.
pub(super) async fn send(
    channels: &Channels,
    pending: &PendingPrenotice,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    // Checked when the configuration was read: an address, one line.
    let address = pending.address.as_str();
    let not_sent =
        |why: &str| Record::note(format!("pre-notification to {address} not sent: {why}"));
    let (moved_from, approved) = match owed(pending, row) {
        Ok(owed) => owed,
        Err(why) => return Ok(not_sent(why)),
    };
    let incident = &row.incident;
    let Some(announcer) = &channels.mail else {
        return Err(ChannelError::Prenotify(format!(
            "the pre-notification to {address} cannot go: no SMTP server is configured \
             (HERALD_SMTP_URL)"
        )));
    };
    let repository = &incident.repository;
    let api = channels.installation(repository).await?;
    let loaded = channels.repo_config(&api, repository).await?;
    // The recipient as configured now: removed from `prenotify:`, they are told nothing;
    // an address or key other than the approved ones waits for a new approval.
    let Some(recipient) = loaded
        .config
        .prenotify
        .recipients
        .iter()
        .find(|configured| configured.address.eq_ignore_ascii_case(address))
    else {
        return Ok(not_sent("no longer a recipient under `prenotify:`"));
    };
    let seal = recipient_key(&api, repository, recipient).await?;
    let configured = Downstream {
        address: recipient.address.clone(),
        key: seal.as_ref().map(RecipientKey::fingerprint),
    };
    let contact = loaded.config.prenotify.contact.as_deref();
    if let Some(reason) = approved.unapproved(&configured, contact) {
        return Err(ChannelError::Prenotify(format!(
            "not sent: {reason}. Embargoed text goes only where it was approved: if the change \
             is yours, approve again (`/herald prenotify`), then `/herald retry`"
        )));
    }
    let letter = (pending, moved_from, recipient);
    let (subject, body, tag) =
        compose(channels, (&api, &loaded), incident, letter, announcer).await?;
    let to = MailingList {
        address: recipient.address.clone(),
        name: recipient.name.clone(),
        signing: recipient.format.into(),
        attach_cleartext: false,
    };
    let (id, message) = announcer.author.message(
        &incident.ghsa_id,
        &to,
        (&subject, &body),
        &tag,
        seal.as_ref(),
    )?;
    announcer.mailer.send(message).await?;
    let notice = Prenotice {
        address: recipient.address.clone(),
        embargo_until: pending.embargo_until,
        moved_from,
        encrypted_to: seal.as_ref().map(RecipientKey::fingerprint),
        sent_at: Utc::now(),
    };
    Ok(
        Record::note(format!("pre-notification sent to {address} ({id})")).with(Write::Amend {
            repository: repository.clone(),
            ghsa_id: incident.ghsa_id.clone(),
            amendment: Amendment::Prenotified(notice),
        }),
    )
}
