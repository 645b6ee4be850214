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

mod advisories;
mod contents;
mod dependency_graph;
mod graphql;
mod hooks;
mod input;
mod issues;
mod manifests;
mod org_roles;
mod pulls;
mod server;
mod shapes;
mod state;

use advisories::*;
use contents::*;
use dependency_graph::*;
use hooks::*;
use input::*;
use issues::*;
use org_roles::*;
use pulls::*;
use server::*;
use shapes::*;
use state::*;

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

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// As sent, still percent-encoded (`/repos/o/r/issues/1/labels/severity%3Ahigh`).
    pub path: String,
    pub query: Option<String>,
    /// The JSON body, or the text as a JSON string when it was not JSON.
    pub body: Option<Value>,
    pub status: u16,
    /// When the fake received it.
    pub at: std::time::Instant,
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

    /// The repository becomes an enterprise's `internal` one (GitHub answers `private: true`
    /// and `visibility: internal`).
    pub fn make_internal(&self, repo: &str) {
        self.with_repo(repo, |repo| {
            repo.private = true;
            repo.internal = true;
        });
    }

    /// Commits a file to the default branch, as a push outside herald would (by the
    /// repository's owner).
    pub fn put_file(&self, repo: &str, path: &str, content: &str) {
        self.with_repo(repo, |repo| {
            let (branch, owner) = (repo.default_branch.clone(), repo.owner.clone());
            repo.seed_file(&branch, path, content, &owner);
        });
    }

    /// Commits a file to the default branch as `author` pushed it.
    pub fn put_file_as(&self, repo: &str, path: &str, content: &str, author: &str) {
        self.with_repo(repo, |repo| {
            let branch = repo.default_branch.clone();
            repo.seed_file(&branch, path, content, author);
        });
    }

    /// Commits a file to `branch`, which must exist, as a push outside herald would.
    pub fn put_file_on(&self, repo: &str, branch: &str, path: &str, content: &str) {
        self.with_repo(repo, |repo| {
            let owner = repo.owner.clone();
            repo.seed_file(branch, path, content, &owner);
        });
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

    /// A contributor's pull request from a new branch `head` (made from `base`, with one
    /// commit) into `base`; returns its number.
    pub fn open_pull(&self, repo: &str, head: &str, base: &str, title: &str) -> u64 {
        self.create_branch(repo, head, base);
        self.put_file_on(repo, head, "fix.txt", "the fix\n");
        self.with_repo(repo, |repo| {
            repo.open_pull(
                title.to_owned(),
                None,
                head.to_owned(),
                base.to_owned(),
                false,
            )
        })
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

    /// `login` holds `org`'s security manager role, given directly.
    pub fn add_security_manager(&self, org: &str, login: &str) {
        self.world()
            .security_managers
            .entry(org.to_ascii_lowercase())
            .or_default()
            .users
            .push(login.to_owned());
    }

    /// The team `slug` of `org`, with `members`, holds the security manager role.
    pub fn add_security_manager_team(&self, org: &str, slug: &str, members: &[&str]) {
        self.world()
            .security_managers
            .entry(org.to_ascii_lowercase())
            .or_default()
            .teams
            .push((
                slug.to_owned(),
                members.iter().map(|member| (*member).to_owned()).collect(),
            ));
    }

    /// The App was not granted the permission to read organisation roles: GitHub answers
    /// 403 to them.
    pub fn forbid_org_roles(&self) {
        self.world().org_roles_forbidden = true;
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

    /// The next request with this method and path is carried out, but its answer is lost: a
    /// 502, as when a proxy between herald and GitHub fails. Once.
    pub fn lose_next_answer(&self, method: &str, path: &str) {
        self.world()
            .lost_answers
            .push((method.to_ascii_uppercase(), path.to_owned()));
    }

    /// The next answer to this method and path carries `bytes` of whitespace after its JSON
    /// (still valid JSON), as a misbehaving server or proxy might. Once.
    pub fn inflate_next(&self, method: &str, path: &str, bytes: usize) {
        self.world()
            .inflated_answers
            .push((method.to_ascii_uppercase(), path.to_owned(), bytes));
    }

    /// The next request with this method and path waits `delay` before GitHub handles it;
    /// a client that gives up meanwhile leaves nothing done. Once.
    pub fn delay_next(&self, method: &str, path: &str, delay: std::time::Duration) {
        self.world()
            .delays
            .push((method.to_ascii_uppercase(), path.to_owned(), delay));
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

    /// The most content-creating requests (GitHub's secondary limits: POST, PATCH, PUT,
    /// DELETE, GraphQL mutations) the fake received within any span of `window`.
    pub fn most_writes_within(&self, window: std::time::Duration) -> usize {
        let writes: Vec<std::time::Instant> = self
            .world()
            .requests
            .iter()
            .filter(|request| is_content_creating(request))
            .map(|request| request.at)
            .collect();
        writes
            .iter()
            .enumerate()
            .map(|(first, start)| {
                writes[first..]
                    .iter()
                    .take_while(|at| at.duration_since(*start) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
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
    /// How many reads of a new temporary private fork answer 404 before it exists.
    pub fn set_fork_delay(&self, reads: u32) {
        self.world().fork_delay = reads;
    }

    pub fn cve_requests(&self) -> Vec<String> {
        self.world().cve_requests.clone()
    }

    /// GitHub's `Link` URLs are absolute, and so are the fake's by default. But octocrab sends
    /// installation credentials only to relative URIs or `api.github.com`, so following
    /// `page.next` with octocrab against the fake needs relative links.
    pub fn relative_links(&self, relative: bool) {
        self.world().relative_links = relative;
    }

    /// The hourly budget: `remaining` requests until GitHub renews it in `reset_in`.
    pub fn set_rate_limit(&self, remaining: u64, reset_in: std::time::Duration) {
        let mut world = self.world();
        world.rate_remaining = remaining.min(RATE_LIMIT);
        world.rate_reset = Utc::now().timestamp() + i64::try_from(reset_in.as_secs()).unwrap_or(0);
    }

    /// Lets GitHub's manifest flow register an App whose private key is `pem`.
    pub fn offer_app_registration(&self, pem: &str) {
        self.world().manifest_pem = Some(pem.to_owned());
    }

    /// The App manifests posted to GitHub's "new App" pages, in order.
    pub fn manifests_received(&self) -> Vec<Value> {
        self.world().manifests_received.clone()
    }

    /// The `x-ratelimit-remaining` the next answer will start from.
    pub fn rate_limit_remaining(&self) -> u64 {
        self.world().rate_remaining
    }
}

/// Whether GitHub counts `request` against its content-creating limits.
fn is_content_creating(request: &RecordedRequest) -> bool {
    match request.method.as_str() {
        "GET" | "HEAD" | "OPTIONS" => false,
        // The App's own token requests are not the installation's writes.
        "POST" if request.path.starts_with("/app/") => false,
        "POST" if request.path == "/graphql" => request
            .body
            .as_ref()
            .and_then(|body| body["query"].as_str())
            .is_some_and(|query| query.trim_start().starts_with("mutation")),
        _ => true,
    }
}

fn same_path(recorded: &str, wanted: &str) -> bool {
    recorded == wanted || percent_decode(recorded).is_some_and(|decoded| decoded == wanted)
}
