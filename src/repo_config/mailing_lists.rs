//! `mailing_lists:`: the lists that get the signed announcement.

use super::check::{Address, DisplayName, one, opt};
use serde::{Deserialize, Serialize};

/// A list that gets the signed announcement. `address` and `name` end up in mail headers,
/// so anything that could inject a header (line breaks, extra recipients) is refused here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `address` and optionally `name`, `signing`, `attach_cleartext`"
)]
pub struct MailingList {
    #[serde(deserialize_with = "one::<Address, _>")]
    pub address: String,
    /// Display name in the `To:` header.
    #[serde(default, deserialize_with = "opt::<DisplayName, _>")]
    pub name: Option<String>,
    #[serde(default)]
    pub signing: SigningMode,
    /// Also attach the cleartext-signed announcement as a file (some list archives break
    /// inline signatures).
    #[serde(default)]
    pub attach_cleartext: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigningMode {
    /// An inline `-----BEGIN PGP SIGNED MESSAGE-----` body: readable by every mail archive.
    #[default]
    Cleartext,
    /// RFC 3156 `multipart/signed`.
    PgpMime,
}

#[cfg(test)]
mod tests {
    use crate::repo_config::tests::error;

    #[test]
    fn header_injection_is_rejected() {
        let e = error("mailing_lists:\n  - name: ok\n    address: \"a@b.org\\nBcc: x@y\"\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].address"))
        );
        assert!(e.message.contains("not a plain email address"), "{e}");
        let e = error("mailing_lists:\n  - address: a@b.org\n    name: \"List\\r\\nBcc: x@y\"\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].name"))
        );
        for bad in [
            "a@b.org, c@d.org",
            "List <a@b.org>",
            "a.b.org",
            "a@b@c",
            "@b.org",
            "a@",
        ] {
            let text = format!("mailing_lists:\n  - address: {bad:?}\n");
            assert_eq!(
                error(&text).key.as_deref(),
                Some("mailing_lists[0].address"),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_signing_mode_names_allowed_values() {
        let e = error("mailing_lists:\n  - address: a@b.org\n    signing: smime\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].signing"))
        );
        assert!(e.message.contains("`cleartext` or `pgp-mime`"), "{e}");
    }
}
