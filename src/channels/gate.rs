//! The embargo gate: the one way to a public channel. A public channel takes a
//! [`Disclosed`], and only [`check`] makes one, so no code path can reach the public
//! without passing here.

use crate::incident::{AdvisoryState, Incident};

/// An incident that may be shown in public.
pub struct Disclosed<'a> {
    incident: &'a Incident,
}

impl Disclosed<'_> {
    pub fn incident(&self) -> &Incident {
        self.incident
    }
}

/// Why the gate stays shut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Shut {
    /// GitHub has not published the advisory (in this state).
    #[error("GitHub has not published the advisory (its state is {0})")]
    Unpublished(AdvisoryState),
    /// Published before herald served the repository, and not asked to be announced again.
    #[error(
        "the advisory was published before herald served the repository; \
         `herald incidents announce` announces it again"
    )]
    History,
}

/// Disclosed means: GitHub has confirmed the advisory is published (a `published` webhook,
/// the answer to herald's publish request, or the reconciler's list). The maintainers'
/// approval and the embargo time only let herald *ask* GitHub to publish; they never open
/// this gate. History (advisories published before herald came) stays shut unless a
/// maintainer asked to announce it again.
pub fn check(incident: &Incident) -> Result<Disclosed<'_>, Shut> {
    if incident.announceable() {
        Ok(Disclosed { incident })
    } else if incident.published_on_github() {
        Err(Shut::History)
    } else {
        Err(Shut::Unpublished(incident.advisory_state))
    }
}

#[cfg(test)]
mod tests {
    use super::{Shut, check};
    use crate::incident::{GhsaId, Incident, RepoName};

    #[test]
    fn the_gate_says_why_it_is_shut() {
        let incident = Incident::new(
            RepoName::parse("acme/widget").expect("a name"),
            GhsaId::parse("GHSA-abcd-1234-efgh").expect("an id"),
            chrono::Utc::now(),
        );
        let shut = check(&incident)
            .err()
            .expect("a new advisory is not disclosed");
        assert_eq!(shut, Shut::Unpublished(incident.advisory_state));
        assert_eq!(
            shut.to_string(),
            format!(
                "GitHub has not published the advisory (its state is {})",
                incident.advisory_state
            )
        );
    }
}
