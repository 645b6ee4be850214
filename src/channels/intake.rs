//! A report mailed to the security team opens one private issue in the operator's
//! `intake_repository`, ever: never in a repository GitHub does not call private, and
//! found again by its marker when herald stopped between creating it and recording it.

use super::record::Write;
use super::{ChannelError, Channels, Record};
use crate::drafts::{IntakeFacts, intake_issue};
use crate::github::Api;
use crate::github::api::{IssueInfo, NewIssue};
use crate::incident::RepoName;
use crate::intake::{IntakeId, Letter};
use crate::markers::marker;
use crate::store::{IntakeRow, IntakeState};

/// The labels of an intake's issue; the second finds it again.
const LABELS: [&str; 2] = ["security", "intake"];

/// Opens intake `id`'s issue, unless it has one.
pub(super) async fn open(
    channels: &Channels,
    id: IntakeId,
    first_try: bool,
) -> Result<Record, ChannelError> {
    let Some(row) = channels.store.intake(id).await? else {
        return Ok(Record::note("intake gone"));
    };
    if row.state != IntakeState::New {
        return Ok(Record::note("intake issue opened before"));
    }
    let repository = channels.intake.repository.clone().ok_or_else(|| {
        ChannelError::Unconfigured(
            "no intake_repository is set: herald keeps mailed reports and opens their issues \
             there; set it to a private repository, then `herald jobs retry` this job"
                .to_owned(),
        )
    })?;
    let api = channels.installation(&repository).await?;
    let visibility = api.repository(&repository).await?.visibility().to_owned();
    if visibility != "private" {
        tracing::error!(intake = %id, %repository, "refused to open an intake issue in a repository that is not private");
        return Err(ChannelError::NotAllowed(format!(
            "herald will not open intake {id}'s issue in {repository}: that repository is \
             {visibility}, and the report is secret. Set intake_repository to a private \
             repository, then `herald jobs retry` this job."
        )));
    }
    let marker = marker::intake(id);
    let issue = match first_try {
        true => None,
        false => {
            api.find_issue(&repository, LABELS[1], &marker, channels.app_bot())
                .await?
        }
    };
    let issue = match issue {
        Some(issue) => issue,
        None => create(channels, &api, (&repository, &marker), &row).await?,
    };
    tracing::info!(intake = %id, %repository, number = issue.number, "intake issue open");
    Ok(
        Record::note(format!("intake issue {repository}#{}", issue.number)).with(
            Write::IntakeIssue {
                intake: id,
                issue: (repository, issue.number, issue.html_url),
            },
        ),
    )
}

async fn create(
    channels: &Channels,
    api: &Api,
    (repository, marker): (&RepoName, &str),
    row: &IntakeRow,
) -> Result<IssueInfo, ChannelError> {
    let raw = channels
        .store
        .intake_message(row.id)
        .await?
        .unwrap_or_default();
    let letter = Letter::read(&raw);
    let facts = IntakeFacts {
        id: row.id,
        received_at: row.received_at,
        reason: row.reason.as_deref(),
        marker,
    };
    let (title, body) = intake_issue(&facts, &letter);
    let labels = LABELS.map(str::to_owned);
    let issue = NewIssue {
        title: &title,
        body: &body,
        labels: &labels,
        assignees: &[],
    };
    Ok(api.create_issue(repository, &issue).await?)
}
