//! The commands on the way to disclosure: approving it, the embargo, telling downstreams
//! before it, the CVE, and publishing; and the rules publishing keeps.

use super::CommandEffect;
use crate::incident::{Incident, Prenotification, PrenotifyTerms, utc_minute};
use chrono::{DateTime, Utc};

/// The `disclosure:approved` label, added or removed; who approved is kept, for a
/// repository that asks a second person to publish.
pub(super) fn approve_disclosure(incident: &mut Incident, approved: bool, actor: &str) -> String {
    incident.decisions.disclosure_approved = approved;
    incident.decisions.disclosure_approved_by = approved.then(|| actor.to_owned());
    if approved {
        "Disclosure approved.".to_owned()
    } else {
        "Disclosure approval withdrawn.".to_owned()
    }
}

/// `/herald embargo`: the new date, which an approved pre-notification follows.
pub(super) fn set_embargo(
    incident: &mut Incident,
    until: DateTime<Utc>,
    at: DateTime<Utc>,
    terms: &PrenotifyTerms,
    effects: &mut Vec<CommandEffect>,
) -> String {
    incident.decisions.embargo_until = Some(until);
    let mut reply = format!("Embargo until {}.", utc_minute(until));
    if let Some(moved) = move_prenotification(incident, until, at, terms, effects) {
        reply.push(' ');
        reply.push_str(&moved);
    }
    reply
}

/// `/herald prenotify`: approves telling the downstreams, when the rules allow it now;
/// `Err` with the reason when they do not.
pub(super) fn approve_prenotification(
    incident: &mut Incident,
    actor: &str,
    at: DateTime<Utc>,
    terms: &PrenotifyTerms,
    effects: &mut Vec<CommandEffect>,
) -> Result<String, String> {
    let until = incident
        .prenotify_embargo(None, at, terms)
        .and_then(|until| terms.problem.clone().map_or(Ok(until), Err))
        .map_err(|reason| format!("Pre-notification not approved: {reason}."))?;
    let named: Vec<String> = terms.recipients.iter().map(ToString::to_string).collect();
    let named = named.join(", ");
    let again = match &incident.decisions.prenotify {
        Some(approved) if approved.matches(terms) => {
            return Ok(format!(
                "Pre-notification was approved by {} for the embargo until {} already, for: \
                 {named}.",
                approved.approved_by,
                utc_minute(approved.embargo_until)
            ));
        }
        Some(_) => true,
        None => false,
    };
    incident.decisions.prenotify = Some(Prenotification {
        approved_by: actor.to_owned(),
        approved_at: at,
        embargo_until: until,
        recipients: terms.recipients.clone(),
        contact: terms.contact.clone(),
    });
    let send_at = Incident::prenotify_at(until, at, terms);
    effects.push(CommandEffect::Prenotify { until, send_at });
    Ok(format!(
        "Pre-notification approved{}: the embargoed notice goes to {named}, signed, {}, under \
         embargo until {}, asking for replies to {}. Nobody else: an address, key or reply \
         address the configuration names later needs a new approval. It is private: nothing \
         public happens before the advisory is published.",
        if again {
            " again, for the recipients configured now"
        } else {
            ""
        },
        if send_at <= at {
            "now".to_owned()
        } else {
            format!("on {}", utc_minute(send_at))
        },
        utc_minute(until),
        terms
            .contact
            .as_deref()
            .unwrap_or("the address herald sends from")
    ))
}

/// A new embargo date with pre-notification approved: the downstreams hear of the new
/// date, when it keeps the rules; otherwise the approval lapses. Returns what to add to the
/// answer.
fn move_prenotification(
    incident: &mut Incident,
    to: DateTime<Utc>,
    at: DateTime<Utc>,
    terms: &PrenotifyTerms,
    effects: &mut Vec<CommandEffect>,
) -> Option<String> {
    let from = incident.decisions.prenotify.as_ref()?.embargo_until;
    if from == to {
        return None;
    }
    if let Err(reason) = incident.prenotify_embargo(Some(to), at, terms) {
        incident.decisions.prenotify = None;
        return Some(format!(
            "The pre-notification approval lapses: {reason}. Downstreams already told keep the \
             old date; approve again (`/herald prenotify`) once the date keeps the rules."
        ));
    }
    if let Some(approved) = incident.decisions.prenotify.as_mut() {
        approved.embargo_until = to;
    }
    let send_at = Incident::prenotify_at(to, at, terms);
    effects.push(CommandEffect::PrenotifyMoved { from, to, send_at });
    Some("Downstreams already told get a signed update with the new date.".to_owned())
}

/// `/herald prenotify withdraw` and the `prenotify:approved` label's removal.
pub(super) fn withdraw_prenotification(incident: &mut Incident) -> String {
    match incident.decisions.prenotify.take() {
        Some(_) => "Pre-notification approval withdrawn: notices not sent yet will not go; \
                    downstreams already told stay told."
            .to_owned(),
        None => "No pre-notification was approved.".to_owned(),
    }
}

/// `/herald request-cve`: asked of GitHub once, for an advisory without a CVE id.
pub(super) fn request_cve(
    incident: &mut Incident,
    at: DateTime<Utc>,
    effects: &mut Vec<CommandEffect>,
) -> String {
    match (&incident.cve_id, incident.decisions.cve_requested_at) {
        (Some(cve), _) => format!("This advisory already has {cve}; nothing requested."),
        (None, Some(asked)) => format!(
            "A CVE was already requested at {}; GitHub will assign it.",
            utc_minute(asked)
        ),
        (None, None) => {
            incident.decisions.cve_requested_at = Some(at);
            effects.push(CommandEffect::RequestCve);
            "Requesting a CVE id from GitHub.".to_owned()
        }
    }
}

/// `/herald publish`: approval, then the embargo time, then GitHub is asked to publish (and
/// who asked is kept). The incident enters disclosure only when GitHub confirms the
/// publication: the public channels follow that confirmation, never this request.
pub(super) fn publish(
    incident: &mut Incident,
    actor: &str,
    at: DateTime<Utc>,
    effects: &mut Vec<CommandEffect>,
) -> String {
    if incident.published_on_github() {
        return "The advisory is already published on GitHub.".to_owned();
    }
    if let Err(reason) = incident.publication_allowed(at) {
        return format!("Not published: {reason}.");
    }
    incident.decisions.publication_requested_by = Some(actor.to_owned());
    effects.push(CommandEffect::PublishAdvisory);
    "Asking GitHub to publish the advisory. The public channels (CHANGELOG pull request, \
     advisory issue, wiki, forum, mail) follow once GitHub confirms the publication."
        .to_owned()
}

impl Incident {
    /// When the repository asks a second person to publish what one approved
    /// (`disclosure.second_person`, `required`): why `actor` may not publish, when they
    /// approved disclosure themselves.
    pub fn second_person_needed(&self, actor: &str, required: bool) -> Option<String> {
        if !required || !self.decisions.disclosure_approved {
            return None;
        }
        let Some(approver) = self.decisions.disclosure_approved_by.as_deref() else {
            return Some(
                "the approval was recorded before herald noted who gave it, and this \
                 repository asks a second person to publish: approve again \
                 (`disclosure:approved`)"
                    .to_owned(),
            );
        };
        approver.eq_ignore_ascii_case(actor).then(|| {
            format!(
                "{approver} approved disclosure, and this repository asks a second admin or \
                 security manager to publish it (`disclosure.second_person`)"
            )
        })
    }

    /// Whether herald may ask GitHub to publish the advisory at `at`: disclosure approved,
    /// the embargo passed. Checked when the command is given and again when the request
    /// goes, since an approval can be withdrawn and a date moved in between.
    pub fn publication_allowed(&self, at: DateTime<Utc>) -> Result<(), String> {
        if self.upstream.is_some() {
            return Err(
                "an upstream incident has no repository advisory of its own. Draft one \
                        for this repository; herald tracks it as its own incident"
                    .to_owned(),
            );
        }
        if !self.decisions.disclosure_approved {
            return Err("disclosure needs the `disclosure:approved` label first".to_owned());
        }
        if let Some(until) = self.decisions.embargo_until.filter(|until| at < *until) {
            return Err(format!("the embargo lasts until {}", utc_minute(until)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::incident::commands::testing::parse;
    use crate::incident::{Command, CommandEffect, Incident, PrenotifyTerms, apply_command_with};
    use chrono::{DateTime, Utc};

    #[test]
    fn prenotification_is_approved_within_the_rules_and_follows_the_embargo() {
        use crate::incident::testing::reported;
        let day = |d: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-12-{d:02}T12:00:00Z"))
                .expect("time")
                .with_timezone(&Utc)
        };
        let terms = PrenotifyTerms {
            days_before: 7,
            max_days: 14,
            recipients: vec![
                crate::incident::Downstream {
                    address: "distros@vs.openwall.example".into(),
                    key: Some("0123".into()),
                },
                crate::incident::Downstream {
                    address: "packager@example.com".into(),
                    key: None,
                },
            ],
            problem: None,
            contact: None,
        };
        let now = day(2);
        let mut incident = reported("high", day(1));
        let approve = |incident: &mut Incident| {
            apply_command_with(incident, &Command::Prenotify(true), "alice", now, &terms)
        };
        // No date yet: refused, nothing changes.
        let outcome = approve(&mut incident);
        assert!(
            outcome.reply.contains("not approved: no embargo date"),
            "{}",
            outcome.reply
        );
        assert!(!outcome.changed && outcome.effects.is_empty());
        // Beyond max_days: refused.
        incident.decisions.embargo_until = Some(day(20));
        let outcome = approve(&mut incident);
        assert!(
            outcome.reply.contains("more than the 14 days"),
            "{}",
            outcome.reply
        );
        assert!(outcome.effects.is_empty());
        // Within: approved, the notices go seven days before the end.
        incident.decisions.embargo_until = Some(day(12));
        let outcome = approve(&mut incident);
        assert!(outcome.changed, "{}", outcome.reply);
        assert_eq!(
            outcome.effects,
            vec![CommandEffect::Prenotify {
                until: day(12),
                send_at: day(5)
            }]
        );
        assert!(
            outcome.reply.contains("on 2026-12-05 12:00 UTC"),
            "{}",
            outcome.reply
        );
        assert_eq!(outcome.timeline[0].detail, "pre-notification approved");
        // Approving again changes nothing.
        assert!(approve(&mut incident).effects.is_empty());
        // The date moves within the rules: an update, and the notice for the new date.
        let outcome =
            apply_command_with(&mut incident, &Command::Embargo(day(9)), "bob", now, &terms);
        assert_eq!(
            outcome.effects,
            vec![CommandEffect::PrenotifyMoved {
                from: day(12),
                to: day(9),
                send_at: day(2)
            }]
        );
        assert!(outcome.reply.contains("signed update"), "{}", outcome.reply);
        // Moved beyond the rules: the approval lapses, and nobody is told the bad date.
        let outcome = apply_command_with(
            &mut incident,
            &Command::Embargo(day(30)),
            "bob",
            now,
            &terms,
        );
        assert!(outcome.effects.is_empty());
        assert!(
            outcome.reply.contains("approval lapses"),
            "{}",
            outcome.reply
        );
        assert_eq!(incident.decisions.prenotify, None);
        // Withdrawn.
        incident.decisions.embargo_until = Some(day(9));
        approve(&mut incident);
        let outcome = apply_command_with(
            &mut incident,
            &Command::Prenotify(false),
            "alice",
            now,
            &terms,
        );
        assert!(outcome.reply.contains("withdrawn"), "{}", outcome.reply);
        assert_eq!(incident.decisions.prenotify, None);
        assert_eq!(
            parse("/herald prenotify withdraw"),
            Ok(Command::Prenotify(false))
        );
    }
}
