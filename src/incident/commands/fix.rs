//! The commands about fixing: GitHub's temporary private fork, and pull requests tracked
//! as fixes.

use super::CommandEffect;
use crate::incident::{FixPull, Incident, PullState, RepoName};

/// `/herald fork`: GitHub's temporary private fork, for an advisory not yet published.
pub(super) fn fork(incident: &Incident, effects: &mut Vec<CommandEffect>) -> String {
    match &incident.private_fork {
        Some(fork) if fork.ready_at.is_some() => {
            return format!("The temporary private fork is {}.", fork.url);
        }
        Some(_) => {
            return "GitHub is still creating the temporary private fork; herald links it here \
                    once it exists."
                .to_owned();
        }
        None => {}
    }
    if incident.upstream.is_some() {
        return "An upstream incident has no repository advisory of its own, so GitHub has no \
                private fork for it."
            .to_owned();
    }
    if incident.published_on_github() {
        return "The advisory is published: GitHub makes temporary private forks for \
                unpublished advisories only."
            .to_owned();
    }
    effects.push(CommandEffect::RequestFork);
    "Asking GitHub for a temporary private fork; herald links it here once GitHub has created \
     it (that can take a few minutes)."
        .to_owned()
}

/// `/herald fix`: a pull request tracked as a fix (`None`: in the advisory's repository).
pub(super) fn track_fix(
    incident: &mut Incident,
    repository: Option<&RepoName>,
    number: u64,
    actor: &str,
    effects: &mut Vec<CommandEffect>,
) -> String {
    let repository = repository
        .cloned()
        .unwrap_or_else(|| incident.repository.clone());
    let name = format!("{repository}#{number}");
    if incident
        .fixes
        .iter()
        .any(|fix| fix.repository == repository && fix.number == number)
    {
        return format!("{name} is tracked as a fix already.");
    }
    incident.fixes.push(FixPull {
        repository: repository.clone(),
        number,
        url: format!("https://github.com/{repository}/pull/{number}"),
        base: String::new(),
        state: PullState::Unknown,
        backport: false,
        linked_by: Some(actor.to_owned()),
        merged_at: None,
    });
    effects.push(CommandEffect::TrackPull { repository, number });
    format!(
        "Tracking {name} as a fix: the tracking issue shows where it stands, and its \
         merge ticks the checklist."
    )
}
