//! What herald tells someone who mailed a report to the security team: that the team has
//! it, at once; then, once accepted, its course (accepted, a fix merged, its CVE id,
//! published, with thanks). Each answer goes to them alone, threaded under their message,
//! signed with the project's key, encrypted to theirs when they sent it along, and marked
//! as automatic so no program of theirs answers it. Its subject and shipped text are
//! herald's own, never theirs: a mail's sender is not verified, so whoever forges one must
//! not get their words signed with the project's key and sent to someone else.

use super::intake::letter_of;
use super::record::{IntakeWrite, Write};
use super::{ChannelError, Channels, Record};
use crate::drafts::{
    AcknowledgementView, Drafts, INTAKE_ACKNOWLEDGEMENT, REPORTER_NOTICE, ReporterNoticeView,
    escape,
};
use crate::incident::TimelineKind;
use crate::intake::{IntakeId, Letter, Seal};
use crate::jobs::{PendingReporterNotice, ReporterNotice};
use crate::mail::{Announcer, RecipientKey};
use crate::repo_config::{MailingList, SigningMode};
use crate::store::{IncidentRow, IntakeRow, IntakeState};
use chrono::Utc;

/// Every answer's subject: herald's own words.
const SUBJECT: &str = "Your report to the security team";

/// The sender of a report, as herald answers them.
struct Reporter {
    recipient: MailingList,
    seal: Option<RecipientKey>,
    /// Their message's Message-ID, which answers thread under.
    theirs: Option<String>,
}

impl Reporter {
    /// Whom `letter` is answered to (Reply-To, else From), when a mail server takes that
    /// address: PGP/MIME when they wrote PGP/MIME, encrypted to the key they sent along.
    fn of(letter: &Letter) -> Option<Reporter> {
        let to = letter
            .answer_to()
            .filter(|to| to.address.parse::<lettre::Address>().is_ok())?;
        Some(Reporter {
            recipient: MailingList {
                address: to.address.clone(),
                name: to.name.as_deref().map(escape::plain_line),
                signing: match letter.seal {
                    Seal::Decrypted { format: "PGP/MIME" } => SigningMode::PgpMime,
                    _ => SigningMode::Cleartext,
                },
                attach_cleartext: false,
            },
            seal: letter
                .reporter_key
                .as_deref()
                .and_then(|key| RecipientKey::from_bytes(key).ok()),
            theirs: letter.message_id.clone(),
        })
    }

    /// Sends `body` as herald's answer named `tag`; its Message-ID.
    async fn send(
        &self,
        announcer: &Announcer,
        tag: &str,
        body: &str,
    ) -> Result<String, ChannelError> {
        let (message_id, message) = announcer.author.reply(
            (self.theirs.as_deref(), tag),
            &self.recipient,
            (SUBJECT, body),
            self.seal.as_ref(),
        )?;
        announcer.mailer.send(message).await?;
        Ok(message_id)
    }

    /// How the answer went, for the issue that says so.
    fn how(&self) -> String {
        let to = escape::markdown_line(&self.recipient.address);
        match &self.seal {
            Some(key) => format!(
                "{to} (signed, and encrypted to their key {})",
                key.fingerprint()
            ),
            None => format!("{to} (signed; not encrypted, as they sent no key of theirs)"),
        }
    }
}

/// Acknowledges intake `id`'s report to its sender, unless that was done (or is off).
pub(super) async fn acknowledge(channels: &Channels, id: IntakeId) -> Result<Record, ChannelError> {
    let Some(row) = channels.store.intake(id).await? else {
        return Ok(Record::note("intake gone"));
    };
    if let Some((to, _)) = &row.acknowledged {
        return Ok(Record::note(format!("acknowledged to {to} before")));
    }
    if !channels.intake.acknowledge || row.state == IntakeState::Ignored {
        return Ok(Record::note("not acknowledged: acknowledgements are off"));
    }
    let Some(announcer) = &channels.mail else {
        return Ok(told(
            &row,
            "herald sends no mail (no SMTP server is configured): acknowledge the report to \
             its sender yourself."
                .to_owned(),
        ));
    };
    let letter = letter_of(channels, id).await?;
    if letter.automatic {
        return Ok(told(
            &row,
            "herald does not acknowledge this report: its header says a program sent it \
             (Auto-Submitted, Precedence), and answering programs can start a loop."
                .to_owned(),
        ));
    }
    let Some(reporter) = Reporter::of(&letter) else {
        return Ok(told(
            &row,
            "herald cannot acknowledge this report: it has no address herald can answer."
                .to_owned(),
        ));
    };
    let view = AcknowledgementView {
        reporter: letter
            .answer_to()
            .and_then(|to| to.name.clone())
            .unwrap_or_else(|| reporter.recipient.address.clone()),
        subject: letter.subject.clone(),
        received: row.received_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        encrypted: reporter.seal.is_some(),
        team: team(announcer),
    };
    let body = templates(channels, INTAKE_ACKNOWLEDGEMENT)
        .await?
        .render_acknowledgement(&view)?;
    let message_id = reporter
        .send(announcer, &format!("ack-{id}"), &body)
        .await?;
    let mut record = told(
        &row,
        format!("herald acknowledged the report to {}.", reporter.how()),
    );
    record.push(Write::Intake(IntakeWrite::Acknowledged {
        intake: id,
        to: reporter.recipient.address.clone(),
        message_id,
        at: Utc::now(),
    }));
    Ok(record)
}

/// Tells the reporter of the mailed report an incident was accepted from how it goes on;
/// said on the incident's timeline and tracking issue.
pub(super) async fn tell(
    channels: &Channels,
    pending: &PendingReporterNotice,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    let notice = pending.notice;
    if !channels.intake.notices {
        return Ok(Record::note("not told: notices to reporters are off"));
    }
    let Some(announcer) = &channels.mail else {
        return Ok(Record::note("not told: no SMTP server is configured"));
    };
    let letter = letter_of(channels, pending.intake).await?;
    if letter.automatic {
        return Ok(Record::note("not told: a program sent the report"));
    }
    let Some(reporter) = Reporter::of(&letter) else {
        return Ok(Record::note(
            "not told: the report has no address herald can answer",
        ));
    };
    let incident = &row.incident;
    let published = incident.published_on_github();
    let view = ReporterNoticeView {
        accepted: notice == ReporterNotice::Accepted,
        fixed: notice == ReporterNotice::Fixed,
        cve: (notice == ReporterNotice::Cve)
            .then(|| incident.cve_id.clone())
            .flatten(),
        published: notice == ReporterNotice::Published,
        ghsa_id: (reporter.seal.is_some() || published).then(|| incident.ghsa_id.to_string()),
        advisory_url: published.then(|| incident.advisory_url.clone()).flatten(),
        encrypted: reporter.seal.is_some(),
        team: team(announcer),
    };
    let body = templates(channels, REPORTER_NOTICE)
        .await?
        .render_reporter_notice(&view)?;
    let tag = format!("{}-{}", notice.as_str(), pending.intake);
    let message_id = reporter.send(announcer, &tag, &body).await?;
    let detail = format!(
        "herald told the reporter ({}) that the report was {}",
        reporter.recipient.address,
        match notice {
            ReporterNotice::Accepted => "accepted",
            ReporterNotice::Fixed => "fixed",
            ReporterNotice::Cve => "given its CVE id",
            ReporterNotice::Published => "published, and thanked them",
        }
    );
    let comment = format!("{}.", escape::markdown(&detail));
    let key = format!("reporter-told:{}:{}", pending.intake, notice.as_str());
    let record = channels
        .notice(row.id, TimelineKind::Reporter, detail, key, comment)
        .await?;
    Ok(record.with(Write::Intake(IntakeWrite::Answered {
        intake: pending.intake,
        message_id,
    })))
}

/// `text` as the job's note and, where the intake's issue exists, a comment there.
fn told(row: &IntakeRow, text: String) -> Record {
    let mut record = Record::note(text.clone());
    if let Some((repository, issue, _)) = &row.issue {
        record.push(Write::Comment {
            key: format!("intake-acknowledgement:{}", row.id),
            repository: repository.clone(),
            issue: *issue,
            body: text,
        });
    }
    record
}

/// The shipped templates, with the intake repository's override of template `name`.
async fn templates(channels: &Channels, name: &str) -> Result<Drafts, ChannelError> {
    let Some(repository) = &channels.intake.repository else {
        return Ok(channels.drafts.clone());
    };
    // The answer goes out whether or not the App reaches the intake repository.
    let api = match channels.installation(repository).await {
        Ok(api) => api,
        Err(ChannelError::NoInstallation(_)) => return Ok(channels.drafts.clone()),
        Err(error) => return Err(error),
    };
    channels.templates_for(&api, repository, &[name]).await
}

/// Who answers: the name herald's mail comes from, else its address.
fn team(announcer: &Announcer) -> String {
    let from = &announcer.author.sender.from;
    from.name.clone().unwrap_or_else(|| from.email.to_string())
}
