//! `locked:`: the sections an organisation's `.github` repository takes from its
//! repositories' own files.

use super::RepoConfig;
use super::check::Rule;

/// Takes the organisation's value of one section; whether the repository's differed.
type TakeSection = fn(&mut RepoConfig, &RepoConfig) -> bool;

/// The sections of the file, as `locked:` names them, each with how it is taken from the
/// organisation's policy.
const SECTIONS: [(&str, TakeSection); 13] = [
    ("tracking", |own, policy| {
        take(&mut own.tracking, &policy.tracking)
    }),
    ("labels", |own, policy| {
        take(&mut own.labels, &policy.labels)
    }),
    ("changelog", |own, policy| {
        take(&mut own.changelog, &policy.changelog)
    }),
    ("advisory_issue", |own, policy| {
        take(&mut own.advisory_issue, &policy.advisory_issue)
    }),
    ("blog", |own, policy| take(&mut own.blog, &policy.blog)),
    ("mailing_lists", |own, policy| {
        take(&mut own.mailing_lists, &policy.mailing_lists)
    }),
    ("sla", |own, policy| take(&mut own.sla, &policy.sla)),
    ("escalation", |own, policy| {
        take(&mut own.escalation, &policy.escalation)
    }),
    ("notify", |own, policy| {
        take(&mut own.notify, &policy.notify)
    }),
    ("channels", |own, policy| {
        take(&mut own.channels, &policy.channels)
    }),
    ("osv", |own, policy| take(&mut own.osv, &policy.osv)),
    ("prenotify", |own, policy| {
        take(&mut own.prenotify, &policy.prenotify)
    }),
    ("disclosure", |own, policy| {
        take(&mut own.disclosure, &policy.disclosure)
    }),
];

/// `own` becomes `policy`; whether it differed.
fn take<T: Clone + PartialEq>(own: &mut T, policy: &T) -> bool {
    let differs = own != policy;
    own.clone_from(policy);
    differs
}

impl RepoConfig {
    /// A repository's own configuration under its organisation's `policy`: each section the
    /// policy locks is the policy's. Returns the locked sections the repository's file set
    /// otherwise, which are overridden.
    pub fn under(mut self, policy: &RepoConfig) -> (RepoConfig, Vec<&'static str>) {
        let mut overridden = Vec::new();
        for (section, take_section) in SECTIONS {
            if policy.locked.iter().any(|locked| locked == section)
                && take_section(&mut self, policy)
            {
                overridden.push(section);
            }
        }
        self.locked.clone_from(&policy.locked);
        (self, overridden)
    }
}

/// A section of the file, as `locked:` names it.
pub(super) struct SectionName;
impl Rule for SectionName {
    const EXPECTED: &'static str = "the name of a section of this file";
    fn check(value: &str) -> Result<(), String> {
        if SECTIONS.iter().any(|(section, _)| *section == value) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not a section: lock any of {}",
                value.chars().take(40).collect::<String>(),
                SECTIONS.map(|(section, _)| section).join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::incident::RepoName;
    use crate::repo_config::{RepoConfig, tests::error};

    #[test]
    fn an_organisations_locked_sections_win_over_a_repositorys_own() {
        let policy = RepoConfig::parse(
            "locked: [tracking, prenotify]\ntracking:\n  repository: acme/security\nsla:\n  fix_within_days: 10\n",
        )
        .expect("policy");
        let own = RepoConfig::parse(
            "tracking:\n  repository: acme/mallory-notes\nsla:\n  fix_within_days: 20\nlocked: []\n",
        )
        .expect("own");
        let (config, overridden) = own.under(&policy);
        assert_eq!(overridden, vec!["tracking"], "prenotify was left alone");
        assert_eq!(
            config.tracking.repository.as_ref().map(RepoName::as_str),
            Some("acme/security")
        );
        assert_eq!(
            config.sla.fix_within_days, 20,
            "an unlocked section is the repository's"
        );
        assert_eq!(config.locked, vec!["tracking", "prenotify"]);
        let e = error("locked: [tracking, everything]\n");
        assert_eq!(e.key.as_deref(), Some("locked[1]"), "{e}");
        assert!(e.message.contains("\"everything\" is not a section"), "{e}");
    }
}
