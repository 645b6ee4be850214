//! Possible embargo breaks: before disclosure, a public commit or pull request on the
//! advisory's repository that names the advisory (its GHSA id or CVE) tells the world
//! what the embargo keeps back; a fix pushed to a public repository counts as public. herald
//! cannot undo it, but the maintainers must know at once, to ask for the mention to go or
//! to move the disclosure earlier.

use super::{Incident, TimelineEntry, TimelineKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Text in a public place of the advisory's repository.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicMention {
    /// What it is, e.g. `pull request acme/widget#12` or `commit 1a2b3c4 on main`.
    pub place: String,
    pub url: String,
    /// Its words: a pull request's title and body, a commit's message.
    pub text: String,
}

/// A public place that named the advisory before disclosure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbargoBreak {
    pub place: String,
    pub url: String,
    /// Which of the advisory's ids it named.
    pub named: String,
    pub at: DateTime<Utc>,
}

impl Incident {
    /// The advisory's id that `text` names, if any (its GHSA id, else its CVE), compared
    /// without regard to case.
    fn named_in(&self, text: &str) -> Option<String> {
        let text = text.to_ascii_uppercase();
        std::iter::once(self.ghsa_id.to_string())
            .chain(self.cve_id.clone())
            .find(|id| text.contains(&id.to_ascii_uppercase()))
    }

    /// Flags `mention` as a possible embargo break when it names the advisory before
    /// disclosure (once per place); returns the timeline's record of it.
    pub fn flag_public_mention(
        &mut self,
        mention: &PublicMention,
        at: DateTime<Utc>,
    ) -> Vec<TimelineEntry> {
        if self.published_on_github() || self.history || self.upstream.is_some() {
            return Vec::new();
        }
        let Some(named) = self.named_in(&mention.text) else {
            return Vec::new();
        };
        if self
            .embargo_breaks
            .iter()
            .any(|flagged| flagged.url == mention.url)
        {
            return Vec::new();
        }
        self.embargo_breaks.push(EmbargoBreak {
            place: mention.place.clone(),
            url: mention.url.clone(),
            named: named.clone(),
            at,
        });
        vec![TimelineEntry {
            at,
            actor: None,
            kind: TimelineKind::EmbargoBreak,
            detail: format!(
                "possible embargo break: public {} names {named} before disclosure ({})",
                mention.place, mention.url
            ),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::testing::{published, reported};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn mention(text: &str, url: &str) -> PublicMention {
        PublicMention {
            place: "pull request acme/widget#12".into(),
            url: url.into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_public_mention_before_disclosure_is_flagged_once() {
        let mut incident = reported("high", at());
        incident.cve_id = Some("CVE-2026-1234".into());
        let ghsa = incident.ghsa_id.to_string();
        assert!(
            incident
                .flag_public_mention(&mention("Fix a crash", "https://x/1"), at())
                .is_empty()
        );
        let flagged = incident.flag_public_mention(
            &mention(&format!("Fix {}", ghsa.to_lowercase()), "https://x/2"),
            at(),
        );
        assert_eq!(flagged.len(), 1);
        assert_eq!(flagged[0].kind, TimelineKind::EmbargoBreak);
        assert!(flagged[0].detail.contains(&ghsa), "{}", flagged[0].detail);
        assert!(
            incident
                .flag_public_mention(&mention(&ghsa, "https://x/2"), at())
                .is_empty(),
            "once per place"
        );
        let by_cve =
            incident.flag_public_mention(&mention("see cve-2026-1234", "https://x/3"), at());
        assert!(
            by_cve[0].detail.contains("names CVE-2026-1234"),
            "{}",
            by_cve[0].detail
        );
        assert_eq!(incident.embargo_breaks.len(), 2);
        let mut public = published(incident, at());
        assert!(
            public
                .flag_public_mention(&mention(&ghsa, "https://x/4"), at())
                .is_empty(),
            "after disclosure a mention is news, not a break"
        );
    }
}
