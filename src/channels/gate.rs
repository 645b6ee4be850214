//! The embargo gate: the one way to a public channel. A public channel takes a
//! [`Disclosed`], and only [`check`] makes one, so no code path can reach the public
//! without passing here.

use crate::incident::{Incident, Phase};
use chrono::{DateTime, Utc};

/// An incident that may be shown in public.
pub struct Disclosed<'a> {
    incident: &'a Incident,
}

impl Disclosed<'_> {
    pub fn incident(&self) -> &Incident {
        self.incident
    }
}

/// Disclosed means: the advisory is published on GitHub, or the maintainers approved
/// disclosure, asked to publish, and the embargo time has passed.
pub fn check(incident: &Incident, now: DateTime<Utc>) -> Result<Disclosed<'_>, String> {
    if incident.published_at.is_some() || incident.advisory_state == "published" {
        return Ok(Disclosed { incident });
    }
    let decisions = &incident.decisions;
    if !decisions.disclosure_approved {
        return Err("the advisory is not published and disclosure is not approved".to_owned());
    }
    if let Some(until) = decisions.embargo_until.filter(|until| now < *until) {
        return Err(format!(
            "the embargo lasts until {}",
            until.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if incident.phase < Phase::Disclosure {
        return Err("disclosure is approved but nobody asked to publish yet".to_owned());
    }
    Ok(Disclosed { incident })
}
