//! A stateful fake of GitHub's REST API (version 2022-11-28) on a loopback port.
//!
//! herald reaches it through octocrab with `base_uri` set to [`FakeGitHub::url`]. Like
//! rust-lang/bors's wiremock "world", the state lives in one `Arc<Mutex<World>>`: tests seed
//! it (installations, repositories, files, permissions, advisories), herald changes it
//! through the API (issues, labels, comments, CVE requests, branches, file commits, pull
//! requests), and tests read it back. Each repository has git state: branches pointing at
//! commits, each commit holding a full snapshot of the files, so a branch made from `main`
//! starts with `main`'s files and diverges from there. Pull requests share the issues'
//! number sequence and show through the issues API, as on GitHub. Every request is
//! recorded; one the fake does not know is answered 404 and listed in
//! [`FakeGitHub::unexpected`], so a test can assert herald called nothing else.
//!
//! Answers follow GitHub's documented shapes closely enough for octocrab's typed models
//! (full user, label and issue objects), authentication is checked the way GitHub checks it
//! (an RS256 app JWT for `/app/...`, an installation token everywhere else), and every answer
//! carries GitHub's rate-limit headers.

#![allow(dead_code)] // each test binary uses its own part of the fake

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::task::JoinHandle;

const DOCS: &str = "https://docs.github.com/rest";
const APP_SLUG: &str = "herald-test";
const APP_NAME: &str = "herald test";
const APP_OWNER: &str = "herald-dev";
/// The login GitHub shows for anything the App does with an installation token.
pub const BOT_LOGIN: &str = "herald-test[bot]";
const RATE_LIMIT: u64 = 5000;
/// GitHub refuses app JWTs living longer than 10 minutes; allow a minute of clock drift.
const MAX_JWT_LIFETIME_SECS: i64 = 600 + 60;
const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
const ROLES: [&str; 6] = ["admin", "maintain", "write", "triage", "read", "none"];
const SECONDARY_RATE_LIMIT: &str = "You have exceeded a secondary rate limit. Please wait a few \
     minutes before you try again. If you reach out to GitHub Support for help, please include \
     the request ID";

/// Ids of issues, comments, labels and repositories; one sequence for the whole process, so
/// ids never collide even across fakes (GitHub's are global too).
static NEXT_ID: AtomicU64 = AtomicU64::new(1_000_001);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// What tests see
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// As sent, still percent-encoded (`/repos/o/r/issues/1/labels/severity%3Ahigh`).
    pub path: String,
    pub query: Option<String>,
    /// The JSON body, or the text as a JSON string when it was not JSON.
    pub body: Option<Value>,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub state: String,
    pub assignees: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    pub id: u64,
    pub body: String,
    pub user: String,
}

/// A pull request as stored; `head` and `base` are branch names (no `owner:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    /// `open` or `closed`.
    pub state: String,
    pub labels: Vec<String>,
}

/// One commit of a branch's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCommit {
    pub sha: String,
    pub message: String,
    /// Paths the commit wrote; empty for the repository's initial commit.
    pub files_changed: Vec<String>,
}

/// The fake; the server task stops when this is dropped.
pub struct FakeGitHub {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    world: Arc<Mutex<World>>,
    server: JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGitHub {
    /// Serves the fake on a loopback port; app JWTs must be signed by the key matching
    /// `public_key_pem` and carry `iss == app_id`.
    pub async fn start(app_id: u64, public_key_pem: &str) -> FakeGitHub {
        let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
            .expect("fake GitHub: the app public key must be an RSA public key in PEM");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake GitHub: bind a loopback port");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("fake GitHub: local address")
        );
        let world = Arc::new(Mutex::new(World::new(app_id, key, &url)));
        // One fallback handler instead of an axum route table: the fake must see every
        // request, known or not, to record it, check its credentials and inject failures.
        let app = Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&world));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("fake GitHub stopped: {error}");
            }
        });
        FakeGitHub { url, world, server }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A panicking test thread must not hide the state from the others.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_repo<T>(&self, full_name: &str, f: impl FnOnce(&mut Repo) -> T) -> T {
        let mut world = self.world();
        let repo = world
            .repos
            .get_mut(&full_name.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("fake GitHub: no repository {full_name}; add it first"));
        f(repo)
    }

    // ---- seeding ----------------------------------------------------------------------

    pub fn add_installation(&self, id: u64, account: &str) {
        self.world().installations.insert(id, account.to_owned());
    }

    /// Adds `owner/name` (default branch `main`) to installation `installation_id`; only that
    /// installation's tokens can see it.
    pub fn add_repository(&self, full_name: &str, private: bool, installation_id: u64) {
        let (owner, name) = full_name
            .split_once('/')
            .expect("fake GitHub: a repository is named owner/name");
        let mut world = self.world();
        assert!(
            world.installations.contains_key(&installation_id),
            "fake GitHub: add_installation({installation_id}, ..) before its repositories"
        );
        world.repos.insert(
            full_name.to_ascii_lowercase(),
            Repo::new(owner, name, private, installation_id),
        );
    }

    /// Commits a file to the default branch, as a push outside herald would.
    pub fn put_file(&self, repo: &str, path: &str, content: &str) {
        self.with_repo(repo, |repo| {
            let branch = repo.default_branch.clone();
            repo.seed_file(&branch, path, content);
        });
    }

    /// Commits a file to `branch`, which must exist, as a push outside herald would.
    pub fn put_file_on(&self, repo: &str, branch: &str, path: &str, content: &str) {
        self.with_repo(repo, |repo| repo.seed_file(branch, path, content));
    }

    /// Creates `branch` at the head of `from`, as a push outside herald would (say a branch
    /// left by an earlier run).
    pub fn create_branch(&self, repo: &str, branch: &str, from: &str) {
        self.with_repo(repo, |repo| {
            let sha =
                repo.branches.get(from).cloned().unwrap_or_else(|| {
                    panic!("fake GitHub: no branch {from} in {}", repo.full_name())
                });
            assert!(
                repo.branches.insert(branch.to_owned(), sha).is_none(),
                "fake GitHub: branch {branch} already exists in {}",
                repo.full_name()
            );
        });
    }

    /// The repository's discussions (GraphQL only), oldest first.
    pub fn discussions(&self, repo: &str) -> Vec<FakeDiscussion> {
        self.with_repo(repo, |repo| repo.discussions.clone())
    }

    /// The next `createDiscussion` creates the discussion but answers 502 (a lost answer).
    pub fn lose_next_discussion(&self) {
        self.world().lose_next_discussion = true;
    }

    /// The repository's dependency graph, as the purls of its packages
    /// (`pkg:pypi/django@2.0.1`); without it, the graph is off and GitHub answers 404.
    pub fn set_sbom(&self, repo: &str, purls: &[&str]) {
        self.with_repo(repo, |repo| {
            repo.sbom = Some(purls.iter().map(|purl| (*purl).to_owned()).collect())
        });
    }

    /// `permission` is a repository role: admin, maintain, write, triage, read or none.
    pub fn set_permission(&self, repo: &str, login: &str, permission: &str) {
        assert!(
            ROLES.contains(&permission),
            "fake GitHub: unknown role {permission:?}, expected one of {ROLES:?}"
        );
        self.with_repo(repo, |repo| {
            repo.roles
                .insert(login.to_ascii_lowercase(), permission.to_owned())
        });
    }

    /// Inserts the advisory, or replaces the one with the same `ghsa_id`; either way the
    /// list's ETag changes. The value is served as given, so give it GitHub's shape.
    pub fn put_advisory(&self, repo: &str, advisory: Value) {
        let ghsa_id = advisory["ghsa_id"]
            .as_str()
            .expect("fake GitHub: an advisory needs a string ghsa_id")
            .to_owned();
        self.with_repo(repo, |repo| {
            match repo
                .advisories
                .iter_mut()
                .find(|stored| stored["ghsa_id"] == ghsa_id.as_str())
            {
                Some(stored) => *stored = advisory,
                None => repo.advisories.push(advisory),
            }
            repo.advisories_version += 1;
        });
    }

    /// The next request with exactly this method and path (as sent, or percent-decoded)
    /// is answered `status` instead, once. 403 and 429 carry GitHub's secondary-rate-limit
    /// message; `retry_after_secs` adds a `Retry-After` header. Calls queue up.
    pub fn fail_next(&self, method: &str, path: &str, status: u16, retry_after_secs: Option<u64>) {
        let status = StatusCode::from_u16(status).expect("fake GitHub: a valid HTTP status");
        self.world().failures.push(Failure {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            status,
            retry_after_secs,
            message: None,
        });
    }

    /// The next request with this method and path is refused with `status` and GitHub's
    /// `message` (the shape of a validation failure), once.
    pub fn refuse_next(&self, method: &str, path: &str, status: u16, message: &str) {
        let status = StatusCode::from_u16(status).expect("fake GitHub: a valid HTTP status");
        self.world().failures.push(Failure {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            status,
            retry_after_secs: None,
            message: Some(message.to_owned()),
        });
    }

    /// Opens an issue as `user` would, outside herald; returns its number.
    pub fn open_issue(
        &self,
        repo: &str,
        user: &str,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> u64 {
        self.with_repo(repo, |repo| {
            let labels = labels.iter().map(|label| label.to_string()).collect();
            repo.open_issue(
                user,
                title.to_owned(),
                Some(body.to_owned()),
                labels,
                Vec::new(),
            )
        })
    }

    /// Comments on an issue as `user` would (say a maintainer typing a command); returns the
    /// comment id.
    pub fn add_comment(&self, repo: &str, number: u64, user: &str, body: &str) -> u64 {
        self.with_repo(repo, |repo| {
            assert!(
                repo.issue_index(number).is_some(),
                "fake GitHub: no issue #{number} in {}",
                repo.full_name()
            );
            repo.add_comment(number, user, body.to_owned())
        })
    }

    /// Edits an issue's body as a person would (say ticking a checklist box).
    pub fn edit_issue_body(&self, repo: &str, number: u64, body: &str) {
        self.with_repo(repo, |repo| {
            let index = repo.issue_index(number).unwrap_or_else(|| {
                panic!("fake GitHub: no issue #{number} in {}", repo.full_name())
            });
            let issue = &mut repo.issues[index];
            issue.body = Some(body.to_owned());
            issue.updated_at = Utc::now();
        });
    }

    /// Makes every token issued so far expired, as an hour passing would.
    pub fn expire_tokens(&self) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for token in self.world().tokens.values_mut() {
            token.expires_at = past;
        }
    }

    // ---- observing --------------------------------------------------------------------

    /// The repository's issues, without its pull requests (see [`FakeGitHub::pulls`]), though
    /// the issues API lists both, as GitHub's does.
    pub fn issues(&self, repo: &str) -> Vec<FakeIssue> {
        self.with_repo(repo, |repo| {
            repo.issues
                .iter()
                .filter(|issue| issue.pull.is_none())
                .map(|issue| FakeIssue {
                    number: issue.number,
                    title: issue.title.clone(),
                    body: issue.body.clone().unwrap_or_default(),
                    labels: issue.labels.clone(),
                    state: issue.state.clone(),
                    assignees: issue.assignees.clone(),
                })
                .collect()
        })
    }

    pub fn comments(&self, repo: &str, number: u64) -> Vec<FakeComment> {
        self.with_repo(repo, |repo| {
            repo.comments
                .iter()
                .filter(|comment| comment.issue == number)
                .map(|comment| FakeComment {
                    id: comment.id,
                    body: comment.body.clone(),
                    user: comment.user.clone(),
                })
                .collect()
        })
    }

    /// The repository's pull requests, by number.
    pub fn pulls(&self, repo: &str) -> Vec<FakePull> {
        self.with_repo(repo, |repo| {
            repo.issues
                .iter()
                .filter_map(|issue| {
                    let pull = issue.pull.as_ref()?;
                    Some(FakePull {
                        number: issue.number,
                        title: issue.title.clone(),
                        body: issue.body.clone().unwrap_or_default(),
                        head: pull.head.clone(),
                        base: pull.base.clone(),
                        state: issue.state.clone(),
                        labels: issue.labels.clone(),
                    })
                })
                .collect()
        })
    }

    /// The repository's branch names, sorted.
    pub fn branches(&self, repo: &str) -> Vec<String> {
        self.with_repo(repo, |repo| repo.branches.keys().cloned().collect())
    }

    /// The text of `path` at the head of `branch`; `None` when either does not exist.
    pub fn file(&self, repo: &str, branch: &str, path: &str) -> Option<String> {
        let path = path.trim_start_matches('/');
        self.with_repo(repo, |repo| repo.tree(branch)?.get(path).cloned())
    }

    /// The history of `branch`, oldest first (starting with the repository's initial commit,
    /// then the seeded files); empty when the branch does not exist.
    pub fn commits(&self, repo: &str, branch: &str) -> Vec<FakeCommit> {
        self.with_repo(repo, |repo| {
            let Some(head) = repo.branches.get(branch) else {
                return Vec::new();
            };
            let mut history: Vec<FakeCommit> = repo
                .ancestry(head)
                .map(|commit| FakeCommit {
                    sha: commit.sha.clone(),
                    message: commit.message.clone(),
                    files_changed: commit.files_changed.clone(),
                })
                .collect();
            history.reverse();
            history
        })
    }

    /// The repository's advisories as currently stored.
    pub fn advisories(&self, repo: &str) -> Vec<Value> {
        self.with_repo(repo, |repo| repo.advisories.clone())
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.world().requests.clone()
    }

    /// Recorded requests with exactly this method and path (as sent, or percent-decoded).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.world()
            .requests
            .iter()
            .filter(|request| request.method == method && same_path(&request.path, path))
            .count()
    }

    /// Installation tokens handed out (`POST /app/installations/{id}/access_tokens` → 201).
    pub fn token_requests(&self) -> usize {
        self.world()
            .requests
            .iter()
            .filter(|request| {
                request.method == "POST"
                    && request.status == 201
                    && request.path.starts_with("/app/installations/")
                    && request.path.ends_with("/access_tokens")
            })
            .count()
    }

    /// `"METHOD /path"` of every request no route knew.
    pub fn unexpected(&self) -> Vec<String> {
        self.world().unexpected.clone()
    }

    /// GHSA ids of accepted `POST .../security-advisories/{ghsa_id}/cve` requests, in order.
    pub fn cve_requests(&self) -> Vec<String> {
        self.world().cve_requests.clone()
    }

    /// GitHub's `Link` URLs are absolute, and so are the fake's by default. But octocrab sends
    /// installation credentials only to relative URIs or `api.github.com`, so following
    /// `page.next` with octocrab against the fake needs relative links.
    pub fn relative_links(&self, relative: bool) {
        self.world().relative_links = relative;
    }

    /// The `x-ratelimit-remaining` the next answer will start from.
    pub fn rate_limit_remaining(&self) -> u64 {
        self.world().rate_remaining
    }
}

fn same_path(recorded: &str, wanted: &str) -> bool {
    recorded == wanted || percent_decode(recorded).is_some_and(|decoded| decoded == wanted)
}

// ---------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------

struct World {
    app_id: u64,
    key: DecodingKey,
    /// Base of the absolute URLs in answers (`url`, `Link`), i.e. the fake itself.
    base: Arc<str>,
    relative_links: bool,
    installations: BTreeMap<u64, String>,
    /// Keyed by lower-cased `owner/name`: GitHub's names are case-insensitive.
    repos: BTreeMap<String, Repo>,
    tokens: HashMap<String, Token>,
    tokens_issued: u64,
    failures: Vec<Failure>,
    rate_remaining: u64,
    rate_reset: i64,
    requests_seen: u64,
    requests: Vec<RecordedRequest>,
    unexpected: Vec<String>,
    cve_requests: Vec<String>,
    /// The next `createDiscussion` loses its answer.
    lose_next_discussion: bool,
}

struct Token {
    installation_id: u64,
    expires_at: DateTime<Utc>,
}

struct Failure {
    method: String,
    path: String,
    status: StatusCode,
    retry_after_secs: Option<u64>,
    /// GitHub's message, for a refusal; else the status's own words.
    message: Option<String>,
}

struct Repo {
    id: u64,
    owner: String,
    name: String,
    private: bool,
    installation_id: u64,
    created_at: DateTime<Utc>,
    default_branch: String,
    /// Branch name → the sha of its head commit.
    branches: BTreeMap<String, String>,
    /// Every commit ever made, by sha; a branch's files are its head commit's tree.
    commits: HashMap<String, Commit>,
    /// Lower-cased login → role.
    roles: HashMap<String, String>,
    /// The repository's labels (name, id); GitHub creates one when an issue first uses it.
    labels: Vec<(String, u64)>,
    /// Issues and pull requests: one number sequence, as on GitHub.
    issues: Vec<Issue>,
    comments: Vec<Comment>,
    advisories: Vec<Value>,
    /// Bumped on every advisory change, so the list's ETag changes even if a replacement
    /// serialises the same.
    advisories_version: u64,
    /// The dependency graph's packages as purls; `None`: the dependency graph is off (404).
    sbom: Option<Vec<String>>,
    discussions: Vec<FakeDiscussion>,
}

/// A discussion, as GitHub Discussions keeps it (GraphQL only).
#[derive(Debug, Clone)]
pub struct FakeDiscussion {
    pub id: String,
    pub number: u64,
    pub category: String,
    pub title: String,
    pub body: String,
    pub comments: Vec<String>,
}

/// Every repository has these discussion categories (GitHub's defaults), as (id, name).
const DISCUSSION_CATEGORIES: [(&str, &str); 3] = [
    ("DIC_kwDOfakeA", "Announcements"),
    ("DIC_kwDOfakeG", "General"),
    ("DIC_kwDOfakeQ", "Q&A"),
];

struct Issue {
    id: u64,
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    state_reason: Option<String>,
    labels: Vec<String>,
    assignees: Vec<String>,
    user: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    /// Set when the issue is a pull request.
    pull: Option<Pull>,
}

/// What a pull request has beyond its issue.
struct Pull {
    /// GitHub's pull-request id differs from the id of the issue it is.
    id: u64,
    /// Branch names in this repository (the fake has no forks).
    head: String,
    base: String,
    draft: bool,
}

struct Commit {
    sha: String,
    parent: Option<String>,
    message: String,
    files_changed: Vec<String>,
    /// The whole tree after this commit: path → text.
    tree: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
}

struct Comment {
    id: u64,
    issue: u64,
    body: String,
    user: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl World {
    fn new(app_id: u64, key: DecodingKey, base: &str) -> World {
        World {
            app_id,
            key,
            base: Arc::from(base),
            relative_links: false,
            installations: BTreeMap::new(),
            repos: BTreeMap::new(),
            tokens: HashMap::new(),
            tokens_issued: 0,
            failures: Vec::new(),
            rate_remaining: RATE_LIMIT,
            rate_reset: Utc::now().timestamp() + 3600,
            requests_seen: 0,
            requests: Vec::new(),
            unexpected: Vec::new(),
            cve_requests: Vec::new(),
            lose_next_discussion: false,
        }
    }
}

impl Repo {
    fn new(owner: &str, name: &str, private: bool, installation_id: u64) -> Repo {
        let created_at = Utc::now();
        let id = next_id();
        let initial = Commit {
            sha: commit_sha(id, None, "Initial commit"),
            parent: None,
            message: "Initial commit".to_owned(),
            files_changed: Vec::new(),
            tree: BTreeMap::new(),
            created_at,
        };
        let default_branch = "main".to_owned();
        Repo {
            id,
            owner: owner.to_owned(),
            name: name.to_owned(),
            private,
            installation_id,
            created_at,
            branches: BTreeMap::from([(default_branch.clone(), initial.sha.clone())]),
            commits: HashMap::from([(initial.sha.clone(), initial)]),
            default_branch,
            roles: HashMap::new(),
            labels: Vec::new(),
            issues: Vec::new(),
            comments: Vec::new(),
            advisories: Vec::new(),
            advisories_version: 0,
            sbom: None,
            discussions: Vec::new(),
        }
    }

    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn issue_index(&self, number: u64) -> Option<usize> {
        self.issues.iter().position(|issue| issue.number == number)
    }

    /// The index of pull request `number` (an issue that is not one does not count).
    /// Whether an open pull request other than `except` goes from `head` into `base`.
    fn open_pull_for(&self, head: &str, base: &str, except: Option<u64>) -> bool {
        self.issues.iter().any(|issue| {
            issue.state == "open"
                && Some(issue.number) != except
                && issue
                    .pull
                    .as_ref()
                    .is_some_and(|pull| pull.head == head && pull.base == base)
        })
    }

    fn pull_index(&self, number: u64) -> Option<usize> {
        self.issue_index(number)
            .filter(|index| self.issues[*index].pull.is_some())
    }

    /// The files at the head of `branch`.
    fn tree(&self, branch: &str) -> Option<&BTreeMap<String, String>> {
        let head = self.branches.get(branch)?;
        self.commits.get(head).map(|commit| &commit.tree)
    }

    /// The commit a `ref` names: a branch (`main`, `heads/main`, `refs/heads/main`) or a
    /// full commit sha.
    fn resolve(&self, reference: &str) -> Option<&Commit> {
        let branch = reference
            .strip_prefix("refs/heads/")
            .or_else(|| reference.strip_prefix("heads/"))
            .unwrap_or(reference);
        let sha = self.branches.get(branch).map_or(reference, String::as_str);
        self.commits.get(sha)
    }

    /// `sha` and its ancestors, newest first.
    fn ancestry<'a>(&'a self, sha: &str) -> impl Iterator<Item = &'a Commit> + 'a {
        let mut next = self.commits.get(sha);
        std::iter::from_fn(move || {
            let commit = next?;
            next = commit
                .parent
                .as_deref()
                .and_then(|parent| self.commits.get(parent));
            Some(commit)
        })
    }

    fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        self.ancestry(of).any(|commit| commit.sha == ancestor)
    }

    /// Commits on `head` that `base` does not have.
    fn commits_between(&self, base: &str, head: &str) -> usize {
        let (Some(base), Some(head)) = (self.branches.get(base), self.branches.get(head)) else {
            return 0;
        };
        self.ancestry(head)
            .take_while(|commit| !self.is_ancestor(&commit.sha, base))
            .count()
    }

    /// Commits `path` = `content` on top of `branch`; returns the new commit's sha, or
    /// `None` when the branch does not exist.
    fn commit_file(
        &mut self,
        branch: &str,
        path: &str,
        content: String,
        message: String,
    ) -> Option<String> {
        let head = self.branches.get(branch)?.clone();
        let mut tree = self.commits.get(&head)?.tree.clone();
        tree.insert(path.to_owned(), content);
        let sha = commit_sha(self.id, Some(&head), &message);
        self.commits.insert(
            sha.clone(),
            Commit {
                sha: sha.clone(),
                parent: Some(head),
                message,
                files_changed: vec![path.to_owned()],
                tree,
                created_at: Utc::now(),
            },
        );
        self.branches.insert(branch.to_owned(), sha.clone());
        Some(sha)
    }

    /// A seeding commit, with the message GitHub's web editor would write.
    fn seed_file(&mut self, branch: &str, path: &str, content: &str) {
        let path = path.trim_start_matches('/');
        let exists = self
            .tree(branch)
            .unwrap_or_else(|| panic!("fake GitHub: no branch {branch} in {}", self.full_name()))
            .contains_key(path);
        let message = format!("{} {path}", if exists { "Update" } else { "Create" });
        self.commit_file(branch, path, content.to_owned(), message);
    }

    /// The repository's spelling of a label (names are case-insensitive), created if new.
    fn label(&mut self, name: &str) -> String {
        if let Some((known, _)) = self
            .labels
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
        {
            return known.clone();
        }
        self.labels.push((name.to_owned(), next_id()));
        name.to_owned()
    }

    /// Labels as GitHub stores them on an issue: the repository's spelling, no duplicates.
    fn labels_for(&mut self, names: Vec<String>) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        for name in names {
            let label = self.label(&name);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels
    }

    fn open_issue(
        &mut self,
        user: &str,
        title: String,
        body: Option<String>,
        labels: Vec<String>,
        assignees: Vec<String>,
    ) -> u64 {
        let labels = self.labels_for(labels);
        let number = self.issues.len() as u64 + 1;
        let now = Utc::now();
        self.issues.push(Issue {
            id: next_id(),
            number,
            title,
            body,
            state: "open".to_owned(),
            state_reason: None,
            labels,
            assignees,
            user: user.to_owned(),
            created_at: now,
            updated_at: now,
            closed_at: None,
            pull: None,
        });
        number
    }

    /// Opens a pull request as the App; returns its number (from the issues' sequence).
    fn open_pull(
        &mut self,
        title: String,
        body: Option<String>,
        head: String,
        base: String,
        draft: bool,
    ) -> u64 {
        let number = self.open_issue(BOT_LOGIN, title, body, Vec::new(), Vec::new());
        if let Some(index) = self.issue_index(number) {
            self.issues[index].pull = Some(Pull {
                id: next_id(),
                head,
                base,
                draft,
            });
        }
        number
    }

    fn add_comment(&mut self, number: u64, user: &str, body: String) -> u64 {
        let id = next_id();
        let now = Utc::now();
        self.comments.push(Comment {
            id,
            issue: number,
            body,
            user: user.to_owned(),
            created_at: now,
            updated_at: now,
        });
        if let Some(index) = self.issue_index(number) {
            self.issues[index].updated_at = now;
        }
        id
    }
}

// ---------------------------------------------------------------------------------------
// Requests and answers
// ---------------------------------------------------------------------------------------

type Shared = Arc<Mutex<World>>;

async fn dispatch(State(world): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok();
    // Everything below is synchronous, so the lock is never held across an await.
    let mut world = world.lock().unwrap_or_else(PoisonError::into_inner);
    world.handle(&parts.method, &parts.uri, &parts.headers, body)
}

/// One request as the route handlers see it.
struct Ctx<'r> {
    method: &'r Method,
    uri: &'r Uri,
    headers: &'r HeaderMap,
    body: &'r [u8],
    /// Set once the credentials were accepted: such answers count against the rate limit.
    authenticated: bool,
    /// What `Link` URLs start with: the fake's URL, or nothing for relative links.
    link_base: &'r str,
}

/// An answer; `Err` is just an answer that ends the handler early (via `?`).
type Answer = Result<Reply, Reply>;

struct Reply {
    status: StatusCode,
    body: ReplyBody,
    headers: Vec<(HeaderName, String)>,
    /// No route knew the request.
    unexpected: bool,
}

enum ReplyBody {
    Empty,
    Json(Value),
    Raw(Vec<u8>),
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
            unexpected: false,
        }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    fn created(body: Value) -> Reply {
        Reply::json(StatusCode::CREATED, body)
    }

    /// GitHub's error shape.
    fn message(status: StatusCode, message: &str) -> Reply {
        Reply::json(
            status,
            json!({ "message": message, "documentation_url": DOCS }),
        )
    }

    fn not_found() -> Reply {
        Reply::message(StatusCode::NOT_FOUND, "Not Found")
    }

    fn unexpected() -> Reply {
        Reply {
            unexpected: true,
            ..Reply::not_found()
        }
    }

    fn bad_request(message: &str) -> Reply {
        Reply::message(StatusCode::BAD_REQUEST, message)
    }

    /// GitHub's 422 "Validation Failed" with one error.
    fn invalid(resource: &str, field: &str, code: &str) -> Reply {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "message": "Validation Failed",
                "errors": [{ "resource": resource, "field": field, "code": code }],
                "documentation_url": DOCS,
                "status": "422",
            }),
        )
    }

    /// GitHub's 422 "Validation Failed" with one custom message (pull requests use these).
    fn custom_invalid(message: &str) -> Reply {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "PullRequest", "code": "custom", "message": message }],
                "documentation_url": DOCS,
                "status": "422",
            }),
        )
    }

    fn header(mut self, name: HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

impl<'r> Ctx<'r> {
    fn query(&self) -> Result<HashMap<String, String>, Reply> {
        Query::<HashMap<String, String>>::try_from_uri(self.uri)
            .map(|Query(query)| query)
            .map_err(|_| Reply::bad_request("Invalid query string"))
    }

    /// The body as a JSON object; no body reads as `{}`, so missing fields answer 422.
    fn object(&self) -> Result<Map<String, Value>, Reply> {
        match self.value()? {
            Value::Object(object) => Ok(object),
            _ => Err(Reply::bad_request("Problems parsing JSON")),
        }
    }

    fn value(&self) -> Result<Value, Reply> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(self.body).map_err(|_| Reply::bad_request("Problems parsing JSON"))
    }

    fn credentials(&self, schemes: &[&str]) -> Option<&'r str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, credentials) = value.trim().split_once(' ')?;
        schemes
            .iter()
            .any(|wanted| scheme.eq_ignore_ascii_case(wanted))
            .then(|| credentials.trim())
    }
}

impl World {
    fn handle(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Response {
        self.requests_seen += 1;
        let request_id = format!(
            "FA4E:{:04X}:{:06X}",
            self.app_id & 0xFFFF,
            self.requests_seen
        );
        let path = uri.path().to_owned();
        let body_bytes = body.clone().unwrap_or_default();
        let link_base = if self.relative_links {
            Arc::from("")
        } else {
            Arc::clone(&self.base)
        };
        let mut ctx = Ctx {
            method,
            uri,
            headers,
            body: &body_bytes,
            authenticated: false,
            link_base: &link_base,
        };

        let reply = match body {
            None => Reply::message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            Some(_) => match self.take_failure(method, &path, &request_id) {
                Some(reply) => reply,
                None => self.route(&mut ctx).unwrap_or_else(|reply| reply),
            },
        };

        // GitHub does not charge conditional requests answered 304.
        if ctx.authenticated && reply.status != StatusCode::NOT_MODIFIED {
            self.rate_remaining = self.rate_remaining.saturating_sub(1);
        }
        if reply.unexpected {
            self.unexpected.push(format!("{method} {path}"));
        }
        self.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            query: uri.query().map(str::to_owned),
            body: recorded_body(&body_bytes),
            status: reply.status.as_u16(),
        });
        self.render(reply, &request_id)
    }

    fn take_failure(&mut self, method: &Method, path: &str, request_id: &str) -> Option<Reply> {
        let index = self.failures.iter().position(|failure| {
            failure.method == method.as_str() && same_path(path, &failure.path)
        })?;
        let failure = self.failures.remove(index);
        let reply = match failure.status {
            _ if failure.message.is_some() => Reply::message(
                failure.status,
                failure.message.as_deref().unwrap_or_default(),
            ),
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => Reply::json(
                failure.status,
                json!({
                    "message": format!("{SECONDARY_RATE_LIMIT} {request_id}."),
                    "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                }),
            ),
            status => Reply::message(status, status.canonical_reason().unwrap_or("Error")),
        };
        Some(match failure.retry_after_secs {
            Some(secs) => reply.header(header::RETRY_AFTER, secs.to_string()),
            None => reply,
        })
    }

    fn render(&self, reply: Reply, request_id: &str) -> Response {
        let (body, content_type) = match reply.body {
            ReplyBody::Empty => (Vec::new(), None),
            ReplyBody::Json(value) => (
                serde_json::to_vec(&value).unwrap_or_default(),
                Some("application/json; charset=utf-8"),
            ),
            ReplyBody::Raw(bytes) => (bytes, Some("application/vnd.github.raw; charset=utf-8")),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = reply.status;
        let used = RATE_LIMIT - self.rate_remaining;
        let mut headers: Vec<(HeaderName, String)> = vec![
            (
                HeaderName::from_static("x-ratelimit-limit"),
                RATE_LIMIT.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-remaining"),
                self.rate_remaining.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-used"),
                used.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-reset"),
                self.rate_reset.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-resource"),
                "core".to_owned(),
            ),
            (
                HeaderName::from_static("x-github-request-id"),
                request_id.to_owned(),
            ),
            (
                HeaderName::from_static("x-github-api-version-selected"),
                "2022-11-28".to_owned(),
            ),
        ];
        if let Some(content_type) = content_type {
            headers.push((header::CONTENT_TYPE, content_type.to_owned()));
        }
        headers.extend(reply.headers);
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }

    // ---- authentication ---------------------------------------------------------------

    /// `Authorization: Bearer <JWT>` signed RS256 by the App's key, as `/app/...` requires.
    fn app_auth(&self, ctx: &mut Ctx) -> Result<(), Reply> {
        let rejected = || {
            Reply::message(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            )
        };
        let token = ctx.credentials(&["bearer"]).ok_or_else(rejected)?;
        // Claims are checked by hand below: GitHub accepts `iss` as number or string.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(token, &self.key, &validation)
            .map_err(|_| rejected())?
            .claims;
        let iss_matches = match &claims["iss"] {
            Value::Number(iss) => iss.as_u64() == Some(self.app_id),
            Value::String(iss) => iss.parse::<u64>().ok() == Some(self.app_id),
            _ => false,
        };
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err(rejected());
        };
        let now = Utc::now().timestamp();
        let fresh = iat <= now + 60 && exp > now && exp - iat <= MAX_JWT_LIFETIME_SECS;
        if !(iss_matches && fresh) {
            return Err(rejected());
        }
        ctx.authenticated = true;
        Ok(())
    }

    /// `Authorization: Bearer|token ghs_...` issued by this fake and not expired; returns
    /// the installation it acts for.
    fn token_auth(&self, ctx: &mut Ctx) -> Result<u64, Reply> {
        let rejected = || Reply::message(StatusCode::UNAUTHORIZED, "Bad credentials");
        let token = ctx.credentials(&["bearer", "token"]).ok_or_else(rejected)?;
        let token = self
            .tokens
            .get(token)
            .filter(|token| token.expires_at > Utc::now())
            .ok_or_else(rejected)?;
        ctx.authenticated = true;
        Ok(token.installation_id)
    }

    /// The repository, if the installation can see it; GitHub answers 404 otherwise.
    /// The few GraphQL operations herald sends (Discussions), recognised by their fields;
    /// anything else is an error in GraphQL's shape.
    fn graphql(&mut self, installation: u64, ctx: &Ctx) -> Answer {
        let Value::Object(body) = ctx.value()? else {
            return Err(Reply::invalid("GraphQL", "query", "invalid"));
        };
        let query = body
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let variables = body.get("variables").cloned().unwrap_or(Value::Null);
        let var = |name: &str| {
            variables
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let error = |message: &str| Ok(Reply::ok(json!({ "errors": [{ "message": message }] })));
        if query.contains("createDiscussion") {
            let lose = std::mem::take(&mut self.lose_next_discussion);
            let (Some(repository_id), Some(category_id), Some(title), Some(text)) = (
                var("repositoryId"),
                var("categoryId"),
                var("title"),
                var("body"),
            ) else {
                return error(
                    "Variable $input of type CreateDiscussionInput! was provided invalid value",
                );
            };
            let Some(repo) = self.repos.values_mut().find(|repo| {
                repo.installation_id == installation
                    && format!("R_fake{}", repo.id) == repository_id
            }) else {
                return error(&format!(
                    "Could not resolve to a node with the global id of '{repository_id}'"
                ));
            };
            let Some((_, category)) = DISCUSSION_CATEGORIES
                .iter()
                .find(|(id, _)| *id == category_id)
            else {
                return error(&format!(
                    "Could not resolve to a node with the global id of '{category_id}'"
                ));
            };
            let number = repo.issues.len() as u64 + repo.discussions.len() as u64 + 1;
            let discussion = FakeDiscussion {
                id: format!("D_kwDOfake{}_{number}", repo.id),
                number,
                category: (*category).to_owned(),
                title,
                body: text,
                comments: Vec::new(),
            };
            let answer = json!({ "data": { "createDiscussion": { "discussion": {
                "id": discussion.id,
                "url": format!("https://github.com/{}/discussions/{number}", repo.full_name()),
            } } } });
            repo.discussions.push(discussion);
            if lose {
                return Ok(Reply::message(StatusCode::BAD_GATEWAY, "Server Error"));
            }
            return Ok(Reply::ok(answer));
        }
        if query.contains("addDiscussionComment") {
            let (Some(discussion_id), Some(text)) = (var("discussionId"), var("body")) else {
                return error(
                    "Variable $input of type AddDiscussionCommentInput! was provided invalid value",
                );
            };
            let Some(discussion) = self
                .repos
                .values_mut()
                .filter(|repo| repo.installation_id == installation)
                .flat_map(|repo| repo.discussions.iter_mut())
                .find(|discussion| discussion.id == discussion_id)
            else {
                return error(&format!(
                    "Could not resolve to a node with the global id of '{discussion_id}'"
                ));
            };
            discussion.comments.push(text);
            let id = format!("DC_kwDOfake{}", discussion.comments.len());
            return Ok(Reply::ok(
                json!({ "data": { "addDiscussionComment": { "comment": {
                "id": id, "url": format!("https://github.com/discussion#{id}") } } } }),
            ));
        }
        let (Some(owner), Some(name)) = (var("owner"), var("name")) else {
            return error("fake GitHub: this GraphQL operation is not supported");
        };
        let Ok(repo) = self.repo(installation, &owner, &name) else {
            return error(&format!(
                "Could not resolve to a Repository with the name '{owner}/{name}'."
            ));
        };
        if query.contains("discussionCategories") {
            let nodes: Vec<Value> = DISCUSSION_CATEGORIES
                .iter()
                .map(|(id, name)| json!({ "id": id, "name": name }))
                .collect();
            return Ok(Reply::ok(json!({ "data": { "repository": {
                "id": format!("R_fake{}", repo.id),
                "discussionCategories": { "nodes": nodes } } } })));
        }
        if query.contains("discussions(") {
            let full_name = repo.full_name();
            let nodes: Vec<Value> = repo
                .discussions
                .iter()
                .rev()
                .take(50)
                .map(|discussion| json!({
                    "id": discussion.id,
                    "url": format!("https://github.com/{full_name}/discussions/{}", discussion.number),
                    "body": discussion.body,
                }))
                .collect();
            return Ok(Reply::ok(json!({ "data": { "repository": {
                "discussions": { "nodes": nodes } } } })));
        }
        error("fake GitHub: this GraphQL operation is not supported")
    }

    fn repo(&mut self, installation_id: u64, owner: &str, name: &str) -> Result<&mut Repo, Reply> {
        self.repos
            .get_mut(&format!("{owner}/{name}").to_ascii_lowercase())
            .filter(|repo| repo.installation_id == installation_id)
            .ok_or_else(Reply::not_found)
    }

    // ---- routes -------------------------------------------------------------------------

    fn route(&mut self, ctx: &mut Ctx) -> Answer {
        let segments = decode_segments(ctx.uri.path()).ok_or_else(Reply::unexpected)?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let base = Arc::clone(&self.base);
        let base = &*base;
        match (ctx.method.as_str(), segments.as_slice()) {
            ("GET", ["app"]) => {
                self.app_auth(ctx)?;
                Ok(Reply::ok(app_json(base, self.app_id)))
            }
            ("GET", ["app", "installations"]) => {
                self.app_auth(ctx)?;
                let installations = self
                    .installations
                    .iter()
                    .map(|(id, account)| installation_json(base, self.app_id, *id, account))
                    .collect();
                Ok(Reply::ok(Value::Array(installations)))
            }
            ("POST", ["app", "installations", id, "access_tokens"]) => {
                let id = parse_id(id)?;
                self.app_auth(ctx)?;
                self.create_token(id)
            }
            ("GET", ["repos", owner, name, "installation"]) => {
                self.app_auth(ctx)?;
                let repo = self
                    .repos
                    .get(&format!("{owner}/{name}").to_ascii_lowercase())
                    .ok_or_else(Reply::not_found)?;
                let account = self
                    .installations
                    .get(&repo.installation_id)
                    .ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(installation_json(
                    base,
                    self.app_id,
                    repo.installation_id,
                    account,
                )))
            }
            ("GET", ["installation", "repositories"]) => {
                let installation = self.token_auth(ctx)?;
                let repositories: Vec<Value> = self
                    .repos
                    .values()
                    .filter(|repo| repo.installation_id == installation)
                    .map(|repo| repo_json(base, repo))
                    .collect();
                Ok(Reply::ok(json!({
                    "total_count": repositories.len(),
                    "repository_selection": "all",
                    "repositories": repositories,
                })))
            }
            ("GET", ["repos", owner, name]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                Ok(Reply::ok(repo_json(base, repo)))
            }
            ("POST", ["graphql"]) => {
                let installation = self.token_auth(ctx)?;
                self.graphql(installation, ctx)
            }
            ("GET", ["repos", owner, name, "dependency-graph", "sbom"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                sbom_json(repo)
            }
            ("GET", ["repos", owner, name, "contents", path @ ..]) if !path.is_empty() => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                get_content(base, repo, &path.join("/"), ctx)
            }
            ("PUT", ["repos", owner, name, "contents", path @ ..]) if !path.is_empty() => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                put_content(base, repo, &path.join("/"), ctx)
            }
            ("GET", ["repos", owner, name, "git", "ref", "heads", branch @ ..])
                if !branch.is_empty() =>
            {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let branch = branch.join("/");
                let sha = repo.branches.get(&branch).ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(ref_json(base, repo, &branch, sha)))
            }
            ("POST", ["repos", owner, name, "git", "refs"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_ref(base, repo, ctx)
            }
            ("PATCH" | "POST", ["repos", owner, name, "git", "refs", "heads", branch @ ..])
                if !branch.is_empty() =>
            {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_ref(base, repo, &branch.join("/"), ctx)
            }
            ("GET", ["repos", owner, name, "pulls"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_pulls(base, repo, ctx)
            }
            ("POST", ["repos", owner, name, "pulls"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_pull(base, repo, ctx)
            }
            ("GET", ["repos", owner, name, "pulls", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let index = repo.pull_index(number).ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(pull_json(base, repo, &repo.issues[index])))
            }
            ("PATCH" | "POST", ["repos", owner, name, "pulls", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_pull(base, repo, number, ctx)
            }
            ("GET", ["repos", owner, name, "collaborators", login, "permission"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                Ok(Reply::ok(permission_json(base, repo, login)))
            }
            ("GET", ["repos", owner, name, "issues"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_issues(base, repo, ctx)
            }
            ("POST", ["repos", owner, name, "issues"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_issue(base, repo, ctx)
            }
            ("GET", ["repos", owner, name, "issues", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(issue_json(base, repo, &repo.issues[index])))
            }
            // GitHub takes POST for its PATCH endpoints, and octocrab's `update_comment` uses it.
            ("PATCH" | "POST", ["repos", owner, name, "issues", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_issue(base, repo, number, ctx)
            }
            ("POST", ["repos", owner, name, "issues", number, "labels"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                add_labels(base, repo, number, ctx)
            }
            ("POST", ["repos", owner, name, "issues", number, "assignees"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                add_assignees(base, repo, number, ctx)
            }
            ("DELETE", ["repos", owner, name, "issues", number, "labels", label]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                remove_label(base, repo, number, label)
            }
            ("GET", ["repos", owner, name, "issues", number, "comments"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_comments(base, repo, number, ctx)
            }
            ("POST", ["repos", owner, name, "issues", number, "comments"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_comment(base, repo, number, ctx)
            }
            ("PATCH" | "POST", ["repos", owner, name, "issues", "comments", id]) => {
                let id = parse_id(id)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_comment(base, repo, id, ctx)
            }
            ("GET", ["repos", owner, name, "security-advisories"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_advisories(base, repo, ctx)
            }
            ("GET", ["repos", owner, name, "security-advisories", ghsa_id]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                repo.advisories
                    .iter()
                    .find(|advisory| advisory["ghsa_id"] == *ghsa_id)
                    .map(|advisory| Reply::ok(advisory.clone()))
                    .ok_or_else(Reply::not_found)
            }
            ("PATCH", ["repos", owner, name, "security-advisories", ghsa_id]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_advisory(repo, ghsa_id, ctx)
            }
            ("POST", ["repos", owner, name, "security-advisories", ghsa_id, "cve"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let advisory = repo
                    .advisories
                    .iter()
                    .find(|advisory| advisory["ghsa_id"] == *ghsa_id)
                    .ok_or_else(Reply::not_found)?;
                if advisory["cve_id"]
                    .as_str()
                    .is_some_and(|cve| !cve.is_empty())
                {
                    return Err(Reply::message(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "This advisory already has a CVE ID.",
                    ));
                }
                self.cve_requests.push((*ghsa_id).to_owned());
                Ok(Reply::json(StatusCode::ACCEPTED, json!({})))
            }
            _ => Err(Reply::unexpected()),
        }
    }

    fn create_token(&mut self, installation_id: u64) -> Answer {
        if !self.installations.contains_key(&installation_id) {
            return Err(Reply::not_found());
        }
        self.tokens_issued += 1;
        let token = format!("ghs_fake{}", self.tokens_issued);
        let expires_at = Utc::now() + chrono::Duration::hours(1);
        self.tokens.insert(
            token.clone(),
            Token {
                installation_id,
                expires_at,
            },
        );
        Ok(Reply::created(json!({
            "token": token,
            "expires_at": timestamp(expires_at),
            "permissions": token_permissions(),
            "repository_selection": "all",
        })))
    }
}

// ---------------------------------------------------------------------------------------
// Repository routes
// ---------------------------------------------------------------------------------------

fn get_content(base: &str, repo: &Repo, path: &str, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let reference = query
        .get("ref")
        .filter(|reference| !reference.is_empty())
        .map_or(repo.default_branch.as_str(), String::as_str);
    let commit = repo.resolve(reference).ok_or_else(|| {
        Reply::message(
            StatusCode::NOT_FOUND,
            &format!("No commit found for the ref {reference}"),
        )
    })?;
    let Some(content) = commit.tree.get(path) else {
        // A folder answers with its entries, as GitHub does; nothing there is a 404.
        let prefix = format!("{path}/");
        let entries: Vec<Value> = commit
            .tree
            .keys()
            .filter_map(|file| file.strip_prefix(&prefix).map(|rest| (file, rest)))
            .filter(|(_, rest)| !rest.contains('/'))
            .map(|(file, rest)| {
                json!({ "type": "file", "name": rest, "path": file, "sha": blob_sha(&commit.tree[file]) })
            })
            .collect();
        if entries.is_empty() {
            return Err(Reply::not_found());
        }
        return Ok(Reply::ok(Value::Array(entries)));
    };
    // The raw media type asks for the bytes themselves (octocrab's `get_content().raw()`).
    let raw = ctx
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|accept| accept.to_str().ok())
        .any(|accept| accept.contains("vnd.github.raw") || accept.contains("vnd.github.v3.raw"));
    if raw {
        return Ok(Reply {
            body: ReplyBody::Raw(content.clone().into_bytes()),
            ..Reply::ok(Value::Null)
        });
    }
    Ok(Reply::ok(content_json(
        base, repo, reference, path, content,
    )))
}

/// `PUT .../contents/{path}`: creates or updates one file with a commit on `branch`.
fn put_content(base: &str, repo: &mut Repo, path: &str, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let message = required_string(&body, "message")?;
    let encoded = required_string(&body, "content")?;
    let sha = optional_string(&body, "Content", "sha")?;
    let branch =
        optional_string(&body, "Content", "branch")?.unwrap_or_else(|| repo.default_branch.clone());
    let packed: String = encoded.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .map_err(|_| {
            Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "content is not valid Base64",
            )
        })?;
    let content = String::from_utf8(bytes).map_err(|_| {
        Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "fake GitHub: content must be UTF-8 text",
        )
    })?;
    // GitHub checks the branch before the sha.
    let tree = repo.tree(&branch).ok_or_else(|| {
        Reply::message(StatusCode::NOT_FOUND, &format!("Branch {branch} not found"))
    })?;
    let created = match (tree.get(path), sha) {
        (Some(_), None) => {
            return Err(Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid request.\n\n\"sha\" wasn't supplied.",
            ));
        }
        (Some(current), Some(sha)) if blob_sha(current) != sha => {
            return Err(Reply::message(
                StatusCode::CONFLICT,
                &format!("{path} does not match {sha}"),
            ));
        }
        (Some(_), Some(_)) => false,
        // Stricter than GitHub, which is reported to ignore a `sha` here: a caller sending
        // one believes the file exists, and the test should hear about it.
        (None, Some(sha)) => {
            return Err(Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!(
                    "fake GitHub: {path} does not exist on {branch}, so no sha ({sha}) can match it"
                ),
            ));
        }
        (None, None) => true,
    };
    let commit = repo
        .commit_file(&branch, path, content.clone(), message)
        .ok_or_else(Reply::not_found)?;
    let mut content_value = content_json(base, repo, &branch, path, &content);
    if let Value::Object(object) = &mut content_value {
        object.remove("content");
        object.remove("encoding");
    }
    let commit = repo.commits.get(&commit).ok_or_else(Reply::not_found)?;
    let answer = json!({
        "content": content_value,
        "commit": commit_json(base, repo, commit),
    });
    Ok(if created {
        Reply::created(answer)
    } else {
        Reply::ok(answer)
    })
}

/// `POST .../git/refs`: a new branch at a commit of the repository.
fn create_ref(base: &str, repo: &mut Repo, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let reference = required_string(&body, "ref")?;
    let sha = required_string(&body, "sha")?;
    let branch = reference
        .strip_prefix("refs/heads/")
        .filter(|branch| valid_branch_name(branch))
        .ok_or_else(|| {
            // GitHub takes tags too; herald only makes branches, and so does the fake.
            Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Reference name is invalid",
            )
        })?;
    if repo.branches.contains_key(branch) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Reference already exists",
        ));
    }
    if !repo.commits.contains_key(&sha) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Object does not exist",
        ));
    }
    repo.branches.insert(branch.to_owned(), sha.clone());
    Ok(Reply::created(ref_json(base, repo, branch, &sha)))
}

/// `PATCH .../git/refs/heads/{branch}`: moves a branch; only forward unless `force`.
fn update_ref(base: &str, repo: &mut Repo, branch: &str, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let sha = required_string(&body, "sha")?;
    let force = match body.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(force)) => *force,
        Some(_) => return Err(Reply::invalid("Reference", "force", "invalid")),
    };
    let head = repo.branches.get(branch).ok_or_else(|| {
        Reply::message(StatusCode::UNPROCESSABLE_ENTITY, "Reference does not exist")
    })?;
    if !repo.commits.contains_key(&sha) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Object does not exist",
        ));
    }
    if !force && !repo.is_ancestor(head, &sha) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Update is not a fast forward",
        ));
    }
    repo.branches.insert(branch.to_owned(), sha.clone());
    Ok(Reply::ok(ref_json(base, repo, branch, &sha)))
}

fn list_pulls(base: &str, repo: &Repo, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let state = query.get("state").map_or("open", String::as_str);
    if !matches!(state, "open" | "closed" | "all") {
        return Err(Reply::invalid("PullRequest", "state", "invalid"));
    }
    // GitHub wants `owner:branch`; a bare branch name filters nothing (a classic surprise),
    // and neither does it here.
    let head = query
        .get("head")
        .and_then(|head| head.split_once(':'))
        .map(|(owner, branch)| (owner.to_owned(), branch.to_owned()));
    let base_branch = query.get("base");
    let mut pulls: Vec<&Issue> = repo
        .issues
        .iter()
        .filter(|issue| {
            let Some(pull) = &issue.pull else {
                return false;
            };
            (state == "all" || issue.state == state)
                && head.as_ref().is_none_or(|(owner, branch)| {
                    owner.eq_ignore_ascii_case(&repo.owner) && pull.head == *branch
                })
                && base_branch.is_none_or(|base| pull.base == *base)
        })
        .collect();
    let sort = query.get("sort").map_or("created", String::as_str);
    match sort {
        "created" | "popularity" => pulls.sort_by_key(|issue| (issue.created_at, issue.number)),
        "updated" => pulls.sort_by_key(|issue| (issue.updated_at, issue.number)),
        "long-running" => pulls.sort_by_key(|issue| (issue.created_at, issue.number)),
        _ => return Err(Reply::invalid("PullRequest", "sort", "invalid")),
    }
    // Newest first when sorting by creation, else oldest first, unless told otherwise.
    let descending = match query.get("direction").map(String::as_str) {
        None => sort == "created",
        Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(Reply::invalid("PullRequest", "direction", "invalid")),
    };
    if descending {
        pulls.reverse();
    }
    let pulls = pulls
        .into_iter()
        .map(|issue| pull_json(base, repo, issue))
        .collect();
    paginate(ctx, &query, pulls)
}

fn create_pull(base: &str, repo: &mut Repo, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let title = match body.get("title") {
        None | Some(Value::Null) => {
            return Err(Reply::invalid("PullRequest", "title", "missing_field"));
        }
        Some(Value::String(title)) if !title.is_empty() => title.clone(),
        Some(_) => return Err(Reply::invalid("PullRequest", "title", "invalid")),
    };
    let head = optional_string(&body, "PullRequest", "head")?
        .ok_or_else(|| Reply::invalid("PullRequest", "head", "missing_field"))?;
    let base_branch = optional_string(&body, "PullRequest", "base")?
        .ok_or_else(|| Reply::invalid("PullRequest", "base", "missing_field"))?;
    let text = optional_string(&body, "PullRequest", "body")?;
    within_limits(&title, text.as_deref())?;
    let draft = match body.get("draft") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(draft)) => *draft,
        Some(_) => return Err(Reply::invalid("PullRequest", "draft", "invalid")),
    };
    // `owner:branch` or just `branch`; the fake has no forks, so the owner must be the
    // repository's.
    let head_branch = match head.split_once(':') {
        Some((owner, branch)) if owner.eq_ignore_ascii_case(&repo.owner) => branch.to_owned(),
        Some(_) => return Err(Reply::invalid("PullRequest", "head", "invalid")),
        None => head.clone(),
    };
    if !repo.branches.contains_key(&base_branch) {
        return Err(Reply::invalid("PullRequest", "base", "invalid"));
    }
    if !repo.branches.contains_key(&head_branch) {
        return Err(Reply::invalid("PullRequest", "head", "invalid"));
    }
    if repo.open_pull_for(&head_branch, &base_branch, None) {
        return Err(Reply::custom_invalid(&format!(
            "A pull request already exists for {}:{head_branch}.",
            repo.owner
        )));
    }
    if repo.commits_between(&base_branch, &head_branch) == 0 {
        return Err(Reply::custom_invalid(&format!(
            "No commits between {base_branch} and {head_branch}"
        )));
    }
    let number = repo.open_pull(title, text, head_branch, base_branch, draft);
    let index = repo.pull_index(number).ok_or_else(Reply::not_found)?;
    Ok(Reply::created(pull_json(base, repo, &repo.issues[index])))
}

fn update_pull(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let index = repo.pull_index(number).ok_or_else(Reply::not_found)?;
    // Validate everything before changing anything, as GitHub does.
    let title = match body.get("title") {
        None => None,
        Some(Value::String(title)) if !title.is_empty() => Some(title.clone()),
        Some(_) => return Err(Reply::invalid("PullRequest", "title", "invalid")),
    };
    let text = body
        .contains_key("body")
        .then(|| optional_string(&body, "PullRequest", "body"))
        .transpose()?;
    let state = optional_string(&body, "PullRequest", "state")?;
    if state
        .as_deref()
        .is_some_and(|state| state != "open" && state != "closed")
    {
        return Err(Reply::invalid("PullRequest", "state", "invalid"));
    }
    let new_base = optional_string(&body, "PullRequest", "base")?;
    if new_base
        .as_ref()
        .is_some_and(|branch| !repo.branches.contains_key(branch))
    {
        return Err(Reply::invalid("PullRequest", "base", "invalid"));
    }
    let (head, old_base) = match &repo.issues[index].pull {
        Some(pull) => (pull.head.clone(), pull.base.clone()),
        None => return Err(Reply::not_found()),
    };
    let base_branch = new_base.clone().unwrap_or(old_base);
    let open_after = state
        .as_deref()
        .map_or(repo.issues[index].state == "open", |state| state == "open");
    if open_after && repo.open_pull_for(&head, &base_branch, Some(number)) {
        return Err(Reply::custom_invalid(&format!(
            "A pull request already exists for {}:{head}.",
            repo.owner
        )));
    }

    let now = Utc::now();
    let issue = &mut repo.issues[index];
    if let Some(title) = title {
        issue.title = title;
    }
    if let Some(text) = text {
        issue.body = text;
    }
    match state.as_deref() {
        Some("closed") if issue.state != "closed" => {
            issue.state = "closed".to_owned();
            issue.closed_at = Some(now);
        }
        Some("open") if issue.state != "open" => {
            issue.state = "open".to_owned();
            issue.closed_at = None;
        }
        _ => {}
    }
    if let (Some(pull), Some(new_base)) = (&mut issue.pull, new_base) {
        pull.base = new_base;
    }
    issue.updated_at = now;
    Ok(Reply::ok(pull_json(base, repo, &repo.issues[index])))
}

fn list_issues(base: &str, repo: &Repo, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let state = query.get("state").map_or("open", String::as_str);
    if !matches!(state, "open" | "closed" | "all") {
        return Err(Reply::invalid("Issue", "state", "invalid"));
    }
    let wanted: Vec<&str> = query
        .get("labels")
        .map(|labels| {
            labels
                .split(',')
                .map(str::trim)
                .filter(|label| !label.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut issues: Vec<&Issue> = repo
        .issues
        .iter()
        .filter(|issue| state == "all" || issue.state == state)
        .filter(|issue| {
            wanted.iter().all(|wanted| {
                issue
                    .labels
                    .iter()
                    .any(|label| label.eq_ignore_ascii_case(wanted))
            })
        })
        .collect();
    // GitHub's defaults: newest first by creation.
    match query.get("sort").map_or("created", String::as_str) {
        "created" => issues.sort_by_key(|issue| (issue.created_at, issue.number)),
        "updated" => issues.sort_by_key(|issue| (issue.updated_at, issue.number)),
        "comments" => issues.sort_by_key(|issue| {
            let comments = repo
                .comments
                .iter()
                .filter(|c| c.issue == issue.number)
                .count();
            (comments, issue.number)
        }),
        _ => return Err(Reply::invalid("Issue", "sort", "invalid")),
    }
    if descending(&query)? {
        issues.reverse();
    }
    let issues = issues
        .into_iter()
        .map(|issue| issue_json(base, repo, issue))
        .collect();
    paginate(ctx, &query, issues)
}

fn create_issue(base: &str, repo: &mut Repo, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let title = match body.get("title") {
        None | Some(Value::Null) => return Err(Reply::invalid("Issue", "title", "missing_field")),
        Some(Value::String(title)) if !title.is_empty() => title.clone(),
        Some(Value::Number(title)) => title.to_string(),
        Some(_) => return Err(Reply::invalid("Issue", "title", "invalid")),
    };
    let text = optional_string(&body, "Issue", "body")?;
    within_limits(&title, text.as_deref())?;
    let labels = names(&body, "Issue", "labels")?.unwrap_or_default();
    let mut assignees = names(&body, "Issue", "assignees")?.unwrap_or_default();
    if let Some(assignee) = optional_string(&body, "Issue", "assignee")? {
        assignees.insert(0, assignee);
    }
    let number = repo.open_issue(BOT_LOGIN, title, text, labels, dedup(assignees));
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    Ok(Reply::created(issue_json(base, repo, &repo.issues[index])))
}

/// GitHub's limits on issue and pull request titles (256) and bodies (65,536 characters).
fn within_limits(title: &str, body: Option<&str>) -> Result<(), Reply> {
    if title.chars().count() > 256 {
        return Err(Reply::custom_invalid(
            "title is too long (maximum is 256 characters)",
        ));
    }
    if body.is_some_and(|body| body.chars().count() > 65_536) {
        return Err(Reply::custom_invalid(
            "body is too long (maximum is 65536 characters)",
        ));
    }
    Ok(())
}

fn update_issue(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    // Validate everything before changing anything, as GitHub does.
    let title = match body.get("title") {
        None => None,
        Some(Value::String(title)) if !title.is_empty() => Some(title.clone()),
        Some(_) => return Err(Reply::invalid("Issue", "title", "invalid")),
    };
    let text = body
        .contains_key("body")
        .then(|| optional_string(&body, "Issue", "body"))
        .transpose()?;
    let state = optional_string(&body, "Issue", "state")?;
    if state
        .as_deref()
        .is_some_and(|state| state != "open" && state != "closed")
    {
        return Err(Reply::invalid("Issue", "state", "invalid"));
    }
    let state_reason = optional_string(&body, "Issue", "state_reason")?;
    if state_reason.as_deref().is_some_and(|reason| {
        !matches!(
            reason,
            "completed" | "not_planned" | "reopened" | "duplicate"
        )
    }) {
        return Err(Reply::invalid("Issue", "state_reason", "invalid"));
    }
    let labels = names(&body, "Issue", "labels")?.map(|labels| repo.labels_for(labels));
    let assignees = names(&body, "Issue", "assignees")?;

    let now = Utc::now();
    let issue = &mut repo.issues[index];
    if let Some(title) = title {
        issue.title = title;
    }
    if let Some(text) = text {
        issue.body = text;
    }
    match state.as_deref() {
        Some("closed") if issue.state != "closed" => {
            issue.state = "closed".to_owned();
            issue.closed_at = Some(now);
            issue.state_reason = Some(state_reason.unwrap_or_else(|| "completed".to_owned()));
        }
        Some("open") if issue.state != "open" => {
            issue.state = "open".to_owned();
            issue.closed_at = None;
            issue.state_reason = Some("reopened".to_owned());
        }
        _ => {}
    }
    if let Some(labels) = labels {
        issue.labels = labels;
    }
    if let Some(assignees) = assignees {
        issue.assignees = dedup(assignees);
    }
    issue.updated_at = now;
    Ok(Reply::ok(issue_json(base, repo, &repo.issues[index])))
}

fn add_labels(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    // GitHub takes `{"labels": [...]}` or a bare array, of names or `{"name": ..}` objects.
    let wanted = match ctx.value()? {
        Value::Object(body) => names(&body, "Label", "labels")?.unwrap_or_default(),
        Value::Array(labels) => {
            label_names(&labels).ok_or_else(|| Reply::invalid("Label", "labels", "invalid"))?
        }
        _ => return Err(Reply::invalid("Label", "labels", "invalid")),
    };
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let mut labels = repo.issues[index].labels.clone();
    labels.extend(wanted);
    let labels = repo.labels_for(labels);
    let issue = &mut repo.issues[index];
    issue.labels = labels;
    issue.updated_at = Utc::now();
    Ok(Reply::ok(labels_json(
        base,
        repo,
        &repo.issues[index].labels,
    )))
}

/// `POST …/issues/{n}/assignees`: adds people (GitHub answers 201 with the issue).
fn add_assignees(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let Value::Object(body) = ctx.value()? else {
        return Err(Reply::invalid("Issue", "assignees", "invalid"));
    };
    let wanted = names(&body, "Issue", "assignees")?.unwrap_or_default();
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let issue = &mut repo.issues[index];
    let mut assignees = issue.assignees.clone();
    assignees.extend(wanted);
    issue.assignees = dedup(assignees);
    issue.updated_at = Utc::now();
    Ok(Reply::created(issue_json(base, repo, &repo.issues[index])))
}

/// `GET …/dependency-graph/sbom`: SPDX 2.3 as GitHub exports it, the repository itself as
/// the root package, then one package per dependency with its purl.
fn sbom_json(repo: &Repo) -> Answer {
    let Some(purls) = &repo.sbom else {
        return Err(Reply::not_found());
    };
    let root = json!({
        "SPDXID": "SPDXRef-com.github.root",
        "name": format!("com.github.{}/{}", repo.owner, repo.name),
        "versionInfo": repo.default_branch,
        "downloadLocation": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:github/{}/{}@{}", repo.owner, repo.name, repo.default_branch),
        }],
    });
    let packages = purls.iter().enumerate().map(|(index, purl)| {
        let version = purl
            .rsplit_once('@')
            .map(|(_, version)| version)
            .unwrap_or("");
        json!({
            "SPDXID": format!("SPDXRef-package-{index}"),
            "name": purl.trim_start_matches("pkg:").split('@').next().unwrap_or(purl),
            "versionInfo": version,
            "downloadLocation": "NOASSERTION",
            "licenseConcluded": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }],
        })
    });
    Ok(Reply::ok(json!({
        "sbom": {
            "SPDXID": "SPDXRef-DOCUMENT",
            "spdxVersion": "SPDX-2.3",
            "creationInfo": { "created": timestamp(Utc::now()), "creators": ["Tool: GitHub.com-Dependency-Graph"] },
            "name": format!("com.github.{}/{}", repo.owner, repo.name),
            "dataLicense": "CC0-1.0",
            "documentNamespace": format!("https://spdx.org/spdxdocs/protobom/{}", repo.id),
            "packages": std::iter::once(root).chain(packages).collect::<Vec<_>>(),
        }
    })))
}

fn remove_label(base: &str, repo: &mut Repo, number: u64, label: &str) -> Answer {
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let issue = &mut repo.issues[index];
    let position = issue
        .labels
        .iter()
        .position(|name| name.eq_ignore_ascii_case(label))
        .ok_or_else(|| Reply::message(StatusCode::NOT_FOUND, "Label does not exist"))?;
    issue.labels.remove(position);
    issue.updated_at = Utc::now();
    Ok(Reply::ok(labels_json(
        base,
        repo,
        &repo.issues[index].labels,
    )))
}

fn list_comments(base: &str, repo: &Repo, number: u64, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let issue = &repo.issues[index];
    let comments = repo
        .comments
        .iter()
        .filter(|comment| comment.issue == number)
        .map(|comment| comment_json(base, repo, issue, comment))
        .collect();
    paginate(ctx, &query, comments)
}

fn create_comment(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let text = optional_string(&body, "IssueComment", "body")?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| Reply::invalid("IssueComment", "body", "missing_field"))?;
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let id = repo.add_comment(number, BOT_LOGIN, text);
    let comment = repo
        .comments
        .iter()
        .find(|comment| comment.id == id)
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::created(comment_json(
        base,
        repo,
        &repo.issues[index],
        comment,
    )))
}

/// `PATCH .../security-advisories/{ghsa_id}`: the fields given replace the stored ones;
/// publishing stamps `published_at`, as GitHub does.
fn update_advisory(repo: &mut Repo, ghsa_id: &str, ctx: &Ctx) -> Answer {
    let changes = ctx.object()?;
    if let Some(state) = changes.get("state").and_then(Value::as_str)
        && !["published", "closed", "draft", "triage"].contains(&state)
    {
        return Err(Reply::invalid("RepositoryAdvisory", "state", "invalid"));
    }
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let advisory = repo
        .advisories
        .iter_mut()
        .find(|advisory| advisory["ghsa_id"] == *ghsa_id)
        .ok_or_else(Reply::not_found)?;
    for (key, value) in changes {
        advisory[key.as_str()] = value.clone();
    }
    if advisory["state"] == "published" && advisory["published_at"].is_null() {
        advisory["published_at"] = now.clone().into();
    }
    advisory["updated_at"] = now.into();
    let answer = advisory.clone();
    repo.advisories_version += 1;
    Ok(Reply::ok(answer))
}

fn update_comment(base: &str, repo: &mut Repo, id: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let text = optional_string(&body, "IssueComment", "body")?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| Reply::invalid("IssueComment", "body", "missing_field"))?;
    let comment = repo
        .comments
        .iter_mut()
        .find(|comment| comment.id == id)
        .ok_or_else(Reply::not_found)?;
    comment.body = text;
    comment.updated_at = Utc::now();
    let comment = repo
        .comments
        .iter()
        .find(|comment| comment.id == id)
        .ok_or_else(Reply::not_found)?;
    let index = repo
        .issue_index(comment.issue)
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(comment_json(
        base,
        repo,
        &repo.issues[index],
        comment,
    )))
}

/// GitHub pages this list with cursors: `after` names where the next page starts, and a
/// `Link: <…>; rel="next"` header leads there while more remain.
fn list_advisories(base: &str, repo: &Repo, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let state = query.get("state").map(String::as_str);
    if state.is_some_and(|state| !matches!(state, "triage" | "draft" | "published" | "closed")) {
        return Err(Reply::invalid("RepositoryAdvisory", "state", "invalid"));
    }
    // GitHub sorts by `created` unless told otherwise; RFC 3339 in UTC orders as text.
    let field = match query.get("sort").map_or("created", String::as_str) {
        "created" => "created_at",
        "updated" => "updated_at",
        "published" => "published_at",
        _ => return Err(Reply::invalid("RepositoryAdvisory", "sort", "invalid")),
    };
    let mut advisories: Vec<&Value> = repo
        .advisories
        .iter()
        .filter(|advisory| state.is_none_or(|state| advisory["state"] == state))
        .collect();
    advisories.sort_by_key(|advisory| advisory[field].as_str().and_then(parse_time));
    if descending(&query)? {
        advisories.reverse();
    }
    let per_page = number_param(&query, "per_page", 30)?.clamp(1, 100);
    let start = match query.get("after") {
        Some(cursor) => {
            advisories
                .iter()
                .position(|advisory| advisory["ghsa_id"] == cursor.as_str())
                .ok_or_else(|| Reply::invalid("RepositoryAdvisory", "after", "invalid"))?
                + 1
        }
        None => 0,
    };
    let more = advisories.len() > start + per_page;
    let page: Vec<Value> = advisories
        .into_iter()
        .skip(start)
        .take(per_page)
        .cloned()
        .collect();
    let next = more
        .then(|| page.last().and_then(|last| last["ghsa_id"].as_str()))
        .flatten()
        .map(|cursor| {
            let mut params: Vec<String> = query
                .iter()
                .filter(|(name, _)| name.as_str() != "after")
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            params.sort();
            params.push(format!("after={cursor}"));
            format!(
                "<{base}/repos/{}/security-advisories?{}>; rel=\"next\"",
                repo.full_name(),
                params.join("&")
            )
        });
    let advisories = Value::Array(page);

    let mut hasher = DefaultHasher::new();
    repo.advisories_version.hash(&mut hasher);
    advisories.to_string().hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let unchanged = ctx
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
        });
    let reply = if unchanged {
        Reply {
            body: ReplyBody::Empty,
            ..Reply::json(StatusCode::NOT_MODIFIED, Value::Null)
        }
    } else {
        Reply::ok(advisories)
    };
    let reply = reply.header(header::ETAG, etag);
    Ok(match next {
        Some(link) => reply.header(header::LINK, link),
        None => reply,
    })
}

// ---------------------------------------------------------------------------------------
// Request input
// ---------------------------------------------------------------------------------------

/// Path segments, percent-decoded; `None` when a segment does not decode (no route knows it).
fn decode_segments(path: &str) -> Option<Vec<String>> {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// A numeric path segment; anything else is a route the fake (and GitHub) does not have.
fn parse_id(segment: &str) -> Result<u64, Reply> {
    segment.parse().map_err(|_| Reply::unexpected())
}

fn number_param(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
) -> Result<usize, Reply> {
    query.get(name).map_or(Ok(default), |value| {
        value.parse().map_err(|_| {
            Reply::message(StatusCode::UNPROCESSABLE_ENTITY, &format!("Invalid {name}"))
        })
    })
}

fn descending(query: &HashMap<String, String>) -> Result<bool, Reply> {
    match query.get("direction").map_or("desc", String::as_str) {
        "desc" => Ok(true),
        "asc" => Ok(false),
        _ => Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid direction",
        )),
    }
}

/// A string field that may be absent or null.
fn optional_string(
    body: &Map<String, Value>,
    resource: &str,
    field: &str,
) -> Result<Option<String>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Reply::invalid(resource, field, "invalid")),
    }
}

/// A string field the request must have, with GitHub's wording when it is missing.
fn required_string(body: &Map<String, Value>, field: &str) -> Result<String, Reply> {
    match body.get(field) {
        Some(Value::String(text)) => Ok(text.clone()),
        None | Some(Value::Null) => Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\n\"{field}\" wasn't supplied."),
        )),
        Some(_) => Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\nFor '{field}', the value is not a string."),
        )),
    }
}

/// Git's rules for a branch name (`git check-ref-format --branch`), the common part.
fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('/')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name
            .split('/')
            .all(|part| !part.starts_with('.') && !part.ends_with(".lock"))
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

/// A list of names (labels, assignees) that may be absent; entries may be `{"name": ..}`.
fn names(
    body: &Map<String, Value>,
    resource: &str,
    field: &str,
) -> Result<Option<Vec<String>>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => label_names(items)
            .map(Some)
            .ok_or_else(|| Reply::invalid(resource, field, "invalid")),
        Some(_) => Err(Reply::invalid(resource, field, "invalid")),
    }
}

fn label_names(items: &[Value]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|item| match item {
            Value::String(name) => Some(name.clone()),
            Value::Object(object) => object.get("name")?.as_str().map(str::to_owned),
            _ => None,
        })
        .collect()
}

fn dedup(names: Vec<String>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for name in names {
        if !unique.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
            unique.push(name);
        }
    }
    unique
}

fn recorded_body(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
    )
}

/// One page of `items`, with GitHub's `Link` header (absolute URLs on the fake) when there
/// is more than one page.
fn paginate(ctx: &Ctx, query: &HashMap<String, String>, items: Vec<Value>) -> Answer {
    let per_page = number_param(query, "per_page", 30)?.clamp(1, 100);
    let page = number_param(query, "page", 1)?.max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let reply = Reply::ok(Value::Array(items));
    // Keep the other parameters as sent (still encoded), replacing only `page`.
    let others: Vec<&str> = ctx
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("page="))
        .collect();
    let link = |page: usize, rel: &str| {
        let mut pairs = others.clone();
        let page = format!("page={page}");
        pairs.push(&page);
        format!(
            "<{}{}?{}>; rel=\"{rel}\"",
            ctx.link_base,
            ctx.uri.path(),
            pairs.join("&")
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    Ok(if links.is_empty() {
        reply
    } else {
        reply.header(header::LINK, links.join(", "))
    })
}

// ---------------------------------------------------------------------------------------
// GitHub's JSON shapes
// ---------------------------------------------------------------------------------------

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A stable fake id for a login, so the same user always looks the same.
fn user_id(login: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    login.to_ascii_lowercase().hash(&mut hasher);
    hasher.finish() % 100_000_000 + 1
}

/// GitHub's "simple user", with every field octocrab's `Author` requires.
fn user_json(base: &str, login: &str, kind: &str) -> Value {
    let id = user_id(login);
    let api = format!(
        "{base}/users/{}",
        login.replace('[', "%5B").replace(']', "%5D")
    );
    let html_login = login
        .strip_suffix("[bot]")
        .map_or(login.to_owned(), |app| format!("apps/{app}"));
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("https://github.com/{html_login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// Bots are the `[bot]` logins; everyone else here is a person.
fn person_or_bot(base: &str, login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    user_json(base, login, kind)
}

fn token_permissions() -> Value {
    json!({
        "issues": "write",
        "contents": "write",
        "repository_advisories": "write",
        "metadata": "read",
    })
}

fn app_json(base: &str, app_id: u64) -> Value {
    json!({
        "id": app_id,
        "slug": APP_SLUG,
        "node_id": format!("MDM6QXBw{app_id}"),
        "client_id": format!("Iv1.fake{app_id}"),
        "owner": user_json(base, APP_OWNER, "Organization"),
        "name": APP_NAME,
        "description": "herald in integration tests",
        "external_url": "https://github.com/herald-dev/herald",
        "html_url": format!("https://github.com/apps/{APP_SLUG}"),
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "permissions": token_permissions(),
        "events": ["issue_comment", "issues", "repository_advisory"],
        "installations_count": 1,
    })
}

fn installation_json(base: &str, app_id: u64, id: u64, account: &str) -> Value {
    let account_json = user_json(base, account, "Organization");
    json!({
        "id": id,
        "account": account_json,
        "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("https://github.com/organizations/{account}/settings/installations/{id}"),
        "app_id": app_id,
        "app_slug": APP_SLUG,
        "target_id": account_json["id"],
        "target_type": "Organization",
        "permissions": token_permissions(),
        "events": ["issue_comment", "issues", "repository_advisory"],
        "repository_selection": "all",
        "single_file_name": null,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "suspended_at": null,
    })
}

fn repo_json(base: &str, repo: &Repo) -> Value {
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}");
    json!({
        "id": repo.id,
        "node_id": format!("R_fake{}", repo.id),
        "name": repo.name,
        "full_name": full_name,
        "private": repo.private,
        "visibility": if repo.private { "private" } else { "public" },
        "owner": user_json(base, &repo.owner, "Organization"),
        "html_url": format!("https://github.com/{full_name}"),
        "description": null,
        "fork": false,
        "url": api,
        "issues_url": format!("{api}/issues{{/number}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "default_branch": repo.default_branch,
        "archived": false,
        "disabled": false,
        "has_issues": true,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.created_at),
        "pushed_at": timestamp(repo.created_at),
    })
}

/// GitHub's base64 breaks a line every 60 characters, each line ending in `\n`.
fn github_base64(content: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let mut wrapped = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for line in encoded.as_bytes().chunks(60) {
        wrapped.push_str(&String::from_utf8_lossy(line));
        wrapped.push('\n');
    }
    wrapped
}

/// A 40-hex blob id for `content`. GitHub's is SHA-1 over `blob <len>\0<content>`; this one
/// hashes the same input with SHA-256 (the crate's hash) and keeps 40 digits.
fn blob_sha(content: &str) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("blob {}\0", content.len()));
    hasher.update(content);
    hex::encode(hasher.finalize())[..40].to_owned()
}

/// A 40-hex commit id, unique for the process (each commit gets its own).
fn commit_sha(repo_id: u64, parent: Option<&str>, message: &str) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!(
        "commit {repo_id} {} {}\0{message}",
        parent.unwrap_or("-"),
        next_id()
    ));
    hex::encode(hasher.finalize())[..40].to_owned()
}

fn content_json(base: &str, repo: &Repo, reference: &str, path: &str, content: &str) -> Value {
    let full_name = repo.full_name();
    let sha = blob_sha(content);
    let url = format!("{base}/repos/{full_name}/contents/{path}?ref={reference}");
    let git_url = format!("{base}/repos/{full_name}/git/blobs/{sha}");
    let html_url = format!("https://github.com/{full_name}/blob/{reference}/{path}");
    json!({
        "type": "file",
        "encoding": "base64",
        "size": content.len(),
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "content": github_base64(content),
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": format!("https://raw.githubusercontent.com/{full_name}/{reference}/{path}"),
        "_links": { "self": url, "git": git_url, "html": html_url },
    })
}

/// GitHub's git reference (`GET .../git/ref/heads/{branch}` and friends).
fn ref_json(base: &str, repo: &Repo, branch: &str, sha: &str) -> Value {
    let full_name = repo.full_name();
    let mut hasher = DefaultHasher::new();
    (repo.id, branch).hash(&mut hasher);
    json!({
        "ref": format!("refs/heads/{branch}"),
        "node_id": format!("REF_fake{:016x}", hasher.finish()),
        "url": format!("{base}/repos/{full_name}/git/refs/heads/{branch}"),
        "object": {
            "type": "commit",
            "sha": sha,
            "url": format!("{base}/repos/{full_name}/git/commits/{sha}"),
        },
    })
}

/// The git commit in a contents answer (`"commit"` of GitHub's file-commit).
fn commit_json(base: &str, repo: &Repo, commit: &Commit) -> Value {
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}/git/commits");
    let person = json!({
        "name": BOT_LOGIN,
        "email": format!("{}+{BOT_LOGIN}@users.noreply.github.com", user_id(BOT_LOGIN)),
        "date": timestamp(commit.created_at),
    });
    let parents: Vec<Value> = commit
        .parent
        .iter()
        .map(|parent| {
            json!({
                "sha": parent,
                "url": format!("{api}/{parent}"),
                "html_url": format!("https://github.com/{full_name}/commit/{parent}"),
            })
        })
        .collect();
    let tree = blob_sha(&format!("{:?}", commit.tree));
    json!({
        "sha": commit.sha,
        "node_id": format!("C_fake{}", &commit.sha[..16]),
        "url": format!("{api}/{}", commit.sha),
        "html_url": format!("https://github.com/{full_name}/commit/{}", commit.sha),
        "author": person,
        "committer": person,
        "message": commit.message,
        "tree": { "sha": tree, "url": format!("{base}/repos/{full_name}/git/trees/{tree}") },
        "parents": parents,
        "verification": {
            "verified": false,
            "reason": "unsigned",
            "signature": null,
            "payload": null,
            "verified_at": null,
        },
    })
}

/// One side of a pull request (`head` or `base`).
fn pull_side_json(base: &str, repo: &Repo, branch: &str) -> Value {
    json!({
        "label": format!("{}:{branch}", repo.owner),
        "ref": branch,
        "sha": repo.branches.get(branch).cloned().unwrap_or_default(),
        "user": user_json(base, &repo.owner, "Organization"),
        "repo": repo_json(base, repo),
    })
}

/// GitHub's pull request; `issue.pull` must be set.
fn pull_json(base: &str, repo: &Repo, issue: &Issue) -> Value {
    let Some(pull) = &issue.pull else {
        return Value::Null;
    };
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}");
    let url = format!("{api}/pulls/{}", issue.number);
    let html_url = format!("https://github.com/{full_name}/pull/{}", issue.number);
    let issue_url = format!("{api}/issues/{}", issue.number);
    let head_sha = repo.branches.get(&pull.head).cloned().unwrap_or_default();
    let assignees: Vec<Value> = issue
        .assignees
        .iter()
        .map(|login| person_or_bot(base, login))
        .collect();
    let comments = repo
        .comments
        .iter()
        .filter(|comment| comment.issue == issue.number)
        .count();
    let commits = repo.commits_between(&pull.base, &pull.head);
    let changed: std::collections::BTreeSet<&String> = repo
        .branches
        .get(&pull.head)
        .map(|head| {
            repo.ancestry(head)
                .take(commits)
                .flat_map(|commit| &commit.files_changed)
                .collect()
        })
        .unwrap_or_default();
    let links = json!({
            "self": { "href": url },
            "html": { "href": html_url },
            "issue": { "href": issue_url },
            "comments": { "href": format!("{issue_url}/comments") },
            "review_comments": { "href": format!("{url}/comments") },
            "review_comment": { "href": format!("{api}/pulls/comments{{/number}}") },
            "commits": { "href": format!("{url}/commits") },
            "statuses": { "href": format!("{api}/statuses/{head_sha}") },
    });
    let mut value = json!({
        "url": url,
        "id": pull.id,
        "node_id": format!("PR_fake{}", pull.id),
        "html_url": html_url,
        "diff_url": format!("{html_url}.diff"),
        "patch_url": format!("{html_url}.patch"),
        "issue_url": issue_url,
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue_url}/comments"),
        "statuses_url": format!("{api}/statuses/{head_sha}"),
        "number": issue.number,
        "state": issue.state,
        "locked": false,
        "title": issue.title,
        "user": person_or_bot(base, &issue.user),
        "body": issue.body,
        "labels": labels_json(base, repo, &issue.labels),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": timestamp(issue.created_at),
        "updated_at": timestamp(issue.updated_at),
        "closed_at": issue.closed_at.map(timestamp),
        "merged_at": null,
        "merge_commit_sha": null,
        "assignee": assignees.first(),
        "assignees": assignees,
        "requested_reviewers": [],
        "requested_teams": [],
    });
    // Two halves: one `json!` this size exceeds the macro recursion limit.
    let more = json!({
        "head": pull_side_json(base, repo, &pull.head),
        "base": pull_side_json(base, repo, &pull.base),
        "_links": links,
        "author_association": "NONE",
        "auto_merge": null,
        "draft": pull.draft,
        "merged": false,
        "mergeable": null,
        "rebaseable": null,
        "mergeable_state": "unknown",
        "merged_by": null,
        "comments": comments,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": commits,
        "additions": 0,
        "deletions": 0,
        "changed_files": changed.len(),
    });
    if let (Value::Object(value), Value::Object(more)) = (&mut value, more) {
        value.extend(more);
    }
    value
}

fn labels_json(base: &str, repo: &Repo, names: &[String]) -> Value {
    let full_name = repo.full_name();
    Value::Array(
        names
            .iter()
            .map(|name| {
                let id = repo
                    .labels
                    .iter()
                    .find(|(known, _)| known == name)
                    .map_or(0, |(_, id)| *id);
                let encoded: String = name
                    .bytes()
                    .map(|byte| {
                        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                            char::from(byte).to_string()
                        } else {
                            format!("%{byte:02X}")
                        }
                    })
                    .collect();
                json!({
                    "id": id,
                    "node_id": format!("LA_fake{id}"),
                    "url": format!("{base}/repos/{full_name}/labels/{encoded}"),
                    "name": name,
                    "description": null,
                    "color": "ededed",
                    "default": false,
                })
            })
            .collect(),
    )
}

fn issue_json(base: &str, repo: &Repo, issue: &Issue) -> Value {
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}/issues/{}", issue.number);
    let assignees: Vec<Value> = issue
        .assignees
        .iter()
        .map(|login| person_or_bot(base, login))
        .collect();
    let comments = repo
        .comments
        .iter()
        .filter(|comment| comment.issue == issue.number)
        .count();
    // A pull request seen through the issues API says so, and lives at `/pull/N`.
    let kind = if issue.pull.is_some() {
        "pull"
    } else {
        "issues"
    };
    let html_url = format!("https://github.com/{full_name}/{kind}/{}", issue.number);
    let mut value = json!({
        "id": issue.id,
        "node_id": format!("I_fake{}", issue.id),
        "url": api,
        "repository_url": format!("{base}/repos/{full_name}"),
        "labels_url": format!("{api}/labels{{/name}}"),
        "comments_url": format!("{api}/comments"),
        "events_url": format!("{api}/events"),
        "html_url": html_url,
        "number": issue.number,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "title": issue.title,
        "body": issue.body,
        "user": person_or_bot(base, &issue.user),
        "labels": labels_json(base, repo, &issue.labels),
        "assignee": assignees.first(),
        "assignees": assignees,
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": comments,
        "closed_at": issue.closed_at.map(timestamp),
        "closed_by": null,
        "author_association": "NONE",
        "created_at": timestamp(issue.created_at),
        "updated_at": timestamp(issue.updated_at),
    });
    if let Some(pull) = &issue.pull {
        value["draft"] = json!(pull.draft);
        value["pull_request"] = json!({
            "url": format!("{base}/repos/{full_name}/pulls/{}", issue.number),
            "html_url": html_url,
            "diff_url": format!("{html_url}.diff"),
            "patch_url": format!("{html_url}.patch"),
            "merged_at": null,
        });
    }
    value
}

fn comment_json(base: &str, repo: &Repo, issue: &Issue, comment: &Comment) -> Value {
    let full_name = repo.full_name();
    json!({
        "id": comment.id,
        "node_id": format!("IC_fake{}", comment.id),
        "url": format!("{base}/repos/{full_name}/issues/comments/{}", comment.id),
        "html_url": format!(
            "https://github.com/{full_name}/issues/{}#issuecomment-{}",
            issue.number, comment.id
        ),
        "issue_url": format!("{base}/repos/{full_name}/issues/{}", issue.number),
        "body": comment.body,
        "user": person_or_bot(base, &comment.user),
        "author_association": "NONE",
        "created_at": timestamp(comment.created_at),
        "updated_at": timestamp(comment.updated_at),
    })
}

/// GitHub's legacy `permission` folds maintain into write and triage into read; `role_name`
/// keeps the finer role.
fn permission_json(base: &str, repo: &Repo, login: &str) -> Value {
    let role = repo
        .roles
        .get(&login.to_ascii_lowercase())
        .map_or("none", String::as_str);
    let permission = match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    let rank = ROLES
        .iter()
        .position(|known| *known == role)
        .unwrap_or(ROLES.len());
    // ROLES runs from most to least: admin, maintain, write, triage, read, none.
    let mut user = person_or_bot(base, login);
    user["permissions"] = json!({
        "admin": rank == 0,
        "maintain": rank <= 1,
        "push": rank <= 2,
        "triage": rank <= 3,
        "pull": rank <= 4,
    });
    user["role_name"] = json!(role);
    json!({ "permission": permission, "role_name": role, "user": user })
}
