//! `herald intake`: mail to the security team's address. `herald intake mail` is what a
//! mail server runs for each message (Postfix's pipe(8), procmail, an alias `|herald intake
//! mail`): the message on standard input, kept in the store before herald answers, and
//! the exit status the mail server reads (sysexits.h): 0 once the message is committed, 75
//! when it should keep the message and try again, 65 when it should return it to its
//! sender.

use crate::config::Settings;
use crate::intake::IntakeId;
use crate::intake::{Letter, header_of};
use crate::mailbox::{self, Arrived, Known, Taken};
use crate::printable::to_json_pretty;
use crate::report;
use crate::store::{IntakeRow, Store};
use clap::Subcommand;
use sha2::{Digest, Sha256};
use std::io::Read;

/// sysexits.h: the message is refused for good (the mail server returns it to its sender).
pub const EX_DATAERR: u8 = 65;
/// sysexits.h: a temporary failure (the mail server keeps the message and tries again).
pub const EX_TEMPFAIL: u8 = 75;

#[derive(Debug, Subcommand)]
pub enum IntakeCommand {
    /// Take one message from standard input, as a mail server delivers it to a program.
    Mail {
        /// Where the message came from, as `herald intake list` shows it.
        #[arg(long, default_value = "pipe")]
        source: String,
    },
    /// The messages herald took, newest first.
    List {
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One message as herald read it: sender, subject, text, attachments.
    Show {
        id: i64,
        /// Print the message exactly as it arrived instead (to a file or a pipe).
        #[arg(long)]
        raw: bool,
    },
}

/// An exit status other than 1, with what it means for the mail server.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub status: u8,
    pub message: String,
}

pub async fn intake(settings: &Settings, command: IntakeCommand) -> anyhow::Result<()> {
    match command {
        IntakeCommand::Mail { source } => {
            take(settings, &source, &mut std::io::stdin().lock()).await
        }
        IntakeCommand::List { limit, json } => list(settings, limit, json).await,
        IntakeCommand::Show { id, raw } => show(settings, IntakeId(id), raw).await,
    }
}

/// A message read from its input: whole, or only its header when it is over the limit.
struct Delivered {
    kept: Vec<u8>,
    /// Its size as delivered.
    bytes: u64,
    digest: String,
}

/// Reads `input` to its end, keeping at most `max` bytes (then only the header), hashing all.
fn read_message(input: &mut impl Read, max: usize) -> std::io::Result<Delivered> {
    let mut kept = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    input.by_ref().take(limit).read_to_end(&mut kept)?;
    let mut hasher = Sha256::new();
    hasher.update(&kept);
    let mut bytes = kept.len() as u64;
    if kept.len() > max {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let read = input.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            bytes += read as u64;
        }
        let header = header_of(&kept).len();
        kept.truncate(header);
    }
    Ok(Delivered {
        kept,
        bytes,
        digest: hex::encode(hasher.finalize()),
    })
}

async fn take(settings: &Settings, source: &str, input: &mut impl Read) -> anyhow::Result<()> {
    let max = settings.intake.max_message_bytes;
    let delivered = read_message(input, max).map_err(|error| Exit {
        status: EX_TEMPFAIL,
        message: format!("cannot read the message: {error}"),
    })?;
    let oversized = delivered.bytes > max as u64;
    let arrived = Arrived {
        kept: &delivered.kept,
        digest: delivered.digest,
        source,
        // Returned to its sender by the mail server: herald does not answer it too.
        answer: !oversized,
        cut: oversized.then(|| {
            format!(
                "{} bytes, over the {max} bytes herald takes (intake_max_message_bytes): only \
                 its header was kept, and the mail server was told to return it to its sender",
                delivered.bytes
            )
        }),
    };
    let known = mailbox::known(
        settings.mail.from.as_deref(),
        &settings.intake.own_lists,
        settings.upstream.as_ref(),
    );
    let taken = keep(settings, &arrived, &known)
        .await
        .map_err(|error| Exit {
            status: EX_TEMPFAIL,
            message: format!("the message was not kept (the mail server keeps it): {error:#}"),
        })?;
    if oversized {
        return Err(Exit {
            status: EX_DATAERR,
            message: format!(
                "message of {} bytes refused: herald takes at most {max} bytes; its header is \
                 kept as intake {}",
                delivered.bytes, taken.id
            ),
        }
        .into());
    }
    println!("intake {}: {}", taken.id, taken.describe());
    Ok(())
}

/// Takes the message in one durable commit.
async fn keep(settings: &Settings, arrived: &Arrived<'_>, known: &Known) -> anyhow::Result<Taken> {
    let store = Store::open(&settings.database_url).await?;
    let mut work = store.begin_durable().await?;
    let taken = mailbox::take(&mut work, arrived, known).await?;
    work.commit().await?;
    store.close().await;
    Ok(taken)
}

async fn list(settings: &Settings, limit: i64, json: bool) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let rows = store.intakes(limit, 0).await?;
    let mut listed = Vec::new();
    for row in &rows {
        let raw = store.intake_message(row.id).await?.unwrap_or_default();
        // The header alone: a list decrypts nothing.
        listed.push((row, Letter::read_header(&raw)));
    }
    store.close().await;
    if json {
        let values: Vec<serde_json::Value> = listed
            .iter()
            .map(|(row, letter)| summary(row, letter))
            .collect();
        println!("{}", to_json_pretty(&values)?);
    } else if listed.is_empty() {
        println!("no mail taken yet");
    } else {
        for (row, letter) in &listed {
            println!(
                "{:>6}  {}  {:<10} {:<9} {}  {}",
                row.id,
                row.received_at.format("%Y-%m-%d %H:%M"),
                row.kind.as_str(),
                row.state.as_str(),
                report::safe_line(&sender_of(letter)),
                report::safe_line(&letter.subject)
            );
        }
    }
    Ok(())
}

fn sender_of(letter: &Letter) -> String {
    letter
        .from
        .as_ref()
        .map_or_else(|| "(no sender)".to_owned(), |from| from.address.clone())
}

fn summary(row: &IntakeRow, letter: &Letter) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "source": row.source,
        "received_at": row.received_at,
        "kind": row.kind.as_str(),
        "reason": row.reason,
        "state": row.state.as_str(),
        "issue_url": row.issue.as_ref().map(|(_, _, url)| url),
        "reply_to": row.reply_to,
        "decided_by": row.decided_by,
        "decision": row.decision,
        "from": letter.from,
        "subject": letter.subject,
        "attachments": letter.attachments,
        "encrypted": letter.seal,
        "signature": letter.signature,
        "unread": letter.unread,
    })
}

async fn show(settings: &Settings, id: IntakeId, raw: bool) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let row = store.intake(id).await?;
    let message = store.intake_message(id).await?;
    store.close().await;
    let (Some(row), Some(message)) = (row, message) else {
        anyhow::bail!("no intake {id}");
    };
    if raw {
        use std::io::{IsTerminal, Write};
        // The sender's bytes could drive a terminal (escape sequences): to a file only.
        if std::io::stdout().is_terminal() {
            anyhow::bail!("--raw writes the message as it arrived: redirect it to a file");
        }
        std::io::stdout().write_all(&message)?;
        return Ok(());
    }
    let key = crate::config::load_decryption_key(&settings.intake)?;
    let letter = Letter::read(&message, key.as_ref());
    let mut text = format!(
        "intake {id} ({}, {}), received {} from {}\n",
        row.kind.as_str(),
        row.state.as_str(),
        row.received_at.to_rfc3339(),
        report::safe_line(&row.source)
    );
    let mut line = |name: &str, value: &str| {
        text.push_str(&format!("{name}: {}\n", report::safe_line(value)));
    };
    line("From", &sender_of(&letter));
    line("Subject", &letter.subject);
    line("Encrypted", &letter.seal.describe());
    line("Signed", &letter.signature.describe());
    for (name, value) in [
        ("Why", row.reason.as_deref()),
        ("Issue", row.issue.as_ref().map(|(_, _, url)| url.as_str())),
        ("Decided by", row.decided_by.as_deref()),
        ("Decision", row.decision.as_deref()),
    ] {
        if let Some(value) = value {
            line(name, value);
        }
    }
    for attachment in &letter.attachments {
        line(
            "Attachment",
            &format!(
                "{} ({}, {} bytes)",
                attachment.name, attachment.content_type, attachment.bytes
            ),
        );
    }
    for unread in &letter.unread {
        line("Unread", unread);
    }
    text.push('\n');
    text.push_str(&report::safe_text(&letter.text));
    println!("{text}");
    Ok(())
}
