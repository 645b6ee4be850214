//! Upstream incidents from global advisories: each served repository's dependencies (read
//! from its dependency graph, cached for a few hours) are matched against the advisory;
//! a match opens (or updates) one incident for that repository, tracked like any other,
//! and a withdrawn advisory closes it with a note.

use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::incident::{DeliveryId, Dependency, RepoName, UpstreamOrigin, apply_upstream};
use crate::ingest::events::WebhookEvent;
use crate::store::InstallationId;
use chrono::{Duration, Utc};

/// How long a repository's dependency graph is trusted before it is read again.
const DEPENDENCIES_FRESH_FOR: Duration = Duration::hours(6);

pub(super) async fn match_upstream(
    channels: &Channels,
    job_id: i64,
    delivery_id: &DeliveryId,
) -> Result<Record, ChannelError> {
    let store = &channels.store;
    let WebhookEvent::SecurityAdvisory(event) = channels.stored_event(job_id, delivery_id).await?
    else {
        return Err(ChannelError::Payload {
            id: job_id,
            payload: delivery_id.to_string(),
        });
    };
    let advisory = event.security_advisory.upstream(&event.action);
    let now = Utc::now();
    let mut matched = Vec::new();
    let mut writes = Vec::new();
    // The upstream incidents this advisory opened before, one per repository at most.
    let mut known: Vec<_> = store
        .incidents_by_ghsa(&advisory.ghsa_id)
        .await?
        .into_iter()
        .filter(|row| row.incident.upstream.is_some())
        .collect();
    for (repository, installation) in store.served_repositories().await? {
        let existing = known
            .iter()
            .position(|row| row.incident.repository == repository)
            .map(|index| known.swap_remove(index));
        let origin = match &existing {
            // Known already: a withdrawal or an update applies to it as it is.
            Some(row) => row.incident.upstream.clone(),
            None if advisory.withdrawn => None,
            None => {
                let dependencies = dependencies(channels, &repository, installation, now).await?;
                dependencies.iter().find_map(|dependency| {
                    let vulnerability = advisory.affects(dependency)?;
                    Some(UpstreamOrigin {
                        dependency: dependency.clone(),
                        vulnerable_range: vulnerability.vulnerable_range.clone(),
                        fixed_version: vulnerability.first_patched.clone(),
                    })
                })
            }
        };
        let Some(origin) = origin else { continue };
        let (incident, timeline) = apply_upstream(
            existing.map(|row| row.incident),
            &repository,
            &advisory,
            &origin,
            now,
        );
        writes.push(Write::Incident {
            incident: Box::new(incident),
            timeline,
            delivery: Some(delivery_id.clone()),
        });
        matched.push(repository);
    }
    let note = if matched.is_empty() {
        format!(
            "global advisory {}: no served repository affected",
            advisory.ghsa_id
        )
    } else {
        format!(
            "global advisory {}: upstream incident in {}",
            advisory.ghsa_id,
            matched
                .iter()
                .map(RepoName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // Every repository's incident in the commit that completes the job.
    Ok(writes
        .into_iter()
        .fold(Record::note(note), |record, write| record.with(write)))
}

/// The repository's dependencies, from the cache while fresh, else from GitHub.
async fn dependencies(
    channels: &Channels,
    repository: &RepoName,
    installation: InstallationId,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Dependency>, ChannelError> {
    let store = &channels.store;
    if let Some(cached) = store
        .cached_dependencies(repository, now - DEPENDENCIES_FRESH_FOR)
        .await?
    {
        return Ok(cached.unwrap_or_default());
    }
    let api = channels.github.installation(installation)?;
    let read = api.dependencies(repository).await?;
    if read.is_none() {
        tracing::info!(%repository, "no dependency graph (it is off for the repository)");
    }
    let mut work = store.begin_durable().await?;
    work.save_dependencies(repository, read.as_deref(), now)
        .await?;
    work.commit().await?;
    Ok(read.unwrap_or_default())
}
