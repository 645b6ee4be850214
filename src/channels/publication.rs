//! The public channels on GitHub: the CHANGELOG pull request (and one backport pull
//! request per supported release branch), the public advisory issue, and a critical
//! incident's blog post offered to the website repository. Each takes a [`gate::Disclosed`]
//! incident, which only the embargo gate hands out.

use super::gate;
use super::post::{PostChannel, PostText, body_within, title};
use super::record::{Record, Write};
use super::{ChannelError, Channels, Publication};
use super::{announce, discussions, forum, mediawiki, wiki};
use crate::drafts::{
    ADVISORY_ISSUE, BLOG_POST, CHANGELOG_ENTRY, DraftView, changelog, escape, limits, osv,
};
use crate::github::Api;
use crate::github::api::NewIssue;
use crate::incident::{GhsaId, RepoName, Severity};
use crate::jobs::{ClaimedJob, Job, PendingComment, PublicChannel};
use crate::markers::{key, marker};
use crate::repo_config::MailingList;
use crate::store::{ChannelPost, IncidentId, IncidentRow};

/// The stored record of the CHANGELOG pull request into the base branch.
const CHANGELOG_POST: PublicChannel = PublicChannel::ChangelogPr;
/// The stored record of the public advisory issue.
const ADVISORY_ISSUE_POST: PublicChannel = PublicChannel::AdvisoryIssue;

/// Where a public job goes.
pub(super) enum Target<'a> {
    Channel(PublicChannel),
    /// The announcement to one list.
    List(&'a MailingList),
}

/// Runs one public job: through the gate, then the channel; returns what to record, with
/// the jobs it leads to (an announcement's one send per list).
pub(super) async fn publish(
    channels: &Channels,
    job: &ClaimedJob,
    row: &IncidentRow,
    target: Target<'_>,
) -> Result<Record, ChannelError> {
    let incident_id = row.id;
    let record = match gate::check(&row.incident) {
        Err(reason) => {
            tracing::warn!(incident = %row.incident.ghsa_id, job = job.id, "embargo gate refused a public channel");
            Record::publication(
                incident_id,
                Some(format!(
                    "embargo gate: {} refused, {reason}",
                    job.kind_name()
                )),
                "refused by the embargo gate",
            )
        }
        Ok(disclosed) => {
            let api = channels.installation(&row.incident.repository).await?;
            let loaded = channels.repo_config(&api, &row.incident.repository).await?;
            let publication = Publication {
                channels,
                api: &api,
                loaded: &loaded,
                disclosed: &disclosed,
                incident_id,
            };
            match target {
                Target::Channel(channel) => publish_on(&publication, channel).await?,
                Target::List(list) => announce::send(&publication, list).await?,
            }
        }
    };
    Ok(record)
}

/// The branch of the CHANGELOG pull request into the base branch.
fn security_branch(ghsa_id: &GhsaId) -> String {
    format!("herald/security/{}", escape::file_name(ghsa_id))
}

/// The branch of the pull request into `target`: the security branch, or for a backport
/// into another release branch, the security branch with that branch's name appended.
fn branch_for(ghsa_id: &GhsaId, target: &str, base: &str) -> String {
    if target == base {
        security_branch(ghsa_id)
    } else {
        format!("{}-{}", security_branch(ghsa_id), escape::file_name(target))
    }
}

/// What a post on a channel outside GitHub's issues did, for the timeline and the store.
fn post_outcome(
    incident: IncidentId,
    channel: PublicChannel,
    what: &str,
    published: Option<super::post::Published>,
) -> Record {
    match published {
        None => Record::note(format!("{what} already up to date")),
        Some(super::post::Published { post, created }) => {
            let detail = if created {
                format!("{what} {}", post.url)
            } else {
                format!("{what} updated with a reply: {}", post.url)
            };
            Record::publication(incident, Some(detail.clone()), detail).with(Write::ChannelPost {
                incident,
                channel,
                post,
            })
        }
    }
}

/// Creates or updates the incident's post on a channel outside GitHub's issues, rendered
/// from the channel's template, and records where it went.
async fn post<C: PostChannel>(
    publication: &Publication<'_>,
    target: C,
) -> Result<Record, ChannelError> {
    let Publication {
        channels,
        api,
        disclosed,
        incident_id,
        ..
    } = *publication;
    let incident = disclosed.incident();
    let known = channels
        .store
        .channel_post(incident_id, C::CHANNEL.post_name())
        .await?;
    let drafts = channels
        .templates_for(api, &incident.repository, &[C::TEMPLATE])
        .await?;
    let view = DraftView::new(incident, &[], None);
    let text = PostText {
        incident,
        title: title(&view.title),
        text: drafts.render_draft(C::TEMPLATE, &view)?,
        summary: view.summary.clone(),
    };
    let published = target.publish(&text, known.as_ref()).await?;
    Ok(post_outcome(incident_id, C::CHANNEL, C::WHAT, published))
}

/// Adds or updates the incident's GitHub wiki page. An uninitialised wiki is reported on
/// the tracking issue once and not retried (a maintainer must create its first page).
async fn wiki_page(publication: &Publication<'_>) -> Result<Record, ChannelError> {
    let Publication {
        channels,
        api,
        incident_id,
        ..
    } = *publication;
    let page = wiki::Page {
        web_url: channels.github.web_url(),
        token: api.token().await?,
    };
    match post(publication, page).await {
        Err(ChannelError::Wiki(error @ wiki::WikiError::Uninitialised(_))) => {
            let detail = error.to_string();
            let comment = match channels
                .store
                .tracking_link(incident_id)
                .await?
                .as_ref()
                .and_then(crate::store::TrackingLink::issue)
            {
                Some((repository, issue)) => {
                    let marker = marker::wiki_uninitialised(incident_id);
                    let comment = Job::PostComment(PendingComment {
                        repository,
                        issue,
                        body: format!("{}\n\n{marker}", escape::markdown(&detail)),
                        marker,
                    });
                    Some((comment, key::reply(&key::wiki_uninitialised(incident_id))))
                }
                None => None,
            };
            let record = Record::publication(incident_id, Some(detail.clone()), detail);
            Ok(match comment {
                Some((job, key)) => record.with(Write::Job { job, key, at: None }),
                None => record,
            })
        }
        other => other,
    }
}

/// File changes offered as a pull request from a herald branch.
struct Proposal<'a> {
    repository: &'a RepoName,
    /// The branch the pull request goes into.
    target: &'a str,
    branch: String,
    files: Vec<FileChange<'a>>,
    title: &'a str,
    body: String,
    label: &'a str,
}

/// Makes a file's new text from its current one (`None`: no such file yet).
type Edit<'a> = Box<dyn Fn(Option<&str>) -> String + Send + Sync + 'a>;

/// One file a proposal writes (one commit).
struct FileChange<'a> {
    path: String,
    commit_message: String,
    edit: Edit<'a>,
}

enum Proposed {
    /// The pull request's number and address.
    Opened(u64, String),
    /// The pull request's number and address.
    Updated(u64, String),
    /// The target branch does not exist.
    NoTarget,
}

/// Creates the proposal's branch from its target if needed, writes each file's
/// `edit(current text)` there when that changes it, and opens the pull request (labelled) or
/// updates the open one: a re-run never opens a second.
async fn propose(api: &Api, proposal: &Proposal<'_>) -> Result<Proposed, ChannelError> {
    let repository = proposal.repository;
    let Some(target_sha) = api.branch_sha(repository, proposal.target).await? else {
        return Ok(Proposed::NoTarget);
    };
    let fresh_branch = api
        .branch_sha(repository, &proposal.branch)
        .await?
        .is_none();
    if fresh_branch {
        api.create_branch(repository, &proposal.branch, &target_sha)
            .await?;
    }
    for file in &proposal.files {
        let current = api
            .file_at(repository, &file.path, Some(&proposal.branch))
            .await?;
        let current_text = current.as_ref().map(|found| found.text.as_str());
        let updated = (file.edit)(current_text);
        if current_text != Some(updated.as_str()) {
            api.put_file(
                repository,
                &file.path,
                &proposal.branch,
                &updated,
                current.as_ref().map(|found| found.sha.as_str()),
                &file.commit_message,
            )
            .await?;
        }
    }
    // No pull request can come from a branch created just now.
    let existing = if fresh_branch {
        None
    } else {
        api.pulls_from(repository, &proposal.branch)
            .await?
            .into_iter()
            .find(|pull| pull.state == "open")
    };
    if let Some(pull) = existing {
        if pull.title != proposal.title || pull.body.as_deref() != Some(proposal.body.as_str()) {
            api.edit_pull(repository, pull.number, proposal.title, &proposal.body)
                .await?;
        }
        return Ok(Proposed::Updated(pull.number, pull.html_url));
    }
    let pull = api
        .create_pull(
            repository,
            proposal.title,
            &proposal.branch,
            proposal.target,
            &proposal.body,
        )
        .await?;
    api.add_labels(repository, pull.number, &[proposal.label.to_owned()])
        .await?;
    Ok(Proposed::Opened(pull.number, pull.html_url))
}

/// The base branch a configuration names, else the repository's default branch.
async fn base_branch(
    api: &Api,
    repository: &RepoName,
    configured: Option<&String>,
) -> Result<String, ChannelError> {
    if let Some(branch) = configured {
        return Ok(branch.clone());
    }
    let info = api.repository(repository).await?;
    Ok(info.default_branch.unwrap_or_else(|| "main".to_owned()))
}

/// Publishes the disclosed incident on `channel`, as the repository configured it.
async fn publish_on(
    publication: &Publication<'_>,
    channel: PublicChannel,
) -> Result<Record, ChannelError> {
    let (channels, config) = (publication.channels, &publication.loaded.config);
    let configured = &config.channels;
    Ok(match channel {
        PublicChannel::ChangelogPr => changelog_prs(publication).await?,
        PublicChannel::AdvisoryIssue if !config.advisory_issue.enabled => {
            Record::note("advisory issue turned off in the configuration")
        }
        PublicChannel::AdvisoryIssue => advisory_issue(publication).await?,
        PublicChannel::BlogPostPr => blog_post_pr(publication).await?,
        PublicChannel::Announce => {
            let sends = announce::sends(&config.mailing_lists, publication.incident_id);
            let note = format!("announcement: {} list(s)", sends.len());
            sends
                .into_iter()
                .fold(Record::note(note), |record, (job, key)| {
                    record.with(Write::Job { job, key, at: None })
                })
        }
        PublicChannel::ForumPost => match &configured.discourse {
            Some(config) => {
                let forum = channels
                    .counterparts
                    .forum(config.server.as_deref())
                    .map_err(ChannelError::Unconfigured)?;
                let topic = forum::ForumTopic {
                    discourse: &channels.forum,
                    forum,
                    category_id: config.category_id,
                };
                post(publication, topic).await?
            }
            None => Record::note("no forum configured"),
        },
        PublicChannel::WikiPage if configured.github_wiki => wiki_page(publication).await?,
        PublicChannel::WikiPage => Record::note("no wiki configured"),
        PublicChannel::MediaWikiPage => match &configured.mediawiki {
            Some(config) => {
                let wiki = channels
                    .counterparts
                    .wiki(config.server.as_deref())
                    .map_err(ChannelError::Unconfigured)?;
                let page = mediawiki::Page {
                    wiki,
                    page_prefix: &config.page_prefix,
                };
                post(publication, page).await?
            }
            None => Record::note("no MediaWiki configured"),
        },
        PublicChannel::DiscussionPost => match &configured.discussions {
            Some(settings) => {
                let api = publication.api;
                post(publication, discussions::Discussion { api, settings }).await?
            }
            None => Record::note("no discussions configured"),
        },
    })
}

/// Opens or updates the CHANGELOG pull request into the base branch and one per backport
/// branch. Returns the timeline detail (when something new opened) and a note.
async fn changelog_prs(publication: &Publication<'_>) -> Result<Record, ChannelError> {
    let Publication {
        channels,
        api,
        loaded,
        disclosed,
        ..
    } = *publication;
    let incident = disclosed.incident();
    let repository = &incident.repository;
    let settings = &loaded.config.changelog;
    let drafts = channels
        .templates_for(api, repository, &[CHANGELOG_ENTRY])
        .await?;
    let view = DraftView::new(incident, &[], None);
    let entry = drafts.render_draft(CHANGELOG_ENTRY, &view)?;
    let osv_settings = &loaded.config.osv;
    let change = ChangelogChange {
        settings,
        incident,
        // The file takes the whole entry; the pull request's description shows what fits.
        shown: body_within(&entry, limits::GITHUB_BODY_CHARS, incident),
        entry,
        osv: osv_settings
            .enabled
            .then(|| osv_record(incident))
            .flatten()
            .map(|record| (osv_settings.file(&incident.ghsa_id), record)),
    };
    let base = base_branch(api, repository, settings.base_branch.as_ref()).await?;
    let title = title(&format!(
        "Security: {} {}",
        incident.ghsa_id, incident.summary
    ));
    let mut opened = Vec::new();
    let mut notes = Vec::new();
    let mut posts = Vec::new();
    let recorded = channels
        .store
        .channel_post(publication.incident_id, CHANGELOG_POST.post_name())
        .await?
        .is_some();
    for target in std::iter::once(&base).chain(settings.backport_branches.iter()) {
        let proposal = Proposal {
            repository,
            target,
            branch: branch_for(&incident.ghsa_id, target, &base),
            files: change.files(),
            title: &title,
            body: change.body(),
            label: &loaded.config.labels.security,
        };
        let (number, url) = match propose(api, &proposal).await? {
            Proposed::Opened(number, url) => {
                opened.push(format!("{repository}#{number} into {target}"));
                notes.push(format!("opened {repository}#{number}"));
                (number, url)
            }
            Proposed::Updated(number, url) => {
                notes.push(format!("updated {repository}#{number}"));
                (number, url)
            }
            Proposed::NoTarget => {
                notes.push(format!("no branch {target}"));
                continue;
            }
        };
        // The pull request into the base branch is the one the advisory issue links: recorded
        // once (also when an attempt that opened it did not get to record it).
        if *target == base && !recorded {
            posts.push(Write::ChannelPost {
                incident: publication.incident_id,
                channel: CHANGELOG_POST,
                post: ChannelPost {
                    reference: number.to_string(),
                    url,
                    text_sha256: String::new(),
                },
            });
        }
    }
    let detail =
        (!opened.is_empty()).then(|| format!("CHANGELOG pull request {}", opened.join(", ")));
    let record = Record::publication(
        publication.incident_id,
        detail,
        format!("CHANGELOG: {}", notes.join(", ")),
    );
    Ok(posts.into_iter().fold(record, Record::with))
}

/// The incident's OSV record, where one can be made.
fn osv_record(incident: &crate::incident::Incident) -> Option<String> {
    osv::osv_json(incident)
        .inspect_err(|error| tracing::info!(incident = %incident.ghsa_id, %error, "no OSV record"))
        .ok()
}

/// What a CHANGELOG pull request changes, the same on every branch: the security entry in
/// the CHANGELOG and, where the configuration asks, the OSV record (its path and text).
struct ChangelogChange<'a> {
    settings: &'a crate::repo_config::ChangelogConfig,
    incident: &'a crate::incident::Incident,
    entry: String,
    /// The entry as the pull request's description shows it.
    shown: String,
    osv: Option<(String, String)>,
}

impl ChangelogChange<'_> {
    fn files(&self) -> Vec<FileChange<'_>> {
        let (settings, ghsa_id) = (self.settings, &self.incident.ghsa_id);
        let mut files = vec![FileChange {
            path: settings.path.clone(),
            commit_message: format!("{}: security entry for {ghsa_id}", settings.path),
            edit: Box::new(|current: Option<&str>| {
                changelog::insert_security_entry(
                    current,
                    &settings.heading,
                    ghsa_id,
                    self.entry.trim_end(),
                )
            }),
        }];
        if let Some((path, record)) = &self.osv {
            files.push(FileChange {
                commit_message: format!("{path}: OSV record of {ghsa_id}"),
                path: path.clone(),
                edit: Box::new(|_: Option<&str>| record.clone()),
            });
        }
        files
    }

    fn body(&self) -> String {
        let mut body = format!(
            "Adds the security entry for {} to `{}`:\n\n{}\n\n",
            &self.incident.ghsa_id,
            self.settings.path,
            self.shown.trim_end()
        );
        if let Some((path, _)) = &self.osv {
            body.push_str(&format!(
                "The advisory in the OSV format, for scanners, is at `{path}`.\n\n"
            ));
        }
        body.push_str("Opened by herald after the advisory's disclosure.");
        body
    }
}

/// Offers a critical incident's blog post to the configured website repository as a pull
/// request adding `<path>/<ghsa id>.md` (the date is in the post's front matter, so the file
/// keeps its name when the advisory changes).
async fn blog_post_pr(publication: &Publication<'_>) -> Result<Record, ChannelError> {
    let Publication {
        channels,
        api,
        loaded,
        disclosed,
        ..
    } = *publication;
    let incident = disclosed.incident();
    let Some(blog) = &loaded.config.blog else {
        return Ok(Record::note("no blog configured"));
    };
    if incident.severity != Severity::Critical {
        return Ok(Record::note("no blog post: the incident is not critical"));
    }
    // Templates come from the advisory's repository. The post goes to the website's, with
    // the same installation's token (as the tracking issue does for the tracking repository).
    let drafts = channels
        .templates_for(api, &incident.repository, &[BLOG_POST])
        .await?;
    let view = DraftView::new(incident, &[], None);
    let post = drafts.render_draft(BLOG_POST, &view)?;
    let website = &blog.repository;
    let target = base_branch(api, website, blog.base_branch.as_ref()).await?;
    let file_name = escape::file_name(&incident.ghsa_id).to_lowercase();
    let path = format!("{}/{file_name}.md", blog.path);
    let title = title(&format!("Blog: {}", view.title));
    let proposal = Proposal {
        repository: website,
        target: &target,
        branch: security_branch(&incident.ghsa_id),
        files: vec![FileChange {
            path: path.clone(),
            commit_message: format!("Blog post for {}", &incident.ghsa_id),
            edit: Box::new(|_: Option<&str>| post.clone()),
        }],
        title: &title,
        body: format!(
            "The blog post for the critical security advisory {}, drafted by herald after its disclosure: `{path}`.",
            &incident.ghsa_id
        ),
        label: &loaded.config.labels.security,
    };
    Ok(match propose(api, &proposal).await? {
        Proposed::Opened(number, _) => Record::publication(
            publication.incident_id,
            Some(format!("blog post pull request {website}#{number}")),
            format!("blog post: opened {website}#{number}"),
        ),
        Proposed::Updated(number, _) => {
            Record::note(format!("blog post: updated {website}#{number}"))
        }
        Proposed::NoTarget => Record::note(format!("blog post: {website} has no branch {target}")),
    })
}

/// Opens or updates the public advisory issue in the advisory's repository.
async fn advisory_issue(publication: &Publication<'_>) -> Result<Record, ChannelError> {
    let Publication {
        channels,
        api,
        loaded,
        disclosed,
        ..
    } = *publication;
    let incident = disclosed.incident();
    let repository = &incident.repository;
    let drafts = channels
        .templates_for(api, repository, &[ADVISORY_ISSUE])
        .await?;
    // The CHANGELOG job (queued first) recorded its pull request.
    let changelog_url = match channels
        .store
        .channel_post(publication.incident_id, CHANGELOG_POST.post_name())
        .await?
    {
        Some(post) => Some(post.url),
        // Published before herald recorded it: GitHub knows.
        None => api
            .pulls_from(repository, &security_branch(&incident.ghsa_id))
            .await?
            .into_iter()
            .next()
            .map(|pull| pull.html_url),
    };
    let view = DraftView::new(incident, &[], changelog_url.as_deref());
    let marker = marker::advisory_issue(&incident.ghsa_id);
    let text = drafts.render_draft(ADVISORY_ISSUE, &view)?;
    let body = format!(
        "{}\n{marker}\n",
        body_within(&text, limits::GITHUB_BODY_CHARS, incident).trim_end()
    );
    let title = title(&format!(
        "Security advisory {}: {}",
        incident.ghsa_id, incident.summary
    ));
    let security = &loaded.config.labels.security;
    let recorded = channels
        .store
        .channel_post(publication.incident_id, ADVISORY_ISSUE_POST.post_name())
        .await?
        .and_then(|post| post.reference.parse::<u64>().ok());
    // Not recorded: an earlier revision's job may have opened it and failed before
    // recording it (it may still be retrying), so look for herald's marker.
    let existing = match recorded {
        Some(number) => Some(api.issue(repository, number).await?),
        None => {
            api.find_issue(repository, security, &marker, channels.app_bot())
                .await?
        }
    };
    match existing {
        Some(issue) => {
            if issue.body.as_deref() != Some(body.as_str()) || issue.title != title {
                api.edit_issue(repository, issue.number, &title, &body)
                    .await?;
            }
            Ok(match recorded {
                Some(_) => Record::note(format!(
                    "advisory issue {repository}#{} updated",
                    issue.number
                )),
                // Opened by an attempt that did not get to record it: recorded now.
                None => advisory_issue_opened(publication.incident_id, repository, &issue),
            })
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
            Ok(advisory_issue_opened(
                publication.incident_id,
                repository,
                &issue,
            ))
        }
    }
}

/// The timeline's record of the advisory issue, and the store's, so later runs find it
/// without a search.
fn advisory_issue_opened(
    incident: IncidentId,
    repository: &RepoName,
    issue: &crate::github::api::IssueInfo,
) -> Record {
    Record::publication(
        incident,
        Some(format!(
            "public advisory issue {repository}#{}",
            issue.number
        )),
        format!("advisory issue {repository}#{} opened", issue.number),
    )
    .with(advisory_issue_post(incident, issue))
}

/// The advisory issue as a channel post.
fn advisory_issue_post(incident: IncidentId, issue: &crate::github::api::IssueInfo) -> Write {
    Write::ChannelPost {
        incident,
        channel: ADVISORY_ISSUE_POST,
        post: ChannelPost {
            reference: issue.number.to_string(),
            url: issue.html_url.clone(),
            text_sha256: String::new(),
        },
    }
}
