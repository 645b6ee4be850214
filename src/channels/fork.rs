//! `/herald fork`: GitHub's temporary private fork of the advisory's repository, where the
//! maintainers (and the reporter, if invited) fix the vulnerability in private. GitHub
//! creates the fork asynchronously ("you may have to wait up to 5 minutes"), so herald asks
//! once, records what GitHub answered, and looks again every half minute until the fork
//! exists; then it links it on the tracking issue. A fork that never appears is reported,
//! and `/herald fork` asks again.

use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::github::GitHubError;
use crate::incident::{Amendment, IncidentId, RepoName};
use crate::jobs::Job;
use crate::markers::key;
use crate::store::IncidentRow;
use chrono::{DateTime, Duration, Utc};

/// How long herald waits between looks at a fork being created.
const CHECK_EVERY: Duration = Duration::seconds(30);
/// GitHub says a fork can take up to 5 minutes; after three times that, herald gives up.
const GIVE_UP_AFTER: Duration = Duration::minutes(15);

/// Asks for the fork, or looks whether the fork asked for exists yet.
pub(super) async fn private_fork(
    channels: &Channels,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    let incident = &row.incident;
    let api = channels.installation(&incident.repository).await?;
    let now = Utc::now();
    let amend = |amendment: Amendment| Write::Amend {
        repository: incident.repository.clone(),
        ghsa_id: incident.ghsa_id.clone(),
        amendment,
    };
    let Some(fork) = &incident.private_fork else {
        // Published since the command was given: GitHub forks unpublished advisories only.
        if incident.published_on_github() {
            return Ok(Record::note(
                "the advisory is published: no temporary private fork",
            ));
        }
        let answer = api
            .create_private_fork(&incident.repository, &incident.ghsa_id)
            .await?;
        let full_name =
            RepoName::parse(&answer.full_name).map_err(|error| GitHubError::Decode {
                method: http::Method::POST,
                path: format!("/repos/{}/security-advisories/…/forks", incident.repository),
                source: error.into(),
            })?;
        let url = answer
            .html_url
            .filter(|url| crate::drafts::escape::web_link(url))
            .unwrap_or_else(|| format!("https://github.com/{full_name}"));
        return Ok(
            Record::note(format!("temporary private fork {full_name} requested"))
                .with(amend(Amendment::ForkRequested { full_name, url }))
                .with(look_again(row.id, now)),
        );
    };
    if fork.ready_at.is_some() {
        return Ok(Record::note("the temporary private fork is ready"));
    }
    let tracking = channels.store.tracking_link(row.id).await?;
    let comment = |body: String| {
        tracking
            .as_ref()
            .and_then(|link| link.issue())
            .map(|(repository, issue)| Write::Comment {
                key: key::private_fork(row.id, &fork.full_name, fork.requested_at),
                repository,
                issue,
                body,
            })
    };
    if api.repository_exists(&fork.full_name).await? {
        let mut record = Record::note(format!(
            "temporary private fork {} is ready",
            fork.full_name
        ))
        .with(amend(Amendment::ForkReady));
        record.extend(comment(format!(
            "The temporary private fork is ready: {}\n\nPush the fix there and open a pull \
             request in it; it stays private until the advisory is published, when GitHub \
             merges it into the repository.",
            fork.url
        )));
        return Ok(record);
    }
    if now - fork.requested_at > GIVE_UP_AFTER {
        let mut record = Record::note(format!(
            "temporary private fork {} never appeared",
            fork.full_name
        ))
        .with(amend(Amendment::ForkAbandoned));
        record.extend(comment(format!(
            "GitHub has not created the temporary private fork {} in {} minutes. \
             `/herald fork` asks again.",
            fork.full_name,
            GIVE_UP_AFTER.num_minutes()
        )));
        return Ok(record);
    }
    Ok(Record::note(format!(
        "temporary private fork {} not there yet",
        fork.full_name
    ))
    .with(look_again(row.id, now)))
}

/// The next look at the fork, half a minute from `now`.
fn look_again(incident: IncidentId, now: DateTime<Utc>) -> Write {
    let at = now + CHECK_EVERY;
    Write::Job {
        job: Job::PrivateFork { incident },
        key: key::private_fork_check(incident, at),
        at: Some(at),
    }
}
