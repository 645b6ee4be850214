//! Fixes: pull requests that fix the advisory (mentioned, in the private fork, or linked by
//! `/herald fix`), backports and the patch release, ticking the tracking issue's checklist.

use crate::both_stores;
use crate::common::app::{
    GHSA, INSTALLATION, REPO, TRACKING_REPO, assert_no_unexpected, pull_event, say,
    timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::tracking::{command, drafts_comments, tracked};
use crate::common::{Harness, fixture};

/// The pull request's `state` and whether it is `merged`, into `base`.
fn pull_is(payload: &mut serde_json::Value, action: &str, base: &str, merged: bool) {
    payload["action"] = action.into();
    payload["pull_request"]["base"]["ref"] = base.into();
    payload["pull_request"]["state"] = if action == "closed" { "closed" } else { "open" }.into();
    payload["pull_request"]["merged"] = merged.into();
}

both_stores!(fixes_and_a_patch_release_tick_the_checklist_and_reach_the_announcement);
async fn fixes_and_a_patch_release_tick_the_checklist_and_reach_the_announcement() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    fake.set_permission(REPO, "alice", "write");
    // A maintainer ticks an item herald does not know about.
    let body = fake.issues(TRACKING_REPO)[0].body.clone();
    let ticked = "- [x] Notify the maintainers and admins who must know";
    fake.edit_issue_body(
        TRACKING_REPO,
        1,
        &body.replace(
            "- [ ] Notify the maintainers and admins who must know",
            ticked,
        ),
    );
    let issue = || tracking_issue(&fake);

    a_fix_that_mentions_the_advisory_ticks_fix_and_test(&harness, &fake, ticked).await;
    // A pull request in the advisory's temporary private fork is a fix even unmentioned;
    // into another branch than the default it is a backport.
    let fork = "Codertocat/Hello-World-ghsa-abcd-1234-efgh";
    let backport = pull_event(fork, 2, |payload| {
        pull_is(payload, "closed", "release-1.x", true)
    });
    say(&harness, "pull_request", "pr-3", &backport).await;
    assert!(
        issue().contains(&format!(
            "- Backport [{fork}#2](https://github.com/{fork}/pull/2) into `release-1.x`: merged"
        )),
        "{}",
        issue()
    );
    assert!(issue().contains("- [x] Backport the fix to supported versions"));

    a_linked_fix_counts_when_merged(&harness, &fake).await;
    only_others_pull_requests_are_fixes(&harness, &fake).await;
    the_patch_release_ticks_and_reaches_the_announcement(&harness, &fake).await;
    let timeline = timeline_details(&harness).await;
    assert!(
        timeline.contains(&"patch release v1.0.1 published".to_owned()),
        "{timeline:?}"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// The tracking issue's body.
fn tracking_issue(fake: &FakeGitHub) -> String {
    fake.issues(TRACKING_REPO)[0].body.clone()
}

/// A pull request that mentions the advisory is tracked; its merge ticks "Fix and test",
/// and the maintainers' own tick (`ticked`) stays.
async fn a_fix_that_mentions_the_advisory_ticks_fix_and_test(
    harness: &Harness,
    fake: &FakeGitHub,
    ticked: &str,
) {
    let issue = || tracking_issue(fake);
    let fix = |action: &str, merged: bool| {
        pull_event(REPO, 5, |payload| {
            pull_is(payload, action, "main", merged);
            payload["pull_request"]["body"] = format!("Fixes {GHSA}.").into();
        })
    };
    say(harness, "pull_request", "pr-1", &fix("opened", false)).await;
    assert!(
        issue().contains(&format!(
            "- Fix [{REPO}#5](https://github.com/{REPO}/pull/5) into `main`: open"
        )),
        "{}",
        issue()
    );
    assert!(issue().contains("- [ ] Fix and test"));
    say(harness, "pull_request", "pr-2", &fix("closed", true)).await;
    assert!(issue().contains("- [x] Fix and test"), "{}", issue());
    assert!(issue().contains(ticked), "the maintainers' tick stays");
    assert!(issue().contains("- [ ] Backport the fix to supported versions"));
}

/// A maintainer links a pull request that names no advisory; its merge counts later.
async fn a_linked_fix_counts_when_merged(harness: &Harness, fake: &FakeGitHub) {
    let issue = || tracking_issue(fake);
    let number = fake.open_pull(REPO, "harden", "main", "Harden the parser");
    command(harness, "c-1", "alice", &format!("/herald fix #{number}")).await;
    assert!(
        issue().contains(&format!("[{REPO}#{number}](https://github.com/{REPO}/pull/{number}) into `main`: open (linked by alice)")),
        "{}",
        issue()
    );
    let merged = pull_event(REPO, number, |payload| {
        pull_is(payload, "closed", "main", true)
    });
    say(harness, "pull_request", "pr-4", &merged).await;
    assert!(
        issue().contains("`main`: merged (linked by alice)"),
        "{}",
        issue()
    );
}

/// herald's own pull requests (its App's, from a branch of this repository) are not fixes;
/// nor is an unrelated one; another App's bot on a `herald/` branch is not herald: its
/// pull request is a fix.
async fn only_others_pull_requests_are_fixes(harness: &Harness, fake: &FakeGitHub) {
    let issue = || tracking_issue(fake);
    let own = pull_event(REPO, 9, |payload| {
        payload["pull_request"]["head"]["ref"] = format!("herald/security/{GHSA}").into();
        payload["pull_request"]["user"]["login"] = "herald-test[bot]".into();
        payload["pull_request"]["user"]["type"] = "Bot".into();
        payload["pull_request"]["body"] = format!("Adds the security entry for {GHSA}").into();
    });
    say(harness, "pull_request", "pr-5", &own).await;
    say(
        harness,
        "pull_request",
        "pr-6",
        &pull_event(REPO, 10, |_| {}),
    )
    .await;
    assert!(!issue().contains(&format!("{REPO}#9")) && !issue().contains(&format!("{REPO}#10")));
    let other_app = pull_event(REPO, 11, |payload| {
        payload["pull_request"]["head"]["ref"] = "herald/security/fix".into();
        payload["pull_request"]["user"]["login"] = "github-actions[bot]".into();
        payload["pull_request"]["user"]["type"] = "Bot".into();
        payload["pull_request"]["body"] = format!("Fixes {GHSA}").into();
    });
    say(harness, "pull_request", "pr-7", &other_app).await;
    assert!(issue().contains(&format!("{REPO}#11")), "{}", issue());
}

/// A `release` webhook for the release `tag`.
fn release(tag: &str, prerelease: bool) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("release.published.composed.json")).expect("JSON");
    payload["installation"] = serde_json::json!({ "id": INSTALLATION });
    payload["release"]["tag_name"] = tag.into();
    payload["release"]["prerelease"] = prerelease.into();
    payload["release"]["html_url"] = format!("https://github.com/{REPO}/releases/tag/{tag}").into();
    serde_json::to_vec(&payload).expect("JSON")
}

/// Releases: a prerelease and an unrelated tag change nothing; the patched version ticks
/// "Publish a patch release", is listed, and the announcement's draft offers it.
async fn the_patch_release_ticks_and_reaches_the_announcement(
    harness: &Harness,
    fake: &FakeGitHub,
) {
    let issue = || tracking_issue(fake);
    say(harness, "release", "r-1", &release("v1.0.1-rc1", true)).await;
    say(harness, "release", "r-2", &release("v0.9.9", false)).await;
    assert!(issue().contains("- [ ] Publish a patch release"));
    say(harness, "release", "r-3", &release("v1.0.1", false)).await;
    assert!(
        issue().contains("- [x] Publish a patch release"),
        "{}",
        issue()
    );
    assert!(
        issue().contains(&format!(
            "- Release [v1.0.1](https://github.com/{REPO}/releases/tag/v1.0.1)"
        )),
        "{}",
        issue()
    );
    let drafts = drafts_comments(fake);
    assert!(
        drafts
            .last()
            .expect("drafts comment")
            .body
            .contains(&format!(
                "The fix is released in v1.0.1: https://github.com/{REPO}/releases/tag/v1.0.1"
            )),
        "the announcement offers the release"
    );
}
