//! Whether a message is a report, told by its header alone: mail that no person wrote to
//! the security team (auto-replies, bounces, herald's own mail come back, list traffic)
//! opens no intake and is never answered, so two programs cannot answer each other.

use super::letter::header_text;
use mail_parser::MessageParser;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Written by a person to the security team: it opens an intake.
    Report,
    /// An automatic answer (RFC 3834's `Auto-Submitted`, out-of-office headers).
    AutoReply,
    /// A delivery status notification: a bounce.
    Bounce,
    /// herald's own mail, come back.
    Loop,
    /// Mailing-list traffic (`List-Id`).
    List,
    /// Bulk or junk mail (`Precedence`).
    Bulk,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Report,
        Kind::AutoReply,
        Kind::Bounce,
        Kind::Loop,
        Kind::List,
        Kind::Bulk,
    ];

    /// The name the store keeps and lists show.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Report => "report",
            Kind::AutoReply => "auto_reply",
            Kind::Bounce => "bounce",
            Kind::Loop => "loop",
            Kind::List => "list",
            Kind::Bulk => "bulk",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// What `raw` is, and why when it is not a report. `own_domain`: the domain of herald's
/// own From address, whose Message-IDs (`<herald.…@domain>`) mark its own mail;
/// `own_address`: that address.
pub fn classify(
    raw: &[u8],
    own_address: Option<&str>,
    own_domain: Option<&str>,
) -> (Kind, Option<String>) {
    let Some(message) = MessageParser::default().parse_headers(super::header_of(raw)) else {
        return (Kind::Report, None);
    };
    let header = |name: &str| header_text(&message, name);
    let own = |address: &str| own_address.is_some_and(|own| own.eq_ignore_ascii_case(address));
    let from = header("From").unwrap_or_default();
    if let Some(id) = message.message_id()
        && let Some(domain) = own_domain
        && id.starts_with("herald.")
        && id
            .to_ascii_lowercase()
            .ends_with(&format!("@{}", domain.to_ascii_lowercase()))
    {
        return (Kind::Loop, Some(format!("herald's own message <{id}>")));
    }
    if own(&from) || header("X-Loop").is_some_and(|value| own(value.trim())) {
        return (
            Kind::Loop,
            Some(format!("from herald's own address {from}")),
        );
    }
    let content_type = header("Content-Type").unwrap_or_default();
    if content_type.eq_ignore_ascii_case("multipart/report") {
        return (Kind::Bounce, Some("a delivery status report".to_owned()));
    }
    let null_sender = message
        .header_raw("Return-Path")
        .is_some_and(|path| path.trim() == "<>");
    if null_sender || from.to_ascii_lowercase().starts_with("mailer-daemon@") {
        return (Kind::Bounce, Some("from the null sender".to_owned()));
    }
    if let Some(value) = header("Auto-Submitted")
        && !value.trim().eq_ignore_ascii_case("no")
    {
        return (Kind::AutoReply, Some(format!("Auto-Submitted: {value}")));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"] {
        if let Some(value) = header(name) {
            return (Kind::AutoReply, Some(format!("{name}: {value}")));
        }
    }
    if let Some(list) = message.header_raw("List-Id") {
        // As written (the parsed value keeps only the id, not the list's name).
        let list = list.split_whitespace().collect::<Vec<_>>().join(" ");
        return (Kind::List, Some(format!("List-Id: {list}")));
    }
    if let Some(value) = header("Precedence") {
        let value = value.trim().to_ascii_lowercase();
        if ["bulk", "junk", "list", "auto_reply"].contains(&value.as_str()) {
            return (Kind::Bulk, Some(format!("Precedence: {value}")));
        }
    }
    (Kind::Report, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(header: &str) -> Kind {
        let raw = format!("From: someone@example.net\r\nSubject: s\r\n{header}\r\nbody\r\n");
        classify(
            raw.as_bytes(),
            Some("security@example.org"),
            Some("example.org"),
        )
        .0
    }

    #[test]
    fn mail_no_person_wrote_is_not_a_report() {
        assert_eq!(kind(""), Kind::Report);
        assert_eq!(kind("Auto-Submitted: no\r\n"), Kind::Report);
        assert_eq!(kind("Auto-Submitted: auto-replied\r\n"), Kind::AutoReply);
        assert_eq!(kind("X-Autoreply: yes\r\n"), Kind::AutoReply);
        assert_eq!(kind("Precedence: bulk\r\n"), Kind::Bulk);
        assert_eq!(kind("Precedence: first-class\r\n"), Kind::Report);
        assert_eq!(
            kind("List-Id: Announce <announce.lists.example.net>\r\n"),
            Kind::List
        );
        assert_eq!(
            kind("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n"),
            Kind::Bounce
        );
        assert_eq!(kind("Return-Path: <>\r\n"), Kind::Bounce);
        assert_eq!(kind("Return-Path: <someone@example.net>\r\n"), Kind::Report);
        assert_eq!(
            kind("Message-ID: <herald.0123abcd@example.org>\r\n"),
            Kind::Loop
        );
        assert_eq!(
            kind("Message-ID: <herald.0123abcd@elsewhere.example>\r\n"),
            Kind::Report
        );
        assert_eq!(kind("X-Loop: security@example.org\r\n"), Kind::Loop);
    }

    #[test]
    fn mail_from_herald_itself_is_a_loop() {
        let raw = b"From: Security <SECURITY@example.org>\r\n\r\nbody";
        let (kind, reason) = classify(raw, Some("security@example.org"), Some("example.org"));
        assert_eq!(kind, Kind::Loop, "{reason:?}");
    }

    #[test]
    fn every_kind_has_one_name() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
    }
}
