//! Who may make herald act: the same people GitHub lets do the same thing to the advisory.
//! Publishing a repository advisory, requesting its CVE and creating its private fork are
//! reserved by GitHub for repository admins (organisation owners among them) and the
//! organisation's security managers, so approving disclosure, setting a date that permits
//! it, publishing, pre-notifying, requesting a CVE or a fork are theirs in herald too.
//! Write and maintain collaborators acknowledge, assess, coordinate and record.

use super::{Command, Incident};
use serde::Deserialize;
use std::fmt;

/// Someone's role on a repository, as GitHub names it (`role_name`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum RoleName {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    /// No access (GitHub does not know them there).
    None,
    /// An organisation's custom repository role, by its name.
    Custom(String),
}

/// The legacy permission a repository role reads as (`permission`): maintain reads as
/// write, triage as read, and a custom role as its base role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum Permission {
    Admin,
    Write,
    Read,
    None,
    /// A word GitHub may add later; it grants nothing here.
    Other(String),
}

impl From<String> for RoleName {
    fn from(name: String) -> RoleName {
        match name.as_str() {
            "admin" => RoleName::Admin,
            "maintain" => RoleName::Maintain,
            "write" => RoleName::Write,
            "triage" => RoleName::Triage,
            "read" => RoleName::Read,
            "none" => RoleName::None,
            _ => RoleName::Custom(name),
        }
    }
}

impl RoleName {
    pub fn as_str(&self) -> &str {
        match self {
            RoleName::Admin => "admin",
            RoleName::Maintain => "maintain",
            RoleName::Write => "write",
            RoleName::Triage => "triage",
            RoleName::Read => "read",
            RoleName::None => "none",
            RoleName::Custom(name) => name,
        }
    }
}

impl From<String> for Permission {
    fn from(word: String) -> Permission {
        match word.as_str() {
            "admin" => Permission::Admin,
            "write" => Permission::Write,
            "read" => Permission::Read,
            "none" => Permission::None,
            _ => Permission::Other(word),
        }
    }
}

impl Permission {
    pub fn as_str(&self) -> &str {
        match self {
            Permission::Admin => "admin",
            Permission::Write => "write",
            Permission::Read => "read",
            Permission::None => "none",
            Permission::Other(word) => word,
        }
    }
}

/// What someone may do on an incident, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Authority {
    /// Read, triage or no access: herald does not take commands from them.
    None,
    /// Write and maintain collaborators: acknowledge, assess, coordinate and record.
    Maintainer,
    /// Repository admins and the organisation's security managers: what GitHub reserves for
    /// them on an advisory (publish it, request its CVE, create its private fork).
    Security,
}

impl Authority {
    /// The authority of a repository role as GitHub reports it: its name, and the legacy
    /// permission a custom role inherits.
    pub fn of_repository_role(role: &RoleName, permission: &Permission) -> Authority {
        match (role, permission) {
            (RoleName::Admin, _) => Authority::Security,
            (RoleName::Maintain | RoleName::Write, _) => Authority::Maintainer,
            (RoleName::Triage | RoleName::Read | RoleName::None, _) => Authority::None,
            // A custom repository role: its base role decides.
            (RoleName::Custom(_), Permission::Admin) => Authority::Security,
            (RoleName::Custom(_), Permission::Write) => Authority::Maintainer,
            (RoleName::Custom(_), _) => Authority::None,
        }
    }

    /// Who holds this authority, as a refusal names them.
    pub fn holders(self) -> &'static str {
        match self {
            Authority::None => "anyone",
            Authority::Maintainer => {
                "the write, maintain or admin role on the advisory's repository"
            }
            Authority::Security => {
                "the admin role on the advisory's repository or the organisation's security \
                 manager role"
            }
        }
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.holders())
    }
}

impl Command {
    /// The authority this command needs on `incident` as it stands. Withdrawals and
    /// restrictions need less than grants: a maintainer may always hold disclosure back.
    pub fn needs(&self, incident: &Incident) -> Authority {
        match self {
            Command::ApproveDisclosure(true)
            | Command::Prenotify(true)
            | Command::Publish
            | Command::RequestCve
            | Command::Fork => Authority::Security,
            // An earlier end permits publication sooner; a first or a later one only holds
            // it back.
            Command::Embargo(until) => match incident.decisions.embargo_until {
                Some(current) if *until < current => Authority::Security,
                _ => Authority::Maintainer,
            },
            Command::Severity(_)
            | Command::ClearSeverity
            | Command::Cvss(_)
            | Command::Threat(_)
            | Command::Breach(_)
            | Command::ApproveDisclosure(false)
            | Command::Coordinator(_)
            | Command::Acknowledge
            | Command::Kind(_)
            | Command::Phase(_)
            | Command::Retry
            | Command::Close
            | Command::Help
            | Command::Contain(_)
            | Command::Consulted(_)
            | Command::Revert(_)
            | Command::Keep(_)
            | Command::Affected(_)
            | Command::Fix { .. }
            | Command::Prenotify(false) => Authority::Maintainer,
        }
    }

    /// Whether this command may need more than a maintainer's authority, whatever the
    /// incident's state (so the caller knows whether to ask GitHub about security managers).
    pub fn may_need_security(&self) -> bool {
        matches!(
            self,
            Command::ApproveDisclosure(true)
                | Command::Prenotify(true)
                | Command::Publish
                | Command::RequestCve
                | Command::Fork
                | Command::Embargo(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::testing::reported;
    use chrono::{TimeZone, Utc};

    #[test]
    fn repository_roles_map_as_github_grants_advisory_acts() {
        for (role_name, permission, authority) in [
            ("admin", "admin", Authority::Security),
            ("maintain", "write", Authority::Maintainer),
            ("write", "write", Authority::Maintainer),
            ("triage", "read", Authority::None),
            ("read", "read", Authority::None),
            ("none", "none", Authority::None),
            // Custom roles: their base role decides.
            ("security-reviewer", "write", Authority::Maintainer),
            ("release-admin", "admin", Authority::Security),
            ("auditor", "read", Authority::None),
        ] {
            let role = RoleName::from(role_name.to_owned());
            let permission = Permission::from(permission.to_owned());
            assert_eq!(role.as_str(), role_name);
            assert_eq!(
                Authority::of_repository_role(&role, &permission),
                authority,
                "{role_name}"
            );
        }
    }

    #[test]
    fn disclosure_acts_need_security_and_withdrawals_do_not() {
        let incident = reported("high", Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
        for command in [
            Command::ApproveDisclosure(true),
            Command::Prenotify(true),
            Command::Publish,
            Command::RequestCve,
            Command::Fork,
        ] {
            assert_eq!(command.needs(&incident), Authority::Security, "{command:?}");
            assert!(command.may_need_security());
        }
        for command in [
            Command::ApproveDisclosure(false),
            Command::Prenotify(false),
            Command::Acknowledge,
            Command::Severity(crate::incident::Severity::High),
            Command::Close,
        ] {
            assert_eq!(
                command.needs(&incident),
                Authority::Maintainer,
                "{command:?}"
            );
            assert!(!command.may_need_security());
        }
    }

    #[test]
    fn only_an_earlier_embargo_end_needs_security() {
        let mut incident = reported("high", Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
        let at = |day| Utc.with_ymd_and_hms(2026, 12, day, 14, 0, 0).unwrap();
        assert_eq!(
            Command::Embargo(at(10)).needs(&incident),
            Authority::Maintainer,
            "a first date holds disclosure back"
        );
        incident.decisions.embargo_until = Some(at(10));
        assert_eq!(
            Command::Embargo(at(12)).needs(&incident),
            Authority::Maintainer
        );
        assert_eq!(
            Command::Embargo(at(10)).needs(&incident),
            Authority::Maintainer
        );
        assert_eq!(
            Command::Embargo(at(9)).needs(&incident),
            Authority::Security
        );
        assert_eq!(
            Command::Embargo(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()).needs(&incident),
            Authority::Security
        );
    }
}
