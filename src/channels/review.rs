//! The post-incident review, posted on the tracking issue when a maintainer closes the
//! incident: the review template rendered from the timeline, with the response measured
//! against the project's targets and the checklist items nobody ticked.

use super::record::{Record, Write};
use super::{ChannelError, Channels};
use crate::drafts::{DraftView, REVIEW, ReviewView};
use crate::incident::{TimelineEntry, TimelineKind};
use crate::markers::key;
use crate::store::{IncidentRow, TrackingLink};
use chrono::Utc;

/// The unticked `- [ ] …` items of a Markdown checklist.
fn unticked(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.trim_start().strip_prefix("- [ ] "))
        .map(|item| item.trim().to_owned())
        .collect()
}

pub(super) async fn post(
    channels: &Channels,
    job_id: i64,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    let store = &channels.store;
    let incident_id = row.id;
    let incident = &row.incident;
    let link = store.tracking_link(incident_id).await?;
    let Some((repository, number)) = link.as_ref().and_then(TrackingLink::issue) else {
        return Ok(Record::note("no tracking issue to post the review on"));
    };
    let api = channels.installation(&incident.repository).await?;
    let loaded = channels.repo_config(&api, &incident.repository).await?;
    let issue = api.issue(&repository, number).await?;
    let undone = unticked(issue.body.as_deref().unwrap_or(""));
    let drafts = channels
        .templates_for(&api, &incident.repository, &[REVIEW])
        .await?;
    let timeline = store.timeline_entries(incident_id).await?;
    let view = DraftView::new(incident, &timeline, None).with_review(ReviewView::new(
        incident,
        &loaded.config.sla.policy(),
        Some(undone),
    ));
    let review = drafts.render_draft(REVIEW, &view)?;
    let entry = TimelineEntry {
        at: Utc::now(),
        actor: None,
        kind: TimelineKind::TrackingIssue,
        detail: format!("post-incident review posted on {repository}#{number}"),
    };
    Ok(
        Record::note(format!("post-incident review for {repository}#{number}"))
            .with_timeline(incident_id, entry)
            .with(Write::Comment {
                key: key::review(&incident.ghsa_id, job_id),
                repository,
                issue: number,
                body: review,
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::unticked;

    #[test]
    fn only_unticked_items_are_left_undone() {
        let body = "#### Containment\n- [x] Prevent further exploitation\n- [ ] Notify the maintainers\n  - [ ] Nested item\n- [X] Done too\n- not a checkbox\n";
        assert_eq!(
            unticked(body),
            vec!["Notify the maintainers", "Nested item"]
        );
    }
}
