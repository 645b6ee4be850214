//! What the fake GitHub holds: installations, tokens, repositories with their git state, issues, pull requests, comments, advisories and discussions.

use super::*;

pub(super) struct World {
    pub(super) app_id: u64,
    pub(super) key: DecodingKey,
    /// Base of the absolute URLs in answers (`url`, `Link`), i.e. the fake itself.
    pub(super) base: Arc<str>,
    pub(super) relative_links: bool,
    pub(super) installations: BTreeMap<u64, String>,
    /// Keyed by lower-cased `owner/name`: GitHub's names are case-insensitive.
    pub(super) repos: BTreeMap<String, Repo>,
    pub(super) tokens: HashMap<String, Token>,
    pub(super) tokens_issued: u64,
    pub(super) failures: Vec<Failure>,
    /// (method, path) of requests to carry out and then answer 502, as if the answer was lost.
    pub(super) lost_answers: Vec<(String, String)>,
    /// (method, path, bytes) of answers to send with that much whitespace after their JSON.
    pub(super) inflated_answers: Vec<(String, String, usize)>,
    /// (method, path, how long) of requests to hold before handling, once each.
    pub(super) delays: Vec<(String, String, std::time::Duration)>,
    pub(super) rate_remaining: u64,
    pub(super) rate_reset: i64,
    pub(super) requests_seen: u64,
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) unexpected: Vec<String>,
    pub(super) cve_requests: Vec<String>,
    /// The next `createDiscussion` loses its answer.
    pub(super) lose_next_discussion: bool,
    /// Temporary private forks GitHub is still creating: lower-cased name → how many more
    /// reads of the repository answer 404.
    pub(super) forks_in_creation: HashMap<String, u32>,
    /// How many reads of a new fork answer 404 before it exists.
    pub(super) fork_delay: u32,
    /// The private key a manifest conversion hands out (the App's own, in tests).
    pub(super) manifest_pem: Option<String>,
    /// Manifests posted to "new App" pages, by the one-time code given for each.
    pub(super) manifest_codes: HashMap<String, Value>,
    pub(super) manifests_received: Vec<Value>,
    /// Lower-cased organisation → who holds its security manager role.
    pub(super) security_managers: HashMap<String, SecurityManagers>,
    /// The App may not read organisation roles (403).
    pub(super) org_roles_forbidden: bool,
    /// The App's webhook: where deliveries go, and every attempt.
    pub(super) hooks: Hooks,
}

pub(super) struct Token {
    pub(super) installation_id: u64,
    pub(super) expires_at: DateTime<Utc>,
}

pub(super) struct Failure {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) status: StatusCode,
    pub(super) retry_after_secs: Option<u64>,
    /// GitHub's message, for a refusal; else the status's own words.
    pub(super) message: Option<String>,
}

pub(super) struct Repo {
    pub(super) id: u64,
    pub(super) owner: String,
    pub(super) name: String,
    pub(super) private: bool,
    /// An enterprise's `internal` repository: private to the public, read by every member.
    pub(super) internal: bool,
    pub(super) installation_id: u64,
    pub(super) created_at: DateTime<Utc>,
    pub(super) default_branch: String,
    /// Branch name → the sha of its head commit.
    pub(super) branches: BTreeMap<String, String>,
    /// Every commit ever made, by sha; a branch's files are its head commit's tree.
    pub(super) commits: HashMap<String, Commit>,
    /// Lower-cased login → role.
    pub(super) roles: HashMap<String, String>,
    /// The repository's labels (name, id); GitHub creates one when an issue first uses it.
    pub(super) labels: Vec<(String, u64)>,
    /// Issues and pull requests: one number sequence, as on GitHub.
    pub(super) issues: Vec<Issue>,
    pub(super) comments: Vec<Comment>,
    pub(super) advisories: Vec<Value>,
    /// Bumped on every advisory change, so the list's ETag changes even if a replacement
    /// serialises the same.
    pub(super) advisories_version: u64,
    /// The dependency graph's packages as purls; `None`: the dependency graph is off (404).
    pub(super) sbom: Option<Vec<String>>,
    pub(super) discussions: Vec<FakeDiscussion>,
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
pub(super) const DISCUSSION_CATEGORIES: [(&str, &str); 3] = [
    ("DIC_kwDOfakeA", "Announcements"),
    ("DIC_kwDOfakeG", "General"),
    ("DIC_kwDOfakeQ", "Q&A"),
];

pub(super) struct Issue {
    pub(super) id: u64,
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) state: String,
    pub(super) state_reason: Option<String>,
    pub(super) labels: Vec<String>,
    pub(super) assignees: Vec<String>,
    pub(super) user: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    /// Set when the issue is a pull request.
    pub(super) pull: Option<Pull>,
}

/// What a pull request has beyond its issue.
pub(super) struct Pull {
    /// GitHub's pull-request id differs from the id of the issue it is.
    pub(super) id: u64,
    /// Branch names in this repository (the fake has no forks).
    pub(super) head: String,
    pub(super) base: String,
    pub(super) draft: bool,
}

pub(super) struct Commit {
    pub(super) sha: String,
    pub(super) parent: Option<String>,
    /// The GitHub account that pushed it.
    pub(super) author: String,
    pub(super) message: String,
    pub(super) files_changed: Vec<String>,
    /// The whole tree after this commit: path → text.
    pub(super) tree: BTreeMap<String, String>,
    pub(super) created_at: DateTime<Utc>,
}

pub(super) struct Comment {
    pub(super) id: u64,
    pub(super) issue: u64,
    pub(super) body: String,
    pub(super) user: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

impl World {
    pub(super) fn new(app_id: u64, key: DecodingKey, base: &str) -> World {
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
            lost_answers: Vec::new(),
            inflated_answers: Vec::new(),
            delays: Vec::new(),
            rate_remaining: RATE_LIMIT,
            rate_reset: Utc::now().timestamp() + 3600,
            requests_seen: 0,
            requests: Vec::new(),
            unexpected: Vec::new(),
            cve_requests: Vec::new(),
            lose_next_discussion: false,
            forks_in_creation: HashMap::new(),
            fork_delay: 1,
            manifest_pem: None,
            manifest_codes: HashMap::new(),
            manifests_received: Vec::new(),
            security_managers: HashMap::new(),
            org_roles_forbidden: false,
            hooks: Hooks::default(),
        }
    }
}

impl Repo {
    /// The repository advisory `ghsa_id`; 404 when there is none.
    pub(super) fn advisory(&self, ghsa_id: &str) -> Result<&Value, Reply> {
        self.advisories
            .iter()
            .find(|advisory| advisory["ghsa_id"] == ghsa_id)
            .ok_or_else(Reply::not_found)
    }

    pub(super) fn new(owner: &str, name: &str, private: bool, installation_id: u64) -> Repo {
        let created_at = Utc::now();
        let id = next_id();
        let initial = Commit {
            sha: commit_sha(id, None, "Initial commit"),
            parent: None,
            author: owner.to_owned(),
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
            internal: false,
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

    pub(super) fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub(super) fn issue_index(&self, number: u64) -> Option<usize> {
        self.issues.iter().position(|issue| issue.number == number)
    }

    /// The index of pull request `number` (an issue that is not one does not count).
    /// Whether an open pull request other than `except` goes from `head` into `base`.
    pub(super) fn open_pull_for(&self, head: &str, base: &str, except: Option<u64>) -> bool {
        self.issues.iter().any(|issue| {
            issue.state == "open"
                && Some(issue.number) != except
                && issue
                    .pull
                    .as_ref()
                    .is_some_and(|pull| pull.head == head && pull.base == base)
        })
    }

    pub(super) fn pull_index(&self, number: u64) -> Option<usize> {
        self.issue_index(number)
            .filter(|index| self.issues[*index].pull.is_some())
    }

    /// The files at the head of `branch`.
    pub(super) fn tree(&self, branch: &str) -> Option<&BTreeMap<String, String>> {
        let head = self.branches.get(branch)?;
        self.commits.get(head).map(|commit| &commit.tree)
    }

    /// The commit a `ref` names: a branch (`main`, `heads/main`, `refs/heads/main`) or a
    /// full commit sha.
    pub(super) fn resolve(&self, reference: &str) -> Option<&Commit> {
        let branch = reference
            .strip_prefix("refs/heads/")
            .or_else(|| reference.strip_prefix("heads/"))
            .unwrap_or(reference);
        let sha = self.branches.get(branch).map_or(reference, String::as_str);
        self.commits.get(sha)
    }

    /// `sha` and its ancestors, newest first.
    pub(super) fn ancestry<'a>(&'a self, sha: &str) -> impl Iterator<Item = &'a Commit> + 'a {
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

    pub(super) fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        self.ancestry(of).any(|commit| commit.sha == ancestor)
    }

    /// Commits on `head` that `base` does not have.
    pub(super) fn commits_between(&self, base: &str, head: &str) -> usize {
        let (Some(base), Some(head)) = (self.branches.get(base), self.branches.get(head)) else {
            return 0;
        };
        self.ancestry(head)
            .take_while(|commit| !self.is_ancestor(&commit.sha, base))
            .count()
    }

    /// Commits `path` = `content` on top of `branch`; returns the new commit's sha, or
    /// `None` when the branch does not exist.
    pub(super) fn commit_file(
        &mut self,
        branch: &str,
        path: &str,
        content: String,
        (message, author): (String, &str),
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
                author: author.to_owned(),
                message,
                files_changed: vec![path.to_owned()],
                tree,
                created_at: Utc::now(),
            },
        );
        self.branches.insert(branch.to_owned(), sha.clone());
        Some(sha)
    }

    /// A seeding commit by `author`, with the message GitHub's web editor would write.
    pub(super) fn seed_file(&mut self, branch: &str, path: &str, content: &str, author: &str) {
        let path = path.trim_start_matches('/');
        let exists = self
            .tree(branch)
            .unwrap_or_else(|| panic!("fake GitHub: no branch {branch} in {}", self.full_name()))
            .contains_key(path);
        let message = format!("{} {path}", if exists { "Update" } else { "Create" });
        self.commit_file(branch, path, content.to_owned(), (message, author));
    }

    /// The repository's spelling of a label (names are case-insensitive), created if new.
    pub(super) fn label(&mut self, name: &str) -> String {
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
    pub(super) fn labels_for(&mut self, names: Vec<String>) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        for name in names {
            let label = self.label(&name);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels
    }

    pub(super) fn open_issue(
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
    pub(super) fn open_pull(
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

    pub(super) fn add_comment(&mut self, number: u64, user: &str, body: String) -> u64 {
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
