//! `labels:`: the label names herald applies and reads; the approval labels cannot be
//! renamed.

use super::check::{Rule, one, single_line};
use serde::Deserialize;

/// Label names herald applies and searches for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `security`, `incident`, `severity_prefix`, \
                 `threat_prefix`, `disclosure_approved`, `prenotify_approved`"
)]
pub struct LabelConfig {
    #[serde(deserialize_with = "one::<Label, _>")]
    pub security: String,
    #[serde(deserialize_with = "one::<Label, _>")]
    pub incident: String,
    /// Followed by the severity, e.g. `severity:critical`.
    #[serde(deserialize_with = "one::<Label, _>")]
    pub severity_prefix: String,
    #[serde(deserialize_with = "one::<Label, _>")]
    pub threat_prefix: String,
    /// The label an admin applies to approve disclosure. Fixed: whoever could rename it
    /// would decide what another label an admin adds approves.
    #[serde(deserialize_with = "one::<DisclosureApproved, _>")]
    pub disclosure_approved: String,
    /// The label an admin applies to approve telling downstreams under embargo (fixed too).
    #[serde(deserialize_with = "one::<PrenotifyApproved, _>")]
    pub prenotify_approved: String,
}

const DISCLOSURE_APPROVED: &str = "disclosure:approved";
const PRENOTIFY_APPROVED: &str = "prenotify:approved";

/// An approval label, which a repository may name but not rename.
fn approval_label(value: &str, fixed: &str) -> Result<(), String> {
    if value == fixed {
        Ok(())
    } else {
        Err(format!(
            "the approval label is {fixed:?} and cannot be renamed: whoever renames it decides \
             what a label an admin adds approves"
        ))
    }
}

struct DisclosureApproved;
impl Rule for DisclosureApproved {
    const EXPECTED: &'static str = "\"disclosure:approved\"";
    fn check(value: &str) -> Result<(), String> {
        approval_label(value, DISCLOSURE_APPROVED)
    }
}

struct PrenotifyApproved;
impl Rule for PrenotifyApproved {
    const EXPECTED: &'static str = "\"prenotify:approved\"";
    fn check(value: &str) -> Result<(), String> {
        approval_label(value, PRENOTIFY_APPROVED)
    }
}

impl LabelConfig {
    /// The approval labels mean nothing else: no prefix or name a repository sets may take
    /// them for a severity, a threat or a breach.
    pub(super) fn approvals_apart(&self) -> Result<(), String> {
        for (key, approval) in [
            ("disclosure_approved", &self.disclosure_approved),
            ("prenotify_approved", &self.prenotify_approved),
        ] {
            let other_meaning = approval.starts_with(&self.severity_prefix)
                || approval.starts_with(&self.threat_prefix)
                || *approval == self.incident
                || *approval == self.security;
            if other_meaning {
                return Err(format!(
                    "`{key}` ({approval:?}) is also a severity, threat, incident or security \
                     label: an approval label must mean nothing else"
                ));
            }
        }
        Ok(())
    }
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            security: "security".into(),
            incident: "incident".into(),
            severity_prefix: "severity:".into(),
            threat_prefix: "threat:".into(),
            disclosure_approved: DISCLOSURE_APPROVED.into(),
            prenotify_approved: PRENOTIFY_APPROVED.into(),
        }
    }
}

/// GitHub caps label names at 50 characters, and label lists in search queries are
/// comma-separated, so a comma would split the label in two.
struct Label;
impl Rule for Label {
    const EXPECTED: &'static str = "a label name";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "a label name")?;
        if value.contains(',') {
            Err(format!("{value:?}: a label name must not contain `,`"))
        } else if value.chars().count() > 50 {
            Err(format!(
                "{value:?}: a label name must be at most 50 characters"
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::repo_config::{RepoConfig, tests::error};

    #[test]
    fn an_approval_label_means_nothing_else() {
        // Renamed, an approval label would make another label an admin adds approve.
        for (text, key) in [
            (
                "labels:\n  threat_prefix: \"threat-\"\n  prenotify_approved: \"threat:active\"\n",
                "labels.prenotify_approved",
            ),
            (
                "labels:\n  disclosure_approved: \"prenotify:approved\"\n",
                "labels.disclosure_approved",
            ),
            // A prefix or name that would swallow an approval label.
            ("labels:\n  threat_prefix: \"prenotify:\"\n", "labels"),
            ("labels:\n  incident: \"disclosure:approved\"\n", "labels"),
        ] {
            let e = error(text);
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
        }
        assert!(
            RepoConfig::parse("labels:\n  prenotify_approved: \"prenotify:approved\"\n").is_ok()
        );
    }
}
