//! The embargo gate: the one way to a public channel. A public channel takes a
//! [`Disclosed`], and only [`check`] makes one, so no code path can reach the public
//! without passing here.

use crate::incident::Incident;

/// An incident that may be shown in public.
pub struct Disclosed<'a> {
    incident: &'a Incident,
}

impl Disclosed<'_> {
    pub fn incident(&self) -> &Incident {
        self.incident
    }
}

/// Disclosed means: GitHub has confirmed the advisory is published (a `published` webhook,
/// the answer to herald's publish request, or the reconciler's list). The maintainers'
/// approval and the embargo time only let herald *ask* GitHub to publish; they never open
/// this gate. History (advisories published before herald came) stays shut unless a
/// maintainer asked to announce it again.
pub fn check(incident: &Incident) -> Result<Disclosed<'_>, String> {
    if incident.announceable() {
        return Ok(Disclosed { incident });
    }
    if incident.published_on_github() {
        return Err(
            "the advisory was published before herald served the repository; \
             `herald incidents announce` announces it again"
                .to_owned(),
        );
    }
    Err(format!(
        "GitHub has not published the advisory (its state is {})",
        incident.advisory_state
    ))
}
