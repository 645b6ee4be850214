//! Announcements by mail: the project's OpenPGP signing key, the signed message (cleartext
//! or RFC 3156 PGP/MIME), and sending it over SMTP.

pub mod key;
pub mod message;
pub mod recipient;
pub mod smtp;

pub use key::{KeyError, SigningKey};
pub use message::{Digests, Letter, MessageError, Sender, build, build_encrypted};
pub use recipient::{RecipientKey, RecipientKeyError};
pub use smtp::{Mailer, SmtpError};

use crate::repo_config::MailingList;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;

/// How announcements are signed and sent. All optional: without an SMTP URL herald sends
/// no mail (and says so on the timeline); without a key, `dry-run` signs with a throwaway.
#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    /// `smtp://` or `smtps://`, may hold a password; never logged whole.
    pub smtp_url: Option<SecretString>,
    /// `Name <address>` the announcements come from.
    pub from: Option<String>,
    pub reply_to: Option<String>,
    /// The armored OpenPGP secret key that signs announcements.
    pub signing_key_file: Option<PathBuf>,
    pub signing_key_passphrase: Option<SecretString>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error("cannot read the signing key {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Key { path: PathBuf, source: KeyError },
    #[error(transparent)]
    Address(#[from] MessageError),
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    #[error(
        "mail half configured: HERALD_SMTP_URL is set but {0} is not (announcements are \
         signed and need a sender)"
    )]
    Incomplete(&'static str),
}

/// What sending announcements needs: the SMTP server, and who signs them.
#[derive(Clone, Debug)]
pub struct Announcer {
    pub mailer: Mailer,
    pub author: Author,
}

/// Who messages come from and the key that signs them.
#[derive(Clone, Debug)]
pub struct Author {
    pub sender: Sender,
    pub key: SigningKey,
}

impl Author {
    /// The keyed digests of this author's mail headers.
    pub fn digests(&self) -> Result<Digests, MessageError> {
        Ok(Digests::new(self.key.digest_secret()?))
    }

    /// The short reference to an incident that subjects under embargo carry.
    pub fn incident_reference(&self, ghsa_id: &str) -> Result<String, MessageError> {
        Ok(self.digests()?.incident_reference(ghsa_id))
    }

    /// The signed message about incident `ghsa_id` to `recipient`, and its Message-ID
    /// (stable for the same incident, recipient and `tag`); with `seal`, also encrypted to
    /// that key, so only its holder reads it.
    pub fn message(
        &self,
        ghsa_id: &str,
        recipient: &MailingList,
        (subject, body): (&str, &str),
        tag: &str,
        seal: Option<&RecipientKey>,
    ) -> Result<(String, lettre::Message), MessageError> {
        self.compose((ghsa_id, tag), recipient, (subject, body), seal, None)
    }

    /// herald's own answer to `recipient`'s message `theirs` (`<id>`), named by `tag`
    /// (stable, so a resend is recognisable): threaded under theirs, signed, encrypted to
    /// `seal` when their key is known, and marked as automatic so no program answers it.
    pub fn reply(
        &self,
        (theirs, tag): (Option<&str>, &str),
        recipient: &MailingList,
        (subject, body): (&str, &str),
        seal: Option<&RecipientKey>,
    ) -> Result<(String, lettre::Message), MessageError> {
        // Their Message-ID is theirs to choose: only a plain one goes into a header.
        let theirs = theirs
            .map(|id| id.trim_matches(['<', '>']))
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= 250
                    && id
                        .bytes()
                        .all(|byte| byte.is_ascii_graphic() && byte != b'<' && byte != b'>')
            })
            .map(|id| format!("<{id}>"));
        let answering = Some(theirs.as_deref());
        self.compose(("intake", tag), recipient, (subject, body), seal, answering)
    }

    /// The message about `about` (a GHSA id, or `intake`) named by `tag`, to `recipient`;
    /// `answering`: herald's automatic answer, to their message when it has a usable id.
    fn compose(
        &self,
        (about, tag): (&str, &str),
        recipient: &MailingList,
        (subject, body): (&str, &str),
        seal: Option<&RecipientKey>,
        answering: Option<Option<&str>>,
    ) -> Result<(String, lettre::Message), MessageError> {
        let digests = self.digests()?;
        let id = digests.message_id(&self.sender, about, &recipient.address, tag);
        let thread = digests.thread_id(&self.sender, about, &recipient.address);
        let letter = Letter {
            sender: &self.sender,
            list: recipient,
            subject,
            body,
            message_id: &id,
            thread: &thread,
            date: std::time::SystemTime::now(),
            in_reply_to: answering.flatten(),
            automatic: answering.is_some(),
        };
        let message = match seal {
            Some(seal) => build_encrypted(&letter, &self.key, seal)?,
            None => build(&letter, &self.key)?,
        };
        Ok((id, message))
    }
}

/// The configured signing key, loaded and checked; `None` when none is configured.
pub fn load_signing_key(settings: &MailSettings) -> Result<Option<SigningKey>, MailSetupError> {
    let Some(path) = &settings.signing_key_file else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|source| MailSetupError::ReadKey {
        path: path.clone(),
        source,
    })?;
    SigningKey::from_bytes(&bytes, settings.signing_key_passphrase.as_ref())
        .map(Some)
        .map_err(|source| MailSetupError::Key {
            path: path.clone(),
            source,
        })
}

/// The announcer the settings describe; `None` when no SMTP server is configured. A
/// configured key is checked either way, so a bad key stops herald at start.
pub fn announcer(settings: &MailSettings) -> Result<Option<Announcer>, MailSetupError> {
    let key = load_signing_key(settings)?;
    let Some(url) = &settings.smtp_url else {
        return Ok(None);
    };
    let key = key.ok_or(MailSetupError::Incomplete("HERALD_SIGNING_KEY_FILE"))?;
    let from = settings
        .from
        .as_deref()
        .ok_or(MailSetupError::Incomplete("HERALD_MAIL_FROM"))?;
    Ok(Some(Announcer {
        mailer: Mailer::from_url(url.expose_secret())?,
        author: Author {
            sender: Sender::parse(from, settings.reply_to.as_deref())?,
            key,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo_config::SigningMode;

    fn author() -> Author {
        let (key, _) = SigningKey::generate("Security <security@example.org>").expect("a key");
        Author {
            sender: Sender::parse("Security <security@example.org>", None).expect("a sender"),
            key,
        }
    }

    /// The headers of `message` as sent.
    fn headers(message: &lettre::Message) -> String {
        let formatted = String::from_utf8_lossy(&message.formatted()).into_owned();
        formatted
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn a_reply_threads_only_under_a_plain_message_id() {
        let author = author();
        let reporter = MailingList {
            address: "rita@example.net".to_owned(),
            name: None,
            signing: SigningMode::Cleartext,
            attach_cleartext: false,
        };
        let reply = |theirs: &str| {
            let (_, message) = author
                .reply((Some(theirs), "ack-1"), &reporter, ("s", "b"), None)
                .expect("a reply");
            headers(&message)
        };
        let threaded = reply("r1@example.net");
        assert!(
            threaded.contains("In-Reply-To: <r1@example.net>"),
            "{threaded}"
        );
        assert!(
            threaded.contains("Auto-Submitted: auto-replied"),
            "{threaded}"
        );
        assert!(threaded.contains("Message-ID: <herald."), "{threaded}");
        for hostile in ["a b@x", "a>\tBcc: x@y", "a\r\nBcc: x@y", ""] {
            let headers = reply(hostile);
            assert!(!headers.contains("In-Reply-To"), "{hostile:?}: {headers}");
            assert!(!headers.contains("Bcc"), "{hostile:?}: {headers}");
        }
    }
}
