//! The page on the operator's MediaWiki at disclosure (a real MediaWiki under `php -S`).

use crate::both_stores;
use crate::common;
use crate::common::Harness;
use crate::common::app::{
    GHSA, REPO, assert_no_unexpected, github_publishes, installed_with, publish_a_sharper_summary,
    report, timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::tracking::escalations;
use secrecy::SecretString;

const WITH_MEDIAWIKI: &str =
    "tracking:\n  repository: Codertocat/security\nchannels:\n  mediawiki:\n    server: docs\n";

/// herald installed with `wiki` as the operator's MediaWiki `docs`, logging in with
/// `password`.
async fn with_mediawiki(
    fake: &FakeGitHub,
    wiki: &common::mediawiki::MediaWiki,
    password: &str,
    adjust: impl FnOnce(&mut herald::config::Settings),
) -> Harness {
    fake.put_file(REPO, ".github/herald.yml", WITH_MEDIAWIKI);
    let operators = herald::config::Wiki {
        api_url: wiki.api_url.clone(),
        username: wiki.username.clone(),
        password: SecretString::from(password.to_owned()),
    };
    installed_with(fake, move |settings| {
        settings
            .channels
            .counterparts
            .wikis
            .insert("docs".to_owned(), operators);
        adjust(settings);
    })
    .await
}

both_stores!(disclosure_writes_the_mediawiki_page_and_a_new_version_edits_it);
async fn disclosure_writes_the_mediawiki_page_and_a_new_version_edits_it() {
    let wiki = common::mediawiki::MediaWiki::start();
    let fake = world().await;
    let harness = with_mediawiki(&fake, &wiki, &wiki.password, |_| {}).await;
    report(&harness, "report-1").await;
    let title = format!("Security advisories/{GHSA}");
    assert_eq!(wiki.page(&title).await, None, "nothing under embargo");

    github_publishes(&harness).await;
    let (text, revisions) = wiki.page(&title).await.expect("the page exists");
    assert_eq!(revisions, 1);
    assert!(text.contains("A short summary of the advisory."), "{text}");
    assert!(
        timeline_details(&harness)
            .await
            .iter()
            .any(|detail| detail.starts_with("MediaWiki page http://127.0.0.1:")),
    );

    publish_a_sharper_summary(&harness).await;
    let (text, revisions) = wiki.page(&title).await.expect("the page");
    assert_eq!(revisions, 2, "edited, not duplicated");
    assert!(text.contains("A sharper summary"), "{text}");
    assert_no_unexpected(&fake);
    harness.stop().await;
}

both_stores!(a_wrong_mediawiki_bot_password_is_a_clear_error);
async fn a_wrong_mediawiki_bot_password_is_a_clear_error() {
    let wiki = common::mediawiki::MediaWiki::start();
    let fake = world().await;
    let harness = with_mediawiki(&fake, &wiki, "not-the-password", |settings| {
        settings.worker.max_attempts = 1;
    })
    .await;
    report(&harness, "report-1").await;
    github_publishes(&harness).await;
    let gave_up = escalations(&fake, &format!("mediawiki\\_page for {GHSA} was refused"));
    assert_eq!(gave_up.len(), 1, "{gave_up:?}");
    assert!(
        gave_up[0].contains("refused the login of Admin")
            && gave_up[0].contains("Incorrect username or password"),
        "{}",
        gave_up[0]
    );
    assert!(!gave_up[0].contains("not-the-password"));
    assert_eq!(
        wiki.page(&format!("Security advisories/{GHSA}")).await,
        None
    );
    harness.stop().await;
}
