//! The GitHub wiki's page and index at disclosure, pushed with git to a loopback server.

use crate::both_stores;
use crate::common;
use crate::common::Harness;
use crate::common::app::{
    GHSA, REPO, assert_no_unexpected, github_publishes, installed_with, publish_a_sharper_summary,
    report, timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::tracking::{answers, escalations};

/// herald with the GitHub wiki on: `git` goes to the loopback git server.
async fn with_wiki(fake: &FakeGitHub, git: &common::gitserver::GitServer) -> Harness {
    fake.put_file(
        REPO,
        ".github/herald.yml",
        "tracking:\n  repository: Codertocat/security\nchannels:\n  github_wiki: true\n",
    );
    let web_url = git.url.clone();
    installed_with(fake, move |settings| {
        if let Some(github) = settings.github.as_mut() {
            github.web_url = web_url;
        }
    })
    .await
}

both_stores!(disclosure_commits_the_wiki_page_and_index_even_when_someone_edits_meanwhile);
async fn disclosure_commits_the_wiki_page_and_index_even_when_someone_edits_meanwhile() {
    let fake = world().await;
    let git = common::gitserver::GitServer::start().await;
    git.create_wiki(REPO);
    let harness = with_wiki(&fake, &git).await;
    report(&harness, "report-1").await;
    assert_eq!(
        git.requests(),
        Vec::<String>::new(),
        "nothing under embargo"
    );

    git.race_next_push(REPO, "Home.md", "Welcome, edited by a maintainer.\n");
    github_publishes(&harness).await;
    let page = git
        .file(REPO, &format!("Security-Advisories/{GHSA}.md"))
        .expect("the advisory's page");
    assert!(page.contains("A short summary of the advisory."), "{page}");
    let index = git
        .file(REPO, "Security-Advisories.md")
        .expect("the index page");
    assert!(
        index.contains(&format!("[{GHSA}](Security-Advisories/{GHSA})")),
        "{index}"
    );
    assert_eq!(
        git.file(REPO, "Home.md").as_deref(),
        Some("Welcome, edited by a maintainer.\n"),
        "the concurrent edit is kept"
    );
    let url = format!("{}/{REPO}/wiki/{GHSA}", git.url);
    assert!(
        timeline_details(&harness)
            .await
            .contains(&format!("wiki page {url}")),
    );
    // The token went over HTTP only: it is in no git config on the server.
    let tokens = git.tokens();
    assert!(!tokens.is_empty());
    let config = std::fs::read_to_string(git.wiki_path(REPO).join("config")).expect("config");
    assert!(tokens.iter().all(|token| !config.contains(token.as_str())));

    // A new version rewrites the page; the index keeps one line.
    publish_a_sharper_summary(&harness).await;
    let page = git
        .file(REPO, &format!("Security-Advisories/{GHSA}.md"))
        .expect("the page");
    assert!(page.contains("A sharper summary"), "{page}");
    let index = git.file(REPO, "Security-Advisories.md").expect("index");
    assert_eq!(
        index.lines().filter(|line| line.starts_with("- ")).count(),
        1,
        "one line per advisory: {index}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_wiki_whose_pages_are_links_elsewhere_is_refused_not_written_through);
async fn a_wiki_whose_pages_are_links_elsewhere_is_refused_not_written_through() {
    let fake = world().await;
    let git = common::gitserver::GitServer::start().await;
    git.create_wiki(REPO);
    // Files of this machine that a pusher to the wiki would have herald overwrite.
    let outside = tempfile::tempdir().expect("temp dir");
    let victim = outside.path().join("herald.toml");
    std::fs::write(&victim, "database_url = \"sqlite://herald.db\"\n").expect("victim");
    git.commit_symlink(REPO, "Security-Advisories.md", &victim);
    git.commit_symlink(REPO, "Security-Advisories", outside.path());
    let harness = with_wiki(&fake, &git).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;

    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "database_url = \"sqlite://herald.db\"\n"
    );
    let written: Vec<_> = std::fs::read_dir(outside.path())
        .expect("outside")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(written, vec![std::ffi::OsString::from("herald.toml")]);
    assert_eq!(
        git.file(REPO, &format!("Security-Advisories/{GHSA}.md")),
        None
    );
    let refused = escalations(&fake, &format!("wiki\\_page for {GHSA} was refused"));
    assert_eq!(refused.len(), 1, "{:?}", answers(&fake));
    assert!(
        refused[0].contains(
            "holds Security-Advisories as a symbolic link, where herald writes a plain folder"
        ),
        "{}",
        refused[0]
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(an_uninitialised_wiki_is_reported_once_not_retried);
async fn an_uninitialised_wiki_is_reported_once_not_retried() {
    let fake = world().await;
    let git = common::gitserver::GitServer::start().await;
    let harness = with_wiki(&fake, &git).await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    let reports = escalations(&fake, "is not initialised");
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.contains("wiki of Codertocat/Hello-World is not initialised")),
    );
    let clones = git.requests().len();
    harness.wait_all_jobs().await;
    assert_eq!(git.requests().len(), clones, "not retried");
    assert_no_unexpected(&fake);
    harness.stop().await;
}
