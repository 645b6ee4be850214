//! The outbox's jobs, typed: what each job is, its payload, which jobs follow a change
//! (`follow.rs`), and how a job is kept in the store. The store keeps a job as its kind's
//! name and a payload, as herald has always written them (an incident id, a delivery id,
//! or JSON), so rows written by earlier releases decode as they are; a new job kind is a
//! new variant, and every match on [`Job`] is exhaustive, so a forgotten kind does not
//! compile. A leased job is decoded once, into a [`ClaimedJob`], by the runner that took it.

pub mod follow;

use crate::incident::{DeliveryId, IncidentId, ProductIncidentId, RepoName};
use crate::intake::IntakeId;
use crate::repo_config::MailingList;
use crate::store::{JobClaim, PROCESS_DELIVERY, Queued, StoreError, Work};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One unit of work in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// Turn a stored delivery into domain changes.
    ProcessDelivery { delivery: DeliveryId },
    /// Create or update an incident's private tracking issue.
    SyncTrackingIssue { incident: IncidentId },
    /// A maintainer's comment or label on a tracking issue (the commenter's permission is
    /// checked on GitHub first).
    MaintainerAction { delivery: DeliveryId },
    /// Post herald's answer on an issue.
    PostComment(PendingComment),
    /// Ask GitHub for a CVE id.
    RequestCve { incident: IncidentId },
    /// Ask GitHub to publish the repository advisory.
    PublishAdvisory { incident: IncidentId },
    /// Carry a disclosed incident to one public channel (through the embargo gate).
    Public {
        channel: PublicChannel,
        incident: IncidentId,
    },
    /// Send the announcement to one list (through the embargo gate).
    SendMail(PendingMail),
    /// Remind and escalate when a reaction is running late (private).
    Escalate(PendingEscalation),
    /// Post the post-incident review on the tracking issue.
    PostReview { incident: IncidentId },
    /// Match a global advisory against the served repositories' dependencies.
    MatchUpstream { delivery: DeliveryId },
    /// Tell people about a temporary action (private).
    Containment(PendingContainment),
    /// Ask GitHub for the temporary private fork, or see whether it exists yet.
    PrivateFork { incident: IncidentId },
    /// Post a private notice to the team's chat.
    Chat(PendingChat),
    /// Read a pull request a maintainer linked as a fix.
    TrackPull(PendingPull),
    /// Tell one downstream before disclosure, under embargo (private).
    Prenotify(PendingPrenotice),
    /// At an embargo's end, remind the maintainers if downstreams told that date are
    /// waiting for a disclosure that has not happened (private).
    EmbargoEnd(PendingEmbargoEnd),
    /// Open the private issue of a report mailed to the security team.
    OpenIntake { intake: IntakeId },
    /// Tell the sender of a mailed report that the security team has it.
    AcknowledgeReport { intake: IntakeId },
    /// Add a reporter's reply to the report it answers (privately).
    PostReply { intake: IntakeId },
    /// Tell the reporter of a mailed report how its incident goes on.
    TellReporter(PendingReporterNotice),
    /// Open a product incident's issue, or tell it of a further source.
    ProductIssue { incident: ProductIncidentId },
}

/// The kinds of job, each with the name the store keeps: one list, from which the enum,
/// [`JobKind::ALL`] and [`JobKind::as_str`] are made.
macro_rules! job_kinds {
    ($($(#[$doc:meta])* $kind:ident = $name:expr,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum JobKind {
            $($(#[$doc])* $kind,)*
        }

        impl JobKind {
            pub const ALL: &[JobKind] = &[$(JobKind::$kind,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(JobKind::$kind => $name,)*
                }
            }
        }
    };
}

job_kinds! {
    /// Turn a stored delivery into domain changes; the job payload is the delivery id.
    ProcessDelivery = PROCESS_DELIVERY,
    /// Create or update an incident's private tracking issue; the payload is the incident id.
    SyncTrackingIssue = "sync_tracking_issue",
    /// A maintainer's comment or label on a tracking issue; the payload is the delivery id
    /// (the commenter's permission is checked on GitHub first).
    MaintainerAction = "maintainer_action",
    /// Post herald's answer on an issue; the payload is a [`PendingComment`].
    PostComment = "post_comment",
    /// Ask GitHub for a CVE id; the payload is the incident id.
    RequestCve = "request_cve",
    /// Publish the repository advisory on GitHub; the payload is the incident id.
    PublishAdvisory = "publish_advisory",
    /// Open or update the CHANGELOG pull requests (embargo-gated); payload: incident id.
    ChangelogPr = "changelog_pr",
    /// Open or update the public advisory issue (embargo-gated); payload: incident id.
    AdvisoryIssue = "advisory_issue",
    /// Offer a critical incident's blog post to the website repository (embargo-gated);
    /// payload: incident id.
    BlogPostPr = "blog_post_pr",
    /// Queue the signed announcement to each configured mailing list (embargo-gated);
    /// payload: incident id.
    Announce = "announce",
    /// Remind and escalate when a reaction is running late (due at the reminder's time;
    /// private: the tracking issue and the escalation addresses); payload: a
    /// [`PendingEscalation`].
    Escalate = "escalate",
    /// Send the announcement to one list (embargo-gated); payload: a
    /// [`PendingMail`].
    SendMail = "send_mail",
    /// Post the post-incident review on the tracking issue; payload: incident id.
    PostReview = "post_review",
    /// Match a global advisory against the served repositories' dependencies (their
    /// dependency graphs are read from GitHub); payload: the delivery id.
    MatchUpstream = "match_upstream",
    /// Open or update the incident's topic on the Discourse forum (embargo-gated); payload:
    /// incident id.
    ForumPost = "forum_post",
    /// Open or update the incident's GitHub discussion (embargo-gated); payload: incident id.
    DiscussionPost = "discussion_post",
    /// Add or update the incident's page on the GitHub wiki (embargo-gated); payload:
    /// incident id.
    WikiPage = "wiki_page",
    /// Create or update the incident's page on a MediaWiki (embargo-gated); payload:
    /// incident id.
    MediaWikiPage = "mediawiki_page",
    /// Tell people about a temporary action (private: the tracking issue and the
    /// `notify:` addresses); payload: a [`PendingContainment`].
    Containment = "containment",
    /// Ask GitHub for the advisory's temporary private fork, or check whether it exists yet;
    /// payload: incident id.
    PrivateFork = "private_fork",
    /// Post a private notice to the team's chat; payload: a [`PendingChat`].
    Chat = "chat",
    /// Read a pull request a maintainer linked as a fix; payload: a
    /// [`PendingPull`].
    TrackPull = "track_pull",
    /// Tell one downstream of an incident before disclosure, under embargo (private, its
    /// own rule, not the embargo gate); payload: a [`PendingPrenotice`].
    Prenotify = "prenotify",
    /// At an embargo's end, remind the maintainers when downstreams told that date wait
    /// for a disclosure that has not happened (private); payload: a
    /// [`PendingEmbargoEnd`].
    EmbargoEnd = "embargo_end",
    /// Open the private issue of a report mailed to the security team (in the operator's
    /// `intake_repository`); payload: the intake's id.
    OpenIntake = "open_intake",
    /// Acknowledge a mailed report to its sender (signed, encrypted to their key when they
    /// sent it); payload: the intake's id.
    AcknowledgeReport = "acknowledge_report",
    /// Add a reporter's mailed reply to its intake's issue, or its incident's tracking
    /// issue once accepted (private); payload: the reply's intake id.
    PostReply = "post_reply",
    /// Tell the sender of an accepted mailed report of its incident's course (accepted,
    /// fixed, its CVE id, published); payload: a [`PendingReporterNotice`].
    TellReporter = "tell_reporter",
    /// Open the private issue of a product incident (a vulnerability of software the
    /// project runs, announced upstream) in the `intake_repository`, or add the sources
    /// that announced it since; payload: the product incident's id.
    ProductIssue = "product_issue",
}

impl JobKind {
    /// The names of the jobs with effects outside the store (GitHub, mail, forums, wikis):
    /// every kind but the store worker's own ([`JobKind::ProcessDelivery`], run in batches
    /// inside the store's transaction). Leased, run outside any transaction, then recorded.
    pub fn effect_names() -> &'static [&'static str] {
        static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            JobKind::ALL
                .iter()
                .filter(|kind| **kind != JobKind::ProcessDelivery)
                .map(|kind| kind.as_str())
                .collect()
        })
    }

    pub fn from_name(name: &str) -> Option<JobKind> {
        JobKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
    }
}

/// What a reporter who mailed the security team is told of their report's incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReporterNotice {
    /// The maintainers accepted it: a draft advisory, an incident.
    Accepted,
    /// A fix was merged.
    Fixed,
    /// GitHub assigned it a CVE id.
    Cve,
    /// GitHub published the advisory; the reporter is thanked.
    Published,
}

impl ReporterNotice {
    pub const ALL: [ReporterNotice; 4] = [
        ReporterNotice::Accepted,
        ReporterNotice::Fixed,
        ReporterNotice::Cve,
        ReporterNotice::Published,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReporterNotice::Accepted => "accepted",
            ReporterNotice::Fixed => "fixed",
            ReporterNotice::Cve => "cve",
            ReporterNotice::Published => "published",
        }
    }
}

/// A notice owed to the reporter of the mailed report `intake` about incident
/// `incident_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingReporterNotice {
    pub incident_id: IncidentId,
    pub intake: IntakeId,
    pub notice: ReporterNotice,
}

/// The end of an embargo date that downstreams may have been told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEmbargoEnd {
    pub incident_id: IncidentId,
    pub embargo_until: DateTime<Utc>,
}

/// A pre-notification owed to one downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPrenotice {
    pub incident_id: IncidentId,
    /// The recipient, as configured under `prenotify:` (where their key is).
    pub address: String,
    /// The embargo end the notice tells; a job for another date than the approved one is
    /// stale.
    pub embargo_until: DateTime<Utc>,
    /// `Some(earlier date)`: an update to a recipient told that date; `None`: the notice.
    pub moved_from: Option<DateTime<Utc>>,
}

/// A pull request to read for an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPull {
    pub incident_id: IncidentId,
    pub repository: RepoName,
    pub number: u64,
}

/// A chat notice owed about an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingChat {
    pub incident_id: IncidentId,
    pub notice: ChatNotice,
}

/// What a chat notice says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatNotice {
    /// A new incident is tracked.
    Opened,
    /// Its severity changed (the timeline's words).
    SeverityChanged(String),
    /// A reminder or escalation went out.
    Escalated(Stage),
    /// GitHub published the advisory: the disclosure is done.
    Disclosed,
}

/// A notice owed about temporary action `action` (from 1) of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingContainment {
    pub incident_id: IncidentId,
    pub action: usize,
    pub notice: ContainmentNotice,
}

/// Which notice about a temporary action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainmentNotice {
    /// Taken under an active threat: the people of `notify:` are told at once.
    Inform,
    /// Still open on day `n` after it was taken (one reminder a day until it is settled).
    Reminder(u32),
}

/// The public channels, in the order they run after a disclosure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicChannel {
    /// The CHANGELOG pull request and its backports.
    ChangelogPr,
    /// The public advisory issue.
    AdvisoryIssue,
    /// A critical incident's blog post, offered to the website repository.
    BlogPostPr,
    /// The Discourse topic.
    ForumPost,
    /// The GitHub discussion.
    DiscussionPost,
    /// The GitHub wiki page.
    WikiPage,
    /// The MediaWiki page.
    MediaWikiPage,
    /// The signed announcement: one [`Job::SendMail`] per configured list.
    Announce,
}

impl PublicChannel {
    /// The name the channel's post is kept under in the store (`channel_posts`), for the
    /// channels that keep one per incident, updated in place.
    pub fn post_name(self) -> &'static str {
        match self {
            PublicChannel::ChangelogPr => "changelog_pr",
            PublicChannel::AdvisoryIssue => "advisory_issue",
            PublicChannel::BlogPostPr => "blog_post_pr",
            PublicChannel::ForumPost => "discourse",
            PublicChannel::DiscussionPost => "discussions",
            PublicChannel::WikiPage => "wiki",
            PublicChannel::MediaWikiPage => "mediawiki",
            PublicChannel::Announce => "announce",
        }
    }

    /// The channel a stored post was made on.
    pub fn of_post(name: &str) -> Option<PublicChannel> {
        PublicChannel::ALL
            .into_iter()
            .find(|channel| channel.post_name() == name)
    }

    /// The channel as readers of the tracking issue know it.
    pub fn reader_name(self) -> &'static str {
        match self {
            PublicChannel::ChangelogPr => "CHANGELOG pull request",
            PublicChannel::AdvisoryIssue => "Advisory issue",
            PublicChannel::BlogPostPr => "Blog post",
            PublicChannel::ForumPost => "Forum",
            PublicChannel::DiscussionPost => "Discussion",
            PublicChannel::WikiPage | PublicChannel::MediaWikiPage => "Wiki",
            PublicChannel::Announce => "Announcement",
        }
    }

    pub const ALL: [PublicChannel; 8] = [
        PublicChannel::ChangelogPr,
        PublicChannel::AdvisoryIssue,
        PublicChannel::BlogPostPr,
        PublicChannel::ForumPost,
        PublicChannel::DiscussionPost,
        PublicChannel::WikiPage,
        PublicChannel::MediaWikiPage,
        PublicChannel::Announce,
    ];

    pub fn kind(self) -> JobKind {
        match self {
            PublicChannel::ChangelogPr => JobKind::ChangelogPr,
            PublicChannel::AdvisoryIssue => JobKind::AdvisoryIssue,
            PublicChannel::BlogPostPr => JobKind::BlogPostPr,
            PublicChannel::ForumPost => JobKind::ForumPost,
            PublicChannel::DiscussionPost => JobKind::DiscussionPost,
            PublicChannel::WikiPage => JobKind::WikiPage,
            PublicChannel::MediaWikiPage => JobKind::MediaWikiPage,
            PublicChannel::Announce => JobKind::Announce,
        }
    }
}

/// A comment herald owes GitHub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingComment {
    pub repository: RepoName,
    pub issue: u64,
    pub body: String,
    /// Hidden in the body, so a retried job finds the comment it already posted.
    pub marker: String,
}

/// An announcement owed to one list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingMail {
    pub incident_id: IncidentId,
    pub list: MailingList,
}

/// Which reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 75% of the reaction time has passed.
    Warning,
    /// The deadline has passed without a reaction.
    Breach,
    /// A maintainer marked the threat active: an emergency, everyone hears at once.
    ActiveThreat,
}

impl Stage {
    /// The stage's word in idempotency keys and markers.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Warning => "warning",
            Stage::Breach => "breach",
            Stage::ActiveThreat => "active",
        }
    }
}

/// A reminder owed when its time comes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingEscalation {
    pub incident_id: IncidentId,
    pub stage: Stage,
    /// The deadline the reminder was scheduled for; a moved deadline makes it stale.
    pub due: Option<DateTime<Utc>>,
}

impl Job {
    pub fn kind(&self) -> JobKind {
        match self {
            Job::ProcessDelivery { .. } => JobKind::ProcessDelivery,
            Job::SyncTrackingIssue { .. } => JobKind::SyncTrackingIssue,
            Job::MaintainerAction { .. } => JobKind::MaintainerAction,
            Job::PostComment(_) => JobKind::PostComment,
            Job::RequestCve { .. } => JobKind::RequestCve,
            Job::PublishAdvisory { .. } => JobKind::PublishAdvisory,
            Job::Public { channel, .. } => channel.kind(),
            Job::SendMail(_) => JobKind::SendMail,
            Job::Escalate(_) => JobKind::Escalate,
            Job::PostReview { .. } => JobKind::PostReview,
            Job::MatchUpstream { .. } => JobKind::MatchUpstream,
            Job::Containment(_) => JobKind::Containment,
            Job::PrivateFork { .. } => JobKind::PrivateFork,
            Job::Chat(_) => JobKind::Chat,
            Job::TrackPull(_) => JobKind::TrackPull,
            Job::Prenotify(_) => JobKind::Prenotify,
            Job::EmbargoEnd(_) => JobKind::EmbargoEnd,
            Job::OpenIntake { .. } => JobKind::OpenIntake,
            Job::AcknowledgeReport { .. } => JobKind::AcknowledgeReport,
            Job::PostReply { .. } => JobKind::PostReply,
            Job::TellReporter(_) => JobKind::TellReporter,
            Job::ProductIssue { .. } => JobKind::ProductIssue,
        }
    }

    /// The lane the job runs in: one lane's jobs run one at a time, in order (an incident's
    /// jobs; the comments on one issue; maintainers' commands, whose order matters; the
    /// upstream matches), while different lanes' run at once. The store worker's own jobs
    /// have none.
    pub fn lane(&self) -> Option<String> {
        match self {
            Job::ProcessDelivery { .. } => None,
            Job::MaintainerAction { .. } => Some("maintainers".to_owned()),
            Job::MatchUpstream { .. } => Some("upstream".to_owned()),
            Job::OpenIntake { intake }
            | Job::AcknowledgeReport { intake }
            | Job::PostReply { intake } => Some(format!("intake:{intake}")),
            Job::ProductIssue { incident } => Some(format!("product:{incident}")),
            Job::PostComment(comment) => {
                Some(format!("issue:{}#{}", comment.repository, comment.issue))
            }
            job => job
                .incident()
                .map(|incident| format!("incident:{incident}")),
        }
    }

    /// The incident the job is for, where it is for one.
    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Job::SyncTrackingIssue { incident }
            | Job::RequestCve { incident }
            | Job::PublishAdvisory { incident }
            | Job::Public { incident, .. }
            | Job::PostReview { incident }
            | Job::PrivateFork { incident } => Some(*incident),
            Job::SendMail(mail) => Some(mail.incident_id),
            Job::Escalate(pending) => Some(pending.incident_id),
            Job::Containment(pending) => Some(pending.incident_id),
            Job::Chat(pending) => Some(pending.incident_id),
            Job::TrackPull(pending) => Some(pending.incident_id),
            Job::Prenotify(pending) => Some(pending.incident_id),
            Job::EmbargoEnd(pending) => Some(pending.incident_id),
            Job::TellReporter(pending) => Some(pending.incident_id),
            Job::ProcessDelivery { .. }
            | Job::MaintainerAction { .. }
            | Job::PostComment(_)
            | Job::MatchUpstream { .. }
            | Job::OpenIntake { .. }
            | Job::AcknowledgeReport { .. }
            | Job::PostReply { .. }
            | Job::ProductIssue { .. } => None,
        }
    }

    /// A stored job, from its kind's name and payload.
    pub fn decode(kind: &str, payload: &str) -> Result<Job, StoreError> {
        let unusable =
            || StoreError::Corrupt(format!("job {kind} with payload {:?}", shown(payload)));
        let kind = JobKind::from_name(kind).ok_or_else(unusable)?;
        let incident = || {
            payload
                .parse::<i64>()
                .map(IncidentId)
                .map_err(|_| unusable())
        };
        let delivery = || DeliveryId::parse(payload).map_err(|_| unusable());
        let intake = || payload.parse::<i64>().map(IntakeId).map_err(|_| unusable());
        Ok(match kind {
            JobKind::ProcessDelivery => Job::ProcessDelivery {
                delivery: delivery()?,
            },
            JobKind::MaintainerAction => Job::MaintainerAction {
                delivery: delivery()?,
            },
            JobKind::MatchUpstream => Job::MatchUpstream {
                delivery: delivery()?,
            },
            JobKind::SyncTrackingIssue => Job::SyncTrackingIssue {
                incident: incident()?,
            },
            JobKind::RequestCve => Job::RequestCve {
                incident: incident()?,
            },
            JobKind::PublishAdvisory => Job::PublishAdvisory {
                incident: incident()?,
            },
            JobKind::PostReview => Job::PostReview {
                incident: incident()?,
            },
            JobKind::PrivateFork => Job::PrivateFork {
                incident: incident()?,
            },
            JobKind::ChangelogPr
            | JobKind::AdvisoryIssue
            | JobKind::BlogPostPr
            | JobKind::ForumPost
            | JobKind::DiscussionPost
            | JobKind::WikiPage
            | JobKind::MediaWikiPage
            | JobKind::Announce => Job::Public {
                channel: PublicChannel::ALL
                    .into_iter()
                    .find(|channel| channel.kind() == kind)
                    .ok_or_else(unusable)?,
                incident: incident()?,
            },
            JobKind::PostComment => {
                Job::PostComment(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::SendMail => {
                Job::SendMail(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::Escalate => {
                Job::Escalate(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::Containment => {
                Job::Containment(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::Chat => Job::Chat(serde_json::from_str(payload).map_err(|_| unusable())?),
            JobKind::TrackPull => {
                Job::TrackPull(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::Prenotify => {
                Job::Prenotify(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::EmbargoEnd => {
                Job::EmbargoEnd(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::OpenIntake => Job::OpenIntake { intake: intake()? },
            JobKind::AcknowledgeReport => Job::AcknowledgeReport { intake: intake()? },
            JobKind::PostReply => Job::PostReply { intake: intake()? },
            JobKind::TellReporter => {
                Job::TellReporter(serde_json::from_str(payload).map_err(|_| unusable())?)
            }
            JobKind::ProductIssue => Job::ProductIssue {
                incident: payload
                    .parse::<i64>()
                    .map(ProductIncidentId)
                    .map_err(|_| unusable())?,
            },
        })
    }
}

/// A stored payload as an error shows it: its first 200 characters.
fn shown(payload: &str) -> String {
    const SHOWN: usize = 200;
    match payload.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &payload[..end]),
        None => payload.to_owned(),
    }
}

/// A JSON payload. Serialising these plain structs cannot fail; should it, the job is
/// not stored and the error says why.
fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    Ok(serde_json::to_string(value)?)
}

/// Queues herald's comment `body` on `repository#issue`, once for `key`. A hidden marker
/// in the body lets a retried job find the comment it already posted.
pub fn queue_comment(
    work: &mut Work,
    key: &str,
    repository: &RepoName,
    issue: u64,
    body: &str,
) -> Result<(), StoreError> {
    let marker = crate::markers::marker::reply(key);
    let comment = PendingComment {
        repository: repository.clone(),
        issue,
        body: format!("{body}\n\n{marker}"),
        marker,
    };
    work.enqueue(&Job::PostComment(comment), &crate::markers::key::reply(key))
}

/// How the store keeps a job.
impl Queued for Job {
    fn kind_name(&self) -> &'static str {
        self.kind().as_str()
    }

    fn payload(&self) -> Result<String, StoreError> {
        Ok(match self {
            Job::ProcessDelivery { delivery }
            | Job::MaintainerAction { delivery }
            | Job::MatchUpstream { delivery } => delivery.to_string(),
            Job::SyncTrackingIssue { incident }
            | Job::RequestCve { incident }
            | Job::PublishAdvisory { incident }
            | Job::Public { incident, .. }
            | Job::PostReview { incident }
            | Job::PrivateFork { incident } => incident.to_string(),
            Job::PostComment(comment) => json(comment)?,
            Job::SendMail(mail) => json(mail)?,
            Job::Escalate(pending) => json(pending)?,
            Job::Containment(pending) => json(pending)?,
            Job::Chat(pending) => json(pending)?,
            Job::TrackPull(pending) => json(pending)?,
            Job::Prenotify(pending) => json(pending)?,
            Job::EmbargoEnd(pending) => json(pending)?,
            Job::TellReporter(pending) => json(pending)?,
            Job::OpenIntake { intake }
            | Job::AcknowledgeReport { intake }
            | Job::PostReply { intake } => intake.to_string(),
            Job::ProductIssue { incident } => incident.to_string(),
        })
    }

    fn lane(&self) -> Option<String> {
        Job::lane(self)
    }

    fn incident(&self) -> Option<IncidentId> {
        Job::incident(self)
    }
}

/// A leased job, decoded once by the runner that took it.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub job: Job,
    /// Attempts before this one.
    pub attempts: i64,
    /// When the job was queued, or became due again after a wait: what it reads of GitHub
    /// must be at least that recent.
    pub due_since: DateTime<Utc>,
    /// Leases so far, this one included: more than one when an earlier runner may have
    /// done part of the job before it died.
    pub claims: i64,
}

/// A leased row that is no job this herald knows: a bug or a damaged store, which running
/// it again cannot mend.
#[derive(Debug)]
pub struct Undecodable {
    pub claim: JobClaim,
    pub error: StoreError,
}

impl ClaimedJob {
    pub fn decode(claim: JobClaim) -> Result<ClaimedJob, Box<Undecodable>> {
        if !claim.payload_is_text {
            let error = StoreError::Corrupt(format!(
                "job {} with a payload that is not UTF-8 text: {:?}",
                claim.kind,
                shown(&claim.payload)
            ));
            return Err(Box::new(Undecodable { claim, error }));
        }
        match Job::decode(&claim.kind, &claim.payload) {
            Ok(job) => Ok(ClaimedJob {
                id: claim.id,
                job,
                attempts: claim.attempts,
                due_since: claim.due_since,
                claims: claim.claims,
            }),
            Err(error) => Err(Box::new(Undecodable { claim, error })),
        }
    }

    /// Neither leased nor attempted before: no earlier run can have done part of it.
    pub fn first_try(&self) -> bool {
        self.claims <= 1 && self.attempts == 0
    }

    /// The name of its kind, as stored.
    pub fn kind_name(&self) -> &'static str {
        self.job.kind().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo_config::SigningMode;

    fn one_of_each() -> Vec<Job> {
        let list = MailingList {
            address: "announce@lists.example.org".into(),
            name: Some("Announce".into()),
            signing: SigningMode::PgpMime,
            attach_cleartext: true,
        };
        let mut jobs = vec![
            Job::ProcessDelivery {
                delivery: DeliveryId::parse("d-1").expect("an id"),
            },
            Job::SyncTrackingIssue {
                incident: IncidentId(1),
            },
            Job::MaintainerAction {
                delivery: DeliveryId::parse("d-2").expect("an id"),
            },
            Job::PostComment(PendingComment {
                repository: RepoName::parse("o/r").expect("name"),
                issue: 4,
                body: "hi\n<!-- herald:reply x -->".into(),
                marker: "<!-- herald:reply x -->".into(),
            }),
            Job::RequestCve {
                incident: IncidentId(2),
            },
            Job::PublishAdvisory {
                incident: IncidentId(3),
            },
            Job::SendMail(PendingMail {
                incident_id: IncidentId(5),
                list,
            }),
            Job::Escalate(PendingEscalation {
                incident_id: IncidentId(6),
                stage: Stage::Breach,
                due: Some(DateTime::from_timestamp_millis(1_800_000_000_000).expect("time")),
            }),
            Job::PostReview {
                incident: IncidentId(7),
            },
            Job::MatchUpstream {
                delivery: DeliveryId::parse("d-3").expect("an id"),
            },
            Job::Containment(PendingContainment {
                incident_id: IncidentId(9),
                action: 2,
                notice: ContainmentNotice::Reminder(3),
            }),
            Job::PrivateFork {
                incident: IncidentId(10),
            },
            Job::Chat(PendingChat {
                incident_id: IncidentId(11),
                notice: ChatNotice::Escalated(Stage::Breach),
            }),
            Job::TrackPull(PendingPull {
                incident_id: IncidentId(12),
                repository: RepoName::parse("o/r").expect("name"),
                number: 7,
            }),
            Job::Prenotify(PendingPrenotice {
                incident_id: IncidentId(13),
                address: "distros@vs.openwall.org".into(),
                embargo_until: chrono::DateTime::UNIX_EPOCH,
                moved_from: None,
            }),
            Job::EmbargoEnd(PendingEmbargoEnd {
                incident_id: IncidentId(14),
                embargo_until: chrono::DateTime::UNIX_EPOCH,
            }),
            Job::OpenIntake {
                intake: IntakeId(15),
            },
            Job::AcknowledgeReport {
                intake: IntakeId(16),
            },
            Job::PostReply {
                intake: IntakeId(17),
            },
            Job::TellReporter(PendingReporterNotice {
                incident_id: IncidentId(18),
                intake: IntakeId(19),
                notice: ReporterNotice::Cve,
            }),
            Job::ProductIssue {
                incident: ProductIncidentId(20),
            },
        ];
        jobs.extend(PublicChannel::ALL.map(|channel| Job::Public {
            channel,
            incident: IncidentId(8),
        }));
        jobs
    }

    #[test]
    fn every_kind_round_trips_and_every_stored_kind_is_a_job() {
        let jobs = one_of_each();
        let mut kinds: Vec<JobKind> = jobs.iter().map(Job::kind).collect();
        kinds.sort_by_key(|kind| kind.as_str());
        kinds.dedup();
        assert_eq!(kinds.len(), JobKind::ALL.len(), "one job per stored kind");
        for job in jobs {
            let payload = job.payload().expect("encodes");
            assert_eq!(
                Job::decode(job.kind_name(), &payload).expect("decodes"),
                job
            );
        }
    }

    #[test]
    fn rows_written_by_earlier_releases_decode() {
        // As herald 0.1 wrote them: an id, a delivery id, or JSON.
        assert_eq!(
            Job::decode("changelog_pr", "12").expect("decodes"),
            Job::Public {
                channel: PublicChannel::ChangelogPr,
                incident: IncidentId(12)
            }
        );
        assert_eq!(
            Job::decode("maintainer_action", "72b6a4e0-1f0d").expect("decodes"),
            Job::MaintainerAction {
                delivery: DeliveryId::parse("72b6a4e0-1f0d").expect("an id")
            }
        );
        let mail = Job::decode(
            "send_mail",
            r#"{"incident_id":3,"list":{"address":"a@example.org","name":null,"signing":"cleartext","attach_cleartext":false}}"#,
        )
        .expect("decodes");
        assert_eq!(mail.incident(), Some(IncidentId(3)));
        let reminder = Job::decode(
            "escalate",
            r#"{"incident_id":4,"stage":"active_threat","due":null}"#,
        )
        .expect("decodes");
        assert_eq!(reminder.incident(), Some(IncidentId(4)));
    }

    #[test]
    fn posts_keep_the_names_earlier_releases_stored_them_under() {
        let names: Vec<&str> = PublicChannel::ALL.map(PublicChannel::post_name).to_vec();
        assert_eq!(
            names,
            [
                "changelog_pr",
                "advisory_issue",
                "blog_post_pr",
                "discourse",
                "discussions",
                "wiki",
                "mediawiki",
                "announce"
            ]
        );
        for channel in PublicChannel::ALL {
            assert_eq!(PublicChannel::of_post(channel.post_name()), Some(channel));
        }
        assert_eq!(PublicChannel::of_post("elsewhere"), None);
    }

    #[test]
    fn a_corrupt_row_is_an_error_naming_it() {
        for (kind, payload) in [
            ("changelog_pr", "twelve"),
            ("send_mail", "{"),
            ("frobnicate", "1"),
        ] {
            let error = Job::decode(kind, payload).expect_err("corrupt");
            assert!(error.to_string().contains(kind), "{error}");
        }
    }
}
