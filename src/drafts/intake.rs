//! The private issue of a report mailed to the security team: who sent it, what it says
//! (as data: escaped for Markdown once, so nothing in it mentions, links or renders), what
//! is attached (listed; the bytes stay in herald's store), and what the maintainers can do.

use super::escape::{markdown, markdown_line, plain_line};
use super::limits::{GITHUB_BODY_CHARS, GITHUB_TITLE_CHARS, fit_markdown_noting, fit_title};
use crate::intake::{IntakeId, Letter};
use chrono::{DateTime, Utc};

/// The longest header value, attachment name or note the issue shows (the message holds
/// them whole), and the most attachments and notes it lists: the report's text keeps the
/// room of an issue's body.
const SHOWN_CHARS: usize = 300;
const SHOWN_ITEMS: usize = 50;

/// What the issue shows besides the message.
pub struct IntakeFacts<'a> {
    pub id: IntakeId,
    pub received_at: DateTime<Utc>,
    /// Why part of the message was not kept, when it was not.
    pub reason: Option<&'a str>,
    /// The hidden marker that finds the issue again.
    pub marker: &'a str,
}

/// What the acknowledgement to a reporter says (`intake-acknowledgement.txt.hbs`).
#[derive(Debug, serde::Serialize)]
pub struct AcknowledgementView {
    /// Their name as their mail gave it, else their address, and their subject: theirs to
    /// write, unverified, so the shipped text quotes neither (an override may).
    pub reporter: String,
    pub subject: String,
    /// When the mail arrived, `YYYY-MM-DD HH:MM UTC`.
    pub received: String,
    /// Whether the answer is encrypted to their key.
    pub encrypted: bool,
    /// Who answers: the name herald's mail comes from.
    pub team: String,
}

/// What a notice to the reporter says (`reporter-notice.txt.hbs`): one of `accepted`,
/// `fixed`, `cve` (the id) or `published` (with the advisory's address). The GHSA id only
/// where the notice is encrypted or the advisory public: mail servers on the way read an
/// unencrypted body.
#[derive(Debug, serde::Serialize)]
pub struct ReporterNoticeView {
    pub accepted: bool,
    pub fixed: bool,
    pub cve: Option<String>,
    pub published: bool,
    pub ghsa_id: Option<String>,
    pub advisory_url: Option<String>,
    pub encrypted: bool,
    pub team: String,
}

/// The issue's title and body.
pub fn intake_issue(facts: &IntakeFacts, letter: &Letter) -> (String, String) {
    let subject = if letter.subject.trim().is_empty() {
        "(no subject)"
    } else {
        letter.subject.as_str()
    };
    let title = fit_title(
        &plain_line(&format!("Report by mail: {subject}")),
        GITHUB_TITLE_CHARS,
    );
    let head = head(facts, letter, subject);
    let foot = format!(
        "\n\n---\n\nThis is not an advisory yet. `/herald accept owner/repo` creates a draft \
         repository advisory from it in that repository (an admin or security manager of it \
         may), and herald tracks it from then on as an incident whose reaction clock started \
         when the mail arrived; `/herald dismiss <reason>` closes it.\n\n{}\n",
        facts.marker
    );
    let room = GITHUB_BODY_CHARS
        .saturating_sub(head.chars().count() + foot.chars().count())
        .saturating_sub(200);
    let report = fitted(&markdown(&letter.text), room, facts.id);
    (title, format!("{head}{report}{foot}"))
}

fn head(facts: &IntakeFacts, letter: &Letter, subject: &str) -> String {
    let from = letter.from.as_ref().map_or_else(
        || "(no address herald can read)".to_owned(),
        |from| match &from.name {
            Some(name) => format!("{name} <{}>", from.address),
            None => from.address.clone(),
        },
    );
    let mut rows = vec![
        ("From", markdown_line(&fit_title(&from, SHOWN_CHARS))),
        ("Subject", markdown_line(&fit_title(subject, SHOWN_CHARS))),
        (
            "Received",
            facts.received_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
        ("Encrypted", markdown_line(&letter.seal.describe())),
        ("Signed", markdown_line(&letter.signature.describe())),
    ];
    if let Some(date) = letter.date {
        rows.insert(3, ("Sent", date.format("%Y-%m-%d %H:%M UTC").to_string()));
    }
    let mut text = format!(
        "A report mailed to the security team (intake {}).\n\n| | |\n|---|---|\n",
        facts.id
    );
    for (name, value) in rows {
        text.push_str(&format!("| {name} | {value} |\n"));
    }
    if !letter.attachments.is_empty() {
        text.push_str(&format!(
            "\n**Attachments**, kept in herald's store and never published (`herald intake \
             show {}`):\n\n",
            facts.id
        ));
        for attachment in letter.attachments.iter().take(SHOWN_ITEMS) {
            text.push_str(&format!(
                "- {} ({}, {} bytes)\n",
                markdown_line(&fit_title(&attachment.name, SHOWN_CHARS)),
                markdown_line(&fit_title(&attachment.content_type, SHOWN_CHARS)),
                attachment.bytes
            ));
        }
        if let Some(more) = letter.attachments.len().checked_sub(SHOWN_ITEMS)
            && more > 0
        {
            text.push_str(&format!("- and {more} more\n"));
        }
    }
    let unread: Vec<&str> = facts
        .reason
        .into_iter()
        .chain(letter.unread.iter().map(String::as_str))
        .collect();
    if !unread.is_empty() {
        text.push_str("\n**What herald could not read:**\n\n");
        for why in unread.into_iter().take(SHOWN_ITEMS) {
            text.push_str(&format!(
                "- {}\n",
                markdown_line(&fit_title(why, SHOWN_CHARS))
            ));
        }
    }
    text.push_str("\n### The report\n\n");
    text
}

/// `text` in at most `room` characters, saying where the whole message is.
pub fn fitted(text: &str, room: usize, id: IntakeId) -> String {
    let note = format!(
        "\n\n*Shortened to fit a GitHub issue; the whole message: `herald intake show {id}`.*"
    );
    fit_markdown_noting(text, room, &note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(text: &str) -> Letter {
        let raw = format!(
            "From: \"@evil | x\" <rita@example.net>\r\nSubject: [x](https://evil.example) \
             {{{{secret}}}}\r\n\r\n{text}"
        );
        Letter::read(raw.as_bytes(), None)
    }

    fn facts() -> IntakeFacts<'static> {
        IntakeFacts {
            id: IntakeId(7),
            received_at: DateTime::UNIX_EPOCH,
            reason: None,
            marker: "<!-- herald:intake 7 -->",
        }
    }

    #[test]
    fn the_report_is_shown_as_data() {
        let (title, body) = intake_issue(&facts(), &letter("ping @acme/security #1 <img src=x>"));
        assert!(title.starts_with("Report by mail: "), "{title}");
        assert!(!body.contains("@acme"), "{body}");
        assert!(!body.contains("<img"), "{body}");
        assert!(!body.contains("[x](https://evil"), "{body}");
        assert!(
            body.contains("{{secret}}"),
            "shown, never evaluated: {body}"
        );
        assert!(body.contains("\\| x"), "a cell cannot end early: {body}");
        assert!(body.ends_with("<!-- herald:intake 7 -->\n"), "{body}");
    }

    #[test]
    fn a_huge_subject_and_thousands_of_attachments_still_fit_an_issue() {
        let mut letter = letter("text");
        letter.subject = "s".repeat(1_000_000);
        letter.attachments = (0..100_000)
            .map(|index| crate::intake::Attachment {
                name: format!("{index}{}", "n".repeat(1000)),
                content_type: "application/octet-stream".to_owned(),
                bytes: 1,
            })
            .collect();
        let (title, body) = intake_issue(&facts(), &letter);
        assert!(title.chars().count() <= GITHUB_TITLE_CHARS);
        assert!(body.chars().count() <= GITHUB_BODY_CHARS, "{}", body.len());
        assert!(body.contains("- and 99950 more"));
    }

    #[test]
    fn a_long_report_fits_a_github_issue_and_says_where_the_rest_is() {
        let long = "a line of the report\n".repeat(10_000);
        let (_, body) = intake_issue(&facts(), &letter(&long));
        assert!(body.chars().count() <= GITHUB_BODY_CHARS, "{}", body.len());
        assert!(body.contains("`herald intake show 7`"));
    }
}
