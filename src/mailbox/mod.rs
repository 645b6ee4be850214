//! Mail to the security team arriving: handed over by the mail server (`herald intake
//! mail`) or read from the team's mailbox over IMAP (`imap.rs`). Both take a message the
//! same way ([`take`]): kept whole, with the jobs that follow it, in the caller's unit of
//! work, so that it is committed once with whatever else says it was taken.

pub mod imap;

use crate::feeds::{Tally, UpstreamProduct, UpstreamSettings};
use crate::incident::Announcement;
use crate::intake::{IntakeId, Kind, Letter, Ours, classify, list_id};
use crate::jobs::Job;
use crate::store::{NewMail, StoreError, Work};

pub use imap::{ImapSettings, MailboxReader};

/// What herald knows of the mail it reads, from its settings: its own address
/// (`mail_from`), the team's own lists, and the upstreams.
pub fn known(
    mail_from: Option<&str>,
    own_lists: &[String],
    upstream: Option<&UpstreamSettings>,
) -> Known {
    let sender = mail_from.and_then(|from| crate::mail::Sender::parse(from, None).ok());
    Known {
        ours: Ours {
            address: sender.as_ref().map(|sender| sender.from.email.to_string()),
            domain: sender.map(|sender| sender.from.email.domain().to_owned()),
            lists: own_lists.to_vec(),
        },
        upstream: upstream
            .map(|upstream| upstream.products.clone())
            .unwrap_or_default(),
    }
}

/// A message of an upstream's announcement list, judged for each product that reads the
/// list (the products whose `lists` name its List-Id); any other list's is only kept.
async fn announced(
    work: &mut Work,
    arrived: &Arrived<'_>,
    upstream: &[UpstreamProduct],
) -> Result<Option<Tally>, StoreError> {
    let Some(list) = list_id(arrived.kept) else {
        return Ok(None);
    };
    // Mail of a list is never history: it came after herald.
    let readers: Vec<(&UpstreamProduct, bool)> = upstream
        .iter()
        .filter(|product| product.lists.contains(&list))
        .map(|product| (product, false))
        .collect();
    if readers.is_empty() {
        return Ok(None);
    }
    // A list's mail is never decrypted: it is not a report to the team.
    let letter = Letter::read(arrived.kept, None);
    let announcement = Announcement {
        source: format!("list {list}"),
        item: letter
            .message_id
            .clone()
            .unwrap_or_else(|| arrived.digest.clone()),
        title: letter.subject.clone(),
        link: None,
        text: letter.text.chars().take(20_000).collect(),
        published: letter.date,
        about_security: false,
        ids: Vec::new(),
        cvss: Vec::new(),
        affected: None,
    };
    crate::feeds::take_all(work, &[announcement], &readers)
        .await
        .map(Some)
}

/// A message as it arrived.
pub struct Arrived<'a> {
    /// The message, or only its header when it was over the limit.
    pub kept: &'a [u8],
    /// SHA-256 of the whole message as delivered (hex).
    pub digest: String,
    pub source: &'a str,
    /// Why not all of it was kept, when it was not.
    pub cut: Option<String>,
    /// Whether herald answers it (a report the mail server returns to its sender is not).
    pub answer: bool,
}

/// What became of a message taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub id: IntakeId,
    pub kind: Kind,
    /// False when the same message was taken before.
    pub new: bool,
    /// The report this is the reporter's reply to.
    pub reply_to: Option<IntakeId>,
    /// For a message of an upstream's announcement list: what judging it came to.
    pub announced: Option<Tally>,
}

impl Taken {
    /// What it is, in a few words.
    pub fn describe(&self) -> String {
        match (self.kind, self.new, self.reply_to) {
            (_, false, _) => "taken before".to_owned(),
            (Kind::Report, true, Some(to)) => format!("a reply to intake {to}"),
            (Kind::Report, true, None) => "a report".to_owned(),
            (kind, true, _) => {
                let announced = self.announced.as_ref().map_or_else(String::new, |tally| {
                    format!(
                        "; an upstream announcement: {} product incident(s) opened, {} joined",
                        tally.opened, tally.joined
                    )
                });
                format!(
                    "not a report ({}), never answered{announced}",
                    kind.as_str()
                )
            }
        }
    }
}

/// What herald knows of the mail it reads: its own mail and the team's lists, and the
/// upstreams whose announcement lists the mailbox is subscribed to.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub ours: Ours,
    pub upstream: Vec<UpstreamProduct>,
}

/// Keeps `arrived` in `work` and queues what follows it: for a new report, its intake
/// issue and the acknowledgement; for the reporter's reply to a report, the reply's
/// joining it; for a message of an upstream's announcement list, what it announces. Mail
/// no person wrote is kept and followed by nothing.
pub async fn take(
    work: &mut Work,
    arrived: &Arrived<'_>,
    known: &Known,
) -> Result<Taken, StoreError> {
    let ours = &known.ours;
    let (mut kind, mut reason) = classify(arrived.kept, ours);
    // What taking needs is in the header: the body is read when the intake is.
    let letter = Letter::read_header(arrived.kept);
    let reply_to = match (kind, letter.from.as_ref()) {
        (Kind::Report, Some(from)) => {
            work.replied_intake(&letter.references, &from.address)
                .await?
        }
        _ => None,
    };
    // An answer to herald's own mail that joins no report (an autoresponder's, a
    // stranger's): answering it could start a loop.
    if kind == Kind::Report
        && reply_to.is_none()
        && letter.references.iter().any(|id| ours.is_message_id(id))
    {
        (kind, reason) = (
            Kind::Loop,
            Some("it answers herald's own mail, and not from a report's sender".to_owned()),
        );
    }
    let mail = NewMail {
        raw: arrived.kept,
        digest: arrived.digest.clone(),
        source: arrived.source,
        received_at: chrono::Utc::now(),
        message_id: letter.message_id.as_deref(),
        sender: letter.from.as_ref().map(|from| from.address.as_str()),
        kind,
        reason: arrived.cut.clone().or(reason),
    };
    let (id, new) = work.take_mail(&mail, reply_to).await?;
    let announced = match new && kind == Kind::List {
        true => announced(work, arrived, &known.upstream).await?,
        false => None,
    };
    match (new && kind == Kind::Report, reply_to) {
        (false, _) => {}
        (true, None) => {
            // The issue first, then the answer to the reporter (one lane: in this order).
            work.enqueue(
                &Job::OpenIntake { intake: id },
                &format!("open_intake:{id}"),
            )?;
            if arrived.answer {
                let acknowledge = Job::AcknowledgeReport { intake: id };
                work.enqueue(&acknowledge, &format!("acknowledge_report:{id}"))?;
            }
        }
        (true, Some(_)) => {
            work.enqueue(&Job::PostReply { intake: id }, &format!("post_reply:{id}"))?;
        }
    }
    Ok(Taken {
        id,
        kind,
        new,
        reply_to,
        announced,
    })
}
