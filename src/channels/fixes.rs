//! Pull requests maintainers link as fixes (`/herald fix #N`): herald reads where each
//! stands on GitHub; later changes arrive as `pull_request` webhooks.

use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::incident::{Amendment, Incident, PullSnapshot, PullState};
use crate::jobs::PendingPull;

/// Reads the pull request and records it on the incident.
pub(super) async fn track_pull(
    channels: &Channels,
    pending: &PendingPull,
    incident: &Incident,
) -> Result<Record, ChannelError> {
    let api = channels.installation(&pending.repository).await?;
    let pull = api.pull(&pending.repository, pending.number).await?;
    let base = pull.base.as_ref();
    let snapshot = PullSnapshot {
        repository: pending.repository.clone(),
        number: pending.number,
        url: pull.html_url.clone(),
        base: base.map(|base| base.branch.clone()).unwrap_or_default(),
        default_branch: base
            .and_then(|base| base.repo.as_ref())
            .and_then(|repo| repo.default_branch.clone())
            .unwrap_or_default(),
        state: match (pull.merged, pull.state.as_str()) {
            (Some(true), _) => PullState::Merged,
            (_, "closed") => PullState::Closed,
            _ => PullState::Open,
        },
    };
    Ok(Record::note(format!(
        "fix {}#{} is {}",
        pending.repository, pending.number, snapshot.state
    ))
    .with(Write::Amend {
        repository: incident.repository.clone(),
        ghsa_id: incident.ghsa_id.clone(),
        amendment: Amendment::PullSeen(snapshot),
    }))
}
