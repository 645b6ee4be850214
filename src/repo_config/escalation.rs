//! `escalation:` (per severity) and `notify:` (the security leads): whom herald tells,
//! GitHub people and teams or email addresses.

use super::check::{Address, ParseRule, Rule, login_problem, typed_many};
use crate::incident::Severity;
use serde::Deserialize;

/// The `escalation:` section: per severity, GitHub people or teams (`@login`,
/// `@org/team`), mentioned on the tracking issue, and email addresses, mailed (signed) when
/// 75% of the reaction time has passed, at the deadline, and at once for an active threat.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `critical`, `high`, `medium`, `low`"
)]
pub struct EscalationConfig {
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub critical: Vec<EscalationTarget>,
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub high: Vec<EscalationTarget>,
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub medium: Vec<EscalationTarget>,
    #[serde(deserialize_with = "typed_many::<EscalationRule, _>")]
    pub low: Vec<EscalationTarget>,
}

impl EscalationConfig {
    pub fn for_severity(&self, severity: Severity) -> &[EscalationTarget] {
        match severity {
            Severity::Critical => &self.critical,
            Severity::High => &self.high,
            Severity::Medium => &self.medium,
            Severity::Low => &self.low,
            Severity::None | Severity::Unknown => &[],
        }
    }
}

/// Someone to escalate to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationTarget {
    /// A GitHub login or `org/team`, without the `@`.
    GitHub(String),
    Email(String),
}

pub(super) struct EscalationRule;
impl ParseRule for EscalationRule {
    type Output = EscalationTarget;
    const EXPECTED: &'static str = "`@login`, `@org/team` or an email address";
    fn parse(value: &str) -> Result<EscalationTarget, String> {
        let Some(handle) = value.strip_prefix('@') else {
            return Address::check(value)
                .map(|()| EscalationTarget::Email(value.to_owned()))
                .map_err(|error| format!("{error} (GitHub people and teams start with `@`)"));
        };
        let (owner, team) = match handle.split_once('/') {
            Some((owner, team)) => (owner, Some(team)),
            None => (handle, None),
        };
        if let Some(why) = login_problem(owner) {
            return Err(format!(
                "{value:?} is not `@login` or `@org/team`: the name {why}"
            ));
        }
        if team.is_some_and(|team| {
            team.is_empty()
                || !team
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            return Err(format!(
                "{value:?} is not `@org/team`: a team slug has letters, digits, `-` and `_`"
            ));
        }
        Ok(EscalationTarget::GitHub(handle.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo_config::{RepoConfig, tests::error};

    #[test]
    fn escalation_names_people_teams_and_addresses() {
        let config = RepoConfig::parse(
            "escalation:\n  critical: [\"@alice\", \"@acme/security-team\", oncall@example.org]\n  high: [\"@bob\"]\n",
        )
        .expect("valid");
        assert_eq!(
            config.escalation.for_severity(Severity::Critical),
            &[
                EscalationTarget::GitHub("alice".into()),
                EscalationTarget::GitHub("acme/security-team".into()),
                EscalationTarget::Email("oncall@example.org".into()),
            ]
        );
        assert!(config.escalation.for_severity(Severity::Low).is_empty());
        let e = error("escalation:\n  critical:\n    - \"@al ice\"\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("escalation.critical[0]")),
            "{e}"
        );
        let e = error("escalation:\n  high: [\"oncall@example.org\\nBcc: x@y.org\"]\n");
        assert_eq!(e.key.as_deref(), Some("escalation.high[0]"), "{e}");
        let e = error("escalation:\n  urgent: []\n");
        assert_eq!(e.key.as_deref(), Some("escalation.urgent"), "{e}");
    }
}
