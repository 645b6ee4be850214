//! What a message says, as far as it can be read: its sender, subject, text and
//! attachments (names and sizes; their bytes stay in the stored message). Lenient, as mail
//! is: what cannot be read is said in [`Letter::unread`], never a reason to drop the mail.

use super::openpgp::{DecryptionKey, SignatureCheck};
use super::sealed::Seal;
use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};

/// One address of a message: the display name as written, and the address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

/// One attachment: what the sender called it, its MIME type and its decoded size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: usize,
}

/// A message as herald reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Letter {
    pub message_id: Option<String>,
    /// The Message-IDs it answers: In-Reply-To, then References.
    pub references: Vec<String>,
    pub from: Option<Mailbox>,
    pub subject: String,
    /// The date the sender's program wrote (not when herald received it).
    pub date: Option<DateTime<Utc>>,
    /// The text of the message: its plain-text parts, else its HTML as source text.
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Whether it came encrypted, and whether herald could decrypt it.
    pub seal: Seal,
    /// What its OpenPGP signature says.
    pub signature: SignatureCheck,
    /// The reporter's public key, armored, when they sent it along: answers to them are
    /// encrypted to it.
    #[serde(skip)]
    pub reporter_key: Option<Vec<u8>>,
    /// Whether its header says a program wrote or forwarded it: herald never answers it.
    pub automatic: bool,
    /// What herald could not read, in words for the security team.
    pub unread: Vec<String>,
}

/// The most messages nested in one another (`message/rfc822`, `message/global`) herald
/// reads: the parsed form of each nests in the one around it, and tens of thousands would
/// exhaust a thread's stack. No mail program nests more than a few.
pub const MAX_NESTED_MESSAGES: usize = 32;

/// Whether `raw` may nest more messages than herald reads (counted generously: every
/// mention of a nested message's type).
pub(super) fn nests_too_deep(raw: &[u8]) -> bool {
    const TYPES: [&[u8]; 2] = [b"message/rfc822", b"message/global"];
    raw.windows(TYPES[0].len())
        .filter(|window| TYPES.iter().any(|kind| window.eq_ignore_ascii_case(kind)))
        .nth(MAX_NESTED_MESSAGES)
        .is_some()
}

impl Letter {
    /// Reads `raw`, a whole message or only its header, decrypting what is encrypted to
    /// `key` and checking signatures.
    pub fn read(raw: &[u8], key: Option<&DecryptionKey>) -> Letter {
        if nests_too_deep(raw) {
            let mut letter = Letter::read_header(raw);
            letter.unread.push(format!(
                "it nests more than {MAX_NESTED_MESSAGES} messages in one another: herald read \
                 its header only (the whole message is kept: `herald intake show --raw`)"
            ));
            return letter;
        }
        Letter::parsed(raw, key)
    }

    /// Reads the header of `raw` alone: who sent it, its subject (for lists, which need no
    /// more, and never decrypt).
    pub fn read_header(raw: &[u8]) -> Letter {
        Letter::parsed(super::header_of(raw), None)
    }

    fn parsed(raw: &[u8], key: Option<&DecryptionKey>) -> Letter {
        let Some(message) = MessageParser::default().parse(raw) else {
            return Letter::unreadable("it has no header or body herald can read");
        };
        let mut letter = Letter {
            message_id: message.message_id().map(str::to_owned),
            references: references_of(&message),
            from: first_mailbox(message.from()),
            subject: message.subject().unwrap_or_default().to_owned(),
            date: message
                .date()
                .and_then(|date| DateTime::from_timestamp(date.to_timestamp(), 0)),
            text: text_of(&message),
            attachments: attachments_of(&message),
            seal: Seal::Plain,
            signature: SignatureCheck::Unsigned,
            reporter_key: None,
            automatic: super::classify::is_automatic(raw),
            unread: Vec::new(),
        };
        super::sealed::open(&mut letter, &message, raw, key);
        if letter.from.is_none() {
            letter
                .unread
                .push("it has no From address herald can read".to_owned());
        }
        if letter.text.trim().is_empty() && letter.attachments.is_empty() {
            letter.unread.push("it has no text".to_owned());
        }
        letter
    }

    fn unreadable(why: &str) -> Letter {
        Letter {
            message_id: None,
            references: Vec::new(),
            from: None,
            subject: String::new(),
            date: None,
            text: String::new(),
            attachments: Vec::new(),
            seal: Seal::Plain,
            signature: SignatureCheck::Unsigned,
            reporter_key: None,
            automatic: false,
            unread: vec![why.to_owned()],
        }
    }

    /// Where an answer to the sender goes: their From address, which the receiving mail
    /// server can check (DMARC), never a Reply-To, which anyone may set to anyone (and
    /// which herald therefore does not read).
    pub fn answer_to(&self) -> Option<&Mailbox> {
        self.from.as_ref()
    }
}

/// The Message-IDs of In-Reply-To and References, in that order, each once.
fn references_of(message: &mail_parser::Message) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for value in [message.in_reply_to(), message.references()] {
        let named: Vec<&str> = match value {
            HeaderValue::Text(id) => vec![id.as_ref()],
            HeaderValue::TextList(list) => list.iter().map(AsRef::as_ref).collect(),
            _ => Vec::new(),
        };
        for id in named {
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

fn first_mailbox(address: Option<&Address>) -> Option<Mailbox> {
    let first = address?.first()?;
    Some(Mailbox {
        name: first.name().map(str::to_owned),
        address: first.address()?.to_owned(),
    })
}

/// The text parts joined; an HTML part as its source (shown as data, never rendered: a
/// report's proof of concept may be HTML).
pub(super) fn text_of(message: &mail_parser::Message) -> String {
    message
        .text_bodies()
        .filter_map(|part| part.text_contents())
        .map(|text| text.replace("\r\n", "\n"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

pub(super) fn attachments_of(message: &mail_parser::Message) -> Vec<Attachment> {
    message
        .attachments()
        .enumerate()
        .map(|(index, part)| Attachment {
            name: part
                .attachment_name()
                .map_or_else(|| format!("attachment {}", index + 1), str::to_owned),
            content_type: part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |kind| match kind.subtype() {
                    Some(subtype) => format!("{}/{subtype}", kind.ctype()),
                    None => kind.ctype().to_owned(),
                },
            ),
            bytes: part.len(),
        })
        .collect()
}

/// A header's text, as one string (a list's items joined), when the message has it.
pub(super) fn header_text(message: &mail_parser::Message, name: &str) -> Option<String> {
    match message.header(name)? {
        HeaderValue::Text(text) => Some(text.to_string()),
        HeaderValue::TextList(list) => Some(list.join(", ")),
        HeaderValue::Address(address) => address
            .first()
            .and_then(|first| first.address())
            .map(str::to_owned),
        HeaderValue::ContentType(kind) => Some(match kind.subtype() {
            Some(subtype) => format!("{}/{subtype}", kind.ctype()),
            None => kind.ctype().to_owned(),
        }),
        _ => message.header_raw(name).map(|raw| raw.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_report_is_read_with_its_text_and_its_attachments_listed() {
        let raw = b"From: \"Rita Reporter\" <rita@example.net>\r\n\
            To: security@example.org\r\n\
            Subject: =?UTF-8?Q?Heap_overflow_in_parse=5Fheader?=\r\n\
            Message-ID: <r1@example.net>\r\n\
            Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n\
            MIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
            parse_header overflows @maintainers\r\n\
            --b\r\nContent-Type: application/octet-stream\r\n\
            Content-Disposition: attachment; filename=\"poc.bin\"\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b--\r\n";
        let letter = Letter::read(raw, None);
        assert_eq!(letter.subject, "Heap overflow in parse_header");
        assert_eq!(
            letter.from,
            Some(Mailbox {
                name: Some("Rita Reporter".to_owned()),
                address: "rita@example.net".to_owned()
            })
        );
        assert_eq!(letter.message_id.as_deref(), Some("r1@example.net"));
        assert!(letter.text.contains("parse_header overflows"), "{letter:?}");
        assert_eq!(
            letter.attachments,
            vec![Attachment {
                name: "poc.bin".to_owned(),
                content_type: "application/octet-stream".to_owned(),
                bytes: 4
            }]
        );
        assert!(letter.unread.is_empty(), "{:?}", letter.unread);
        assert_eq!(
            letter.date.map(|date| date.to_rfc3339()),
            Some("2026-12-05T10:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn what_cannot_be_read_is_said_not_dropped() {
        let letter = Letter::read(b"Subject: no sender\r\n\r\n", None);
        assert!(
            letter.unread.iter().any(|why| why.contains("no From")),
            "{:?}",
            letter.unread
        );
        assert!(letter.unread.iter().any(|why| why.contains("no text")));
        let empty = Letter::read(b"", None);
        assert!(!empty.unread.is_empty());
    }

    #[test]
    fn a_message_nesting_thousands_of_messages_is_read_by_its_header_alone() {
        let raw = format!(
            "From: x@example.net\nSubject: deep\nContent-Type: message/rfc822\n\n{}From: y@example.net\nSubject: inner\n\ntext\n",
            "Subject: l\nContent-Type: message/rfc822\n\n".repeat(20_000)
        )
        .into_bytes();
        let letter = Letter::read(&raw, None);
        assert_eq!(letter.subject, "deep");
        assert!(
            letter
                .unread
                .iter()
                .any(|why| why.contains("nests more than")),
            "{:?}",
            letter.unread
        );
    }

    #[test]
    fn html_only_mail_is_shown_as_its_source() {
        let raw =
            b"From: a@example.net\r\nContent-Type: text/html\r\n\r\n<p>x<script>y</script></p>\r\n";
        let letter = Letter::read(raw, None);
        assert!(letter.text.contains("<script>"), "{letter:?}");
    }
}
