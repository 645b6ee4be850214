//! The public channels on GitHub: the CHANGELOG pull request (and one backport pull
//! request per supported release branch) and the public advisory issue. Each takes a
//! [`Disclosed`] incident, which only the embargo gate hands out.

use super::gate::{self, Disclosed};
use super::{ChannelError, Channels, LoadedConfig};
use crate::drafts::{
    ADVISORY_ISSUE, CHANGELOG_ENTRY, DraftError, DraftView, changelog, escape, render_all,
};
use crate::github::Api;
use crate::github::api::NewIssue;
use crate::incident::{TimelineEntry, TimelineKind};
use crate::store::JobKind;
use chrono::Utc;

/// GitHub's limit on titles.
const MAX_TITLE_CHARS: usize = 256;

/// Runs one public job: through the gate, then the channel; records the result.
pub(super) async fn publish(
    channels: &Channels,
    job_id: i64,
    incident_id: i64,
    kind: JobKind,
) -> Result<String, ChannelError> {
    let Some(row) = channels.store.incident(incident_id).await? else {
        return super::maintainer::complete(channels, job_id).await;
    };
    let now = Utc::now();
    let (detail, note) = match gate::check(&row.incident, now) {
        Err(reason) => {
            tracing::warn!(incident = %row.incident.ghsa_id, job = job_id, "embargo gate refused a public channel");
            (
                Some(format!("embargo gate: {} refused, {reason}", kind.as_str())),
                "refused by the embargo gate".to_owned(),
            )
        }
        Ok(disclosed) => {
            let api = channels.installation(&row.incident.repository).await?;
            let loaded = channels.repo_config(&api, &row.incident.repository).await?;
            match kind {
                JobKind::AdvisoryIssue if !loaded.config.advisory_issue.enabled => (
                    None,
                    "advisory issue turned off in the configuration".to_owned(),
                ),
                JobKind::AdvisoryIssue => {
                    advisory_issue(channels, &api, &loaded, &disclosed).await?
                }
                _ => changelog_prs(channels, &api, &loaded, &disclosed).await?,
            }
        }
    };
    let mut work = channels.store.begin_durable().await?;
    if let Some(detail) = detail {
        work.append_timeline(
            incident_id,
            &[TimelineEntry {
                at: now,
                actor: None,
                kind: TimelineKind::Publication,
                detail,
            }],
            None,
        )
        .await?;
    }
    work.complete_jobs(&[job_id]).await?;
    work.commit().await?;
    Ok(note)
}

/// A title GitHub accepts: one plain line, at most its length limit.
fn title(text: &str) -> String {
    escape::plain_line(text)
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect()
}

/// The branch of the CHANGELOG pull request into the base branch.
fn security_branch(ghsa_id: &str) -> String {
    format!("herald/security/{}", escape::file_name(ghsa_id))
}

/// The branch of the pull request into `target`: the security branch, or for a backport
/// into another release branch, the security branch with that branch's name appended.
fn branch_for(ghsa_id: &str, target: &str, base: &str) -> String {
    if target == base {
        security_branch(ghsa_id)
    } else {
        format!("{}-{}", security_branch(ghsa_id), escape::file_name(target))
    }
}

/// One draft, or the error that kept it from rendering (the job is retried after a fix).
fn rendered(
    drafts: &crate::drafts::Drafts,
    view: &DraftView,
    name: &str,
) -> Result<String, ChannelError> {
    let all = render_all(drafts, view);
    if let Some(error) = all.errors.into_iter().next() {
        return Err(error.into());
    }
    all.drafts
        .into_iter()
        .find(|draft| draft.name == name)
        .map(|draft| draft.text)
        .ok_or_else(|| {
            ChannelError::Draft(DraftError::Unknown {
                name: name.to_owned(),
                known: String::new(),
            })
        })
}

/// Opens or updates the CHANGELOG pull request into the base branch and one per backport
/// branch. Returns the timeline detail (when something new opened) and a note.
async fn changelog_prs(
    channels: &Channels,
    api: &Api,
    loaded: &LoadedConfig,
    disclosed: &Disclosed<'_>,
) -> Result<(Option<String>, String), ChannelError> {
    let incident = disclosed.incident();
    let repository = &incident.repository;
    let settings = &loaded.config.changelog;
    let (drafts, _) = channels.templates(api, repository).await?;
    let view = DraftView::new(incident, &[], None);
    let entry = rendered(&drafts, &view, CHANGELOG_ENTRY)?;
    let info = api.repository(repository).await?;
    let default = info
        .default_branch
        .clone()
        .unwrap_or_else(|| "main".to_owned());
    let base = settings
        .base_branch
        .clone()
        .unwrap_or_else(|| default.clone());
    let title = title(&format!(
        "Security: {} {}",
        incident.ghsa_id, incident.summary
    ));
    let mut opened = Vec::new();
    let mut notes = Vec::new();
    for target in std::iter::once(&base).chain(settings.backport_branches.iter()) {
        let Some(base_sha) = api.branch_sha(repository, target).await? else {
            notes.push(format!("no branch {target}"));
            continue;
        };
        let branch = branch_for(&incident.ghsa_id, target, &base);
        if api.branch_sha(repository, &branch).await?.is_none() {
            api.create_branch(repository, &branch, &base_sha).await?;
        }
        let current = api
            .file_at(repository, &settings.path, Some(&branch))
            .await?;
        let updated = changelog::insert_security_entry(
            current.as_ref().map(|file| file.text.as_str()),
            &settings.heading,
            &incident.ghsa_id,
            entry.trim_end(),
        );
        if current.as_ref().map(|file| file.text.as_str()) != Some(updated.as_str()) {
            api.put_file(
                repository,
                &settings.path,
                &branch,
                &updated,
                current.as_ref().map(|file| file.sha.as_str()),
                &format!(
                    "{}: security entry for {}",
                    settings.path,
                    escape::identifier(&incident.ghsa_id)
                ),
            )
            .await?;
        }
        let body = format!(
            "Adds the security entry for {} to `{}`:\n\n{}\n\nOpened by herald after the advisory's disclosure.",
            escape::identifier(&incident.ghsa_id),
            settings.path,
            entry.trim_end()
        );
        let existing = api
            .pulls_from(repository, &branch)
            .await?
            .into_iter()
            .find(|pull| pull.state == "open");
        match existing {
            Some(pull) => {
                if pull.title != title || pull.body.as_deref() != Some(body.as_str()) {
                    api.edit_pull(repository, pull.number, &title, &body)
                        .await?;
                }
                notes.push(format!("updated {repository}#{}", pull.number));
            }
            None => {
                let pull = api
                    .create_pull(repository, &title, &branch, target, &body)
                    .await?;
                api.add_labels(
                    repository,
                    pull.number,
                    std::slice::from_ref(&loaded.config.labels.security),
                )
                .await?;
                opened.push(format!("{repository}#{} into {target}", pull.number));
                notes.push(format!("opened {repository}#{}", pull.number));
            }
        }
    }
    let detail =
        (!opened.is_empty()).then(|| format!("CHANGELOG pull request {}", opened.join(", ")));
    Ok((detail, format!("CHANGELOG: {}", notes.join(", "))))
}

/// Opens or updates the public advisory issue in the advisory's repository.
async fn advisory_issue(
    channels: &Channels,
    api: &Api,
    loaded: &LoadedConfig,
    disclosed: &Disclosed<'_>,
) -> Result<(Option<String>, String), ChannelError> {
    let incident = disclosed.incident();
    let repository = &incident.repository;
    let (drafts, _) = channels.templates(api, repository).await?;
    let branch = security_branch(&incident.ghsa_id);
    let changelog_url = api
        .pulls_from(repository, &branch)
        .await?
        .into_iter()
        .next()
        .map(|pull| pull.html_url);
    let view = DraftView::new(incident, &[], changelog_url.as_deref());
    let marker = format!(
        "<!-- herald:advisory-issue {} -->",
        escape::identifier(&incident.ghsa_id)
    );
    let body = format!(
        "{}\n{marker}\n",
        rendered(&drafts, &view, ADVISORY_ISSUE)?.trim_end()
    );
    let title = title(&format!(
        "Security advisory {}: {}",
        incident.ghsa_id, incident.summary
    ));
    let security = &loaded.config.labels.security;
    match api.find_issue(repository, security, &marker).await? {
        Some(issue) => {
            if issue.body.as_deref() != Some(body.as_str()) || issue.title != title {
                api.edit_issue(repository, issue.number, &title, &body)
                    .await?;
            }
            Ok((
                None,
                format!("advisory issue {repository}#{} updated", issue.number),
            ))
        }
        None => {
            let issue = api
                .create_issue(
                    repository,
                    &NewIssue {
                        title: &title,
                        body: &body,
                        labels: std::slice::from_ref(security),
                        assignees: &[],
                    },
                )
                .await?;
            Ok((
                Some(format!(
                    "public advisory issue {repository}#{}",
                    issue.number
                )),
                format!("advisory issue {repository}#{} opened", issue.number),
            ))
        }
    }
}
