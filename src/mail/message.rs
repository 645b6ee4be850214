//! Building a signed announcement: headers from lettre (values are typed, and the subject,
//! which comes from advisory text, is one line before it gets there, so it cannot start a
//! header), the body quoted-printable so trailing whitespace and long lines survive any
//! relay, and the signature in one of two shapes:
//!
//! - cleartext: the body is the `gpg --clearsign` text, which list software leaves intact;
//! - PGP/MIME (RFC 3156): `multipart/signed`, whose first part is signed byte for byte as
//!   transmitted (CRLF line ends, without the CRLF that belongs to the next boundary).

use super::key::{KeyError, SigningKey};
use crate::config::repo::{MailingList, SigningMode};
use crate::drafts::escape;
use lettre::Message;
use lettre::message::header::{self, ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use std::time::SystemTime;

/// The file name of the attached cleartext-signed copy.
const ATTACHMENT_NAME: &str = "announcement.txt.asc";

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{what} {value:?} is not a usable mail address: {error}")]
    Address {
        what: &'static str,
        value: String,
        error: String,
    },
    #[error("the announcement could not be assembled: {0}")]
    Build(String),
}

/// Who an announcement comes from.
#[derive(Debug, Clone)]
pub struct Sender {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

impl Sender {
    /// `from` and `reply_to` as `Name <address>` or a bare address.
    pub fn parse(from: &str, reply_to: Option<&str>) -> Result<Sender, MessageError> {
        let mailbox = |what: &'static str, value: &str| {
            value
                .parse::<Mailbox>()
                .map_err(|error| MessageError::Address {
                    what,
                    value: value.to_owned(),
                    error: error.to_string(),
                })
        };
        Ok(Sender {
            from: mailbox("mail_from", from)?,
            reply_to: reply_to
                .map(|value| mailbox("mail_reply_to", value))
                .transpose()?,
        })
    }

    /// The domain of the From address, for Message-IDs.
    fn domain(&self) -> &str {
        self.from.email.domain()
    }
}

/// One announcement to one list.
pub struct Letter<'a> {
    pub sender: &'a Sender,
    pub list: &'a MailingList,
    pub subject: &'a str,
    pub body: &'a str,
    /// From [`message_id`]: stable, so a resend is recognisable.
    pub message_id: &'a str,
    pub date: SystemTime,
}

/// `<herald.ghsa-….TAG.LIST@domain>`: the same for the same incident, recipient and message
/// (`tag`: the announcement's version such as `v1`, or an escalation's stage), so a message
/// sent twice (herald died between the server's 250 and recording it) is recognisable as one.
pub fn message_id(sender: &Sender, ghsa_id: &str, list: &str, tag: &str) -> String {
    let list: String = list
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!(
        "<herald.{}.{}.{list}@{}>",
        escape::file_name(ghsa_id).to_ascii_lowercase(),
        escape::file_name(tag),
        sender.domain()
    )
}

/// Quoted-printable with CRLF line ends. A line starting `From ` is written `=46rom ` so
/// mbox software cannot turn it into `>From ` and break the signature; lines are wrapped
/// short enough that this still fits in 76 characters.
pub fn quoted_printable(text: &str) -> Vec<u8> {
    let crlf = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n");
    let options = quoted_printable::Options::default().line_length_limit(74);
    let encoded = quoted_printable::encode_with_options(crlf, options);
    let lines: Vec<String> = encoded
        .split("\r\n")
        .map(|line| match line.strip_prefix("From ") {
            Some(rest) => format!("=46rom {rest}"),
            None => line.to_owned(),
        })
        .collect();
    lines.join("\r\n").into_bytes()
}

fn text_part(text: &str) -> SinglePart {
    SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(Body::dangerous_pre_encoded(
            quoted_printable(text),
            ContentTransferEncoding::QuotedPrintable,
        ))
}

fn attachment(clearsigned: &str) -> SinglePart {
    SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .header(header::ContentDisposition::attachment(ATTACHMENT_NAME))
        .body(Body::dangerous_pre_encoded(
            quoted_printable(clearsigned),
            ContentTransferEncoding::QuotedPrintable,
        ))
}

/// The bytes RFC 3156 signs: the part as transmitted, without the CRLF before the next
/// boundary (lettre writes every part followed by exactly one CRLF).
fn signed_bytes(formatted: &[u8]) -> &[u8] {
    formatted.strip_suffix(b"\r\n").unwrap_or(formatted)
}

/// The whole message, signed as the list asks.
pub fn build(letter: &Letter<'_>, key: &SigningKey) -> Result<Message, MessageError> {
    let to = Mailbox::new(
        letter.list.name.clone(),
        letter
            .list
            .address
            .parse()
            .map_err(
                |error: lettre::address::AddressError| MessageError::Address {
                    what: "mailing list",
                    value: letter.list.address.clone(),
                    error: error.to_string(),
                },
            )?,
    );
    let mut builder = Message::builder()
        .from(letter.sender.from.clone())
        .to(to)
        .subject(escape::plain_line(letter.subject))
        .date(letter.date)
        .message_id(Some(letter.message_id.to_owned()));
    if let Some(reply_to) = &letter.sender.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let clearsigned = key.clearsign(letter.body)?;
    let built = match letter.list.signing {
        SigningMode::Cleartext if letter.list.attach_cleartext => builder.multipart(
            MultiPart::mixed()
                .singlepart(text_part(&clearsigned))
                .singlepart(attachment(&clearsigned)),
        ),
        SigningMode::Cleartext => builder.singlepart(text_part(&clearsigned)),
        SigningMode::PgpMime => {
            let signature = |formatted: &[u8]| key.sign_detached(signed_bytes(formatted));
            let signed = MultiPart::signed(
                "application/pgp-signature".to_owned(),
                "pgp-sha256".to_owned(),
            );
            let signature_part = |armored: String| {
                SinglePart::builder()
                    .header(
                        ContentType::parse("application/pgp-signature; name=\"signature.asc\"")
                            .expect("a constant content type"),
                    )
                    .header(header::ContentDisposition::attachment("signature.asc"))
                    .body(Body::dangerous_pre_encoded(
                        armored
                            .replace("\r\n", "\n")
                            .replace('\n', "\r\n")
                            .into_bytes(),
                        ContentTransferEncoding::SevenBit,
                    ))
            };
            if letter.list.attach_cleartext {
                let content = MultiPart::mixed()
                    .singlepart(text_part(letter.body))
                    .singlepart(attachment(&clearsigned));
                let armored = signature(&content.formatted())?;
                builder.multipart(
                    signed
                        .multipart(content)
                        .singlepart(signature_part(armored)),
                )
            } else {
                let content = text_part(letter.body);
                let armored = signature(&content.formatted())?;
                builder.multipart(
                    signed
                        .singlepart(content)
                        .singlepart(signature_part(armored)),
                )
            }
        }
    };
    built.map_err(|error| MessageError::Build(error.to_string()))
}
