//! One private tracking issue per incident, ever: created once, then rewritten in place
//! when the incident changes. Never in a public repository while the incident is embargoed.

use super::record::{Record, Write};
use super::{ChannelError, Channels, escalation};
use crate::drafts::{
    DraftView, RenderedDrafts, TrackingRecord, carry_checks, escape, render_all, tracking_issue,
};
use crate::github::Api;
use crate::github::api::{IssueInfo, NewIssue};
use crate::incident::{Audience, Incident, RepoName, TimelineEntry, TimelineKind};
use crate::markers::marker;
use crate::store::{IncidentId, IncidentRow, TrackingLink, TrackingStatus};
use chrono::Utc;

/// Creates or rewrites the incident's tracking issue. `first_try`: this job was not run
/// before, so unless an earlier revision's job was, no issue of herald's can exist that the
/// store does not know (no search for one).
pub(super) async fn sync(
    channels: &Channels,
    row: &IncidentRow,
    first_try: bool,
) -> Result<Record, ChannelError> {
    let store = &channels.store;
    let incident_id = row.id;
    let incident = &row.incident;
    let link = store.tracking_link(incident_id).await?;
    if link.as_ref().is_some_and(|link| {
        link.status == TrackingStatus::Open && link.synced_revision >= row.revision
    }) {
        return Ok(Record::note("tracking issue up to date"));
    }
    let github = channels.installation(&incident.repository).await?;
    let loaded = channels.repo_config(&github, &incident.repository).await?;
    let configured = loaded
        .config
        .tracking
        .repository
        .as_ref()
        .unwrap_or(&incident.repository);
    // An incident's report stays where it was opened: whoever can push the configuration
    // would otherwise choose who reads it next. The issue says what the file names now.
    let kept = link
        .as_ref()
        .filter(|link| link.status == TrackingStatus::Open && link.number.is_some())
        .and_then(|link| link.repository.as_ref())
        .filter(|opened| *opened != configured);
    let tracking_repository = kept.unwrap_or(configured);
    let audience = audience_of(&loaded.config, channels.chat.is_some());
    let embargoed = !incident.published_on_github();
    let now = Utc::now();

    // Where the tracking issue may go matters only while the incident is secret.
    // Only `private` keeps the report among those the repository's owners chose: an
    // `internal` repository is read by the whole enterprise.
    let exposed = if embargoed {
        Some(github.repository(tracking_repository).await?)
            .map(|info| info.visibility().to_owned())
            .filter(|visibility| visibility != "private")
    } else {
        None
    };
    if let Some(visibility) = exposed {
        let detail = format!(
            "herald will not open the tracking issue in {tracking_repository}: that repository \
             is {} and the incident is under embargo. Set `tracking.repository` in \
             .github/herald.yml to a private repository.",
            escape::markdown_line(&visibility)
        );
        tracing::warn!(
            incident = %incident.ghsa_id,
            repository = %incident.repository,
            tracking_repository = %tracking_repository,
            "refused to open a tracking issue in a repository that is not private"
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
        let note = format!("refused: {tracking_repository} is {visibility}");
        let refused = TrackingLink {
            status: TrackingStatus::Refused,
            repository: Some(tracking_repository.clone()),
            number: link.as_ref().and_then(|link| link.number),
            url: link.as_ref().and_then(|link| link.url.clone()),
            detail: Some(detail),
            synced_revision: row.revision,
            drafts_comment_id: link.as_ref().and_then(|link| link.drafts_comment_id),
            audience: link.as_ref().and_then(|link| link.audience.clone()),
            updated_at: now,
        };
        return Ok(recorded(note, incident_id, refused, entry));
    }

    let (drafts, template_errors) = channels.templates(&github, &incident.repository).await?;
    let timeline = store.timeline_entries(incident_id).await?;
    let mut review = render_all(&drafts, &DraftView::new(incident, &timeline, None));
    review
        .drafts
        .extend(crate::drafts::osv::osv_draft(incident));
    let problems: Vec<String> = loaded
        .error
        .iter()
        .cloned()
        .chain(channels.unconfigured(&loaded.config))
        .chain(
            template_errors
                .iter()
                .chain(&review.errors)
                .map(ToString::to_string),
        )
        .collect();
    let problems = (!problems.is_empty()).then(|| problems.join("; "));
    let sla = loaded.config.sla.policy();
    let published = store.channel_urls(incident_id).await?;
    let record = TrackingRecord {
        timeline: &timeline,
        published: &published,
    };
    let rendered = match tracking_issue(
        &drafts,
        incident,
        &record,
        &loaded.config.labels,
        &sla,
        problems.as_deref(),
    ) {
        Ok(rendered) => rendered,
        // A broken override of the tracking issue itself: the shipped one, with the error.
        Err(error) => tracking_issue(
            &channels.drafts,
            incident,
            &record,
            &loaded.config.labels,
            &sla,
            Some(&format!(
                "{}{error}",
                problems.map(|p| p + "; ").unwrap_or_default()
            )),
        )?,
    };
    let marker = marker::tracking_issue(&incident.repository, &incident.ghsa_id);
    let known_number = link
        .as_ref()
        .filter(|link| link.repository.as_deref() == Some(tracking_repository.as_str()))
        .and_then(|link| link.number)
        .and_then(|number| u64::try_from(number).ok());
    let existing = match known_number {
        Some(number) => Some(github.issue(tracking_repository, number).await?),
        // The first revision's job, run for the first time: nothing was created yet.
        None if first_try && row.revision == 1 => None,
        // Not recorded: perhaps created just before a crash. Look for herald's marker.
        None => {
            github
                .find_issue(
                    tracking_repository,
                    &loaded.config.labels.security,
                    &marker,
                    channels.app_bot(),
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
                        .edit_issue(tracking_repository, issue.number, &rendered.title, &body)
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
                    .add_labels(tracking_repository, issue.number, &missing)
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
                    .remove_label(tracking_repository, issue.number, stale)
                    .await?;
            }
            (issue, false)
        }
        None => {
            let issue = github
                .create_issue(
                    tracking_repository,
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
    // The coordinator speaks for the response: the issue is theirs.
    if let Some(coordinator) = incident
        .decisions
        .coordinator
        .as_ref()
        .filter(|coordinator| !issue.is_assigned(coordinator))
    {
        github
            .add_assignees(
                tracking_repository,
                issue.number,
                std::slice::from_ref(coordinator),
            )
            .await?;
    }
    // A fresh issue has no comments to look through.
    let known_comment = if created {
        KnownComment::NoneYet
    } else {
        KnownComment::Maybe(link.as_ref().and_then(|link| link.drafts_comment_id))
    };
    let drafts_comment_id = show_drafts(
        &github,
        tracking_repository,
        &issue,
        known_comment,
        incident,
        &review,
        channels.app_bot(),
    )
    .await?;
    let issue_number = issue.number;
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
        repository: Some(tracking_repository.clone()),
        number: Some(number),
        url: Some(issue.html_url),
        detail: None,
        synced_revision: row.revision,
        drafts_comment_id: Some(drafts_comment_id),
        audience: Some(audience.clone()),
        updated_at: now,
    };
    let stored: Vec<(String, String)> = review
        .drafts
        .into_iter()
        .map(|draft| (draft.name.to_owned(), draft.text))
        .collect();
    let mut record = Record::note(note).with(Write::Drafts {
        incident: incident_id,
        drafts: stored,
    });
    let shown = link.as_ref().and_then(|link| link.audience.as_ref());
    if let Some(said) = audience.shown_after(shown) {
        // Said on the issue now, before the new audience is recorded and can be mailed.
        if let Some(shown) = shown {
            let comment = audience_changed(
                &github,
                &loaded,
                (incident_id, row.revision),
                (tracking_repository, issue_number),
                &audience.changes_from(shown),
            )
            .await?;
            super::maintainer::post_comment(channels, &comment).await?;
        }
        record = record.with_timeline(
            incident_id,
            TimelineEntry {
                at: now,
                actor: None,
                kind: TimelineKind::Updated,
                detail: said,
            },
        );
    }
    if let Some(kept) = kept {
        let said = kept_notice(configured, kept);
        if !timeline.iter().any(|entry| entry.detail == said) {
            let (job, key) = tracking_kept(
                &github,
                &loaded,
                incident_id,
                (configured, kept),
                issue_number,
            )
            .await?;
            record.push(Write::Job { job, key, at: None });
            record = record.with_timeline(
                incident_id,
                TimelineEntry {
                    at: now,
                    actor: None,
                    kind: TimelineKind::TrackingIssue,
                    detail: said,
                },
            );
        }
    }
    for reminder in escalation::schedule(incident_id, incident, &sla, now) {
        record.push(Write::Job {
            job: reminder.job,
            key: reminder.key,
            at: Some(reminder.at),
        });
    }
    Ok(recorded(record, incident_id, open, entry))
}

/// Who receives the incident's text by mail or chat under `config`: the `notify:` and
/// every severity's `escalation:` addresses, and the chat when it quotes the summary.
fn audience_of(config: &crate::repo_config::RepoConfig, chat_configured: bool) -> Audience {
    use crate::repo_config::EscalationTarget;
    let escalation = &config.escalation;
    let addresses = config
        .notify
        .iter()
        .chain(&escalation.critical)
        .chain(&escalation.high)
        .chain(&escalation.medium)
        .chain(&escalation.low)
        .filter_map(|target| match target {
            EscalationTarget::Email(address) => Some(address.as_str()),
            EscalationTarget::GitHub(_) => None,
        });
    let chat_summary = chat_configured
        && config
            .channels
            .chat
            .as_ref()
            .is_some_and(|chat| chat.include_summary);
    Audience::new(addresses, chat_summary)
}

/// Where and by whom the repository's configuration was last changed, in words.
async fn last_change(github: &Api, loaded: &super::LoadedConfig) -> Result<String, ChannelError> {
    let Some(source) = &loaded.source else {
        return Ok("by removing the configuration".to_owned());
    };
    let commit = github
        .last_commit(source, crate::repo_config::REPO_CONFIG_PATH)
        .await?;
    Ok(match commit {
        Some(commit) => format!(
            "in commit {} of {source}, pushed by {}",
            commit.sha.chars().take(12).collect::<String>(),
            commit.author.map_or_else(
                || "an account GitHub does not know".to_owned(),
                |user| user.login
            )
        ),
        None => format!("in {source}"),
    })
}

/// The comment that shows, before it applies, what changed in who receives the incident's
/// text by mail or chat, in which commit and by whom.
async fn audience_changed(
    github: &Api,
    loaded: &super::LoadedConfig,
    (incident_id, revision): (IncidentId, i64),
    (repository, issue): (&RepoName, u64),
    changes: &[String],
) -> Result<crate::jobs::PendingComment, ChannelError> {
    let changed = last_change(github, loaded).await?;
    let key = crate::markers::key::reply(&format!("audience:{incident_id}:{revision}"));
    let marker = crate::markers::marker::reply(&key);
    let listed: String = changes
        .iter()
        .map(|change| format!("- {}\n", escape::markdown_line(change)))
        .collect();
    let body = format!(
        "**Who receives this incident's text changed** ({}):\n\n{listed}\nFrom now on herald \
         mails and quotes to what this issue shows. If the change is not the security \
         team's, revert it in `.github/herald.yml`.\n\n{marker}",
        escape::markdown_line(&changed)
    );
    Ok(crate::jobs::PendingComment {
        repository: repository.clone(),
        issue,
        body,
        marker,
    })
}

/// The timeline's words for a tracking issue kept where it is.
fn kept_notice(configured: &RepoName, kept: &RepoName) -> String {
    format!("tracking.repository now names {configured}; the tracking issue stays in {kept}")
}

/// The comment that tells the incident's people that the configuration names another
/// tracking repository, in which commit and by whom, and that this report stays.
async fn tracking_kept(
    github: &Api,
    loaded: &super::LoadedConfig,
    incident_id: IncidentId,
    (configured, kept): (&RepoName, &RepoName),
    issue: u64,
) -> Result<(crate::jobs::Job, String), ChannelError> {
    let changed = last_change(github, loaded).await?;
    let marker = crate::markers::marker::tracking_kept(incident_id, configured);
    let body = format!(
        "**The tracking repository changed.** `.github/herald.yml` now names {} as \
         `tracking.repository` ({}). This incident's report stays here, in {}: herald never \
         moves an open incident to another repository, since whoever can push that file \
         would choose who reads it. New incidents go to {}; if that is not what the security \
         team intended, revert the change.\n\n{marker}",
        escape::markdown_line(configured),
        escape::markdown_line(&changed),
        escape::markdown_line(kept),
        escape::markdown_line(configured),
    );
    let job = crate::jobs::Job::PostComment(crate::jobs::PendingComment {
        repository: kept.clone(),
        issue,
        body,
        marker,
    });
    let key =
        crate::markers::key::reply(&crate::markers::key::tracking_kept(incident_id, configured));
    Ok((job, key))
}

/// `record` with the tracking issue's link and, when something new happened, a timeline
/// entry.
fn recorded(
    record: impl Into<Record>,
    incident_id: IncidentId,
    link: TrackingLink,
    entry: Option<TimelineEntry>,
) -> Record {
    let record = record.into().with(Write::TrackingLink {
        incident: incident_id,
        link,
    });
    match entry {
        Some(entry) => record.with_timeline(incident_id, entry),
        None => record,
    }
}

/// GitHub's limit on a comment's length, with room for the frame.
const MAX_COMMENT_CHARS: usize = 60_000;

/// The review comment: every draft in a collapsed section, exactly as it will go out.
fn review_comment(incident: &Incident, review: &RenderedDrafts) -> String {
    let marker = marker::drafts_comment(&incident.repository, &incident.ghsa_id);
    let mut body = format!(
        "{marker}\n### Drafts for review\n\nThese are the texts herald will publish when the \
         advisory is disclosed, rendered from the incident as it is now. They are private \
         until then. `herald drafts {}` prints them in full.\n",
        &incident.ghsa_id
    );
    let share = MAX_COMMENT_CHARS / review.drafts.len().max(1);
    for draft in &review.drafts {
        let mut text: String = draft.text.chars().take(share).collect();
        if text.len() < draft.text.len() {
            text.push_str("\n… (cut here; the draft is longer)");
        }
        // A fence longer than any run of tildes in the draft cannot be closed by it.
        let longest = text.split(|c| c != '~').map(str::len).max().unwrap_or(0);
        let fence = "~".repeat(longest.max(2) + 1);
        body.push_str(&format!(
            "\n<details><summary>{}</summary>\n\n{fence}\n{}\n{fence}\n\n</details>\n",
            draft.name,
            text.trim_end()
        ));
    }
    if !review.errors.is_empty() {
        body.push_str("\n#### Template problems\n\n");
        for error in &review.errors {
            body.push_str(&format!(
                "- {}\n",
                escape::markdown_line(&error.to_string())
            ));
        }
    }
    body
}

/// What is known of the drafts comment before looking.
enum KnownComment {
    /// The issue was just created.
    NoneYet,
    /// Perhaps there is one; its id when recorded.
    Maybe(Option<i64>),
}

/// Shows the drafts in one comment on the tracking issue, edited in place; returns its id.
async fn show_drafts(
    github: &Api,
    repository: &RepoName,
    issue: &IssueInfo,
    known: KnownComment,
    incident: &Incident,
    review: &RenderedDrafts,
    app_bot: Option<&str>,
) -> Result<i64, ChannelError> {
    let body = review_comment(incident, review);
    let marker = body.lines().next().unwrap_or_default().to_owned();
    let (comments, known) = match known {
        KnownComment::NoneYet => (Vec::new(), None),
        KnownComment::Maybe(known) => (github.comments(repository, issue.number).await?, known),
    };
    let existing = comments.iter().find(|comment| {
        known.is_some_and(|id| i64::try_from(comment.id).ok() == Some(id))
            || comment.is_heralds(&marker, app_bot)
    });
    let id = match existing {
        Some(comment) if comment.body.as_deref() == Some(body.as_str()) => comment.id,
        Some(comment) => github.edit_comment(repository, comment.id, &body).await?.id,
        None => {
            github
                .create_comment(repository, issue.number, &body)
                .await?
                .id
        }
    };
    Ok(i64::try_from(id).unwrap_or(i64::MAX))
}
