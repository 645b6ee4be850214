//! The course of the response as a Mermaid Gantt chart, which GitHub renders in issues:
//! the phases over time against the reaction, fix and disclosure targets, and the moments
//! that mattered (report, acknowledgement, temporary actions, merged fixes, the release,
//! the publication). Every name in it is herald's own; no advisory or maintainer text goes
//! in, so nothing can break the chart's syntax.

use crate::incident::{Incident, Phase, PullState, SlaPolicy};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write as _;

/// Mermaid's `dateFormat` below, as chrono writes it.
const STAMP: &str = "%Y-%m-%dT%H:%M";

fn stamp(at: DateTime<Utc>) -> String {
    at.format(STAMP).to_string()
}

/// The chart (a fenced `mermaid` block's contents, without the fence).
pub fn course_chart(incident: &Incident, sla: &SlaPolicy) -> String {
    let mut chart = String::new();
    let _ = writeln!(chart, "gantt");
    let _ = writeln!(chart, "    title {} (UTC)", incident.ghsa_id);
    let _ = writeln!(chart, "    dateFormat YYYY-MM-DDTHH:mm");
    let _ = writeln!(chart, "    axisFormat %m-%d");
    let _ = writeln!(chart, "    todayMarker off");

    // The phases, each until the next began; the current one until the last moment known.
    let mut entered = vec![(Phase::Awareness, incident.learned_at)];
    entered.extend(
        incident
            .phase_history
            .iter()
            .map(|phase| (phase.phase, phase.at)),
    );
    let moments = moments(incident);
    let last_known = moments
        .iter()
        .map(|(_, at)| *at)
        .chain(entered.iter().map(|(_, at)| *at))
        .max()
        .unwrap_or(incident.learned_at);
    let _ = writeln!(chart, "    section Phases");
    for (index, (phase, start)) in entered.iter().enumerate() {
        let end = entered.get(index + 1).map(|(_, at)| *at);
        let current = end.is_none() && *phase != Phase::Closed;
        // Mermaid draws nothing for an empty span: a past phase shows at least a minute,
        // the current one at least an hour.
        let end = match end {
            Some(next) => next.max(*start + Duration::minutes(1)),
            None => last_known.max(*start + Duration::hours(1)),
        };
        let _ = writeln!(
            chart,
            "    {phase} :{}phase{index}, {}, {}",
            if current { "active, " } else { "done, " },
            stamp(*start),
            stamp(end)
        );
    }

    let facts = incident.review_facts(sla);
    let targets = [
        ("reaction due", facts.acknowledge.deadline),
        ("fix due", facts.fix.deadline),
        ("disclosure due", facts.disclose.deadline),
    ];
    if targets.iter().any(|(_, at)| at.is_some()) {
        let _ = writeln!(chart, "    section Targets");
        for (index, (name, at)) in targets.iter().enumerate() {
            if let Some(at) = at {
                let _ = writeln!(
                    chart,
                    "    {name} :milestone, crit, target{index}, {}, 0m",
                    stamp(*at)
                );
            }
        }
    }
    if !moments.is_empty() {
        let _ = writeln!(chart, "    section Moments");
        for (index, (name, at)) in moments.iter().enumerate() {
            let _ = writeln!(
                chart,
                "    {name} :milestone, moment{index}, {}, 0m",
                stamp(*at)
            );
        }
    }
    chart
}

/// The moments that mattered, in time order, named in herald's words.
fn moments(incident: &Incident) -> Vec<(String, DateTime<Utc>)> {
    let decisions = &incident.decisions;
    let mut moments: Vec<(String, DateTime<Utc>)> = Vec::new();
    moments.extend(incident.reported_at.map(|at| ("report".to_owned(), at)));
    moments.extend(
        decisions
            .acknowledged_at
            .map(|at| ("acknowledged".to_owned(), at)),
    );
    for (index, action) in decisions.actions.iter().enumerate() {
        let number = index + 1;
        moments.push((format!("temporary action {number}"), action.taken.at));
        if let Some(settled) = &action.settled {
            let how = if settled.kept { "kept" } else { "reverted" };
            moments.push((format!("action {number} {how}"), settled.at));
        }
    }
    for fix in &incident.fixes {
        if let (PullState::Merged, Some(at)) = (fix.state, fix.merged_at) {
            let what = if fix.backport {
                "backport merged"
            } else {
                "fix merged"
            };
            moments.push((what.to_owned(), at));
        }
    }
    moments.extend(
        incident
            .releases
            .iter()
            .map(|release| ("patch release".to_owned(), release.published_at)),
    );
    if incident.published_on_github() {
        moments.extend(incident.published_at.map(|at| ("published".to_owned(), at)));
    }
    moments.sort_by_key(|(_, at)| *at);
    moments
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::testing::reported;
    use crate::incident::{Command, apply_command};

    #[test]
    fn the_chart_shows_phases_targets_and_moments_in_herald_words_only() {
        let at = DateTime::parse_from_rfc3339("2026-11-02T09:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut incident = reported("critical", at);
        apply_command(
            &mut incident,
            &Command::Acknowledge,
            "alice",
            at + Duration::hours(1),
        );
        apply_command(
            &mut incident,
            &Command::Contain("disabled uploads: see #1; x".to_owned()),
            "alice",
            at + Duration::hours(2),
        );
        let chart = course_chart(&incident, &SlaPolicy::default());
        assert!(chart.starts_with("gantt\n    title GHSA-"), "{chart}");
        assert!(
            chart.contains("    awareness :done, phase0, 2026-11-02T09:30, 2026-11-02T10:30\n"),
            "{chart}"
        );
        assert!(
            chart.contains("    containment :active, phase2, 2026-11-02T11:30, 2026-11-02T12:30\n"),
            "{chart}"
        );
        assert!(
            chart.contains("    reaction due :milestone, crit, target0, "),
            "{chart}"
        );
        assert!(
            chart.contains("    acknowledged :milestone, moment"),
            "{chart}"
        );
        assert!(
            chart.contains("    temporary action 1 :milestone, moment"),
            "{chart}"
        );
        assert!(!chart.contains("uploads"), "no maintainer text: {chart}");
    }
}
