//! Who receives an undisclosed incident's text besides the people of its tracking issue:
//! the mail addresses of `notify:` and `escalation:`, and the team's chat when its notices
//! quote the summary. Anyone who can push the repository's configuration can change that,
//! so herald records the audience the tracking issue has shown, says there what changed
//! before it applies, and mails or quotes only to what was shown.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    /// Mail addresses, lower-cased, sorted, each once.
    pub addresses: Vec<String>,
    /// Chat notices quote the advisory's summary.
    pub chat_summary: bool,
}

impl Audience {
    pub fn new<'a>(addresses: impl IntoIterator<Item = &'a str>, chat_summary: bool) -> Audience {
        let mut addresses: Vec<String> =
            addresses.into_iter().map(str::to_ascii_lowercase).collect();
        addresses.sort();
        addresses.dedup();
        Audience {
            addresses,
            chat_summary,
        }
    }

    pub fn includes(&self, address: &str) -> bool {
        self.addresses
            .iter()
            .any(|shown| shown.eq_ignore_ascii_case(address))
    }

    /// What differs from `shown`, one phrase each.
    pub fn changes_from(&self, shown: &Audience) -> Vec<String> {
        let added = self
            .addresses
            .iter()
            .filter(|address| !shown.includes(address))
            .map(|address| format!("mail to {address} added"));
        let removed = shown
            .addresses
            .iter()
            .filter(|address| !self.includes(address))
            .map(|address| format!("mail to {address} removed"));
        let chat = (self.chat_summary != shown.chat_summary).then(|| {
            if self.chat_summary {
                "chat notices now quote the advisory's summary".to_owned()
            } else {
                "chat notices no longer quote the advisory's summary".to_owned()
            }
        });
        added.chain(removed).chain(chat).collect()
    }

    /// The timeline's words for the tracking issue showing `self` where it showed `shown`
    /// before (`None`: never); `None` when nothing changed.
    pub fn shown_after(&self, shown: Option<&Audience>) -> Option<String> {
        match shown {
            Some(shown) if shown == self => None,
            Some(shown) => Some(format!(
                "who receives embargoed text changed: {}",
                self.changes_from(shown).join("; ")
            )),
            None => Some(format!(
                "embargoed text goes by mail to {}; chat notices {} the summary",
                if self.addresses.is_empty() {
                    "nobody".to_owned()
                } else {
                    self.addresses.join(", ")
                },
                if self.chat_summary {
                    "quote"
                } else {
                    "do not quote"
                }
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_audience_is_told_in_words() {
        let first = Audience::new(["OnCall@example.org", "oncall@example.org"], false);
        assert_eq!(first.addresses, vec!["oncall@example.org"]);
        assert!(first.includes("ONCALL@example.org"));
        assert_eq!(
            first.shown_after(None).as_deref(),
            Some(
                "embargoed text goes by mail to oncall@example.org; chat notices do not quote the summary"
            )
        );
        assert_eq!(first.shown_after(Some(&first)), None, "nothing new");
        let next = Audience::new(["mallory@attacker.example"], true);
        assert_eq!(
            next.shown_after(Some(&first)).as_deref(),
            Some(
                "who receives embargoed text changed: mail to mallory@attacker.example added; \
                 mail to oncall@example.org removed; chat notices now quote the advisory's \
                 summary"
            )
        );
    }
}
