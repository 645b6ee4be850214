//! Possible embargo breaks: a public pull request or commit that names the advisory before
//! disclosure is flagged on the tracking issue, once.

use crate::both_stores;
use crate::common::Harness;
use crate::common::app::{
    GHSA, INSTALLATION, REPO, assert_no_unexpected, public_writes, pull_event, say,
    timeline_details, world,
};
use crate::common::github::FakeGitHub;
use crate::common::tracking::{answers, tracked};

/// A `push` of one commit with `message` to `repository`'s main branch, in the shape of
/// GitHub's documented `push` payload (the fields herald reads and their neighbours).
fn push_event(repository: &str, private: bool, message: &str) -> Vec<u8> {
    let sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let payload = serde_json::json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "created": false,
        "deleted": false,
        "forced": false,
        "compare": format!("https://github.com/{repository}/compare/000000000000...6113728f27ae"),
        "commits": [{
            "id": sha,
            "tree_id": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "distinct": true,
            "message": message,
            "timestamp": "2026-12-01T10:00:00Z",
            "url": format!("https://github.com/{repository}/commit/{sha}"),
            "author": {"name": "Monalisa Octocat", "email": "mona@github.com", "username": "octocat"},
            "committer": {"name": "Monalisa Octocat", "email": "mona@github.com", "username": "octocat"},
            "added": [],
            "removed": [],
            "modified": ["src/input.rs"]
        }],
        "head_commit": null,
        "repository": {
            "id": 186853002,
            "name": repository.split('/').nth(1).unwrap_or_default(),
            "full_name": repository,
            "private": private,
            "default_branch": "main",
            "owner": {"login": "Codertocat", "type": "User"}
        },
        "pusher": {"name": "octocat", "email": "mona@github.com"},
        "sender": {"login": "octocat", "type": "User"},
        "installation": {"id": INSTALLATION}
    });
    serde_json::to_vec(&payload).expect("JSON")
}

/// herald's possible-embargo-break comments on the tracking issue.
fn embargo_break_flags(fake: &FakeGitHub) -> Vec<String> {
    answers(fake)
        .into_iter()
        .map(|comment| comment.body)
        .filter(|body| body.starts_with("**Possible embargo break.**"))
        .collect()
}

both_stores!(a_public_mention_before_disclosure_is_flagged_on_the_tracking_issue_once);
async fn a_public_mention_before_disclosure_is_flagged_on_the_tracking_issue_once() {
    let fake = world().await;
    let harness = tracked(&fake).await;
    pushes_naming_nothing_or_private_are_not_flagged(&harness, &fake).await;
    public_pull_requests_naming_it_are_flagged_once_each(&harness, &fake).await;

    // A public commit naming it: flagged too.
    say(
        &harness,
        "push",
        "push-2",
        &push_event(REPO, false, &format!("Guard the parser\n\nFixes {GHSA}")),
    )
    .await;
    let flags = embargo_break_flags(&fake);
    assert_eq!(flags.len(), 3, "{flags:#?}");
    assert!(
        flags[2].contains("commit 6113728f27ae on main"),
        "{}",
        flags[2]
    );
    let timeline = timeline_details(&harness).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|detail| detail.starts_with("possible embargo break"))
            .count(),
        3,
        "{timeline:?}"
    );
    assert_eq!(
        public_writes(&fake),
        Vec::<String>::new(),
        "herald itself wrote nothing public"
    );
    assert_no_unexpected(&fake);
    harness.stop().await;
}

/// A push that names nothing is not even stored; one to a private repository is private.
async fn pushes_naming_nothing_or_private_are_not_flagged(harness: &Harness, fake: &FakeGitHub) {
    let answer = harness
        .deliver(
            "push",
            "push-0",
            &push_event(REPO, false, "Tighten input checks"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert!(
        harness
            .store
            .delivery(&herald::incident::DeliveryId::parse("push-0").expect("an id"))
            .await
            .expect("store")
            .is_none(),
        "a push naming no advisory is not kept"
    );
    say(
        harness,
        "push",
        "push-1",
        &push_event("Codertocat/security", true, &format!("Fix {GHSA}")),
    )
    .await;
    assert!(embargo_break_flags(fake).is_empty());
}

/// A public pull request naming the advisory: flagged, once, however often it is edited.
/// A branch named as herald names its own, from someone's fork, is theirs: flagged too.
async fn public_pull_requests_naming_it_are_flagged_once_each(
    harness: &Harness,
    fake: &FakeGitHub,
) {
    let opened = |action: &str| {
        pull_event(REPO, 12, |payload| {
            payload["action"] = action.into();
            payload["repository"]["private"] = false.into();
            payload["pull_request"]["state"] = "open".into();
            payload["pull_request"]["merged"] = false.into();
            payload["pull_request"]["title"] = format!("Fix {}", GHSA.to_lowercase()).into();
        })
    };
    say(harness, "pull_request", "pr-1", &opened("opened")).await;
    say(harness, "pull_request", "pr-2", &opened("edited")).await;
    let flags = embargo_break_flags(fake);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    assert!(
        flags[0].contains(&format!("The public pull request {REPO}"))
            && flags[0].contains(&format!("{REPO}/pull/12"))
            && flags[0].contains(GHSA),
        "{}",
        flags[0]
    );
    let disguised = pull_event(REPO, 13, |payload| {
        payload["action"] = "opened".into();
        payload["repository"]["private"] = false.into();
        let pull = &mut payload["pull_request"];
        pull["state"] = "open".into();
        pull["merged"] = false.into();
        pull["head"]["ref"] = "herald/innocent".into();
        pull["head"]["repo"]["full_name"] = "mallory/Hello-World".into();
        pull["user"]["login"] = "mallory".into();
        pull["body"] = format!("Also closes {GHSA}").into();
    });
    say(harness, "pull_request", "pr-3", &disguised).await;
    let flags = embargo_break_flags(fake);
    assert_eq!(flags.len(), 2, "{flags:#?}");
    assert!(
        flags[1].contains(&format!("{REPO}/pull/13")),
        "{}",
        flags[1]
    );
}
