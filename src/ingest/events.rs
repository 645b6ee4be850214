//! Typed GitHub webhook payloads: only the fields herald reads, following GitHub's
//! documented shapes. Fields GitHub may send as `null` are `Option`s.

use crate::incident::{
    AdvisorySnapshot, AdvisoryState, AffectedPackage, Credit, CvssInput, Cwe, GhsaId, RepoName,
    UpstreamAdvisory, UpstreamVulnerability,
};
use crate::store::InstallationId;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// The `X-GitHub-Event` names herald handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Ping,
    RepositoryAdvisory,
    SecurityAdvisory,
    Issues,
    IssueComment,
    PullRequest,
    Release,
    Installation,
    InstallationRepositories,
    Push,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::Ping,
        EventKind::RepositoryAdvisory,
        EventKind::SecurityAdvisory,
        EventKind::Issues,
        EventKind::IssueComment,
        EventKind::PullRequest,
        EventKind::Release,
        EventKind::Installation,
        EventKind::InstallationRepositories,
        EventKind::Push,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Ping => "ping",
            EventKind::RepositoryAdvisory => "repository_advisory",
            EventKind::SecurityAdvisory => "security_advisory",
            EventKind::Issues => "issues",
            EventKind::IssueComment => "issue_comment",
            EventKind::PullRequest => "pull_request",
            EventKind::Release => "release",
            EventKind::Installation => "installation",
            EventKind::InstallationRepositories => "installation_repositories",
            EventKind::Push => "push",
        }
    }

    /// `None` for an event herald does not handle.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Why a body is not a usable payload.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("malformed JSON: {0}")]
    Malformed(serde_json::Error),
    #[error("the {event} payload does not have GitHub's shape: {source}")]
    Shape {
        event: &'static str,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl User {
    /// Bots (herald itself among them) do not command herald.
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub full_name: RepoName,
    #[serde(default)]
    pub private: bool,
    pub default_branch: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationRef {
    pub id: InstallationId,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cvss {
    pub vector_string: Option<String>,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CvssSeverities {
    pub cvss_v3: Option<Cvss>,
    pub cvss_v4: Option<Cvss>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CweEntry {
    pub cwe_id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    pub ecosystem: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Vulnerability {
    pub package: Option<Package>,
    pub vulnerable_version_range: Option<String>,
    pub patched_versions: Option<String>,
    #[serde(default)]
    pub vulnerable_functions: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreditEntry {
    pub login: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreditDetailed {
    pub user: User,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: Option<String>,
}

/// A repository security advisory, as in the `repository_advisory` event and the REST API.
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryAdvisory {
    pub ghsa_id: GhsaId,
    pub cve_id: Option<String>,
    pub html_url: Option<String>,
    pub summary: String,
    pub description: Option<String>,
    pub severity: Option<String>,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    pub state: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub vulnerabilities: Option<Vec<Vulnerability>>,
    pub cvss: Option<Cvss>,
    pub cvss_severities: Option<CvssSeverities>,
    pub cwes: Option<Vec<CweEntry>>,
    pub credits: Option<Vec<CreditEntry>>,
    pub credits_detailed: Option<Vec<CreditDetailed>>,
}

fn cvss_input(cvss: &Cvss) -> CvssInput {
    CvssInput {
        vector: cvss.vector_string.clone(),
        score: cvss.score,
    }
}

impl RepositoryAdvisory {
    /// The CVE id, from `cve_id` or else from the identifiers list.
    pub fn cve(&self) -> Option<String> {
        self.cve_id.clone().or_else(|| {
            self.identifiers
                .iter()
                .find(|identifier| identifier.kind.eq_ignore_ascii_case("CVE"))
                .map(|identifier| identifier.value.clone())
        })
    }

    pub fn snapshot(&self) -> AdvisorySnapshot {
        let severities = self.cvss_severities.as_ref();
        // `cvss` is the older, v3-only field; `cvss_severities` supersedes it where present.
        let cvss_v3 = severities
            .and_then(|s| s.cvss_v3.as_ref())
            .or(self.cvss.as_ref())
            .map(cvss_input);
        let cvss_v4 = severities.and_then(|s| s.cvss_v4.as_ref()).map(cvss_input);
        let credits = match (&self.credits_detailed, &self.credits) {
            (Some(detailed), _) => detailed
                .iter()
                .map(|credit| Credit {
                    login: credit.user.login.clone(),
                    kind: credit.kind.clone(),
                    state: credit.state.clone(),
                })
                .collect(),
            (None, Some(plain)) => plain
                .iter()
                .map(|credit| Credit {
                    login: credit.login.clone(),
                    kind: credit.kind.clone(),
                    state: None,
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        AdvisorySnapshot {
            ghsa_id: self.ghsa_id.clone(),
            cve_id: self.cve(),
            summary: self.summary.clone(),
            description: self.description.clone().unwrap_or_default(),
            severity: self.severity.clone(),
            state: AdvisoryState::from_github(&self.state),
            html_url: self.html_url.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            published_at: self.published_at,
            cvss_v3,
            cvss_v4,
            cwes: self
                .cwes
                .iter()
                .flatten()
                .map(|cwe| Cwe {
                    id: cwe.cwe_id.clone(),
                    name: cwe.name.clone(),
                })
                .collect(),
            packages: self
                .vulnerabilities
                .iter()
                .flatten()
                .map(|vulnerability| AffectedPackage {
                    ecosystem: vulnerability
                        .package
                        .as_ref()
                        .and_then(|p| p.ecosystem.clone()),
                    name: vulnerability.package.as_ref().and_then(|p| p.name.clone()),
                    vulnerable_version_range: vulnerability.vulnerable_version_range.clone(),
                    patched_versions: vulnerability.patched_versions.clone(),
                    vulnerable_functions: vulnerability
                        .vulnerable_functions
                        .clone()
                        .unwrap_or_default(),
                })
                .collect(),
            credits,
        }
    }
}

/// An event's `action` field, one enum per event: the actions herald tells apart, and any
/// other kept as `Other`, in GitHub's words.
macro_rules! actions {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(match text.as_str() {
                    $($text => $name::$variant,)*
                    _ => $name::Other(text),
                })
            }
        }
    };
}

actions!(
    /// `repository_advisory`'s, and `reconciled` for what herald's poller found.
    RepositoryAdvisoryAction { Reported = "reported", Published = "published", Reconciled = "reconciled" }
);
actions!(
    /// `security_advisory`'s (the global GitHub Advisory Database).
    SecurityAdvisoryAction { Published = "published", Updated = "updated", Withdrawn = "withdrawn" }
);
actions!(
    /// `issues`'.
    IssuesAction { Labeled = "labeled", Unlabeled = "unlabeled" }
);
actions!(
    /// `issue_comment`'s.
    IssueCommentAction { Created = "created", Edited = "edited", Deleted = "deleted" }
);
actions!(
    /// `pull_request`'s.
    PullRequestAction { Opened = "opened", Edited = "edited", Reopened = "reopened", Closed = "closed" }
);
actions!(
    /// `release`'s.
    ReleaseAction { Published = "published" }
);
actions!(
    /// `installation`'s.
    InstallationAction { Created = "created", Deleted = "deleted", Suspend = "suspend", Unsuspend = "unsuspend" }
);
actions!(
    /// `installation_repositories`'.
    InstallationRepositoriesAction { Added = "added", Removed = "removed" }
);

#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryAdvisoryEvent {
    pub action: RepositoryAdvisoryAction,
    pub repository_advisory: RepositoryAdvisory,
    pub repository: Repository,
    pub sender: Option<User>,
    pub installation: Option<InstallationRef>,
}

/// What ingest reads of a delivery: the keys that decide whether and how it is kept, with
/// the rest of the body skipped (checked to be JSON, not parsed into types). The worker
/// parses the whole payload, typed, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub action: Option<String>,
    pub repository: Option<RepoName>,
    pub installation_id: Option<InstallationId>,
    /// A `repository_advisory`'s GHSA id: with the repository, its incident.
    pub ghsa_id: Option<GhsaId>,
}

/// The fields of an [`Envelope`] as a body has them, borrowed where it can.
#[derive(Deserialize)]
struct EnvelopeFields<'a> {
    #[serde(borrow, default)]
    action: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    repository: Option<NamedRepository>,
    #[serde(default)]
    installation: Option<InstallationRef>,
    #[serde(default)]
    repository_advisory: Option<AdvisoryKey>,
    // The objects each event's payload is about, looked for and skipped: a body that lacks
    // its event's is not that event's (`X-GitHub-Event` is not signed), so it is refused
    // here rather than failing its job later.
    #[serde(default)]
    issue: Option<IgnoredAny>,
    #[serde(default)]
    comment: Option<IgnoredAny>,
    #[serde(default)]
    pull_request: Option<IgnoredAny>,
    #[serde(default)]
    release: Option<IgnoredAny>,
    #[serde(default)]
    security_advisory: Option<IgnoredAny>,
    #[serde(default, rename = "ref")]
    reference: Option<IgnoredAny>,
}

impl EnvelopeFields<'_> {
    /// The first of the objects `kind`'s payload is about that this body lacks.
    fn lacking(&self, kind: EventKind) -> Option<&'static str> {
        let objects: &[(&'static str, bool)] = match kind {
            EventKind::Issues => &[("issue", self.issue.is_some())],
            EventKind::IssueComment => &[
                ("issue", self.issue.is_some()),
                ("comment", self.comment.is_some()),
            ],
            EventKind::PullRequest => &[("pull_request", self.pull_request.is_some())],
            EventKind::Release => &[("release", self.release.is_some())],
            EventKind::SecurityAdvisory => {
                &[("security_advisory", self.security_advisory.is_some())]
            }
            EventKind::Push => &[("ref", self.reference.is_some())],
            EventKind::Ping
            | EventKind::RepositoryAdvisory
            | EventKind::Installation
            | EventKind::InstallationRepositories => &[],
        };
        objects
            .iter()
            .find(|(_, present)| !present)
            .map(|(name, _)| *name)
    }
}

#[derive(Deserialize)]
struct NamedRepository {
    full_name: RepoName,
}

#[derive(Deserialize)]
struct AdvisoryKey {
    ghsa_id: GhsaId,
}

impl Envelope {
    /// Reads `body`'s envelope as `kind`'s payload has it: a key the typed payload of
    /// `kind` requires, and that ingest keeps, is required here too.
    pub fn read(kind: EventKind, body: &[u8]) -> Result<Envelope, PayloadError> {
        let fields: EnvelopeFields = typed(kind, body)?;
        let missing = |field| PayloadError::Shape {
            event: kind.as_str(),
            source: serde::de::Error::missing_field(field),
        };
        let lacking = fields.lacking(kind);
        let keys = kind.envelope();
        let envelope = Envelope {
            action: fields
                .action
                .filter(|_| keys.action)
                .map(|text| text.into_owned()),
            repository: fields
                .repository
                .filter(|_| keys.repository)
                .map(|named| named.full_name),
            installation_id: fields
                .installation
                .filter(|_| keys.installation != Needs::Nothing)
                .map(|reference| reference.id),
            ghsa_id: fields.repository_advisory.map(|advisory| advisory.ghsa_id),
        };
        if keys.action && envelope.action.is_none() {
            return Err(missing("action"));
        }
        if envelope
            .action
            .as_deref()
            .is_some_and(|action| !is_action_name(action))
        {
            return Err(PayloadError::Shape {
                event: kind.as_str(),
                source: serde::de::Error::custom(
                    "its action is not an action name (1 to 64 lowercase letters and underscores)",
                ),
            });
        }
        if keys.repository && envelope.repository.is_none() {
            return Err(missing("repository"));
        }
        if keys.installation == Needs::Required && envelope.installation_id.is_none() {
            return Err(missing("installation"));
        }
        if kind == EventKind::RepositoryAdvisory && envelope.ghsa_id.is_none() {
            return Err(missing("repository_advisory"));
        }
        if let Some(object) = lacking {
            return Err(missing(object));
        }
        Ok(envelope)
    }
}

/// Whether `action` is shaped as GitHub's action names are (`labeled`, `review_requested`):
/// the store keeps it as text, and a text such as a NUL that a database refuses would fail
/// the whole batch it came in.
fn is_action_name(action: &str) -> bool {
    (1..=64).contains(&action.len())
        && action
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
}

/// The keys an event's envelope holds: an action and a repository, each required when
/// held, and an installation.
struct EnvelopeKeys {
    action: bool,
    repository: bool,
    installation: Needs,
}

/// Whether an envelope reads a key, and whether the payload must have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    Optional,
    Required,
}

impl EventKind {
    /// What the envelope of this event's payload holds (what its typed payload requires,
    /// and `WebhookEvent`'s accessors return).
    fn envelope(self) -> EnvelopeKeys {
        let keys = |action, repository, installation| EnvelopeKeys {
            action,
            repository,
            installation,
        };
        match self {
            EventKind::Ping => keys(false, false, Needs::Nothing),
            EventKind::SecurityAdvisory => keys(true, false, Needs::Nothing),
            EventKind::Push => keys(false, true, Needs::Optional),
            EventKind::Installation | EventKind::InstallationRepositories => {
                keys(true, false, Needs::Required)
            }
            EventKind::RepositoryAdvisory
            | EventKind::Issues
            | EventKind::IssueComment
            | EventKind::PullRequest
            | EventKind::Release => keys(true, true, Needs::Optional),
        }
    }
}

/// The incident a `repository_advisory` delivery is about, read from its envelope, so a
/// batch of deliveries can have its incidents read in one query before it is processed.
/// `None` for other events and for payloads that do not say.
pub fn advisory_incident_key(event: &str, body: &[u8]) -> Option<(RepoName, GhsaId)> {
    if event != EventKind::RepositoryAdvisory.as_str() {
        return None;
    }
    let envelope = Envelope::read(EventKind::RepositoryAdvisory, body).ok()?;
    Some((envelope.repository?, envelope.ghsa_id?))
}

/// An advisory of the global GitHub Advisory Database.
#[derive(Debug, Clone, Deserialize)]
pub struct GlobalAdvisory {
    pub ghsa_id: GhsaId,
    pub summary: String,
    pub description: Option<String>,
    pub severity: Option<String>,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    pub html_url: Option<String>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub vulnerabilities: Vec<GlobalVulnerability>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GlobalVulnerability {
    pub package: Package,
    pub vulnerable_version_range: Option<String>,
    pub first_patched_version: Option<PatchedVersion>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PatchedVersion {
    pub identifier: String,
}

impl GlobalAdvisory {
    /// The advisory as the incident domain takes it (packages without an ecosystem, name or
    /// range cannot match a dependency and are left out).
    pub fn upstream(&self, action: &SecurityAdvisoryAction) -> UpstreamAdvisory {
        UpstreamAdvisory {
            ghsa_id: self.ghsa_id.clone(),
            cve_id: self
                .identifiers
                .iter()
                .find(|identifier| identifier.kind.eq_ignore_ascii_case("CVE"))
                .map(|identifier| identifier.value.clone()),
            summary: self.summary.clone(),
            description: self.description.clone().unwrap_or_default(),
            severity_word: self.severity.clone(),
            html_url: self.html_url.clone(),
            vulnerabilities: self
                .vulnerabilities
                .iter()
                .filter_map(|vulnerability| {
                    Some(UpstreamVulnerability {
                        ecosystem: vulnerability.package.ecosystem.clone()?,
                        name: vulnerability.package.name.clone()?,
                        vulnerable_range: vulnerability.vulnerable_version_range.clone()?,
                        first_patched: vulnerability
                            .first_patched_version
                            .as_ref()
                            .map(|patched| patched.identifier.clone()),
                    })
                })
                .collect(),
            withdrawn: *action == SecurityAdvisoryAction::Withdrawn || self.withdrawn_at.is_some(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecurityAdvisoryEvent {
    pub action: SecurityAdvisoryAction,
    pub security_advisory: GlobalAdvisory,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub user: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IssuesEvent {
    pub action: IssuesAction,
    pub issue: Issue,
    pub label: Option<Label>,
    pub repository: Repository,
    pub sender: Option<User>,
    pub installation: Option<InstallationRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub body: Option<String>,
    pub user: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IssueCommentEvent {
    pub action: IssueCommentAction,
    pub issue: Issue,
    pub comment: Comment,
    pub repository: Repository,
    pub sender: Option<User>,
    pub installation: Option<InstallationRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub state: String,
    pub merged: Option<bool>,
    pub html_url: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub base: Option<BranchRef>,
    pub head: Option<BranchRef>,
    /// Who opened it.
    pub user: Option<Account>,
}

/// A pull request's base or head.
#[derive(Debug, Clone, Deserialize)]
pub struct BranchRef {
    #[serde(rename = "ref")]
    pub name: String,
    /// The repository the branch is in (`null` once a fork is deleted).
    pub repo: Option<BranchRepository>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BranchRepository {
    pub full_name: String,
}

/// A release as the `release` webhook carries it.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub tag_name: String,
    pub html_url: Option<String>,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub prerelease: bool,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseEvent {
    pub action: ReleaseAction,
    pub release: Release,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestEvent {
    pub action: PullRequestAction,
    pub number: u64,
    pub pull_request: PullRequest,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
}

impl PullRequestEvent {
    /// One of herald's own pull requests, by what GitHub authenticated: opened by herald's
    /// App (its bot login `app_bot`; none is herald's while GitHub has not told it) from a
    /// branch of this very repository (where only those who may write to it push), named
    /// as herald names its branches. The name alone proves nothing: anyone can open a pull
    /// request from a fork's `herald/` branch.
    pub fn is_heralds(&self, app_bot: Option<&str>) -> bool {
        let pull = &self.pull_request;
        let by_an_app = pull.user.as_ref().is_some_and(|user| {
            user.kind.as_deref() == Some("Bot")
                && app_bot.is_some_and(|login| user.login.eq_ignore_ascii_case(login))
        });
        let from_here = pull
            .head
            .as_ref()
            .and_then(|head| head.repo.as_ref())
            .is_some_and(|repo| {
                repo.full_name
                    .eq_ignore_ascii_case(self.repository.full_name.as_str())
            });
        let heralds_branch = pull
            .head
            .as_ref()
            .is_some_and(|head| head.name.starts_with("herald/"));
        by_an_app && from_here && heralds_branch
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub login: String,
    /// `User` or `Organization`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: InstallationId,
    pub account: Option<Account>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationRepository {
    pub full_name: RepoName,
    #[serde(default)]
    pub private: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationEvent {
    pub action: InstallationAction,
    pub installation: Installation,
    pub repositories: Option<Vec<InstallationRepository>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationRepositoriesEvent {
    pub action: InstallationRepositoriesAction,
    pub installation: Installation,
    #[serde(default)]
    pub repositories_added: Vec<InstallationRepository>,
    #[serde(default)]
    pub repositories_removed: Vec<InstallationRepository>,
}

/// One commit of a push.
#[derive(Debug, Clone, Deserialize)]
pub struct PushCommit {
    pub id: String,
    pub message: String,
    pub url: Option<String>,
}

/// A push to a branch or tag: herald reads it only for commits that name an advisory
/// before its disclosure (a possible embargo break).
#[derive(Debug, Clone, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub commits: Vec<PushCommit>,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
}

impl PushEvent {
    /// Whether a push body could name an advisory: the ingest keeps only those, since
    /// pushes are many and almost never do.
    pub fn may_name_an_advisory(body: &[u8]) -> bool {
        body.windows(5).any(|window| {
            window.eq_ignore_ascii_case(b"GHSA-") || window[..4].eq_ignore_ascii_case(b"CVE-")
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PingEvent {
    pub zen: Option<String>,
    pub hook_id: Option<u64>,
}

/// A parsed delivery of an event herald handles.
#[derive(Debug, Clone)]
pub enum WebhookEvent {
    Ping(PingEvent),
    RepositoryAdvisory(Box<RepositoryAdvisoryEvent>),
    SecurityAdvisory(SecurityAdvisoryEvent),
    Issues(Box<IssuesEvent>),
    IssueComment(Box<IssueCommentEvent>),
    PullRequest(Box<PullRequestEvent>),
    Release(Box<ReleaseEvent>),
    Installation(InstallationEvent),
    InstallationRepositories(InstallationRepositoriesEvent),
    Push(Box<PushEvent>),
}

fn typed<'a, T: Deserialize<'a>>(kind: EventKind, body: &'a [u8]) -> Result<T, PayloadError> {
    serde_json::from_slice(body).map_err(|error| {
        if error.is_data() {
            PayloadError::Shape {
                event: kind.as_str(),
                source: error,
            }
        } else {
            PayloadError::Malformed(error)
        }
    })
}

/// A person's comment or label on an issue, which may be a command to herald.
pub struct MaintainerSignal<'a> {
    pub repository: &'a RepoName,
    pub issue: u64,
    pub sender: &'a str,
}

impl WebhookEvent {
    /// A comment with `/herald` in it or a label change, by a person, on some issue.
    pub fn maintainer_signal(&self) -> Option<MaintainerSignal<'_>> {
        let (repository, issue, sender) = match self {
            WebhookEvent::IssueComment(event)
                if event.action == IssueCommentAction::Created
                    && event
                        .comment
                        .body
                        .as_deref()
                        .is_some_and(|body| body.contains("/herald")) =>
            {
                (
                    &event.repository,
                    event.issue.number,
                    event.sender.as_ref()?,
                )
            }
            WebhookEvent::Issues(event)
                if matches!(
                    event.action,
                    IssuesAction::Labeled | IssuesAction::Unlabeled
                ) && event.label.is_some() =>
            {
                (
                    &event.repository,
                    event.issue.number,
                    event.sender.as_ref()?,
                )
            }
            _ => return None,
        };
        (!sender.is_bot()).then_some(MaintainerSignal {
            repository: &repository.full_name,
            issue,
            sender: &sender.login,
        })
    }

    pub fn parse(kind: EventKind, body: &[u8]) -> Result<WebhookEvent, PayloadError> {
        Ok(match kind {
            EventKind::Ping => WebhookEvent::Ping(typed(kind, body)?),
            EventKind::RepositoryAdvisory => {
                WebhookEvent::RepositoryAdvisory(Box::new(typed(kind, body)?))
            }
            EventKind::SecurityAdvisory => WebhookEvent::SecurityAdvisory(typed(kind, body)?),
            EventKind::Issues => WebhookEvent::Issues(Box::new(typed(kind, body)?)),
            EventKind::IssueComment => WebhookEvent::IssueComment(Box::new(typed(kind, body)?)),
            EventKind::PullRequest => WebhookEvent::PullRequest(Box::new(typed(kind, body)?)),
            EventKind::Release => WebhookEvent::Release(Box::new(typed(kind, body)?)),
            EventKind::Installation => WebhookEvent::Installation(typed(kind, body)?),
            EventKind::InstallationRepositories => {
                WebhookEvent::InstallationRepositories(typed(kind, body)?)
            }
            EventKind::Push => WebhookEvent::Push(Box::new(typed(kind, body)?)),
        })
    }

    /// Checks that a body of an event herald ignores is at least JSON.
    pub fn check_json(body: &[u8]) -> Result<(), PayloadError> {
        serde_json::from_slice::<IgnoredAny>(body)
            .map(drop)
            .map_err(PayloadError::Malformed)
    }

    pub fn action(&self) -> Option<&str> {
        match self {
            WebhookEvent::Ping(_) => None,
            WebhookEvent::RepositoryAdvisory(event) => Some(event.action.as_str()),
            WebhookEvent::SecurityAdvisory(event) => Some(event.action.as_str()),
            WebhookEvent::Issues(event) => Some(event.action.as_str()),
            WebhookEvent::IssueComment(event) => Some(event.action.as_str()),
            WebhookEvent::PullRequest(event) => Some(event.action.as_str()),
            WebhookEvent::Release(event) => Some(event.action.as_str()),
            WebhookEvent::Installation(event) => Some(event.action.as_str()),
            WebhookEvent::InstallationRepositories(event) => Some(event.action.as_str()),
            WebhookEvent::Push(_) => None,
        }
    }

    /// The repository the event is about, `owner/name`.
    pub fn repository(&self) -> Option<&RepoName> {
        match self {
            WebhookEvent::RepositoryAdvisory(event) => Some(&event.repository.full_name),
            WebhookEvent::Issues(event) => Some(&event.repository.full_name),
            WebhookEvent::IssueComment(event) => Some(&event.repository.full_name),
            WebhookEvent::PullRequest(event) => Some(&event.repository.full_name),
            WebhookEvent::Release(event) => Some(&event.repository.full_name),
            WebhookEvent::Push(event) => Some(&event.repository.full_name),
            WebhookEvent::Ping(_)
            | WebhookEvent::SecurityAdvisory(_)
            | WebhookEvent::Installation(_)
            | WebhookEvent::InstallationRepositories(_) => None,
        }
    }

    pub fn installation_id(&self) -> Option<InstallationId> {
        match self {
            WebhookEvent::RepositoryAdvisory(event) => event.installation.as_ref().map(|i| i.id),
            WebhookEvent::Issues(event) => event.installation.as_ref().map(|i| i.id),
            WebhookEvent::IssueComment(event) => event.installation.as_ref().map(|i| i.id),
            WebhookEvent::PullRequest(event) => event.installation.as_ref().map(|i| i.id),
            WebhookEvent::Release(event) => event.installation.as_ref().map(|i| i.id),
            WebhookEvent::Push(event) => event.installation.as_ref().map(|i| i.id),
            WebhookEvent::Installation(event) => Some(event.installation.id),
            WebhookEvent::InstallationRepositories(event) => Some(event.installation.id),
            WebhookEvent::Ping(_) | WebhookEvent::SecurityAdvisory(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Envelope, EventKind, IssuesAction, RepositoryAdvisoryAction, WebhookEvent};

    /// Every example payload in `tests/fixtures`, with its event.
    fn examples() -> Vec<(String, EventKind, Vec<u8>)> {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut examples = Vec::new();
        for entry in std::fs::read_dir(folder).expect("fixtures") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let event = name.split('.').next().expect("event");
            if let (Some(kind), true) = (EventKind::from_name(event), name.ends_with(".json")) {
                examples.push((name, kind, std::fs::read(&path).expect("read")));
            }
        }
        assert!(examples.len() >= 20, "{examples:?}");
        examples
    }

    #[test]
    fn the_envelope_says_what_the_whole_typed_payload_says() {
        for (name, kind, body) in examples() {
            let event = WebhookEvent::parse(kind, &body).expect("a GitHub example");
            let envelope = Envelope::read(kind, &body).expect("its envelope");
            assert_eq!(envelope.action.as_deref(), event.action(), "{name}");
            assert_eq!(envelope.repository.as_ref(), event.repository(), "{name}");
            assert_eq!(envelope.installation_id, event.installation_id(), "{name}");
            let ghsa = match &event {
                WebhookEvent::RepositoryAdvisory(advisory) => {
                    Some(advisory.repository_advisory.ghsa_id.clone())
                }
                _ => None,
            };
            assert_eq!(envelope.ghsa_id, ghsa, "{name}");
        }
    }

    #[test]
    fn an_envelope_without_the_keys_ingest_keeps_is_refused_in_serdes_words() {
        let refused = |kind: EventKind, body: &str| {
            Envelope::read(kind, body.as_bytes())
                .expect_err(body)
                .to_string()
        };
        let advisory = EventKind::RepositoryAdvisory;
        let message = refused(
            advisory,
            r#"{"action":"reported","repository_advisory":{}}"#,
        );
        assert!(message.contains("missing field `ghsa_id`"), "{message}");
        let message = refused(
            advisory,
            r#"{"action":"reported","repository_advisory":{"ghsa_id":"GHSA-../../x"}}"#,
        );
        assert!(message.contains("is not a GHSA id"), "{message}");
        let message = refused(
            advisory,
            r#"{"action":"reported","repository_advisory":{"ghsa_id":"GHSA-abcd-1234-efgh"}}"#,
        );
        assert!(message.contains("missing field `repository`"), "{message}");
        let message = refused(EventKind::Issues, r#"{"repository":{"full_name":"o/r"}}"#);
        assert!(message.contains("missing field `action`"), "{message}");
        let message = refused(EventKind::Installation, r#"{"action":"created"}"#);
        assert!(
            message.contains("missing field `installation`"),
            "{message}"
        );
        // PostgreSQL refuses a NUL in text: it would fail the batch the delivery came in.
        let message = refused(
            EventKind::Issues,
            r#"{"action":"labeled\u0000","issue":{},"repository":{"full_name":"o/r"}}"#,
        );
        assert!(message.contains("not an action name"), "{message}");
        let long = format!(
            r#"{{"action":"{}","issue":{{}},"repository":{{"full_name":"o/r"}}}}"#,
            "a".repeat(65)
        );
        let message = refused(EventKind::Issues, &long);
        assert!(message.contains("not an action name"), "{message}");
        let message = refused(EventKind::Issues, r#"{"action": 1}"#);
        assert!(message.contains("GitHub's shape"), "{message}");
        let message = refused(EventKind::Issues, r#"{"action":"labeled""#);
        assert!(message.starts_with("malformed JSON"), "{message}");
    }

    /// `X-GitHub-Event` is not signed: a signed body sent under an event it is not, such as
    /// a `star` or `ping` body herald did not store sent again as `issue_comment`, lacks
    /// that event's objects and is refused.
    #[test]
    fn a_body_without_its_events_objects_is_refused() {
        let star = r#"{"action":"created","starred_at":"2026-12-07T00:00:00Z","repository":{"full_name":"o/r"},"sender":{"login":"x"}}"#;
        let with_issue = r#"{"action":"created","issue":{},"repository":{"full_name":"o/r"}}"#;
        let cases = [
            (EventKind::IssueComment, star, "issue"),
            (EventKind::IssueComment, with_issue, "comment"),
            (EventKind::Issues, star, "issue"),
            (EventKind::PullRequest, star, "pull_request"),
            (EventKind::Release, star, "release"),
            (EventKind::SecurityAdvisory, star, "security_advisory"),
            (
                EventKind::Push,
                r#"{"repository":{"full_name":"o/r"}}"#,
                "ref",
            ),
        ];
        for (kind, body, object) in cases {
            let message = Envelope::read(kind, body.as_bytes())
                .expect_err(body)
                .to_string();
            assert!(
                message.contains(&format!("missing field `{object}`")),
                "{kind:?}: {message}"
            );
        }
    }

    #[test]
    fn an_action_herald_does_not_know_is_kept_in_githubs_words() {
        let known: IssuesAction = serde_json::from_str(r#""labeled""#).expect("an action");
        assert_eq!(known, IssuesAction::Labeled);
        let unknown: IssuesAction = serde_json::from_str(r#""typed""#).expect("an action");
        assert_eq!(unknown, IssuesAction::Other("typed".to_owned()));
        assert_eq!(unknown.as_str(), "typed");
        let reconciled: RepositoryAdvisoryAction =
            serde_json::from_str(r#""reconciled""#).expect("an action");
        assert_eq!(reconciled.as_str(), "reconciled");
        assert!(
            serde_json::from_str::<IssuesAction>("7").is_err(),
            "a string"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::config;
    use proptest::prelude::*;
    use serde_json::Value;

    /// GitHub's example payloads, one per event herald reads.
    const EXAMPLES: &[(EventKind, &str)] = &[
        (
            EventKind::Ping,
            include_str!("../../tests/fixtures/ping.0.json"),
        ),
        (
            EventKind::RepositoryAdvisory,
            include_str!("../../tests/fixtures/repository_advisory.reported.composed.json"),
        ),
        (
            EventKind::SecurityAdvisory,
            include_str!("../../tests/fixtures/security_advisory.published.0.json"),
        ),
        (
            EventKind::Issues,
            include_str!("../../tests/fixtures/issues.labeled.0.json"),
        ),
        (
            EventKind::IssueComment,
            include_str!("../../tests/fixtures/issue_comment.created.0.json"),
        ),
        (
            EventKind::PullRequest,
            include_str!("../../tests/fixtures/pull_request.closed.0.json"),
        ),
        (
            EventKind::Release,
            include_str!("../../tests/fixtures/release.published.composed.json"),
        ),
        (
            EventKind::Installation,
            include_str!("../../tests/fixtures/installation.created.0.json"),
        ),
    ];

    /// Keys GitHub's payloads use, at any depth.
    const KEYS: &[&str] = &[
        "action",
        "repository",
        "full_name",
        "installation",
        "id",
        "sender",
        "login",
        "type",
        "repository_advisory",
        "security_advisory",
        "ghsa_id",
        "issue",
        "number",
        "comment",
        "body",
        "label",
        "name",
        "pull_request",
        "merged",
        "release",
        "tag_name",
        "ref",
        "commits",
        "message",
        "credits_detailed",
        "state",
        "vulnerabilities",
        "package",
    ];

    fn json() -> impl Strategy<Value = Value> {
        crate::properties::json(
            KEYS,
            &[
                "GHSA-abcd-1234-efgh",
                "octo/repo",
                "../../x",
                "2026-11-02T09:30:00Z",
            ],
        )
    }

    /// Every JSON pointer into `value`.
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(key, inner)| {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(here.clone());
                pointers(inner, here, out);
            }),
            Value::Array(items) => items.iter().enumerate().for_each(|(index, inner)| {
                let here = format!("{at}/{index}");
                out.push(here.clone());
                pointers(inner, here, out);
            }),
            _ => {}
        }
    }

    /// What ingest and the worker ask of a parsed event.
    fn read_everything(kind: EventKind, body: &[u8]) {
        if let Ok(event) = WebhookEvent::parse(kind, body) {
            let _ = (event.action(), event.repository(), event.installation_id());
            let _ = event.maintainer_signal();
            match &event {
                WebhookEvent::RepositoryAdvisory(event) => {
                    let _ = event.repository_advisory.snapshot();
                }
                WebhookEvent::SecurityAdvisory(event) => {
                    let _ = event.security_advisory.upstream(&event.action);
                }
                _ => {}
            }
        }
        let _ = advisory_incident_key(kind.as_str(), body);
        let _ = PushEvent::may_name_an_advisory(body);
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_bytes_are_parsed_or_refused(
            kind in prop::sample::select(EventKind::ALL.to_vec()),
            body in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            read_everything(kind, &body);
        }

        #[test]
        fn any_json_is_parsed_or_refused(
            kind in prop::sample::select(EventKind::ALL.to_vec()),
            body in json(),
        ) {
            read_everything(kind, &serde_json::to_vec(&body).expect("JSON"));
        }

        #[test]
        fn githubs_examples_with_any_field_changed_are_parsed_or_refused(
            example in prop::sample::select(EXAMPLES.to_vec()),
            at in any::<prop::sample::Index>(),
            value in json(),
        ) {
            let (kind, text) = example;
            let mut payload: Value = serde_json::from_str(text).expect("an example");
            let mut all = Vec::new();
            pointers(&payload, String::new(), &mut all);
            if let Some(slot) = payload.pointer_mut(&all[at.index(all.len())]) {
                *slot = value;
            }
            read_everything(kind, &serde_json::to_vec(&payload).expect("JSON"));
        }
    }

    #[test]
    fn a_deep_nest_is_refused_without_exhausting_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for kind in EventKind::ALL {
            read_everything(kind, deep.as_bytes());
            assert!(WebhookEvent::parse(kind, deep.as_bytes()).is_err());
        }
    }
}
