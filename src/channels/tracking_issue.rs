//! One private tracking issue per incident, ever: created once, then rewritten in place
//! when the incident changes. Never in a public repository while the incident is embargoed.

use super::{ChannelError, Channels};
use crate::drafts::{carry_checks, incident_marker, tracking_issue};
use crate::github::api::NewIssue;
use crate::incident::{Phase, TimelineEntry, TimelineKind};
use crate::store::{TrackingLink, TrackingStatus};
use chrono::Utc;

pub(super) async fn sync(
    channels: &Channels,
    job_id: i64,
    incident_id: i64,
) -> Result<String, ChannelError> {
    let store = &channels.store;
    let Some(row) = store.incident(incident_id).await? else {
        return finish(channels, job_id, incident_id, None, None).await;
    };
    let incident = &row.incident;
    let link = store.tracking_link(incident_id).await?;
    if link.as_ref().is_some_and(|link| {
        link.status == TrackingStatus::Open && link.synced_revision >= row.revision
    }) {
        return finish(channels, job_id, incident_id, None, None).await;
    }
    let github = channels.installation(&incident.repository).await?;
    let loaded = channels.repo_config(&github, &incident.repository).await?;
    let tracking_repository = loaded
        .config
        .tracking
        .repository
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| incident.repository.clone());
    let visibility = github.repository(&tracking_repository).await?;
    let embargoed = incident.phase < Phase::Disclosure;
    let now = Utc::now();

    if embargoed && visibility.is_public() {
        let detail = format!(
            "herald will not open the tracking issue in {tracking_repository}: that repository \
             is public and the incident is under embargo. Set `tracking.repository` in \
             .github/herald.yml to a private repository."
        );
        tracing::warn!(
            incident = %incident.ghsa_id,
            repository = %incident.repository,
            tracking_repository = %tracking_repository,
            "refused to open a tracking issue in a public repository"
        );
        let newly = link
            .as_ref()
            .is_none_or(|link| link.detail.as_deref() != Some(detail.as_str()));
        let entry = newly.then(|| TimelineEntry {
            at: now,
            actor: None,
            kind: TimelineKind::TrackingIssue,
            detail: detail.clone(),
        });
        let note = format!("refused: {tracking_repository} is public");
        let refused = TrackingLink {
            status: TrackingStatus::Refused,
            repository: Some(tracking_repository),
            number: link.as_ref().and_then(|link| link.number),
            url: link.as_ref().and_then(|link| link.url.clone()),
            detail: Some(detail),
            synced_revision: row.revision,
            updated_at: now,
        };
        finish(channels, job_id, incident_id, Some(refused), entry).await?;
        return Ok(note);
    }

    let rendered = tracking_issue(
        &channels.drafts,
        incident,
        &loaded.config.labels,
        loaded.error.as_deref(),
    )?;
    let marker = incident_marker(&incident.repository, &incident.ghsa_id);
    let known_number = link
        .as_ref()
        .filter(|link| link.repository.as_deref() == Some(tracking_repository.as_str()))
        .and_then(|link| link.number)
        .and_then(|number| u64::try_from(number).ok());
    let existing = match known_number {
        Some(number) => Some(github.issue(&tracking_repository, number).await?),
        // Not recorded: perhaps created just before a crash. Look for herald's marker.
        None => {
            github
                .find_issue(
                    &tracking_repository,
                    &loaded.config.labels.security,
                    &marker,
                )
                .await?
        }
    };
    let (issue, created) = match existing {
        Some(issue) => {
            let body = carry_checks(issue.body.as_deref().unwrap_or(""), &rendered.body);
            let issue =
                if issue.body.as_deref() != Some(body.as_str()) || issue.title != rendered.title {
                    github
                        .edit_issue(&tracking_repository, issue.number, &rendered.title, &body)
                        .await?
                } else {
                    issue
                };
            let current = issue.label_names();
            let missing: Vec<String> = rendered
                .labels
                .iter()
                .filter(|label| !current.contains(label))
                .cloned()
                .collect();
            if !missing.is_empty() {
                github
                    .add_labels(&tracking_repository, issue.number, &missing)
                    .await?;
            }
            // Only the labels herald sets are replaced; others are the maintainers'.
            let names = &loaded.config.labels;
            for stale in current.iter().filter(|label| {
                (label.starts_with(&names.severity_prefix)
                    || label.starts_with(&names.threat_prefix)
                    || **label == names.incident)
                    && !rendered.labels.contains(label)
            }) {
                github
                    .remove_label(&tracking_repository, issue.number, stale)
                    .await?;
            }
            (issue, false)
        }
        None => {
            let issue = github
                .create_issue(
                    &tracking_repository,
                    &NewIssue {
                        title: &rendered.title,
                        body: &rendered.body,
                        labels: &rendered.labels,
                        assignees: &loaded.config.tracking.assignees,
                    },
                )
                .await?;
            (issue, true)
        }
    };
    let number = i64::try_from(issue.number).unwrap_or(i64::MAX);
    let entry =
        (link.as_ref().and_then(|link| link.number) != Some(number)).then(|| TimelineEntry {
            at: now,
            actor: None,
            kind: TimelineKind::TrackingIssue,
            detail: format!("tracking issue {tracking_repository}#{}", issue.number),
        });
    let note = format!(
        "{} tracking issue {tracking_repository}#{}",
        if created { "opened" } else { "updated" },
        issue.number
    );
    let open = TrackingLink {
        status: TrackingStatus::Open,
        repository: Some(tracking_repository),
        number: Some(number),
        url: Some(issue.html_url),
        detail: None,
        synced_revision: row.revision,
        updated_at: now,
    };
    finish(channels, job_id, incident_id, Some(open), entry).await?;
    Ok(note)
}

/// Records what happened and completes the job, in one durable commit.
async fn finish(
    channels: &Channels,
    job_id: i64,
    incident_id: i64,
    link: Option<TrackingLink>,
    entry: Option<TimelineEntry>,
) -> Result<String, ChannelError> {
    let mut work = channels.store.begin_durable().await?;
    if let Some(link) = &link {
        work.save_tracking_link(incident_id, link).await?;
    }
    if let Some(entry) = entry {
        work.append_timeline(incident_id, &[entry], None).await?;
    }
    work.complete_jobs(&[job_id]).await?;
    work.commit().await?;
    Ok("tracking issue up to date".to_owned())
}
