//! A letter's OpenPGP, as mail carries it: PGP/MIME encrypted (RFC 3156's
//! `multipart/encrypted`), PGP/MIME signed (`multipart/signed`), or an armored message in
//! the text (inline). Signatures are checked against the keys the reporter attached
//! (`application/pgp-keys`), inside the encryption or outside it.

use super::letter::{Letter, attachments_of, text_of};
use super::openpgp::{self, DecryptionKey, SignatureCheck};
use mail_parser::{Message, MessageParser, MimeHeaders};
use sequoia_openpgp::Cert;

/// How a report was sealed, and whether herald could open it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Seal {
    Plain,
    /// Decrypted with herald's key: `PGP/MIME` or `inline`.
    Decrypted {
        format: &'static str,
    },
    Undecryptable {
        why: String,
    },
}

impl Seal {
    /// One line for the intake's issue and `herald intake show`.
    pub fn describe(&self) -> String {
        match self {
            Seal::Plain => "no".to_owned(),
            Seal::Decrypted { format } => format!("yes ({format}), decrypted with herald's key"),
            Seal::Undecryptable { why } => format!("yes, and herald could not decrypt it: {why}"),
        }
    }
}

const ARMOR_BEGIN: &str = "-----BEGIN PGP MESSAGE-----";
const ARMOR_END: &str = "-----END PGP MESSAGE-----";
const CLEARTEXT_BEGIN: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const CLEARTEXT_END: &str = "-----END PGP SIGNATURE-----";

/// Opens what is sealed in `message` (whose bytes are `raw`) into `letter`.
pub(super) fn open(
    letter: &mut Letter,
    message: &Message,
    raw: &[u8],
    key: Option<&DecryptionKey>,
) {
    let mut known = attached_keys(message);
    if is(message, "multipart", "encrypted") {
        // Its two parts are the envelope (a version and the ciphertext), not attachments.
        letter.attachments.clear();
        letter.text.clear();
        match pgp_mime_ciphertext(message) {
            Some(ciphertext) => open_pgp_mime(letter, ciphertext, key, &mut known),
            None => seal_failed(letter, "its encrypted part is missing".to_owned()),
        }
    } else if is(message, "multipart", "signed") {
        letter.signature = verify_signed(raw, message, &known);
    } else if let Some((start, end)) = armored_block(&letter.text) {
        let block = letter.text[start..end].to_owned();
        match decrypt(key, block.as_bytes(), &known) {
            Ok((plaintext, check)) => {
                letter
                    .text
                    .replace_range(start..end, &String::from_utf8_lossy(&plaintext));
                letter.signature = check;
                letter.seal = Seal::Decrypted { format: "inline" };
            }
            Err(why) => seal_failed(letter, why),
        }
    } else if let Some((start, end)) = block(&letter.text, CLEARTEXT_BEGIN, CLEARTEXT_END) {
        let signed = letter.text[start..end].to_owned();
        letter.signature = openpgp::verify_cleartext(signed.as_bytes(), &known);
    }
    let address = letter.from.as_ref().map(|from| from.address.clone());
    letter.signature.compare_sender(address.as_deref());
    letter.reporter_key = openpgp::reporter_key(&known, address.as_deref(), &letter.signature);
}

fn seal_failed(letter: &mut Letter, why: String) {
    letter
        .unread
        .push(format!("its encrypted text could not be decrypted: {why}"));
    letter.seal = Seal::Undecryptable { why };
}

fn open_pgp_mime(
    letter: &mut Letter,
    ciphertext: &[u8],
    key: Option<&DecryptionKey>,
    known: &mut Vec<Cert>,
) {
    let (plaintext, mut check) = match decrypt(key, ciphertext, known) {
        Ok(opened) => opened,
        Err(why) => return seal_failed(letter, why),
    };
    letter.seal = Seal::Decrypted { format: "PGP/MIME" };
    if super::letter::nests_too_deep(&plaintext) {
        letter.unread.push(format!(
            "its decrypted part nests more than {} messages in one another: herald did not \
             read it",
            super::letter::MAX_NESTED_MESSAGES
        ));
        letter.signature = check;
        return;
    }
    let Some(inner) = MessageParser::default().parse(&plaintext) else {
        letter.text = String::from_utf8_lossy(&plaintext).into_owned();
        letter.signature = check;
        return;
    };
    letter.text = text_of(&inner);
    letter.attachments = attachments_of(&inner);
    let inner_keys = attached_keys(&inner);
    if !inner_keys.is_empty() {
        known.extend(inner_keys);
        // The reporter's key came inside the encryption: check the signature again with it.
        if matches!(check, SignatureCheck::UnknownKey { .. })
            && let Ok((_, again)) = decrypt(key, ciphertext, known)
        {
            check = again;
        }
    }
    if is(&inner, "multipart", "signed") {
        check = verify_signed(&plaintext, &inner, known);
    }
    letter.signature = check;
}

fn decrypt(
    key: Option<&DecryptionKey>,
    ciphertext: &[u8],
    known: &[Cert],
) -> Result<(Vec<u8>, SignatureCheck), String> {
    let key = key.ok_or_else(|| {
        "herald has no decryption key (set intake_decryption_key_file to the key reports \
         are encrypted to)"
            .to_owned()
    })?;
    openpgp::decrypt(key, ciphertext, known)
}

fn is(message: &Message, kind: &str, subtype: &str) -> bool {
    message.root_part().is_content_type(kind, subtype)
}

/// The ciphertext of a `multipart/encrypted` message: its `application/octet-stream` part.
fn pgp_mime_ciphertext<'a>(message: &'a Message) -> Option<&'a [u8]> {
    message
        .parts
        .iter()
        .skip(1)
        .find(|part| part.is_content_type("application", "octet-stream"))
        .map(|part| part.contents())
}

/// The keys attached to `message` (`application/pgp-keys` parts).
fn attached_keys(message: &Message) -> Vec<Cert> {
    message
        .parts
        .iter()
        .filter(|part| part.is_content_type("application", "pgp-keys"))
        .flat_map(|part| openpgp::certs_in(part.contents()))
        .collect()
}

/// Checks a `multipart/signed` message (whose bytes are `raw`): its signature over its
/// first part exactly as sent, line ends made CRLF (RFC 3156).
fn verify_signed(raw: &[u8], message: &Message, known: &[Cert]) -> SignatureCheck {
    let boundary = message
        .root_part()
        .content_type()
        .and_then(|kind| kind.attribute("boundary"));
    let signed = boundary.and_then(|boundary| first_part(raw, boundary));
    let signature = message
        .parts
        .iter()
        .find(|part| part.is_content_type("application", "pgp-signature"))
        .map(|part| part.contents());
    match (signed, signature) {
        (Some(signed), Some(signature)) => {
            openpgp::verify_detached(signature, &crlf(signed), known)
        }
        _ => SignatureCheck::Bad {
            why: "its signed part or its signature is missing".to_owned(),
        },
    }
}

/// The bytes of the first body part of a multipart entity with `boundary`: after the first
/// delimiter line, up to (not including) the line break before the next delimiter.
fn first_part<'a>(raw: &'a [u8], boundary: &str) -> Option<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let find = |from: usize| {
        raw[from..]
            .windows(delimiter.len())
            .position(|window| window == delimiter.as_bytes())
            .map(|at| at + from)
    };
    let first = find(0)?;
    let start = first + raw[first..].iter().position(|byte| *byte == b'\n')? + 1;
    let next = find(start)?;
    let end = if raw[..next].ends_with(b"\r\n") {
        next - 2
    } else if raw[..next].ends_with(b"\n") {
        next - 1
    } else {
        next
    };
    raw.get(start..end)
}

/// `bytes` with every line ending CRLF.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 40);
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' && (index == 0 || bytes[index - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(*byte);
    }
    out
}

/// Where the first armored OpenPGP message in `text` is (its byte range).
fn armored_block(text: &str) -> Option<(usize, usize)> {
    block(text, ARMOR_BEGIN, ARMOR_END)
}

/// Where the first block from a `begin` line to an `end` line is in `text`.
fn block(text: &str, begin: &str, end: &str) -> Option<(usize, usize)> {
    let start = text.find(begin)?;
    let stop = text[start..].find(end)? + start + end.len();
    Some((start, stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_part_is_what_lies_between_the_delimiters() {
        let raw = b"Content-Type: multipart/signed; boundary=b\r\n\r\npreamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nsig\r\n--b--\r\n";
        assert_eq!(
            first_part(raw, "b"),
            Some(&b"Content-Type: text/plain\r\n\r\nhi"[..])
        );
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn an_armored_block_is_found_in_text() {
        let text = format!("Hi,\n{ARMOR_BEGIN}\nabc\n{ARMOR_END}\nbye");
        let (start, end) = armored_block(&text).expect("a block");
        assert!(text[start..end].starts_with(ARMOR_BEGIN));
        assert!(text[start..end].ends_with(ARMOR_END));
        assert_eq!(armored_block("no block"), None);
    }
}
