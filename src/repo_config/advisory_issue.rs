//! `advisory_issue:`: whether disclosure opens a public issue.

use serde::Deserialize;

/// The public advisory issue opened on disclosure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the key `enabled`"
)]
pub struct AdvisoryIssueConfig {
    pub enabled: bool,
}

impl Default for AdvisoryIssueConfig {
    fn default() -> Self {
        AdvisoryIssueConfig { enabled: true }
    }
}
