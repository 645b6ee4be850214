//! Building a signed announcement: headers from lettre (values are typed, and the subject,
//! which comes from advisory text, is one line before it gets there, so it cannot start a
//! header), and the signature in one of two shapes:
//!
//! - cleartext: the body is the `gpg --clearsign` text, sent as it is (7bit, or 8bit for
//!   UTF-8) so that the message saved to a file verifies with `gpg --verify` as OpenSSL's
//!   and Debian's do. The text is made mail-safe before it is signed: no line starts with
//!   `From ` (mbox would turn it into `>From `), no trailing white space, and no line
//!   longer than SMTP's 998 octets;
//! - PGP/MIME (RFC 3156): `multipart/signed`, whose first part is signed byte for byte as
//!   transmitted (CRLF line ends, without the CRLF that belongs to the next boundary).
//!
//! A message to one holder of a key is also encrypted to it ([`build_encrypted`]).

use super::key::{KeyError, SigningKey};
use crate::drafts::escape;
use crate::repo_config::{MailingList, SigningMode};
use lettre::Message;
use lettre::message::header::{self, ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use sha2::Sha256;
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
    /// From [`thread_id`]: what the recipient's mail reader threads the incident's messages by.
    pub thread: &'a str,
    pub date: SystemTime,
    /// The recipient's message this one answers (`In-Reply-To`), threading it under theirs.
    pub in_reply_to: Option<&'a str>,
    /// Sent by herald on its own (an acknowledgement): `Auto-Submitted: auto-replied`, so
    /// the recipient's programs do not answer it (RFC 3834).
    pub automatic: bool,
}

/// `Auto-Submitted: auto-replied` (RFC 3834).
#[derive(Clone)]
struct AutoReplied;

impl header::Header for AutoReplied {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoReplied)
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "auto-replied".to_owned())
    }
}

/// Keyed digests for the headers of messages about an incident: the same for the same
/// parts, and telling nothing of them to the mail servers on the way, which read every
/// header in the clear (a pre-notification's body is encrypted, its headers are not). Keyed
/// with a secret of the signing key, so nobody else can confirm a guessed GHSA id or date.
pub struct Digests {
    secret: [u8; 32],
}

impl Digests {
    pub fn new(secret: [u8; 32]) -> Digests {
        Digests { secret }
    }

    fn of(&self, parts: &[&str]) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// `<herald.DIGEST@domain>`: the same for the same incident, recipient and message
    /// (`tag`: the announcement's version such as `v1`, an escalation's stage, a
    /// pre-notification's date), so a message sent twice (herald died between the server's
    /// 250 and recording it) is recognisable as one, and naming none of them.
    pub fn message_id(&self, sender: &Sender, ghsa_id: &str, recipient: &str, tag: &str) -> String {
        format!(
            "<herald.{}@{}>",
            &self.of(&["message", ghsa_id, recipient, tag])[..32],
            sender.domain()
        )
    }

    /// `<herald.thread.DIGEST@domain>`, the `References` of every message about one incident
    /// to one recipient, so mail readers thread them without any header naming the incident.
    pub fn thread_id(&self, sender: &Sender, ghsa_id: &str, recipient: &str) -> String {
        format!(
            "<herald.thread.{}@{}>",
            &self.of(&["thread", ghsa_id, recipient])[..32],
            sender.domain()
        )
    }

    /// A short reference to an incident for subjects under embargo: the same for the same
    /// incident, and no GHSA id, CVE id, repository or date.
    pub fn incident_reference(&self, ghsa_id: &str) -> String {
        self.of(&["incident", ghsa_id])[..8].to_owned()
    }
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

/// SMTP's limit on a line, without its CRLF (RFC 5321 4.5.3.1.6).
const MAX_LINE_OCTETS: usize = 998;
/// Long lines are wrapped at a space before this, as mail readers show them.
const WRAP_AT: usize = 76;

/// `text` as it can travel unencoded and still verify: LF line ends, no trailing white
/// space, no line starting with `From ` (indented by one space), and lines longer than
/// SMTP allows wrapped at a space (or split, for a word longer than that).
pub fn mail_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.replace("\r\n", "\n").replace('\r', "\n").split('\n') {
        let line = line.trim_end();
        let line = if line.starts_with("From ") {
            format!(" {line}")
        } else {
            line.to_owned()
        };
        for piece in wrap_long(&line) {
            out.push_str(piece);
            out.push('\n');
        }
    }
    out.truncate(out.trim_end_matches('\n').len());
    out.push('\n');
    out
}

/// A line cut into pieces of at most [`MAX_LINE_OCTETS`]: at the last space before
/// [`WRAP_AT`]-ish widths when the line is too long, on a character boundary otherwise.
fn wrap_long(line: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = line;
    while rest.len() > MAX_LINE_OCTETS {
        let mut limit = MAX_LINE_OCTETS;
        while !rest.is_char_boundary(limit) {
            limit -= 1;
        }
        let cut = rest[..limit]
            .rfind(' ')
            .filter(|&space| space >= WRAP_AT.min(limit) / 2)
            .unwrap_or(limit);
        pieces.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    pieces.push(rest);
    pieces
}

/// Cleartext-signed text as it is sent: CRLF line ends, 7bit when ASCII, else 8bit UTF-8.
fn unencoded_part(signed: &str, disposition: Option<header::ContentDisposition>) -> SinglePart {
    let encoding = if signed.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    let mut builder = SinglePart::builder().header(ContentType::TEXT_PLAIN);
    if let Some(disposition) = disposition {
        builder = builder.header(disposition);
    }
    builder.body(Body::dangerous_pre_encoded(
        signed
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
            .into_bytes(),
        encoding,
    ))
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
    unencoded_part(
        clearsigned,
        Some(header::ContentDisposition::attachment(ATTACHMENT_NAME)),
    )
}

/// The bytes RFC 3156 signs: the part as transmitted, without the CRLF before the next
/// boundary (lettre writes every part followed by exactly one CRLF).
fn signed_bytes(formatted: &[u8]) -> &[u8] {
    formatted.strip_suffix(b"\r\n").unwrap_or(formatted)
}

/// The headers every message has: From, To, Subject (one line), Date, Message-ID and
/// Reply-To.
fn headers(letter: &Letter<'_>) -> Result<lettre::message::MessageBuilder, MessageError> {
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
    builder = match letter.in_reply_to {
        Some(theirs) => builder
            .in_reply_to(theirs.to_owned())
            .references(theirs.to_owned()),
        None => builder.references(letter.thread.to_owned()),
    };
    if letter.automatic {
        builder = builder.header(AutoReplied);
    }
    if let Some(reply_to) = &letter.sender.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    Ok(builder)
}

/// A message only `recipient` can read: the body signed with `key` and encrypted to them.
/// The subject is not encrypted, so the caller keeps it free of anything under embargo.
///
/// - cleartext: inline OpenPGP, an armored `-----BEGIN PGP MESSAGE-----` in a plain-text
///   body, which mail clients and re-encrypting list remailers alike read;
/// - PGP/MIME: RFC 3156 `multipart/encrypted`, whose encrypted part holds the signed MIME
///   entity (section 6.2, signed and encrypted in one OpenPGP message).
pub fn build_encrypted(
    letter: &Letter<'_>,
    key: &SigningKey,
    recipient: &super::RecipientKey,
) -> Result<Message, MessageError> {
    let builder = headers(letter)?;
    let built = match letter.list.signing {
        SigningMode::Cleartext => {
            let sealed = key.sign_and_encrypt(mail_safe(letter.body).as_bytes(), recipient)?;
            builder.singlepart(unencoded_part(&sealed, None))
        }
        SigningMode::PgpMime => {
            let entity = text_part(letter.body).formatted();
            let sealed = key.sign_and_encrypt(&entity, recipient)?;
            builder.multipart(
                MultiPart::encrypted("application/pgp-encrypted".to_owned())
                    .singlepart(seven_bit_part(
                        "application/pgp-encrypted",
                        header::ContentDisposition::inline(),
                        "Version: 1\n",
                    ))
                    .singlepart(seven_bit_part(
                        "application/octet-stream; name=\"encrypted.asc\"",
                        header::ContentDisposition::inline_with_name("encrypted.asc"),
                        &sealed,
                    )),
            )
        }
    };
    built.map_err(|error| MessageError::Build(error.to_string()))
}

/// A part of ASCII `text` (an armored OpenPGP block, say), sent as it is with CRLF line ends.
fn seven_bit_part(
    content_type: &'static str,
    disposition: header::ContentDisposition,
    text: &str,
) -> SinglePart {
    SinglePart::builder()
        .header(ContentType::parse(content_type).expect("a constant content type"))
        .header(disposition)
        .body(Body::dangerous_pre_encoded(
            text.replace("\r\n", "\n")
                .replace('\n', "\r\n")
                .into_bytes(),
            ContentTransferEncoding::SevenBit,
        ))
}

/// The whole message, signed as the list asks.
pub fn build(letter: &Letter<'_>, key: &SigningKey) -> Result<Message, MessageError> {
    let builder = headers(letter)?;
    // PGP/MIME signs its quoted-printable part as transmitted, so only the cleartext needs
    // the text made mail-safe.
    let clearsigned = key.clearsign(&mail_safe(letter.body))?;
    let built = match letter.list.signing {
        SigningMode::Cleartext if letter.list.attach_cleartext => builder.multipart(
            MultiPart::mixed()
                .singlepart(unencoded_part(&clearsigned, None))
                .singlepart(attachment(&clearsigned)),
        ),
        SigningMode::Cleartext => builder.singlepart(unencoded_part(&clearsigned, None)),
        SigningMode::PgpMime => {
            let signature = |formatted: &[u8]| key.sign_detached(signed_bytes(formatted));
            let signed = MultiPart::signed(
                "application/pgp-signature".to_owned(),
                "pgp-sha256".to_owned(),
            );
            let signature_part = |armored: String| {
                seven_bit_part(
                    "application/pgp-signature; name=\"signature.asc\"",
                    header::ContentDisposition::attachment("signature.asc"),
                    &armored,
                )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_digests_are_keyed_and_stable() {
        let sender = Sender::parse("Security <security@example.org>", None).expect("sender");
        let ours = Digests::new([7; 32]);
        let theirs = Digests::new([8; 32]);
        let id = ours.message_id(&sender, "GHSA-abcd-1234-efgh", "distros@example.org", "v1");
        assert_eq!(
            id,
            ours.message_id(&sender, "GHSA-abcd-1234-efgh", "distros@example.org", "v1"),
            "the same message, the same id"
        );
        assert!(
            id.starts_with("<herald.") && id.ends_with("@example.org>"),
            "{id}"
        );
        assert!(!id.to_ascii_lowercase().contains("ghsa"), "{id}");
        assert_ne!(
            id,
            theirs.message_id(&sender, "GHSA-abcd-1234-efgh", "distros@example.org", "v1"),
            "without herald's secret, a guessed GHSA id cannot be confirmed"
        );
        assert_ne!(
            ours.incident_reference("GHSA-abcd-1234-efgh"),
            theirs.incident_reference("GHSA-abcd-1234-efgh")
        );
    }
}
