//! One private tracking issue per incident, ever: created once, then rewritten in place
//! when the incident changes. Never in a public repository while the incident is embargoed.

use super::record::{Record, Write};
use super::{ChannelError, Channels, LoadedConfig, escalation};
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
    let link = channels.store.tracking_link(row.id).await?;
    if link.as_ref().is_some_and(|link| {
        link.status == TrackingStatus::Open && link.synced_revision >= row.revision
    }) {
        return Ok(Record::note("tracking issue up to date"));
    }
    let incident = &row.incident;
    let github = channels.installation(&incident.repository).await?;
    let loaded = channels.repo_config(&github, &incident.repository).await?;
    let sync = Sync {
        channels,
        row,
        target: Target::of(link.as_ref(), &loaded, incident),
        link,
        github,
        loaded,
        now: Utc::now(),
    };
    // Where the tracking issue may go matters only while the incident is secret.
    if !incident.published_on_github()
        && let Some(visibility) = sync.exposure().await?
    {
        return Ok(sync.refused(&visibility));
    }
    sync.write(first_try).await
}

/// Where the tracking issue goes: the repository the configuration names (or the
/// advisory's own), unless the incident's open issue is elsewhere already.
struct Target {
    configured: RepoName,
    /// An incident's report stays where it was opened: whoever can push the configuration
    /// would otherwise choose who reads it next. The issue says what the file names now.
    kept: Option<RepoName>,
}

impl Target {
    fn of(link: Option<&TrackingLink>, loaded: &LoadedConfig, incident: &Incident) -> Target {
        let configured = loaded
            .config
            .tracking
            .repository
            .clone()
            .unwrap_or_else(|| incident.repository.clone());
        let kept = link
            .filter(|link| link.status == TrackingStatus::Open && link.number.is_some())
            .and_then(|link| link.repository.clone())
            .filter(|opened| *opened != configured);
        Target { configured, kept }
    }

    fn repository(&self) -> &RepoName {
        self.kept.as_ref().unwrap_or(&self.configured)
    }
}

/// One run of [`sync`]: what it read before writing.
struct Sync<'a> {
    channels: &'a Channels,
    row: &'a IncidentRow,
    link: Option<TrackingLink>,
    target: Target,
    github: Api,
    loaded: LoadedConfig,
    now: chrono::DateTime<Utc>,
}

/// What the tracking issue shows, rendered.
struct Rendered {
    /// The drafts of every channel, for the drafts comment and the store.
    review: RenderedDrafts,
    issue: crate::drafts::TrackingIssue,
    timeline: Vec<TimelineEntry>,
}

impl Sync<'_> {
    /// The target repository's visibility when it is not private. Only `private` keeps the
    /// report among those the repository's owners chose: an `internal` repository is read
    /// by the whole enterprise.
    async fn exposure(&self) -> Result<Option<String>, ChannelError> {
        let info = self.github.repository(self.target.repository()).await?;
        Ok(Some(info.visibility().to_owned()).filter(|visibility| visibility != "private"))
    }

    /// The refusal to open the tracking issue in a repository that is `visibility`, said
    /// once on the timeline.
    fn refused(&self, visibility: &str) -> Record {
        let incident = &self.row.incident;
        let repository = self.target.repository();
        let detail = format!(
            "herald will not open the tracking issue in {repository}: that repository \
             is {} and the incident is under embargo. Set `tracking.repository` in \
             .github/herald.yml to a private repository.",
            escape::markdown_line(visibility)
        );
        tracing::warn!(
            incident = %incident.ghsa_id,
            repository = %incident.repository,
            tracking_repository = %repository,
            "refused to open a tracking issue in a repository that is not private"
        );
        let link = self.link.as_ref();
        let newly = link.is_none_or(|link| link.detail.as_deref() != Some(detail.as_str()));
        let entry = newly.then(|| self.entry(TimelineKind::TrackingIssue, detail.clone()));
        let note = format!("refused: {repository} is {visibility}");
        let refused = TrackingLink {
            status: TrackingStatus::Refused,
            repository: Some(repository.clone()),
            number: link.and_then(|link| link.number),
            url: link.and_then(|link| link.url.clone()),
            detail: Some(detail),
            synced_revision: self.row.revision,
            drafts_comment_id: link.and_then(|link| link.drafts_comment_id),
            audience: link.and_then(|link| link.audience.clone()),
            updated_at: self.now,
        };
        recorded(note, self.row.id, refused, entry)
    }

    fn entry(&self, kind: TimelineKind, detail: String) -> TimelineEntry {
        TimelineEntry {
            at: self.now,
            actor: None,
            kind,
            detail,
        }
    }

    /// Opens or rewrites the issue, shows the drafts on it, and records what was done.
    async fn write(&self, first_try: bool) -> Result<Record, ChannelError> {
        let rendered = self.render().await?;
        let (issue, created) = match self.existing(first_try).await? {
            Some(issue) => (self.update(issue, &rendered.issue).await?, false),
            None => (self.create(&rendered.issue).await?, true),
        };
        self.assign_coordinator(&issue).await?;
        // A fresh issue has no comments to look through.
        let known_comment = if created {
            KnownComment::NoneYet
        } else {
            KnownComment::Maybe(self.link.as_ref().and_then(|link| link.drafts_comment_id))
        };
        let drafts_comment_id = show_drafts(
            &self.github,
            self.target.repository(),
            &issue,
            known_comment,
            &self.row.incident,
            &rendered.review,
            self.channels.app_bot(),
        )
        .await?;
        self.record(issue, created, drafts_comment_id, rendered)
            .await
    }

    /// The drafts and the tracking issue, from the repository's templates; a broken
    /// override of the tracking issue itself gets the shipped one, with the error.
    async fn render(&self) -> Result<Rendered, ChannelError> {
        let (channels, incident) = (self.channels, &self.row.incident);
        let (drafts, template_errors) = channels
            .templates(&self.github, &incident.repository)
            .await?;
        let timeline = channels.store.timeline_entries(self.row.id).await?;
        let mut review = render_all(&drafts, &DraftView::new(incident, &timeline, None));
        review.withhold_refused(&template_errors);
        review
            .drafts
            .extend(crate::drafts::osv::osv_draft(incident));
        let problems: Vec<String> = self
            .loaded
            .error
            .iter()
            .cloned()
            .chain(channels.unconfigured(&self.loaded.config))
            .chain(
                template_errors
                    .iter()
                    .filter(|error| !review.errors.contains(error))
                    .chain(&review.errors)
                    .map(ToString::to_string),
            )
            .collect();
        let problems = (!problems.is_empty()).then(|| problems.join("; "));
        let sla = self.loaded.config.sla.policy();
        let published = channels.store.channel_urls(self.row.id).await?;
        let record = TrackingRecord {
            timeline: &timeline,
            published: &published,
        };
        let labels = &self.loaded.config.labels;
        let issue = match tracking_issue(
            &drafts,
            incident,
            &record,
            labels,
            &sla,
            problems.as_deref(),
        ) {
            Ok(issue) => issue,
            Err(error) => {
                let problems = format!("{}{error}", problems.map(|p| p + "; ").unwrap_or_default());
                tracking_issue(
                    &channels.drafts,
                    incident,
                    &record,
                    labels,
                    &sla,
                    Some(&problems),
                )?
            }
        };
        Ok(Rendered {
            review,
            issue,
            timeline,
        })
    }

    /// The incident's issue as GitHub has it, where one exists.
    async fn existing(&self, first_try: bool) -> Result<Option<IssueInfo>, ChannelError> {
        let repository = self.target.repository();
        let known_number = self
            .link
            .as_ref()
            .filter(|link| link.repository.as_ref() == Some(repository))
            .and_then(|link| link.number)
            .and_then(|number| u64::try_from(number).ok());
        Ok(match known_number {
            Some(number) => Some(self.github.issue(repository, number).await?),
            // The first revision's job, run for the first time: nothing was created yet.
            None if first_try && self.row.revision == 1 => None,
            // Not recorded: perhaps created just before a crash. Look for herald's marker.
            None => {
                let incident = &self.row.incident;
                let marker = marker::tracking_issue(&incident.repository, &incident.ghsa_id);
                let security = &self.loaded.config.labels.security;
                let bot = self.channels.app_bot();
                self.github
                    .find_issue(repository, security, &marker, bot)
                    .await?
            }
        })
    }

    /// Rewrites the issue where it differs (keeping the maintainers' ticks) and brings
    /// herald's labels up to date; labels herald does not set are the maintainers'.
    async fn update(
        &self,
        issue: IssueInfo,
        rendered: &crate::drafts::TrackingIssue,
    ) -> Result<IssueInfo, ChannelError> {
        let repository = self.target.repository();
        let body = carry_checks(issue.body.as_deref().unwrap_or(""), &rendered.body);
        let issue = if issue.body.as_deref() != Some(body.as_str()) || issue.title != rendered.title
        {
            self.github
                .edit_issue(repository, issue.number, &rendered.title, &body)
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
            self.github
                .add_labels(repository, issue.number, &missing)
                .await?;
        }
        let names = &self.loaded.config.labels;
        for stale in current.iter().filter(|label| {
            (label.starts_with(&names.severity_prefix)
                || label.starts_with(&names.threat_prefix)
                || **label == names.incident)
                && !rendered.labels.contains(label)
        }) {
            self.github
                .remove_label(repository, issue.number, stale)
                .await?;
        }
        Ok(issue)
    }

    async fn create(
        &self,
        rendered: &crate::drafts::TrackingIssue,
    ) -> Result<IssueInfo, ChannelError> {
        let new = NewIssue {
            title: &rendered.title,
            body: &rendered.body,
            labels: &rendered.labels,
            assignees: &self.loaded.config.tracking.assignees,
        };
        Ok(self
            .github
            .create_issue(self.target.repository(), &new)
            .await?)
    }

    /// The coordinator speaks for the response: the issue is theirs.
    async fn assign_coordinator(&self, issue: &IssueInfo) -> Result<(), ChannelError> {
        let decisions = &self.row.incident.decisions;
        if let Some(coordinator) = decisions
            .coordinator
            .as_ref()
            .filter(|coordinator| !issue.is_assigned(coordinator))
        {
            self.github
                .add_assignees(
                    self.target.repository(),
                    issue.number,
                    std::slice::from_ref(coordinator),
                )
                .await?;
        }
        Ok(())
    }

    /// What the sync did: the link, the drafts, the timeline's entries, and the jobs that
    /// follow (a changed audience said first, a kept repository's notice, the reminders).
    async fn record(
        &self,
        issue: IssueInfo,
        created: bool,
        drafts_comment_id: i64,
        rendered: Rendered,
    ) -> Result<Record, ChannelError> {
        let (incident_id, repository) = (self.row.id, self.target.repository());
        let number = i64::try_from(issue.number).unwrap_or(i64::MAX);
        let moved = self.link.as_ref().and_then(|link| link.number) != Some(number);
        let detail = format!("tracking issue {repository}#{}", issue.number);
        let entry = moved.then(|| self.entry(TimelineKind::TrackingIssue, detail));
        let done = if created { "opened" } else { "updated" };
        let note = format!("{done} tracking issue {repository}#{}", issue.number);
        let audience = audience_of(&self.loaded.config, self.channels.chat.is_some());
        let open = TrackingLink {
            status: TrackingStatus::Open,
            repository: Some(repository.clone()),
            number: Some(number),
            url: Some(issue.html_url),
            detail: None,
            synced_revision: self.row.revision,
            drafts_comment_id: Some(drafts_comment_id),
            audience: Some(audience.clone()),
            updated_at: self.now,
        };
        let stored: Vec<(String, String)> = rendered
            .review
            .drafts
            .into_iter()
            .map(|draft| (draft.name.to_owned(), draft.text))
            .collect();
        let mut record = Record::note(note).with(Write::Drafts {
            incident: incident_id,
            drafts: stored,
        });
        record = self
            .audience_notice(record, &audience, issue.number)
            .await?;
        record = self
            .kept_notice(record, &rendered.timeline, issue.number)
            .await?;
        let sla = self.loaded.config.sla.policy();
        for reminder in escalation::schedule(incident_id, &self.row.incident, &sla, self.now) {
            record.push(Write::Job {
                job: reminder.job,
                key: reminder.key,
                at: Some(reminder.at),
            });
        }
        Ok(recorded(record, incident_id, open, entry))
    }

    /// A change in who receives the incident's text, said on the issue now, before the
    /// new audience is recorded and can be mailed.
    async fn audience_notice(
        &self,
        record: Record,
        audience: &Audience,
        issue: u64,
    ) -> Result<Record, ChannelError> {
        let shown = self.link.as_ref().and_then(|link| link.audience.as_ref());
        let Some(said) = audience.shown_after(shown) else {
            return Ok(record);
        };
        if let Some(shown) = shown {
            let comment = audience_changed(
                &self.github,
                &self.loaded,
                (self.row.id, self.row.revision),
                (self.target.repository(), issue),
                &audience.changes_from(shown),
            )
            .await?;
            super::maintainer::post_comment(self.channels, &comment).await?;
        }
        Ok(record.with_timeline(self.row.id, self.entry(TimelineKind::Updated, said)))
    }

    /// Once, when the configuration names another repository than the one the open issue
    /// is kept in: said on the timeline and the issue.
    async fn kept_notice(
        &self,
        mut record: Record,
        timeline: &[TimelineEntry],
        issue: u64,
    ) -> Result<Record, ChannelError> {
        let Some(kept) = &self.target.kept else {
            return Ok(record);
        };
        let configured = &self.target.configured;
        let said = kept_notice(configured, kept);
        if timeline.iter().any(|entry| entry.detail == said) {
            return Ok(record);
        }
        let (job, key) = tracking_kept(
            &self.github,
            &self.loaded,
            self.row.id,
            (configured, kept),
            issue,
        )
        .await?;
        record.push(Write::Job { job, key, at: None });
        Ok(record.with_timeline(self.row.id, self.entry(TimelineKind::TrackingIssue, said)))
    }
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
