//! A product incident opens one private issue in the operator's `intake_repository`
//! (found again by its marker after a lost answer), and each source that announces it
//! later is added there once, as a comment.

use super::intake::{Place, issue_once, private, private_repository};
use super::record::Write;
use super::{ChannelError, Channels, Record};
use crate::drafts::{product_issue, product_sources_comment};
use crate::incident::ProductIncidentId;
use crate::markers::marker;

/// The labels of a product incident's issue; the second finds it again.
const LABELS: [&str; 2] = ["security", "upstream"];

/// Opens incident `id`'s issue, or adds the sources not named there yet.
pub(super) async fn sync(
    channels: &Channels,
    id: ProductIncidentId,
    first_try: bool,
) -> Result<Record, ChannelError> {
    let Some(row) = channels.store.product_incident(id).await? else {
        return Ok(Record::note("product incident gone"));
    };
    let what = format!("product incident {id}");
    let sightings = &row.incident.sightings;
    // Sources told later go to the issue where it is, wherever intake_repository points now.
    let (repository, number, url) = match row.issue {
        Some((repository, number, url)) => {
            let new = &sightings[row.told.min(sightings.len())..];
            if new.is_empty() {
                return Ok(Record::note("every source is on the issue"));
            }
            let api = private(channels, &repository, &what).await?;
            let body = product_sources_comment(&row.incident, new);
            api.create_comment(&repository, number, &body).await?;
            (repository, number, url)
        }
        None => {
            let (repository, api) = private_repository(channels, &what).await?;
            let marker = marker::product(id);
            let place = Place {
                api: &api,
                repository: &repository,
                labels: &LABELS,
                marker: &marker,
            };
            let text = product_issue(id, &row.incident, &marker);
            let issue = issue_once(channels, &place, first_try, text).await?;
            (repository, issue.number, issue.html_url)
        }
    };
    tracing::info!(product_incident = %id, %repository, number, "product incident issue up to date");
    Ok(
        Record::note(format!("product incident issue {repository}#{number}")).with(
            Write::ProductIssue {
                incident: id,
                issue: (repository, number, url),
                told: sightings.len(),
            },
        ),
    )
}
