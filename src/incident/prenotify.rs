//! Embargoed pre-notification: telling downstreams (distributions, vendors, the Openwall
//! `distros` list) of a vulnerability some days before disclosure, so that fixed packages
//! are ready when it is public. It is a private path with its own rule, apart from the
//! embargo gate: maintainers approve it once an embargo date is set, the date must be in
//! the future and no further away than the downstreams accept, and the notices go
//! `days_before` the embargo ends. A changed date after approval is told in an update.

use super::{Incident, TimelineEntry, TimelineKind, utc_minute};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The rules a pre-notification keeps, from the repository's `prenotify:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrenotifyTerms {
    /// How many days before the embargo ends the notices go.
    pub days_before: u32,
    /// The furthest the embargo may end from now, in days.
    pub max_days: u32,
    /// Who the configuration names now, each with the key it names (read only when an
    /// approval needs it; `None` otherwise).
    pub recipients: Vec<Downstream>,
    /// Why a recipient's key cannot be used, which an approval cannot go past.
    pub problem: Option<String>,
    /// Where recipients are told to write back (`None`: the address herald sends from).
    pub contact: Option<String>,
}

impl Default for PrenotifyTerms {
    /// The configuration's defaults, with nobody to tell.
    fn default() -> Self {
        PrenotifyTerms {
            days_before: 7,
            max_days: 14,
            recipients: Vec::new(),
            problem: None,
            contact: None,
        }
    }
}

/// A downstream as an approval names it: where the notice goes and the key it is
/// encrypted to. What the embargoed text reaches is what was approved: an address or key
/// the configuration names later needs a new approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downstream {
    pub address: String,
    /// The fingerprint of the key the notice is encrypted to; `None`: signed, in clear.
    pub key: Option<String>,
}

impl Downstream {
    /// The same address and key.
    pub fn is(&self, other: &Downstream) -> bool {
        self.address.eq_ignore_ascii_case(&other.address) && self.key == other.key
    }
}

impl std::fmt::Display for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{} (encrypted to key {key})", self.address),
            None => write!(f, "{} (no key: signed, in clear)", self.address),
        }
    }
}

/// Maintainers approved pre-notification for an embargo date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prenotification {
    pub approved_by: String,
    pub approved_at: DateTime<Utc>,
    /// The embargo end the downstreams are told; follows the embargo when it changes.
    pub embargo_until: DateTime<Utc>,
    /// Who was approved, with their keys (none in an approval recorded before herald named
    /// them: such an approval tells nobody until it is given again).
    #[serde(default)]
    pub recipients: Vec<Downstream>,
    /// Where the notices tell recipients to write back, as approved.
    #[serde(default)]
    pub contact: Option<String>,
}

impl Prenotification {
    /// Whether `downstream`, as configured now, is who was approved.
    pub fn approves(&self, downstream: &Downstream) -> bool {
        self.recipients
            .iter()
            .any(|approved| approved.is(downstream))
    }

    /// Whether `terms` name exactly the recipients, keys and reply address approved.
    pub fn matches(&self, terms: &PrenotifyTerms) -> bool {
        self.contact == terms.contact
            && self.recipients.len() == terms.recipients.len()
            && terms
                .recipients
                .iter()
                .all(|downstream| self.approves(downstream))
    }

    /// Why a notice to `downstream`, asking for replies to `contact` (as configured now), is
    /// not what was approved; `None` when it is.
    pub fn unapproved(&self, downstream: &Downstream, contact: Option<&str>) -> Option<String> {
        if !self.approves(downstream) {
            let was = self
                .recipients
                .iter()
                .find(|approved| approved.address.eq_ignore_ascii_case(&downstream.address))
                .map_or_else(
                    || "the approval did not name it".to_owned(),
                    |approved| format!("the approval named {approved}"),
                );
            return Some(format!("`prenotify:` now names {downstream}, but {was}"));
        }
        (self.contact.as_deref() != contact).then(|| {
            "`prenotify.contact` changed since the approval, and downstreams would write back \
             there"
                .to_owned()
        })
    }
}

/// What one downstream was told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prenotice {
    pub address: String,
    /// The embargo end they were last told.
    pub embargo_until: DateTime<Utc>,
    /// The embargo end they were told before, when this was an update.
    pub moved_from: Option<DateTime<Utc>>,
    /// The fingerprint of the key the message was encrypted to; `None`: signed cleartext.
    pub encrypted_to: Option<String>,
    pub sent_at: DateTime<Utc>,
}

impl Incident {
    /// The embargo end downstreams may be told of at `at`: `until`, or the embargo set
    /// when `None`; `Err` with why not, in words for the maintainers.
    pub fn prenotify_embargo(
        &self,
        until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        terms: &PrenotifyTerms,
    ) -> Result<DateTime<Utc>, String> {
        if self.upstream.is_some() {
            return Err("an upstream incident's advisory is another project's to tell".into());
        }
        if self.published_on_github() {
            return Err(
                "the advisory is published: pre-notification comes before disclosure".into(),
            );
        }
        if terms.recipients.is_empty() {
            return Err("`.github/herald.yml` names no recipients under `prenotify:`".into());
        }
        let Some(until) = until.or(self.decisions.embargo_until) else {
            return Err(
                "no embargo date is set, and downstreams need the planned disclosure date: set \
                 it with `/herald embargo <RFC 3339 time>` first"
                    .into(),
            );
        };
        if until <= at {
            return Err(format!(
                "the embargo date {} is in the past",
                utc_minute(until)
            ));
        }
        if until - at > Duration::days(i64::from(terms.max_days)) {
            return Err(format!(
                "the embargo ends {}, more than the {} days downstreams accept \
                 (`prenotify.max_days`); set an earlier date",
                utc_minute(until),
                terms.max_days
            ));
        }
        Ok(until)
    }

    /// The embargo end `address` was last told, if they were told.
    pub fn prenotified_until(&self, address: &str) -> Option<DateTime<Utc>> {
        self.prenotified
            .iter()
            .find(|told| told.address.eq_ignore_ascii_case(address))
            .map(|told| told.embargo_until)
    }

    /// The downstreams waiting, at the end of the embargo `until`, for a disclosure that has
    /// not happened: those whose last notice named that date, while the advisory is not
    /// published. A withdrawn approval does not untell them.
    pub fn waiting_past_embargo(&self, until: DateTime<Utc>) -> Vec<&str> {
        if self.published_on_github() {
            return Vec::new();
        }
        self.prenotified
            .iter()
            .filter(|told| told.embargo_until == until)
            .map(|told| told.address.as_str())
            .collect()
    }

    /// Records that a downstream was told, and says so on the timeline.
    pub(super) fn prenotified(&mut self, notice: &Prenotice) -> Vec<TimelineEntry> {
        let how = match &notice.encrypted_to {
            Some(fingerprint) => format!("signed and encrypted to key {fingerprint}"),
            None => "signed, not encrypted (no key configured)".to_owned(),
        };
        let detail = match notice.moved_from {
            Some(from) => format!(
                "pre-notification update sent to {} ({how}): the embargo moved from {} to {}",
                notice.address,
                utc_minute(from),
                utc_minute(notice.embargo_until)
            ),
            None => format!(
                "pre-notification sent to {} ({how}), under embargo until {}",
                notice.address,
                utc_minute(notice.embargo_until)
            ),
        };
        self.prenotified
            .retain(|told| !told.address.eq_ignore_ascii_case(&notice.address));
        self.prenotified.push(notice.clone());
        vec![TimelineEntry {
            at: notice.sent_at,
            actor: None,
            kind: TimelineKind::Prenotification,
            detail,
        }]
    }

    /// When notices for an embargo ending `until` go: `days_before` it, or at once when
    /// that moment has passed.
    pub fn prenotify_at(
        until: DateTime<Utc>,
        at: DateTime<Utc>,
        terms: &PrenotifyTerms,
    ) -> DateTime<Utc> {
        (until - Duration::days(i64::from(terms.days_before))).max(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::testing::{published, reported};
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 12, 0, 0)
            .single()
            .expect("time")
    }

    fn terms() -> PrenotifyTerms {
        PrenotifyTerms {
            days_before: 7,
            max_days: 14,
            recipients: vec![
                Downstream {
                    address: "distros@vs.openwall.example".into(),
                    key: Some("0123".into()),
                },
                Downstream {
                    address: "packager@example.com".into(),
                    key: None,
                },
            ],
            problem: None,
            contact: None,
        }
    }

    #[test]
    fn the_embargo_must_be_set_ahead_and_within_max_days() {
        let mut incident = reported("high", at(1));
        let refusal = incident
            .prenotify_embargo(None, at(2), &terms())
            .expect_err("refused");
        assert!(refusal.contains("no embargo date is set"), "{refusal}");
        incident.decisions.embargo_until = Some(at(1));
        let refusal = incident
            .prenotify_embargo(None, at(2), &terms())
            .expect_err("refused");
        assert!(
            refusal.contains("2026-12-01 12:00 UTC is in the past"),
            "{refusal}"
        );
        incident.decisions.embargo_until = Some(at(17));
        let refusal = incident
            .prenotify_embargo(None, at(2), &terms())
            .expect_err("refused");
        assert!(refusal.contains("more than the 14 days"), "{refusal}");
        incident.decisions.embargo_until = Some(at(16));
        assert_eq!(
            incident.prenotify_embargo(None, at(2), &terms()),
            Ok(at(16))
        );
        // A date other than the set one is judged on its own.
        assert!(
            incident
                .prenotify_embargo(Some(at(30)), at(2), &terms())
                .is_err()
        );
        let nobody = PrenotifyTerms {
            recipients: Vec::new(),
            ..terms()
        };
        assert!(incident.prenotify_embargo(None, at(2), &nobody).is_err());
        let public = published(incident, at(3));
        let refusal = public
            .prenotify_embargo(None, at(3), &terms())
            .expect_err("refused");
        assert!(refusal.contains("published"), "{refusal}");
    }

    #[test]
    fn downstreams_told_a_date_wait_past_it_until_the_advisory_is_published() {
        let mut incident = reported("high", at(1));
        let told = |address: &str, until, moved_from| Prenotice {
            address: address.into(),
            embargo_until: until,
            moved_from,
            encrypted_to: None,
            sent_at: at(2),
        };
        assert!(
            incident.waiting_past_embargo(at(9)).is_empty(),
            "nobody told"
        );
        incident.prenotified(&told("a@example.org", at(9), None));
        incident.prenotified(&told("b@example.org", at(9), None));
        assert_eq!(
            incident.waiting_past_embargo(at(9)),
            ["a@example.org", "b@example.org"]
        );
        // Told a later date, one waits for that one instead.
        incident.prenotified(&told("b@example.org", at(12), Some(at(9))));
        assert_eq!(incident.waiting_past_embargo(at(9)), ["a@example.org"]);
        assert_eq!(incident.waiting_past_embargo(at(12)), ["b@example.org"]);
        // A withdrawn approval leaves them told.
        incident.decisions.prenotify = None;
        assert_eq!(incident.waiting_past_embargo(at(12)), ["b@example.org"]);
        let public = published(incident, at(13));
        assert!(public.waiting_past_embargo(at(9)).is_empty(), "disclosed");
    }

    #[test]
    fn notices_go_days_before_the_embargo_ends_or_at_once() {
        assert_eq!(Incident::prenotify_at(at(16), at(2), &terms()), at(9));
        assert_eq!(Incident::prenotify_at(at(5), at(2), &terms()), at(2));
    }
}
