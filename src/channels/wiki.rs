//! The GitHub wiki: there is no API, the wiki is the git repository `<repo>.wiki.git`.
//! herald clones it, writes `Security-Advisories/<GHSA id>.md` and keeps the index page
//! `Security-Advisories.md` (newest first), commits and pushes with the installation token.
//! The token reaches git only through the child's environment (`GIT_CONFIG_*`), never a
//! file, an argument or a log. A push rejected because someone edited the wiki meanwhile
//! is rebased onto their change and pushed again.

use super::post::{PostChannel, PostText, Published, text_sha256};
use crate::drafts::{WIKI_PAGE, escape};
use crate::incident::RepoName;
use crate::store::ChannelPost;
use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use tokio::process::Command;

const FOLDER: &str = "Security-Advisories";
/// Pushes tried when others keep editing the wiki at the same moment.
const PUSH_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum WikiError {
    #[error(
        "the wiki of {0} is not initialised: GitHub creates its git repository with the first \
         page, so create any page in the repository's Wiki tab once"
    )]
    Uninitialised(RepoName),
    #[error(
        "the wiki of {repository} holds {path} as {what}, where herald writes a plain \
         {expected}: herald refuses to write through it. Replace it with a {expected} (or \
         remove it) in the wiki's git repository, then retry"
    )]
    Unsafe {
        repository: RepoName,
        path: String,
        what: &'static str,
        expected: &'static str,
    },
    #[error("git {step} failed for the wiki of {repository}: {detail}")]
    Git {
        step: &'static str,
        repository: RepoName,
        detail: String,
    },
}

impl WikiError {
    /// What the maintainers must fix before a retry can help.
    pub fn refusal(&self) -> Option<String> {
        match self {
            WikiError::Unsafe { .. } => Some(self.to_string()),
            WikiError::Uninitialised(_) | WikiError::Git { .. } => None,
        }
    }
}

/// The incident's page on the repository's GitHub wiki, with its line in the index, pushed
/// with the installation's token.
pub(super) struct Page<'a> {
    pub web_url: &'a str,
    pub token: SecretString,
}

impl PostChannel for Page<'_> {
    const CHANNEL: crate::jobs::PublicChannel = crate::jobs::PublicChannel::WikiPage;
    const WHAT: &'static str = "wiki page";
    const TEMPLATE: &'static str = WIKI_PAGE;

    async fn publish(
        &self,
        post: &PostText<'_>,
        known: Option<&ChannelPost>,
    ) -> Result<Option<Published>, super::ChannelError> {
        let incident = post.incident;
        let page = WikiPage {
            ghsa_id: &incident.ghsa_id,
            text: &post.text,
            summary: &post.summary,
            published_at: incident.published_at.unwrap_or_else(Utc::now),
        };
        Ok(publish(
            self.web_url,
            &incident.repository,
            &self.token,
            &page,
            known,
        )
        .await?)
    }
}

/// One advisory's page on the wiki.
pub struct WikiPage<'a> {
    pub ghsa_id: &'a str,
    /// The rendered wiki-page template.
    pub text: &'a str,
    /// For the index: a one-line summary and when GitHub published the advisory (shown as
    /// its date, sorted by the time, newest first).
    pub summary: &'a str,
    pub published_at: DateTime<Utc>,
}

struct Git<'a> {
    repository: &'a RepoName,
    /// The wiki's address: the only one the token goes to.
    url: &'a str,
    auth_header: String,
    /// An empty home: no user or system git configuration (filters such as git-lfs's,
    /// credential helpers, templates) takes part.
    home: &'a Path,
}

impl Git<'_> {
    async fn run(
        &self,
        step: &'static str,
        dir: &Path,
        args: &[&str],
    ) -> Result<String, WikiError> {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            // The token travels as an HTTP header set through the environment: never on
            // disk (no credential helper, no URL with a password), never in argv, and only
            // to the wiki's own address (not to an LFS server or a redirect the wiki names).
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", format!("http.{}.extraHeader", self.url))
            .env("GIT_CONFIG_VALUE_0", &self.auth_header)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.home)
            .env("XDG_CONFIG_HOME", self.home)
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "herald")
            .env("GIT_AUTHOR_EMAIL", "herald@users.noreply.github.com")
            .env("GIT_COMMITTER_NAME", "herald")
            .env("GIT_COMMITTER_EMAIL", "herald@users.noreply.github.com")
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|error| WikiError::Git {
                step,
                repository: self.repository.clone(),
                detail: format!("cannot run git: {error}"),
            })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail: String = stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(400)
            .collect();
        Err(WikiError::Git {
            step,
            repository: self.repository.clone(),
            detail,
        })
    }
}

/// The index line of one advisory, marked (with its publication time, which orders the
/// index) so herald finds it again.
fn index_line(page: &WikiPage<'_>) -> String {
    let ghsa = escape::file_name(page.ghsa_id);
    format!(
        "- {} [{ghsa}]({FOLDER}/{ghsa}): {} <!-- herald:{ghsa} at={} -->",
        page.published_at.format("%Y-%m-%d"),
        escape::markdown_line(page.summary),
        page.published_at.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// What orders an index line: the publication time in its marker, else (a line written
/// before herald kept the time) the start of its date.
fn index_order(line: &str) -> String {
    line.rsplit_once(" at=")
        .and_then(|(_, rest)| rest.strip_suffix(" -->"))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}T00:00:00Z", line.get(2..12).unwrap_or_default()))
}

/// The index with this advisory's line added or replaced, herald's lines newest first;
/// anything else on the page stays where it was.
pub fn updated_index(current: Option<&str>, page: &WikiPage<'_>) -> String {
    let ghsa = escape::file_name(page.ghsa_id);
    let markers = [
        format!("<!-- herald:{ghsa} -->"),
        format!("<!-- herald:{ghsa} at="),
    ];
    let mut preamble = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for line in current.unwrap_or("# Security advisories\n").lines() {
        if line.starts_with("- ") && line.contains("<!-- herald:") {
            if !markers.iter().any(|marker| line.contains(marker.as_str())) {
                lines.push(line.to_owned());
            }
        } else {
            preamble.push(line.to_owned());
        }
    }
    lines.push(index_line(page));
    lines.sort_by_key(|line| std::cmp::Reverse(index_order(line)));
    while preamble.last().is_some_and(|line| line.trim().is_empty()) {
        preamble.pop();
    }
    format!("{}\n\n{}\n", preamble.join("\n"), lines.join("\n"))
}

/// Adds or updates the advisory's page and the index on the wiki of `repository`.
/// `None` when the page already shows this text.
pub async fn publish(
    web_url: &str,
    repository: &RepoName,
    token: &SecretString,
    page: &WikiPage<'_>,
    known: Option<&ChannelPost>,
) -> Result<Option<Published>, WikiError> {
    let sha = text_sha256(page.text);
    if known.is_some_and(|post| post.text_sha256 == sha) {
        return Ok(None);
    }
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("x-access-token:{}", token.expose_secret()));
    let work = tempfile::tempdir().map_err(io_failed("setup", repository))?;
    let home = work.path().join("home");
    std::fs::create_dir(&home).map_err(io_failed("setup", repository))?;
    let url = format!("{}/{repository}.wiki.git", web_url.trim_end_matches('/'));
    let git = Git {
        repository,
        url: &url,
        auth_header: format!("Authorization: Basic {basic}"),
        home: &home,
    };
    let dir = clone(&git, work.path()).await?;
    let ghsa = escape::file_name(page.ghsa_id);
    write_pages(&dir, &ghsa, page, repository)?;
    git.run("add", &dir, &["add", "--all"]).await?;
    let message = format!("Security advisory {ghsa}");
    git.run(
        "commit",
        &dir,
        &["commit", "--quiet", "--allow-empty", "-m", &message],
    )
    .await?;
    push(&git, &dir).await?;
    Ok(Some(Published {
        post: ChannelPost {
            reference: format!("{FOLDER}/{ghsa}"),
            url: format!("{}/{repository}/wiki/{ghsa}", web_url.trim_end_matches('/')),
            text_sha256: sha,
        },
        created: known.is_none(),
    }))
}

/// A failed file operation at `step`, as the error names it.
fn io_failed(step: &'static str, repository: &RepoName) -> impl Fn(std::io::Error) -> WikiError {
    move |error| WikiError::Git {
        step,
        repository: repository.clone(),
        detail: error.to_string(),
    }
}

/// Clones the wiki into `work`/wiki; a wiki GitHub has not made yet (its first page is
/// created on the web) is told apart.
async fn clone(git: &Git<'_>, work: &Path) -> Result<std::path::PathBuf, WikiError> {
    let cloned = git
        .run("clone", work, &["clone", "--quiet", git.url, "wiki"])
        .await;
    if let Err(WikiError::Git { detail, .. }) = &cloned {
        let lower = detail.to_ascii_lowercase();
        if lower.contains("not found") || lower.contains("404") {
            return Err(WikiError::Uninitialised(git.repository.clone()));
        }
    }
    cloned?;
    Ok(work.join("wiki"))
}

/// Writes the advisory's page and the index into the clone at `dir`.
fn write_pages(
    dir: &Path,
    ghsa: &str,
    page: &WikiPage<'_>,
    repository: &RepoName,
) -> Result<(), WikiError> {
    // Whoever can push to the wiki decides what the clone holds: each path herald writes
    // must be absent or a plain folder or file of the clone, never a link elsewhere.
    let page_path = format!("{FOLDER}/{ghsa}.md");
    let index_name = format!("{FOLDER}.md");
    for (path, expected) in [
        (FOLDER, "folder"),
        (page_path.as_str(), "file"),
        (index_name.as_str(), "file"),
    ] {
        plain(dir, path, expected).map_err(|what| WikiError::Unsafe {
            repository: repository.clone(),
            path: path.to_owned(),
            what,
            expected,
        })?;
    }
    let failed = io_failed("write", repository);
    std::fs::create_dir_all(dir.join(FOLDER)).map_err(&failed)?;
    std::fs::write(dir.join(&page_path), page.text).map_err(&failed)?;
    let index_path = dir.join(&index_name);
    let current = std::fs::read_to_string(&index_path).ok();
    std::fs::write(&index_path, updated_index(current.as_deref(), page)).map_err(&failed)
}

/// Pushes the commit; when someone edited the wiki since the clone, takes their change and
/// applies ours on top, a few times.
async fn push(git: &Git<'_>, dir: &Path) -> Result<(), WikiError> {
    let mut pushed = git
        .run("push", dir, &["push", "--quiet", "origin", "HEAD"])
        .await;
    for _ in 1..PUSH_ATTEMPTS {
        if pushed.is_ok() {
            break;
        }
        git.run("pull", dir, &["pull", "--quiet", "--rebase", "origin"])
            .await?;
        pushed = git
            .run("push", dir, &["push", "--quiet", "origin", "HEAD"])
            .await;
    }
    pushed.map(drop)
}

/// `Ok` when `path` under `dir` is absent or the `expected` plain folder or file; else what
/// it is instead. Not followed: a symbolic link is reported, wherever it points.
fn plain(dir: &Path, path: &str, expected: &str) -> Result<(), &'static str> {
    let Ok(found) = std::fs::symlink_metadata(dir.join(path)) else {
        return Ok(());
    };
    let kind = found.file_type();
    match (kind.is_symlink(), kind.is_dir(), kind.is_file()) {
        (true, _, _) => Err("a symbolic link"),
        (_, true, _) if expected == "folder" => Ok(()),
        (_, _, true) if expected == "file" => Ok(()),
        (_, true, _) => Err("a folder"),
        (_, _, true) => Err("a file"),
        _ => Err("something other than a file or folder"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<'a>(ghsa_id: &'a str, at: &str) -> WikiPage<'a> {
        WikiPage {
            ghsa_id,
            text: "text",
            summary: "A | summary @everyone",
            published_at: at.parse().expect("an RFC 3339 time"),
        }
    }

    #[test]
    fn the_index_keeps_one_line_per_advisory_newest_first() {
        let first = updated_index(None, &page("GHSA-aaaa-aaaa-aaaa", "2026-01-02T08:00:00Z"));
        assert!(first.starts_with("# Security advisories\n\n- 2026-01-02 [GHSA-aaaa-aaaa-aaaa]"));
        let edited = format!("{first}\nSome notes a maintainer added.\n");
        let second = updated_index(
            Some(&edited),
            &page("GHSA-bbbb-bbbb-bbbb", "2026-03-04T08:00:00Z"),
        );
        let third = updated_index(
            Some(&second),
            &page("GHSA-aaaa-aaaa-aaaa", "2026-01-02T08:00:00Z"),
        );
        let lines: Vec<&str> = third
            .lines()
            .filter(|line| line.starts_with("- "))
            .collect();
        assert_eq!(lines.len(), 2, "{third}");
        assert!(lines[0].contains("GHSA-bbbb"), "newest first: {third}");
        assert!(third.contains("Some notes a maintainer added."), "{third}");
        assert!(!third.contains("@everyone"), "escaped: {third}");
        assert!(third.contains("\\|"), "{third}");
    }

    #[test]
    fn advisories_of_one_day_are_ordered_by_their_publication_time() {
        // Published in the afternoon, with the id that sorts first.
        let index = updated_index(None, &page("GHSA-zzzz-zzzz-zzzz", "2026-05-01T09:00:00Z"));
        let index = updated_index(
            Some(&index),
            &page("GHSA-aaaa-aaaa-aaaa", "2026-05-01T17:30:00Z"),
        );
        // A line from before herald kept the time counts from the start of its day.
        let index = format!(
            "{index}- 2026-05-01 [GHSA-mmmm-mmmm-mmmm](x): old <!-- herald:GHSA-mmmm-mmmm-mmmm -->\n"
        );
        let index = updated_index(
            Some(&index),
            &page("GHSA-bbbb-bbbb-bbbb", "2026-04-30T23:00:00Z"),
        );
        let order: Vec<&str> = index
            .lines()
            .filter(|line| line.starts_with("- "))
            .map(|line| &line[14..33])
            .collect();
        assert_eq!(
            order,
            [
                "GHSA-aaaa-aaaa-aaaa",
                "GHSA-zzzz-zzzz-zzzz",
                "GHSA-mmmm-mmmm-mmmm",
                "GHSA-bbbb-bbbb-bbbb"
            ],
            "{index}"
        );
    }
}
