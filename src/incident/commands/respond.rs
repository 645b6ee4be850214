//! The commands that run the response: who coordinates, acknowledgement, the phases,
//! temporary actions and who was consulted about them, and who is affected.

use super::CommandEffect;
use crate::incident::{
    Consultation, Incident, Phase, Settlement, Statement, TemporaryAction, Threat, utc_minute,
};
use chrono::{DateTime, Utc};

/// `/herald coordinator`: who coordinates and speaks for the response.
pub(super) fn set_coordinator(incident: &mut Incident, login: &str) -> String {
    incident.decisions.coordinator = Some(login.to_owned());
    format!("{login} coordinates this incident.")
}

/// Records the first acknowledgement; the report moves on to assessment.
pub(super) fn acknowledge(incident: &mut Incident, at: DateTime<Utc>) -> String {
    if let Some(earlier) = incident.decisions.acknowledged_at {
        return format!("Already acknowledged at {}.", utc_minute(earlier));
    }
    incident.decisions.acknowledged_at = Some(at);
    if incident.phase == Phase::Awareness {
        incident.enter_phase(Phase::Assessment, at);
    }
    let mut reply = "Acknowledged: the reaction clock stops.".to_owned();
    if incident.decisions.coordinator.is_none() {
        reply.push_str(" Nobody coordinates yet: name someone with `/herald coordinator @login`.");
    }
    reply
}

/// `/herald phase`: containment and remediation before disclosure, recovery after it;
/// forward only (disclosure comes with publication, closing with `/herald close`).
pub(super) fn move_phase(incident: &mut Incident, phase: Phase, at: DateTime<Utc>) -> String {
    let disclosed = incident.phase >= Phase::Disclosure;
    let allowed = match phase {
        Phase::Containment | Phase::Remediation => !disclosed && incident.phase < phase,
        Phase::Recovery => incident.phase == Phase::Disclosure,
        _ => false,
    };
    if !allowed {
        return format!(
            "The incident is in {}; it cannot move to {phase}. Phases go forward: \
             containment and remediation before disclosure, recovery after it.",
            incident.phase
        );
    }
    incident.enter_phase(phase, at);
    format!("The incident is in {phase} now.")
}

/// `/herald close`: the post-incident review follows.
pub(super) fn close(
    incident: &mut Incident,
    at: DateTime<Utc>,
    effects: &mut Vec<CommandEffect>,
) -> String {
    incident.enter_phase(Phase::Closed, at);
    effects.push(CommandEffect::PostReview);
    "Incident closed. herald posts the post-incident review here.".to_owned()
}

/// `/herald retry`: the incident's failed jobs are queued again.
pub(super) fn retry(effects: &mut Vec<CommandEffect>) -> String {
    effects.push(CommandEffect::RetryFailed);
    "Running again what failed for this incident.".to_owned()
}

/// `/herald contain`: records the action (the response is in containment from now on, if
/// it was not further yet). Under an active threat the people of `notify:` are told at
/// once; otherwise the plan asks for a consultation first, which herald points out without
/// standing in the way.
pub(super) fn contain(
    incident: &mut Incident,
    what: &str,
    actor: &str,
    at: DateTime<Utc>,
    effects: &mut Vec<CommandEffect>,
) -> String {
    let threat = incident.decisions.threat;
    incident.decisions.actions.push(TemporaryAction {
        taken: Statement {
            text: what.to_owned(),
            by: actor.to_owned(),
            at,
        },
        threat,
        settled: None,
    });
    let number = incident.decisions.actions.len();
    if incident.phase < Phase::Containment {
        incident.enter_phase(Phase::Containment, at);
    }
    let inform = threat == Some(Threat::Active);
    effects.push(CommandEffect::ActionTaken { number, inform });
    let mut reply = format!(
        "Temporary action {number} recorded. It stays temporary until `/herald revert {number}` \
         or `/herald keep {number}`; herald reminds of it daily until then."
    );
    if inform {
        reply.push_str(" The threat is active: herald informs the security leads now.");
    } else if incident.decisions.consulted.is_empty() {
        reply.push_str(
            " The threat is not active, and the response plan asks to consult the security \
             leads before acting then: record who was consulted with `/herald consulted @login`.",
        );
    }
    reply
}

/// `/herald consulted`: a security lead was consulted, as the plan asks before acting on a
/// passive threat.
pub(super) fn consulted(
    incident: &mut Incident,
    lead: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> String {
    incident.decisions.consulted.push(Consultation {
        login: lead.to_owned(),
        by: actor.to_owned(),
        at,
    });
    format!("Recorded: {lead} was consulted.")
}

/// `/herald revert N` and `/herald keep N`: how temporary action `number` ended.
pub(super) fn settle(
    incident: &mut Incident,
    number: usize,
    kept: bool,
    actor: &str,
    at: DateTime<Utc>,
) -> String {
    let Some(action) = incident.decisions.actions.get_mut(number - 1) else {
        return format!("There is no temporary action {number}; the tracking issue lists them.");
    };
    if let Some(settled) = &action.settled {
        return format!(
            "Temporary action {number} was already {} by {} at {}.",
            if settled.kept {
                "made permanent"
            } else {
                "reverted"
            },
            settled.by,
            utc_minute(settled.at)
        );
    }
    action.settled = Some(Settlement {
        kept,
        by: actor.to_owned(),
        at,
    });
    if kept {
        format!("Temporary action {number} is permanent now, as {actor} agreed.")
    } else {
        format!("Temporary action {number} is reverted.")
    }
}

/// `/herald affected`: which users or deployments are affected, as last said.
pub(super) fn affected(
    incident: &mut Incident,
    text: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> String {
    incident.decisions.affected = Some(Statement {
        text: text.to_owned(),
        by: actor.to_owned(),
        at,
    });
    "Recorded who is affected; the tracking issue and the post-incident review show it.".to_owned()
}
