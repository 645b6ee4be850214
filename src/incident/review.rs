//! The facts of the post-incident review: how long the team took to acknowledge, to fix
//! and to disclose, each against its target.

use super::{Incident, Phase, SlaPolicy};
use chrono::{DateTime, Duration, Utc};

/// One measured step of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// When the step was done, if it was.
    pub done_at: Option<DateTime<Utc>>,
    /// How long it took from when herald learned of the report.
    pub took: Option<Duration>,
    /// Its target, if there is one.
    pub deadline: Option<DateTime<Utc>>,
}

impl Measure {
    fn new(
        from: DateTime<Utc>,
        done_at: Option<DateTime<Utc>>,
        deadline: Option<DateTime<Utc>>,
    ) -> Measure {
        Measure {
            done_at,
            took: done_at.map(|at| at - from),
            deadline,
        }
    }

    /// Whether it was done by its deadline; `None` without a deadline or when not done.
    pub fn met(&self) -> Option<bool> {
        Some(self.done_at? <= self.deadline?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewFacts {
    /// Until a maintainer acknowledged the report, against the reaction deadline.
    pub acknowledge: Measure,
    /// Until the fix was out: the incident left remediation for disclosure.
    pub fix: Measure,
    /// Until the advisory was published.
    pub disclose: Measure,
}

impl Incident {
    pub fn review_facts(&self, policy: &SlaPolicy) -> ReviewFacts {
        let from = self.learned_at;
        let active = self.active_threat();
        let days = |count: u32| Some(from + Duration::days(i64::from(count)));
        ReviewFacts {
            acknowledge: Measure::new(
                from,
                self.decisions.acknowledged_at,
                policy.deadline(from, self.severity, active),
            ),
            fix: Measure::new(
                from,
                self.reached(Phase::Disclosure),
                days(policy.fix_within_days),
            ),
            disclose: Measure::new(
                from,
                self.published_at.or(self.reached(Phase::Disclosure)),
                days(policy.disclose_within_days),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Command, Severity, apply_command};

    #[test]
    fn each_step_is_measured_against_its_target() {
        let learned = DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut incident = crate::incident::testing::reported("critical", learned);
        let policy = SlaPolicy::default();
        let facts = incident.review_facts(&policy);
        assert_eq!(facts.acknowledge.done_at, None);
        assert_eq!(facts.acknowledge.met(), None);
        assert_eq!(
            facts.acknowledge.deadline,
            Some(learned + Duration::hours(4))
        );

        apply_command(
            &mut incident,
            &Command::Acknowledge,
            "alice",
            learned + Duration::hours(5),
        );
        apply_command(
            &mut incident,
            &Command::Phase(Phase::Remediation),
            "alice",
            learned + Duration::days(1),
        );
        incident.decisions.disclosure_approved = true;
        let incident = crate::incident::testing::published(incident, learned + Duration::days(10));
        let facts = incident.review_facts(&policy);
        assert_eq!(facts.acknowledge.took, Some(Duration::hours(5)));
        assert_eq!(
            facts.acknowledge.met(),
            Some(false),
            "4 business hours, took 5"
        );
        assert_eq!(facts.fix.took, Some(Duration::days(10)));
        assert_eq!(facts.fix.met(), Some(true));
        assert_eq!(facts.disclose.met(), Some(true));
        assert_eq!(incident.severity, Severity::Critical);
        assert_eq!(
            incident.reached(Phase::Remediation),
            Some(learned + Duration::days(1))
        );
    }
}
