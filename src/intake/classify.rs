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

/// What herald knows of its own mail and the team's: its From address and that address's
/// domain (its Message-IDs are `<herald.…@domain>`), and the mailing lists that are the
/// security team's own address (a Google Group or mailman list in front of herald), whose
/// mail is reports.
#[derive(Debug, Clone, Default)]
pub struct Ours {
    pub address: Option<String>,
    pub domain: Option<String>,
    /// List-Ids (the part in angle brackets, as `security.example.org`).
    pub lists: Vec<String>,
}

impl Ours {
    fn is_address(&self, address: &str) -> bool {
        self.address
            .as_deref()
            .is_some_and(|own| own.eq_ignore_ascii_case(address.trim()))
    }

    /// Whether `id` (without angle brackets) is one of herald's own Message-IDs.
    pub fn is_message_id(&self, id: &str) -> bool {
        let id = id.trim().trim_matches(['<', '>']).to_ascii_lowercase();
        self.domain.as_deref().is_some_and(|domain| {
            id.starts_with("herald.") && id.ends_with(&format!("@{}", domain.to_ascii_lowercase()))
        })
    }

    fn is_list(&self, list_id: &str) -> bool {
        self.lists.iter().any(|own| {
            list_id
                .to_ascii_lowercase()
                .contains(&own.to_ascii_lowercase())
        })
    }
}

/// The address in a header value written `Name <address>` or bare.
fn address_in(value: &str) -> &str {
    match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.trim(),
    }
}

/// The List-Id of `raw`, the part in angle brackets, lower case (`announce.example.org`).
pub fn list_id(raw: &[u8]) -> Option<String> {
    let message = MessageParser::default().parse_headers(super::header_of(raw))?;
    let id = address_in(message.header_raw("List-Id")?).to_ascii_lowercase();
    Some(id).filter(|id| !id.is_empty())
}

/// What `raw` is, and why when it is not a report.
pub fn classify(raw: &[u8], ours: &Ours) -> (Kind, Option<String>) {
    let Some(message) = MessageParser::default().parse_headers(super::header_of(raw)) else {
        return (Kind::Report, None);
    };
    let header = |name: &str| header_text(&message, name);
    let from = header("From").unwrap_or_default();
    if let Some(id) = message.message_id()
        && ours.is_message_id(id)
    {
        return (Kind::Loop, Some(format!("herald's own message <{id}>")));
    }
    let looped = header("X-Loop").is_some_and(|value| ours.is_address(address_in(&value)));
    if ours.is_address(&from) || looped {
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
    // An automatic answer to something (RFC 3834's auto-replied, out-of-office markers) is
    // no report; mail a program wrote or forwarded (auto-generated, auto-forwarded: a
    // fuzzer, a relay) may be one, and is opened, though never answered.
    if let Some(value) = header("Auto-Submitted")
        && value.trim().eq_ignore_ascii_case("auto-replied")
    {
        return (Kind::AutoReply, Some(format!("Auto-Submitted: {value}")));
    }
    for name in ["X-Autoreply", "X-Autorespond"] {
        if let Some(value) = header(name) {
            return (Kind::AutoReply, Some(format!("{name}: {value}")));
        }
    }
    if let Some(list) = message.header_raw("List-Id") {
        // As written (the parsed value keeps only the id, not the list's name).
        let list = list.split_whitespace().collect::<Vec<_>>().join(" ");
        if !ours.is_list(&list) {
            return (Kind::List, Some(format!("List-Id: {list}")));
        }
    }
    if let Some(value) = header("Precedence") {
        let value = value.trim().to_ascii_lowercase();
        if ["bulk", "junk", "auto_reply"].contains(&value.as_str()) {
            return (Kind::Bulk, Some(format!("Precedence: {value}")));
        }
    }
    (Kind::Report, None)
}

/// Whether a program wrote or forwarded `raw` (its header says so): herald opens it if it
/// is a report, but never answers it.
pub fn is_automatic(raw: &[u8]) -> bool {
    let Some(message) = MessageParser::default().parse_headers(super::header_of(raw)) else {
        return false;
    };
    let automatic = header_text(&message, "Auto-Submitted")
        .is_some_and(|value| !value.trim().eq_ignore_ascii_case("no"));
    let bulk = header_text(&message, "Precedence").is_some_and(|value| {
        ["bulk", "junk", "list", "auto_reply"].contains(&value.trim().to_ascii_lowercase().as_str())
    });
    automatic || bulk
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Ours {
        Ours {
            address: Some("security@example.org".to_owned()),
            domain: Some("example.org".to_owned()),
            lists: vec!["security.example.org".to_owned()],
        }
    }

    fn kind(header: &str) -> Kind {
        let raw = format!("From: someone@example.net\r\nSubject: s\r\n{header}\r\nbody\r\n");
        classify(raw.as_bytes(), &ours()).0
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
        assert_eq!(
            kind("X-Loop: Security <security@example.org>\r\n"),
            Kind::Loop
        );
    }

    #[test]
    fn mail_a_program_wrote_or_forwarded_may_be_a_report() {
        for header in [
            "X-Auto-Response-Suppress: All\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "Auto-Submitted: auto-forwarded\r\n",
            "Precedence: list\r\n",
            "List-Id: Security team <security.example.org>\r\nPrecedence: list\r\n",
        ] {
            assert_eq!(kind(header), Kind::Report, "{header}");
        }
        let automatic = |header: &str| {
            is_automatic(format!("From: a@example.net\r\n{header}\r\nbody").as_bytes())
        };
        assert!(automatic("Auto-Submitted: auto-generated\r\n"));
        assert!(automatic("Precedence: list\r\n"));
        assert!(!automatic("Auto-Submitted: no\r\n"));
        assert!(!automatic(""));
    }

    #[test]
    fn mail_from_herald_itself_is_a_loop() {
        let raw = b"From: Security <SECURITY@example.org>\r\n\r\nbody";
        let (kind, reason) = classify(raw, &ours());
        assert_eq!(kind, Kind::Loop, "{reason:?}");
    }

    #[test]
    fn every_kind_has_one_name() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
    }
}
