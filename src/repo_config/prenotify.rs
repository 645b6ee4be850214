//! `prenotify:`: the downstreams told before disclosure, and the embargo rules they
//! accept.

use super::SigningMode;
use super::check::{Address, DisplayName, FilePath, Rule, one, opt, single_line};
use serde::{Deserialize, Serialize};

/// The `prenotify:` section: who hears of an incident before disclosure, and the embargo
/// rules they accept (the Openwall `distros` list: at most 14 days, under 7 preferred).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    try_from = "PrenotifyFile",
    expecting = "a mapping with the keys `recipients`, `days_before`, `max_days`, `contact`"
)]
pub struct PrenotifyConfig {
    pub recipients: Vec<PrenotifyRecipient>,
    /// How many days before the embargo ends the notice goes out.
    pub days_before: u32,
    /// The furthest an embargo may end after the notice goes out, in days.
    pub max_days: u32,
    /// Where recipients write back (default: the address herald sends from).
    pub contact: Option<String>,
}

impl Default for PrenotifyConfig {
    fn default() -> Self {
        PrenotifyConfig {
            recipients: Vec::new(),
            days_before: 7,
            max_days: 14,
            contact: None,
        }
    }
}

/// `prenotify:` as written, before its values are checked against each other.
#[derive(Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the keys `recipients`, `days_before`, `max_days`, `contact`"
)]
struct PrenotifyFile {
    recipients: Vec<PrenotifyRecipient>,
    days_before: u32,
    max_days: u32,
    #[serde(deserialize_with = "opt::<Address, _>")]
    contact: Option<String>,
}

impl Default for PrenotifyFile {
    fn default() -> Self {
        let defaults = PrenotifyConfig::default();
        PrenotifyFile {
            recipients: Vec::new(),
            days_before: defaults.days_before,
            max_days: defaults.max_days,
            contact: None,
        }
    }
}

impl PrenotifyConfig {
    /// The rules the domain checks an approval against, with the `recipients` as read
    /// (their keys, or why one cannot be used).
    pub fn terms(
        &self,
        recipients: Vec<crate::incident::Downstream>,
        problem: Option<String>,
    ) -> crate::incident::PrenotifyTerms {
        crate::incident::PrenotifyTerms {
            days_before: self.days_before,
            max_days: self.max_days,
            recipients,
            problem,
            contact: self.contact.clone(),
        }
    }
}

impl TryFrom<PrenotifyFile> for PrenotifyConfig {
    type Error = String;
    fn try_from(file: PrenotifyFile) -> Result<Self, String> {
        if let Some(both) = file
            .recipients
            .iter()
            .find(|recipient| recipient.key.is_some() && recipient.key_file.is_some())
        {
            return Err(format!(
                "recipient {} has both `key_file` and `key`; give one",
                both.address
            ));
        }
        if file.days_before == 0 || file.days_before > file.max_days {
            return Err(format!(
                "`days_before` ({}) must be at least 1 and at most `max_days` ({})",
                file.days_before, file.max_days
            ));
        }
        Ok(PrenotifyConfig {
            recipients: file.recipients,
            days_before: file.days_before,
            max_days: file.max_days,
            contact: file.contact,
        })
    }
}

/// One downstream told before disclosure. With a public key (a file in the repository, or
/// the armored key inline) the notice is encrypted to it; without, it is signed cleartext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `address` and optionally `name`, `key_file` or `key`, \
                 `format`, `subject_tag`"
)]
pub struct PrenotifyRecipient {
    #[serde(deserialize_with = "one::<Address, _>")]
    pub address: String,
    #[serde(default, deserialize_with = "opt::<DisplayName, _>")]
    pub name: Option<String>,
    /// The recipient's OpenPGP public key, a file in the repository.
    #[serde(default, deserialize_with = "opt::<FilePath, _>")]
    pub key_file: Option<String>,
    /// The recipient's OpenPGP public key, ASCII-armored.
    #[serde(default, deserialize_with = "opt::<ArmoredKey, _>")]
    pub key: Option<String>,
    /// Put before the subject, for lists that sort or require a tag (the Openwall
    /// `distros` list takes `[vs]`).
    #[serde(default, deserialize_with = "opt::<SubjectTag, _>")]
    pub subject_tag: Option<String>,
    #[serde(default)]
    pub format: OpenPgpFormat,
}

/// How a pre-notification carries its OpenPGP signature, or its encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpenPgpFormat {
    /// In the text: a cleartext signature, or an armored `-----BEGIN PGP MESSAGE-----`.
    #[default]
    Inline,
    /// RFC 3156: `multipart/signed`, or `multipart/encrypted`.
    PgpMime,
}

impl From<OpenPgpFormat> for SigningMode {
    fn from(format: OpenPgpFormat) -> SigningMode {
        match format {
            OpenPgpFormat::Inline => SigningMode::Cleartext,
            OpenPgpFormat::PgpMime => SigningMode::PgpMime,
        }
    }
}

/// An ASCII-armored OpenPGP public key; that it is a usable key is checked when it is used.
struct ArmoredKey;
impl Rule for ArmoredKey {
    const EXPECTED: &'static str = "an ASCII-armored OpenPGP public key";
    fn check(value: &str) -> Result<(), String> {
        if value
            .trim_start()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        {
            Ok(())
        } else {
            Err("the key must be ASCII-armored, starting with \
                 `-----BEGIN PGP PUBLIC KEY BLOCK-----`"
                .into())
        }
    }
}

struct SubjectTag;
impl Rule for SubjectTag {
    const EXPECTED: &'static str = "a subject tag such as `[vs]`";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "the subject tag")?;
        // A tag, not a subject: the rest of the line is herald's.
        if value.chars().count() > SUBJECT_TAG_MAX_CHARS {
            Err(format!(
                "{value:?}: the subject tag must be at most {SUBJECT_TAG_MAX_CHARS} characters"
            ))
        } else {
            Ok(())
        }
    }
}

const SUBJECT_TAG_MAX_CHARS: usize = 32;

#[cfg(test)]
mod tests {
    use crate::repo_config::tests::error;

    #[test]
    fn prenotify_rules_are_checked_where_they_are_written() {
        let e = error("prenotify:\n  days_before: 20\n");
        assert_eq!(e.key.as_deref(), Some("prenotify"), "{e}");
        assert!(e.message.contains("at most `max_days` (14)"), "{e}");
        let e = error("prenotify:\n  days_before: 0\n  max_days: 3\n");
        assert!(e.message.contains("at least 1"), "{e}");
        let e = error(
            "prenotify:\n  recipients:\n    - address: a@example.org\n      key_file: k.asc\n      key: |\n        -----BEGIN PGP PUBLIC KEY BLOCK-----\n",
        );
        assert!(e.message.contains("both `key_file` and `key`"), "{e}");
        let e = error("prenotify:\n  recipients:\n    - address: a@example.org\n      key: AAAA\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("prenotify.recipients[0].key")),
            "{e}"
        );
        let e = error(
            "prenotify:\n  recipients:\n    - address: \"a@example.org\\r\\nBcc: x@evil.example\"\n",
        );
        assert_eq!(
            e.key.as_deref(),
            Some("prenotify.recipients[0].address"),
            "{e}"
        );
        let e = error(
            "prenotify:\n  recipients:\n    - address: a@example.org\n      subject_tag: \"[vs]\\r\\nBcc: x@evil.example\"\n",
        );
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("prenotify.recipients[0].subject_tag")),
            "{e}"
        );
        let e = error(&format!(
            "prenotify:\n  recipients:\n    - address: a@example.org\n      subject_tag: \"{}\"\n",
            "x".repeat(33)
        ));
        assert!(e.message.contains("at most 32 characters"), "{e}");
        let e = error("osv:\n  path: ../advisories\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("osv.path")),
            "{e}"
        );
    }
}
