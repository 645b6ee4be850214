//! The REST calls herald makes, with only the fields it reads (GitHub's documented shapes).

use super::{Api, GitHubError, segment};
use crate::incident::{GhsaId, Permission, RepoName, RoleName};
use base64::Engine;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
pub struct AppInfo {
    pub id: u64,
    pub slug: Option<String>,
    pub name: String,
}

/// One attempt to deliver a webhook to the App (`GET /app/hook/deliveries`): a delivery
/// (`guid`, its X-GitHub-Delivery) has an attempt per delivery and redelivery.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct HookDelivery {
    /// The attempt's id, which a redelivery request names.
    pub id: u64,
    pub guid: String,
    pub delivered_at: chrono::DateTime<chrono::Utc>,
    /// Whether GitHub made this attempt on request.
    #[serde(default)]
    pub redelivery: bool,
    /// GitHub's words for the outcome (`OK`, `Invalid HTTP Response: 503`, …).
    #[serde(default)]
    pub status: String,
    /// The HTTP status herald answered; 0 when no answer came (refused, timed out), which
    /// GitHub may also write as `null`.
    #[serde(default, deserialize_with = "status_or_none")]
    pub status_code: u16,
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub installation_id: Option<u64>,
}

impl HookDelivery {
    /// herald answered 2xx: the delivery arrived.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    /// herald refused its content (a malformed body or headers, too large, the wrong
    /// content type): sent again, it would be refused again. Not a 401: a redelivery is
    /// signed with the current secret, which may be the one herald has after a rotation;
    /// nor a 403, 404 or 421, which a proxy in front of herald may have answered.
    pub fn refused_by_herald(&self) -> bool {
        matches!(self.status_code, 400 | 413 | 415 | 431)
    }
}

/// A status code, or 0 for `null`.
fn status_or_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    Ok(Option::<u16>::deserialize(deserializer)?.unwrap_or(0))
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub login: String,
    /// `User` or `Organization`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallationInfo {
    pub id: u64,
    pub account: Option<Account>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryInfo {
    pub full_name: String,
    pub html_url: Option<String>,
    pub private: bool,
    pub visibility: Option<String>,
    pub default_branch: Option<String>,
}

impl RepositoryInfo {
    /// Who may read it, in GitHub's word: `private`, `internal` (every member of the
    /// enterprise) or `public`.
    pub fn visibility(&self) -> &str {
        match (self.visibility.as_deref(), self.private) {
            (Some(visibility), _) => visibility,
            (None, true) => "private",
            (None, false) => "public",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LabelInfo {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IssueInfo {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub html_url: String,
    #[serde(default)]
    pub labels: Vec<LabelInfo>,
    #[serde(default)]
    pub assignees: Vec<UserRef>,
    /// Who opened it.
    pub user: Option<UserRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl UserRef {
    /// Whether this is herald's App: its bot login `app_bot`; nobody while GitHub has not
    /// told it. A marker in a text proves nothing: anyone may write one.
    pub fn is_app(&self, app_bot: Option<&str>) -> bool {
        self.kind.as_deref() == Some("Bot")
            && app_bot.is_some_and(|login| self.login.eq_ignore_ascii_case(login))
    }
}

/// A text of herald's own: it carries `marker` and herald's App wrote it.
fn heralds(
    body: Option<&str>,
    user: Option<&UserRef>,
    marker: &str,
    app_bot: Option<&str>,
) -> bool {
    body.is_some_and(|body| body.contains(marker)) && user.is_some_and(|user| user.is_app(app_bot))
}

impl IssueInfo {
    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|label| label.name.clone()).collect()
    }

    pub fn is_assigned(&self, login: &str) -> bool {
        self.assignees
            .iter()
            .any(|user| user.login.eq_ignore_ascii_case(login))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommentInfo {
    pub id: u64,
    pub body: Option<String>,
    pub user: Option<UserRef>,
}

impl CommentInfo {
    /// herald's own comment carrying `marker`.
    pub fn is_heralds(&self, marker: &str, app_bot: Option<&str>) -> bool {
        heralds(self.body.as_deref(), self.user.as_ref(), marker, app_bot)
    }
}

#[derive(Debug, Deserialize)]
struct FileContent {
    content: Option<String>,
    encoding: Option<String>,
    sha: Option<String>,
}

/// A file's text and blob sha (needed to update it).
#[derive(Debug, Clone)]
pub struct VersionedFile {
    pub text: String,
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PullInfo {
    pub number: u64,
    pub html_url: String,
    pub state: String,
    pub title: String,
    pub body: Option<String>,
    /// Only in the answer for one pull request (`GET …/pulls/{n}`).
    pub merged: Option<bool>,
    pub base: Option<PullBase>,
}

/// Where a pull request goes: its branch, and the repository with its default branch.
#[derive(Debug, Clone, Deserialize)]
pub struct PullBase {
    #[serde(rename = "ref")]
    pub branch: String,
    pub repo: Option<RepositoryInfo>,
}

#[derive(Debug, Serialize)]
pub struct NewIssue<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [String],
    pub assignees: &'a [String],
}

/// A draft repository advisory to create (`POST …/security-advisories`): GitHub requires
/// a summary, a description and the affected products.
#[derive(Debug, Serialize)]
pub struct NewAdvisory<'a> {
    pub summary: &'a str,
    pub description: &'a str,
    pub vulnerabilities: [NewVulnerability<'a>; 1],
}

/// An affected product of a new advisory: its ecosystem (GitHub's word, `other` for none)
/// and its name.
#[derive(Debug, Serialize)]
pub struct NewVulnerability<'a> {
    pub package: AdvisoryPackage<'a>,
}

#[derive(Debug, Serialize)]
pub struct AdvisoryPackage<'a> {
    pub ecosystem: &'a str,
    pub name: &'a str,
}

#[derive(Debug, Serialize)]
struct IssueEdit<'a> {
    title: &'a str,
    body: &'a str,
}

#[derive(Debug, Serialize)]
struct CommentBody<'a> {
    body: &'a str,
}

/// The contents API's address of `path` in `repository`.
fn contents_url(repository: &RepoName, path: &str) -> String {
    let encoded: Vec<String> = path.split('/').map(segment).collect();
    format!("/repos/{repository}/contents/{}", encoded.join("/"))
}

/// A contents API answer for one file: its text and blob sha.
fn decode_file(url: &str, body: &[u8]) -> Result<VersionedFile, GitHubError> {
    let decode_error = |error: String| GitHubError::Decode {
        method: Method::GET,
        path: url.to_owned(),
        source: error.into(),
    };
    let content: FileContent =
        serde_json::from_slice(body).map_err(|error| decode_error(error.to_string()))?;
    if content.encoding.as_deref() != Some("base64") {
        return Err(decode_error(format!(
            "expected a base64-encoded file, got encoding {:?}",
            content.encoding
        )));
    }
    // GitHub wraps the base64 text every 60 characters.
    let packed: String = content
        .content
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .map_err(|error| decode_error(error.to_string()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| decode_error("the file is not UTF-8 text".to_owned()))?;
    Ok(VersionedFile {
        text,
        sha: content.sha.unwrap_or_default(),
    })
}

/// Issues listed per page when looking for herald's own issue.
const PAGE: usize = 100;
/// Pages looked through before concluding herald's issue is not there.
const MAX_PAGES: usize = 20;

impl Api {
    /// A GraphQL query or mutation; GraphQL's own errors (answered with 200) are errors too.
    pub async fn graphql(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<serde_json::Value, GitHubError> {
        let path = "/graphql";
        let body = serde_json::json!({ "query": query, "variables": variables });
        // Queries read; only mutations count against GitHub's write limits.
        let write = query.trim_start().starts_with("mutation");
        let mut answer: serde_json::Value = self
            .send_as(write, Method::POST, path, Some(&body), &[])
            .await?
            .json(&Method::POST, path)?;
        if let Some(errors) = answer.get("errors").and_then(|errors| errors.as_array()) {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|error| error.get("message").and_then(|message| message.as_str()))
                .collect();
            return Err(GitHubError::Decode {
                method: Method::POST,
                path: path.to_owned(),
                source: format!("GraphQL: {}", messages.join("; ")).into(),
            });
        }
        Ok(answer["data"].take())
    }

    /// The repository's dependencies from its dependency graph (SPDX SBOM); `None` when it
    /// has none (GitHub answers 404 when the dependency graph is off).
    pub async fn dependencies(
        &self,
        repository: &RepoName,
    ) -> Result<Option<Vec<crate::incident::Dependency>>, GitHubError> {
        let path = format!("/repos/{repository}/dependency-graph/sbom");
        match self.get::<crate::github::sbom::SbomAnswer>(&path).await {
            Ok(answer) => Ok(Some(answer.sbom.dependencies())),
            Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn repository(&self, full_name: &RepoName) -> Result<RepositoryInfo, GitHubError> {
        self.get(&format!("/repos/{full_name}")).await
    }

    /// A configuration or template file's text on the default branch, through the
    /// installation's read cache; `None` when it does not exist.
    pub async fn file(
        &self,
        repository: &RepoName,
        path: &str,
    ) -> Result<Option<String>, GitHubError> {
        let url = contents_url(repository, path);
        self.cached_get(&url)
            .await?
            .map(|body| decode_file(&url, &body).map(|file| file.text))
            .transpose()
    }

    /// A file's text and sha on `branch` (the default branch when `None`).
    pub async fn file_at(
        &self,
        repository: &RepoName,
        path: &str,
        branch: Option<&str>,
    ) -> Result<Option<VersionedFile>, GitHubError> {
        let mut url = contents_url(repository, path);
        if let Some(branch) = branch {
            url.push_str(&format!("?ref={}", segment(branch)));
        }
        match self.send::<()>(Method::GET, &url, None, &[]).await {
            Ok(answer) => decode_file(&url, &answer.body).map(Some),
            Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Creates or updates a file on `branch` with one commit (`sha`: the blob it replaces).
    pub async fn put_file(
        &self,
        repository: &RepoName,
        path: &str,
        branch: &str,
        text: &str,
        sha: Option<&str>,
        message: &str,
    ) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Put<'a> {
            message: &'a str,
            content: String,
            branch: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            sha: Option<&'a str>,
        }
        let url = contents_url(repository, path);
        let body = Put {
            message,
            content: base64::engine::general_purpose::STANDARD.encode(text),
            branch,
            sha,
        };
        self.send(Method::PUT, &url, Some(&body), &[])
            .await
            .map(drop)
    }

    /// The commit sha a branch points at; `None` when there is no such branch.
    pub async fn branch_sha(
        &self,
        repository: &RepoName,
        branch: &str,
    ) -> Result<Option<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Object {
            sha: String,
        }
        #[derive(Deserialize)]
        struct Ref {
            object: Object,
        }
        let encoded: Vec<String> = branch.split('/').map(segment).collect();
        match self
            .get::<Ref>(&format!(
                "/repos/{repository}/git/ref/heads/{}",
                encoded.join("/")
            ))
            .await
        {
            Ok(reference) => Ok(Some(reference.object.sha)),
            Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn create_branch(
        &self,
        repository: &RepoName,
        branch: &str,
        sha: &str,
    ) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct NewRef<'a> {
            #[serde(rename = "ref")]
            reference: String,
            sha: &'a str,
        }
        let body = NewRef {
            reference: format!("refs/heads/{branch}"),
            sha,
        };
        self.send(
            Method::POST,
            &format!("/repos/{repository}/git/refs"),
            Some(&body),
            &[],
        )
        .await
        .map(drop)
    }

    /// `GET …/pulls/{number}`.
    pub async fn pull(&self, repository: &RepoName, number: u64) -> Result<PullInfo, GitHubError> {
        self.get(&format!("/repos/{repository}/pulls/{number}"))
            .await
    }

    /// Pull requests (open or closed) from `owner:branch`.
    pub async fn pulls_from(
        &self,
        repository: &RepoName,
        branch: &str,
    ) -> Result<Vec<PullInfo>, GitHubError> {
        let owner = repository.split('/').next().unwrap_or_default();
        self.get(&format!(
            "/repos/{repository}/pulls?state=all&head={}&per_page=100",
            segment(&format!("{owner}:{branch}"))
        ))
        .await
    }

    pub async fn create_pull(
        &self,
        repository: &RepoName,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> Result<PullInfo, GitHubError> {
        #[derive(Serialize)]
        struct NewPull<'a> {
            title: &'a str,
            head: &'a str,
            base: &'a str,
            body: &'a str,
        }
        self.call(
            Method::POST,
            &format!("/repos/{repository}/pulls"),
            &NewPull {
                title,
                head,
                base,
                body,
            },
        )
        .await
    }

    pub async fn edit_pull(
        &self,
        repository: &RepoName,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<PullInfo, GitHubError> {
        self.call(
            Method::PATCH,
            &format!("/repos/{repository}/pulls/{number}"),
            &IssueEdit { title, body },
        )
        .await
    }

    /// The issue herald created earlier, found by the marker in its body among the
    /// repository's issues carrying `label` (open or closed), opened by herald's App
    /// (`app_bot`; see [`UserRef::is_app`]).
    pub async fn find_issue(
        &self,
        repository: &RepoName,
        label: &str,
        marker: &str,
        app_bot: Option<&str>,
    ) -> Result<Option<IssueInfo>, GitHubError> {
        for page in 1..=MAX_PAGES {
            let issues: Vec<IssueInfo> = self
                .get(&format!(
                    "/repos/{repository}/issues?state=all&labels={}&per_page={PAGE}&page={page}",
                    segment(label)
                ))
                .await?;
            let last = issues.len() < PAGE;
            if let Some(issue) = issues
                .into_iter()
                .find(|issue| heralds(issue.body.as_deref(), issue.user.as_ref(), marker, app_bot))
            {
                return Ok(Some(issue));
            }
            if last {
                break;
            }
        }
        Ok(None)
    }

    pub async fn issue(
        &self,
        repository: &RepoName,
        number: u64,
    ) -> Result<IssueInfo, GitHubError> {
        self.get(&format!("/repos/{repository}/issues/{number}"))
            .await
    }

    pub async fn create_issue(
        &self,
        repository: &RepoName,
        issue: &NewIssue<'_>,
    ) -> Result<IssueInfo, GitHubError> {
        self.call(Method::POST, &format!("/repos/{repository}/issues"), issue)
            .await
    }

    pub async fn edit_issue(
        &self,
        repository: &RepoName,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<IssueInfo, GitHubError> {
        self.call(
            Method::PATCH,
            &format!("/repos/{repository}/issues/{number}"),
            &IssueEdit { title, body },
        )
        .await
    }

    pub async fn add_labels(
        &self,
        repository: &RepoName,
        number: u64,
        labels: &[String],
    ) -> Result<(), GitHubError> {
        self.add_to_issue(repository, number, "labels", labels)
            .await
    }

    /// `POST …/issues/{number}/assignees`: adds people, keeping those assigned already.
    pub async fn add_assignees(
        &self,
        repository: &RepoName,
        number: u64,
        assignees: &[String],
    ) -> Result<(), GitHubError> {
        self.add_to_issue(repository, number, "assignees", assignees)
            .await
    }

    /// `POST …/issues/{number}/{field}` with `{"field": names}`: GitHub adds the labels or
    /// assignees to those there.
    async fn add_to_issue(
        &self,
        repository: &RepoName,
        number: u64,
        field: &str,
        names: &[String],
    ) -> Result<(), GitHubError> {
        let body = serde_json::Map::from_iter([(field.to_owned(), serde_json::json!(names))]);
        self.send(
            Method::POST,
            &format!("/repos/{repository}/issues/{number}/{field}"),
            Some(&body),
            &[],
        )
        .await
        .map(drop)
    }

    /// Removes a label; one already gone is fine.
    pub async fn remove_label(
        &self,
        repository: &RepoName,
        number: u64,
        label: &str,
    ) -> Result<(), GitHubError> {
        let path = format!(
            "/repos/{repository}/issues/{number}/labels/{}",
            segment(label)
        );
        match self.send::<()>(Method::DELETE, &path, None, &[]).await {
            Ok(_) => Ok(()),
            Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub async fn comments(
        &self,
        repository: &RepoName,
        number: u64,
    ) -> Result<Vec<CommentInfo>, GitHubError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let comments: Vec<CommentInfo> = self
                .get(&format!(
                    "/repos/{repository}/issues/{number}/comments?per_page={PAGE}&page={page}"
                ))
                .await?;
            let last = comments.len() < PAGE;
            all.extend(comments);
            if last {
                break;
            }
        }
        Ok(all)
    }

    pub async fn create_comment(
        &self,
        repository: &RepoName,
        number: u64,
        body: &str,
    ) -> Result<CommentInfo, GitHubError> {
        self.call(
            Method::POST,
            &format!("/repos/{repository}/issues/{number}/comments"),
            &CommentBody { body },
        )
        .await
    }

    /// `POST …/security-advisories/{ghsa_id}/cve`. `false` when GitHub says the advisory
    /// already has one (422).
    pub async fn request_cve(
        &self,
        repository: &RepoName,
        ghsa_id: &GhsaId,
    ) -> Result<bool, GitHubError> {
        let path = format!("{}/cve", advisory_path(repository, ghsa_id));
        match self.send::<()>(Method::POST, &path, None, &[]).await {
            Ok(_) => Ok(true),
            Err(error) if error.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// `POST …/security-advisories/{ghsa_id}/forks`: GitHub answers 202 with the fork it
    /// is creating (asynchronously: it may take minutes to exist).
    pub async fn create_private_fork(
        &self,
        repository: &RepoName,
        ghsa_id: &GhsaId,
    ) -> Result<RepositoryInfo, GitHubError> {
        let path = format!("{}/forks", advisory_path(repository, ghsa_id));
        self.send::<()>(Method::POST, &path, None, &[])
            .await?
            .json(&Method::POST, &path)
    }

    /// Whether `repository` exists for the installation (404: not, or not yet).
    pub async fn repository_exists(&self, repository: &RepoName) -> Result<bool, GitHubError> {
        match self.repository(repository).await {
            Ok(_) => Ok(true),
            Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// `GET …/security-advisories/{ghsa_id}`: the advisory as GitHub has it now.
    pub async fn advisory(
        &self,
        repository: &RepoName,
        ghsa_id: &GhsaId,
    ) -> Result<serde_json::Value, GitHubError> {
        self.get(&advisory_path(repository, ghsa_id)).await
    }

    /// `POST /repos/{owner}/{repo}/security-advisories`: a draft advisory, as GitHub
    /// created it.
    pub async fn create_advisory(
        &self,
        repository: &RepoName,
        advisory: &NewAdvisory<'_>,
    ) -> Result<serde_json::Value, GitHubError> {
        self.call(
            Method::POST,
            &format!("/repos/{repository}/security-advisories"),
            advisory,
        )
        .await
    }

    /// The repository's newest draft advisories (one page of 100).
    pub async fn draft_advisories(
        &self,
        repository: &RepoName,
    ) -> Result<Vec<serde_json::Value>, GitHubError> {
        self.get(&format!(
            "/repos/{repository}/security-advisories?state=draft&sort=created&direction=desc&per_page={PAGE}"
        ))
        .await
    }

    /// Closes an issue, `completed` or `not_planned`.
    pub async fn close_issue(
        &self,
        repository: &RepoName,
        number: u64,
        reason: &'static str,
    ) -> Result<(), GitHubError> {
        #[derive(Serialize)]
        struct Close {
            state: &'static str,
            state_reason: &'static str,
        }
        let _: IssueInfo = self
            .call(
                Method::PATCH,
                &format!("/repos/{repository}/issues/{number}"),
                &Close {
                    state: "closed",
                    state_reason: reason,
                },
            )
            .await?;
        Ok(())
    }

    /// `PATCH …/security-advisories/{ghsa_id}` with `state: published`; GitHub answers with
    /// the advisory as it now is.
    pub async fn publish_advisory(
        &self,
        repository: &RepoName,
        ghsa_id: &GhsaId,
    ) -> Result<serde_json::Value, GitHubError> {
        #[derive(Serialize)]
        struct State {
            state: &'static str,
        }
        self.call(
            Method::PATCH,
            &advisory_path(repository, ghsa_id),
            &State { state: "published" },
        )
        .await
    }

    pub async fn edit_comment(
        &self,
        repository: &RepoName,
        comment_id: u64,
        body: &str,
    ) -> Result<CommentInfo, GitHubError> {
        self.call(
            Method::PATCH,
            &format!("/repos/{repository}/issues/comments/{comment_id}"),
            &CommentBody { body },
        )
        .await
    }

    /// The names of the files in a folder; `None` when the folder does not exist.
    pub async fn folder(
        &self,
        repository: &RepoName,
        path: &str,
    ) -> Result<Option<Vec<String>>, GitHubError> {
        #[derive(Deserialize)]
        struct Entry {
            name: String,
            #[serde(rename = "type")]
            kind: String,
        }
        let url = contents_url(repository, path);
        let Some(body) = self.cached_get(&url).await? else {
            return Ok(None);
        };
        // A file where a folder was expected reads as no folder.
        let Ok(entries) = serde_json::from_slice::<Vec<Entry>>(&body) else {
            return Ok(None);
        };
        Ok(Some(
            entries
                .into_iter()
                .filter(|entry| entry.kind == "file")
                .map(|entry| entry.name)
                .collect(),
        ))
    }

    /// The newest commit on the default branch of `repository` that changed `path`, and
    /// the account GitHub says pushed it.
    pub async fn last_commit(
        &self,
        repository: &RepoName,
        path: &str,
    ) -> Result<Option<CommitInfo>, GitHubError> {
        let commits: Vec<CommitInfo> = self
            .get(&format!(
                "/repos/{repository}/commits?path={}&per_page=1",
                segment(path)
            ))
            .await?;
        Ok(commits.into_iter().next())
    }

    /// The role of `login` on `repository` as GitHub reports it (`none` for someone GitHub
    /// does not know there).
    pub async fn repository_role(
        &self,
        repository: &RepoName,
        login: &str,
    ) -> Result<RepositoryRole, GitHubError> {
        let path = format!(
            "/repos/{repository}/collaborators/{}/permission",
            segment(login)
        );
        match self.get::<RepositoryRole>(&path).await {
            Ok(role) => Ok(role),
            Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => Ok(RepositoryRole {
                permission: Permission::None,
                role_name: None,
            }),
            Err(error) => Err(error),
        }
    }

    /// The id of `organization`'s security manager role: `Absent` when it has none,
    /// `Unknown` when GitHub will not show its roles (the account is not an organisation,
    /// or the App may not read them).
    pub async fn security_manager_role(
        &self,
        organization: &str,
    ) -> Result<Lookup<u64>, GitHubError> {
        #[derive(Deserialize)]
        struct Roles {
            roles: Vec<Role>,
        }
        #[derive(Deserialize)]
        struct Role {
            id: u64,
            name: String,
        }
        let path = format!("/orgs/{}/organization-roles", segment(organization));
        Ok(match refused_as_unknown(self.get::<Roles>(&path).await)? {
            Lookup::Found(roles) => roles
                .roles
                .into_iter()
                .find(|role| role.name == SECURITY_MANAGER_ROLE)
                .map_or(Lookup::Absent, |role| Lookup::Found(role.id)),
            Lookup::Absent => Lookup::Absent,
            Lookup::Unknown(words) => Lookup::Unknown(words),
        })
    }

    /// Whether `login` holds `organization`'s security manager role, directly or through a
    /// team (GitHub lists both among the role's users).
    pub async fn security_manager(
        &self,
        organization: &str,
        login: &str,
    ) -> Result<Lookup<()>, GitHubError> {
        let role = match self.security_manager_role(organization).await? {
            Lookup::Found(role) => role,
            Lookup::Absent => return Ok(Lookup::Absent),
            Lookup::Unknown(words) => return Ok(Lookup::Unknown(words)),
        };
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/orgs/{}/organization-roles/{role}/users?per_page={PAGE}&page={page}",
                segment(organization)
            );
            let users: Vec<UserRef> = match refused_as_unknown(self.get(&path).await)? {
                Lookup::Found(users) => users,
                Lookup::Absent => return Ok(Lookup::Absent),
                Lookup::Unknown(words) => return Ok(Lookup::Unknown(words)),
            };
            if users
                .iter()
                .any(|user| user.login.eq_ignore_ascii_case(login))
            {
                return Ok(Lookup::Found(()));
            }
            if users.len() < PAGE {
                break;
            }
        }
        Ok(Lookup::Absent)
    }
}

/// What GitHub told of something herald looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Found(T),
    Absent,
    /// GitHub would not say, in its words.
    Unknown(String),
}

/// Not found is absent (a user account has no organisation roles); another refusal leaves
/// it unknown, in GitHub's words; anything else (a rate limit, a server error) is an error
/// to retry.
fn refused_as_unknown<T>(answer: Result<T, GitHubError>) -> Result<Lookup<T>, GitHubError> {
    match answer {
        Ok(value) => Ok(Lookup::Found(value)),
        Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => Ok(Lookup::Absent),
        Err(error) => match error.refusal() {
            Some(words) => Ok(Lookup::Unknown(words.to_owned())),
            None => Err(error),
        },
    }
}

/// The name GitHub gives the predefined security manager organisation role.
const SECURITY_MANAGER_ROLE: &str = "security_manager";

/// A commit, with the GitHub account of its author (`None` when GitHub matched none).
#[derive(Debug, Clone, Deserialize)]
pub struct CommitInfo {
    pub sha: String,
    pub author: Option<UserRef>,
}

/// Someone's role on a repository, in GitHub's words.
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryRole {
    /// The legacy permission: admin, write, read or none (maintain reads as write).
    pub permission: Permission,
    /// admin, maintain, write, triage, read, or a custom role's name (older GitHub
    /// Enterprise Servers leave it out).
    pub role_name: Option<RoleName>,
}

impl RepositoryRole {
    /// The role: `role_name`, else the one the legacy permission names.
    pub fn role(&self) -> RoleName {
        self.role_name
            .clone()
            .unwrap_or_else(|| RoleName::from(self.permission.as_str().to_owned()))
    }
}

fn advisory_path(repository: &RepoName, ghsa_id: &GhsaId) -> String {
    format!(
        "/repos/{repository}/security-advisories/{}",
        segment(ghsa_id)
    )
}
