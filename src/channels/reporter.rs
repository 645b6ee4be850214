//! What herald tells someone who mailed a report to the security team: that the team has
//! it, at once. The answer goes to them alone, threaded under their message, signed with
//! the project's key, encrypted to theirs when they sent it along, and marked as automatic
//! so no program of theirs answers it. Its subject and shipped text are herald's own, never
//! theirs: a mail's sender is not verified, so whoever forges one must not get their words
//! signed with the project's key and sent to someone else.

use super::intake::letter_of;
use super::record::{IntakeWrite, Write};
use super::{ChannelError, Channels, Record};
use crate::drafts::{AcknowledgementView, Drafts, INTAKE_ACKNOWLEDGEMENT, escape};
use crate::intake::{IntakeId, Letter, Mailbox, Seal};
use crate::mail::{Announcer, RecipientKey};
use crate::repo_config::{MailingList, SigningMode};
use crate::store::{IntakeRow, IntakeState};
use chrono::Utc;

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
    let Some(to) = answerable(&letter) else {
        return Ok(told(
            &row,
            "herald cannot acknowledge this report: it has no address herald can answer."
                .to_owned(),
        ));
    };
    let seal = letter
        .reporter_key
        .as_deref()
        .and_then(|key| RecipientKey::from_bytes(key).ok());
    let recipient = MailingList {
        address: to.address.clone(),
        name: to.name.as_deref().map(escape::plain_line),
        signing: match letter.seal {
            Seal::Decrypted { format: "PGP/MIME" } => SigningMode::PgpMime,
            _ => SigningMode::Cleartext,
        },
        attach_cleartext: false,
    };
    let drafts = templates(channels).await?;
    let view = AcknowledgementView {
        reporter: to.name.clone().unwrap_or_else(|| to.address.clone()),
        subject: letter.subject.clone(),
        received: row.received_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        encrypted: seal.is_some(),
        team: team(announcer),
    };
    let body = drafts.render_acknowledgement(&view)?;
    let subject = "Your report to the security team";
    let (message_id, message) = announcer.author.reply(
        (letter.message_id.as_deref(), &format!("ack-{id}")),
        &recipient,
        (subject, &body),
        seal.as_ref(),
    )?;
    announcer.mailer.send(message).await?;
    let how = match &seal {
        Some(key) => format!("signed, and encrypted to their key {}", key.fingerprint()),
        None => "signed; not encrypted, as they sent no key of theirs".to_owned(),
    };
    let mut record = told(
        &row,
        format!(
            "herald acknowledged the report to {} ({how}).",
            escape::markdown_line(&to.address)
        ),
    );
    record.push(Write::Intake(IntakeWrite::Acknowledged {
        intake: id,
        to: to.address.clone(),
        message_id,
        at: Utc::now(),
    }));
    Ok(record)
}

/// The address an answer goes to, when it is one a mail server takes.
fn answerable(letter: &Letter) -> Option<&Mailbox> {
    letter
        .answer_to()
        .filter(|to| to.address.parse::<lettre::Address>().is_ok())
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

/// The shipped templates, with the intake repository's override of the acknowledgement.
async fn templates(channels: &Channels) -> Result<Drafts, ChannelError> {
    let Some(repository) = &channels.intake.repository else {
        return Ok(channels.drafts.clone());
    };
    let api = channels.installation(repository).await?;
    channels
        .templates_for(&api, repository, &[INTAKE_ACKNOWLEDGEMENT])
        .await
}

/// Who answers: the name herald's mail comes from, else its address.
fn team(announcer: &Announcer) -> String {
    let from = &announcer.author.sender.from;
    from.name.clone().unwrap_or_else(|| from.email.to_string())
}
