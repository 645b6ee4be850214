//! The commands that assess the incident: its severity, CVSS vector, kind, threat and
//! whether a breach happened.

use crate::incident::{CvssAssessment, CvssSlot, Incident, IncidentKind, Severity, Threat};

/// `/herald severity` (`Some`) and a severity label's removal (`None`): a maintainer's
/// severity wins over the computed one, which stands again once it is removed.
pub(super) fn set_severity(incident: &mut Incident, level: Option<Severity>) -> String {
    incident.decisions.severity = level;
    incident.recompute_severity();
    match level {
        Some(level) => format!("Severity set to {level}."),
        None => format!(
            "Severity label removed: severity is {} ({}).",
            incident.severity, incident.severity_source
        ),
    }
}

/// `/herald cvss`: herald scores the vector; one it cannot score changes nothing.
pub(super) fn set_cvss(incident: &mut Incident, vector: &str) -> String {
    let slot = if vector.starts_with("CVSS:4.0/") {
        CvssSlot::V4
    } else {
        CvssSlot::V3
    };
    let assessment = CvssAssessment::assess(slot, vector, None);
    match assessment.computed_severity() {
        Some(_) => {
            let reply = format!("CVSS set: {}.", assessment.describe());
            incident.decisions.cvss = Some(assessment);
            incident.recompute_severity();
            reply
        }
        None => format!(
            "That CVSS vector is not usable ({}); nothing changed.",
            assessment.describe()
        ),
    }
}

/// `/herald kind`: the kind's severity applies unless a maintainer set one outright.
pub(super) fn set_kind(incident: &mut Incident, kind: IncidentKind) -> String {
    incident.decisions.kind = Some(kind);
    incident.recompute_severity();
    format!(
        "Kind set to {kind} ({} by the response plan); severity is {} ({}).",
        kind.severity(),
        incident.severity,
        incident.severity_source
    )
}

/// `/herald threat` and the threat labels (`None`: the label was removed).
pub(super) fn set_threat(incident: &mut Incident, threat: Option<Threat>) -> String {
    incident.decisions.threat = threat;
    match threat {
        Some(Threat::Active) => "Threat set to active: this is an emergency. Any maintainer may take temporary containment action now and must record it here.".to_owned(),
        Some(Threat::Passive) => "Threat set to passive: actions wait for the coordinator's decision.".to_owned(),
        None => "Threat label removed: the threat is not assessed.".to_owned(),
    }
}

/// The incident label, added or removed: whether a breach happened.
pub(super) fn set_breach(incident: &mut Incident, breach: bool) -> String {
    incident.decisions.breach = breach;
    if breach {
        "Recorded: a breach happened.".to_owned()
    } else {
        "Recorded: no breach.".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use crate::incident::commands::testing::parse;
    use crate::incident::{Command, IncidentKind, Severity, apply_command};
    use chrono::{DateTime, Utc};

    #[test]
    fn a_named_kind_sets_the_severity_unless_a_maintainer_set_one() {
        use crate::incident::SeveritySource;
        let at = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut incident = crate::incident::testing::reported("low", at);
        assert_eq!(incident.severity, Severity::Low);
        let kind = parse("/herald kind xss").expect("a command");
        let outcome = apply_command(&mut incident, &kind, "alice", at);
        assert_eq!(
            (incident.severity, incident.severity_source),
            (Severity::High, SeveritySource::Kind)
        );
        assert!(
            outcome.reply.contains("Kind set to xss"),
            "{}",
            outcome.reply
        );
        assert_eq!(outcome.timeline[0].detail, "kind set to xss");
        apply_command(
            &mut incident,
            &Command::Severity(Severity::Medium),
            "alice",
            at,
        );
        assert_eq!(
            (incident.severity, incident.severity_source),
            (Severity::Medium, SeveritySource::Maintainer),
            "an explicit severity wins over the kind"
        );
        apply_command(&mut incident, &Command::ClearSeverity, "alice", at);
        assert_eq!(incident.severity, Severity::High, "the kind stands again");
        assert_eq!(
            parse("/herald kind rce"),
            Ok(Command::Kind(IncidentKind::CodeExecution))
        );
        assert_eq!(
            parse("/herald kind supply-chain"),
            Ok(Command::Kind(IncidentKind::SupplyChain))
        );
        assert!(
            parse("/herald kind boredom")
                .expect_err("not a kind")
                .contains("not a kind: use supply-chain")
        );
        for kind in IncidentKind::ALL {
            assert_eq!(kind.as_str().parse::<IncidentKind>(), Ok(kind));
        }
        assert_eq!(IncidentKind::SupplyChain.severity(), Severity::Critical);
        assert_eq!(IncidentKind::DenialOfService.severity(), Severity::Medium);
        assert_eq!(IncidentKind::DocsDefacement.severity(), Severity::Low);
    }
}
