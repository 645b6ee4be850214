//! The fake GitHub in `tests/it/common/github.rs` behaves like GitHub's REST API: checked with
//! plain HTTP (reqwest) for the wire details and with octocrab, herald's client, for the
//! shapes its typed models expect.

use crate::common;

use base64::Engine as _;
use common::github::{BOT_LOGIN, FakeGitHub};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 7;
const REPO: &str = "acme/widget";

fn pem(name: &str) -> String {
    String::from_utf8(common::fixture(name)).expect("PEM fixtures are text")
}

async fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start(APP_ID, &pem("app-public-key.pem")).await;
    fake.add_installation(INSTALLATION, "acme");
    fake.add_repository(REPO, true, INSTALLATION);
    fake
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn jwt_with(claims: Value) -> String {
    let key = EncodingKey::from_rsa_pem(pem("app-private-key.pem").as_bytes()).expect("RSA key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign JWT")
}

/// What octocrab sends: issued a minute ago, valid for ten minutes, `iss` a number.
fn jwt() -> String {
    jwt_with(json!({ "iss": APP_ID, "iat": now() - 60, "exp": now() + 540 }))
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn remaining(&self) -> u64 {
        self.header("x-ratelimit-remaining")
            .and_then(|value| value.parse().ok())
            .expect("x-ratelimit-remaining")
    }
}

/// `authorization` is the whole header value, or "" for none.
async fn call(
    fake: &FakeGitHub,
    method: &str,
    path: &str,
    authorization: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = common::http_client()
        .request(method, format!("{}{path}", fake.url))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    if !authorization.is_empty() {
        request = request.header("authorization", authorization);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the fake answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Answer {
        status,
        headers,
        text,
    }
}

/// `GET path` with `authorization`.
async fn get(fake: &FakeGitHub, path: &str, authorization: &str) -> Answer {
    call(fake, "GET", path, authorization, None, &[]).await
}

/// `METHOD path` with `authorization` and the JSON `body`.
async fn send(
    fake: &FakeGitHub,
    method: &str,
    path: &str,
    authorization: &str,
    body: Value,
) -> Answer {
    call(fake, method, path, authorization, Some(body), &[]).await
}

async fn token(fake: &FakeGitHub) -> String {
    let path = format!("/app/installations/{INSTALLATION}/access_tokens");
    let answer = call(fake, "POST", &path, &format!("Bearer {}", jwt()), None, &[]).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let token = answer.json()["token"].as_str().expect("token").to_owned();
    format!("Bearer {token}")
}

#[tokio::test]
async fn app_routes_take_a_jwt_signed_by_the_app() {
    let fake = fake().await;
    let bearer = format!("Bearer {}", jwt());

    let app = get(&fake, "/app", &bearer).await;
    assert_eq!(app.status, 200, "{}", app.text);
    assert_eq!(app.json()["id"], APP_ID);
    assert_eq!(app.json()["slug"], "herald-test");
    assert_eq!(app.header("x-ratelimit-limit"), Some("5000"));
    assert!(app.header("x-ratelimit-reset").is_some());
    assert!(app.header("x-github-request-id").is_some());

    let string_iss =
        jwt_with(json!({ "iss": APP_ID.to_string(), "iat": now() - 60, "exp": now() + 540 }));
    let answer = get(&fake, "/app", &format!("Bearer {string_iss}")).await;
    assert_eq!(answer.status, 200, "iss may be a string");

    jwts_github_would_not_take_are_refused(&fake).await;

    let installations = get(&fake, "/app/installations", &bearer).await;
    assert_eq!(installations.status, 200);
    let installations = installations.json();
    assert_eq!(installations[0]["id"], INSTALLATION);
    assert_eq!(installations[0]["account"]["login"], "acme");
    assert_eq!(installations[0]["account"]["type"], "Organization");
    assert_eq!(installations[0]["app_id"], APP_ID);
    assert_eq!(installations[0]["target_type"], "Organization");
    assert_eq!(installations[0]["repository_selection"], "all");

    let first = two_tokens_each_fresh_for_an_hour(&fake, &bearer).await;

    let unknown = call(
        &fake,
        "POST",
        "/app/installations/999/access_tokens",
        &bearer,
        None,
        &[],
    )
    .await;
    assert_eq!(unknown.status, 404);
    let token = format!("Bearer {}", first["token"].as_str().expect("token"));
    let with_token = get(&fake, "/app", &token).await;
    assert_eq!(
        with_token.status, 401,
        "an installation token is not an app JWT"
    );

    assert_eq!(fake.token_requests(), 2);
    assert!(fake.unexpected().is_empty());
}

/// A JWT GitHub would not take gets 401 and GitHub's words: none, not a JWT, another
/// App's, expired, valid for over ten minutes, without `iat`, or with a changed signature.
async fn jwts_github_would_not_take_are_refused(fake: &FakeGitHub) {
    let rejected = [
        String::new(),
        "Bearer not-a-jwt".to_owned(),
        format!(
            "Bearer {}",
            jwt_with(json!({ "iss": 1, "iat": now() - 60, "exp": now() + 540 }))
        ),
        format!(
            "Bearer {}",
            jwt_with(json!({ "iss": APP_ID, "iat": now() - 700, "exp": now() - 100 }))
        ),
        format!(
            "Bearer {}",
            jwt_with(json!({ "iss": APP_ID, "iat": now() - 60, "exp": now() + 3600 }))
        ),
        format!(
            "Bearer {}",
            jwt_with(json!({ "iss": APP_ID, "exp": now() + 540 }))
        ),
        format!("Bearer {}x", jwt()),
    ];
    for authorization in &rejected {
        let answer = get(fake, "/app", authorization).await;
        assert_eq!(answer.status, 401, "{authorization:?} was accepted");
        assert_eq!(
            answer.json(),
            json!({
                "message": "A JSON web token could not be decoded",
                "documentation_url": "https://docs.github.com/rest",
            })
        );
    }
}

/// Two installation tokens asked for with the App's JWT (`bearer`): each a fresh one,
/// valid for an hour, with the installation's permissions. The first.
async fn two_tokens_each_fresh_for_an_hour(fake: &FakeGitHub, bearer: &str) -> Value {
    let path = format!("/app/installations/{INSTALLATION}/access_tokens");
    let first = call(fake, "POST", &path, bearer, None, &[]).await;
    let second = call(fake, "POST", &path, bearer, None, &[]).await;
    assert_eq!((first.status, second.status), (201, 201));
    let (first, second) = (first.json(), second.json());
    assert!(
        first["token"]
            .as_str()
            .expect("token")
            .starts_with("ghs_fake")
    );
    assert_ne!(first["token"], second["token"], "a fresh token per call");
    let expires_at = first["expires_at"].as_str().expect("expires_at");
    assert!(expires_at.ends_with('Z'), "{expires_at}");
    let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at).expect("RFC 3339");
    assert!((expires_at.timestamp() - now() - 3600).abs() < 10);
    assert_eq!(first["permissions"]["issues"], "write");
    assert_eq!(first["repository_selection"], "all");
    first
}

#[tokio::test]
async fn other_routes_take_a_live_installation_token() {
    let fake = fake().await;
    fake.add_installation(8, "other");
    fake.add_repository("other/thing", false, 8);
    let token = token(&fake).await;

    let repo = get(&fake, "/repos/acme/widget", &token).await;
    assert_eq!(repo.status, 200, "{}", repo.text);
    let body = repo.json();
    assert_eq!(body["full_name"], REPO);
    assert_eq!(body["name"], "widget");
    assert_eq!(body["private"], true);
    assert_eq!(body["visibility"], "private");
    assert_eq!(body["default_branch"], "main");
    assert_eq!(body["owner"]["login"], "acme");
    assert_eq!(body["html_url"], "https://github.com/acme/widget");

    // Each authenticated answer costs one; rejected ones cost nothing.
    let before = repo.remaining();
    let again = get(&fake, "/repos/acme/widget", &token).await;
    assert_eq!(again.remaining(), before - 1);
    let legacy = token.replacen("Bearer", "token", 1);
    let legacy = get(&fake, "/repos/acme/widget", &legacy).await;
    assert_eq!(legacy.status, 200, "the `token` scheme works too");

    let bad_credentials = json!({
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
    });
    for authorization in ["", "Bearer ghs_made_up", &format!("Bearer {}", jwt())] {
        let answer = get(&fake, "/repos/acme/widget", authorization).await;
        assert_eq!(answer.status, 401, "{authorization:?} was accepted");
        assert_eq!(answer.json(), bad_credentials);
        assert_eq!(answer.remaining(), legacy.remaining());
    }

    let unknown = get(&fake, "/repos/acme/nope", &token).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["message"], "Not Found");
    let elsewhere = get(&fake, "/repos/other/thing", &token).await;
    assert_eq!(
        elsewhere.status, 404,
        "another installation's repository is invisible"
    );

    fake.expire_tokens();
    let expired = get(&fake, "/repos/acme/widget", &token).await;
    assert_eq!(expired.status, 401);
    assert!(fake.unexpected().is_empty());
}

#[tokio::test]
async fn contents_come_base64_in_sixty_column_lines() {
    let fake = fake().await;
    let config = "# herald\n".to_owned() + &"severity_labels: true\n".repeat(10);
    fake.put_file(REPO, ".github/herald.yml", &config);
    let token = token(&fake).await;

    for path in [
        "/repos/acme/widget/contents/.github/herald.yml",
        "/repos/acme/widget/contents/.github/herald.yml?ref=main",
        "/repos/acme/widget/contents/.github%2Fherald.yml",
    ] {
        let answer = get(&fake, path, &token).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        let body = answer.json();
        assert_eq!(body["type"], "file");
        assert_eq!(body["encoding"], "base64");
        assert_eq!(body["path"], ".github/herald.yml");
        assert_eq!(body["name"], "herald.yml");
        assert_eq!(body["size"], config.len());
        assert_eq!(body["sha"].as_str().expect("sha").len(), 40);
        let content = body["content"].as_str().expect("content");
        assert!(content.ends_with('\n'));
        assert!(content.lines().all(|line| line.len() <= 60));
        assert!(content.lines().count() > 1);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(content.replace('\n', ""))
            .expect("base64");
        assert_eq!(String::from_utf8(decoded).expect("UTF-8"), config);
    }

    let raw = call(
        &fake,
        "GET",
        "/repos/acme/widget/contents/.github/herald.yml",
        &token,
        None,
        &[("accept", "application/vnd.github.raw+json")],
    )
    .await;
    assert_eq!((raw.status, raw.text.as_str()), (200, config.as_str()));

    let missing = get(&fake, "/repos/acme/widget/contents/nope.yml", &token).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn issues_labels_and_comments_keep_state() {
    let fake = fake().await;
    let token = token(&fake).await;
    let issues = "/repos/acme/widget/issues";
    an_issue_is_created_as_github_shows_it(&fake, &token).await;
    fake.open_issue(REPO, "mallory", "unrelated", "", &["question"]);
    send(
        &fake,
        "POST",
        issues,
        &token,
        json!({ "title": "second", "labels": ["security"] }),
    )
    .await;
    issues_are_listed_open_newest_first_and_paged(&fake, &token).await;
    an_issue_is_closed_and_read(&fake, &token).await;
    labels_are_added_and_removed(&fake, &token).await;
    let human = comments_are_posted_edited_and_listed(&fake, &token).await;

    let stored = fake.issues(REPO);
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].labels, ["security", "phase:assessment"]);
    assert_eq!(stored[0].assignees, ["alice"]);
    assert_eq!(stored[1].state, "closed");
    let stored = fake.comments(REPO, 1);
    assert_eq!(stored.len(), 2);
    assert_eq!(
        (stored[0].user.as_str(), stored[0].body.as_str()),
        (BOT_LOGIN, "Incident opened (edited).")
    );
    assert_eq!((stored[1].id, stored[1].user.as_str()), (human, "alice"));
    assert_eq!(fake.unexpected(), ["GET /repos/acme/widget/issues/abc"]);
}

/// herald's issue 1 is created with labels and an assignee, and answered in GitHub's
/// shape; one without a title, a body that is not JSON and a number that is not one are
/// refused.
async fn an_issue_is_created_as_github_shows_it(fake: &FakeGitHub, token: &str) {
    let issues = "/repos/acme/widget/issues";
    let created = send(
        fake,
        "POST",
        issues,
        token,
        json!({
            "title": "GHSA-abcd-1234-efgh",
            "body": "tracking",
            "labels": ["security", "severity:high"],
            "assignees": ["alice"],
        }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let issue = created.json();
    assert_eq!(issue["number"], 1);
    assert_eq!(issue["state"], "open");
    assert_eq!(issue["title"], "GHSA-abcd-1234-efgh");
    assert_eq!(issue["user"]["login"], BOT_LOGIN);
    assert_eq!(issue["user"]["type"], "Bot");
    assert_eq!(issue["labels"][1]["name"], "severity:high");
    assert_eq!(issue["labels"][1]["color"], "ededed");
    assert_eq!(issue["labels"][1]["default"], false);
    assert_eq!(issue["assignees"][0]["login"], "alice");
    assert_eq!(issue["html_url"], "https://github.com/acme/widget/issues/1");
    assert_eq!(issue["comments"], 0);

    let untitled = send(fake, "POST", issues, token, json!({ "body": "x" })).await;
    assert_eq!(untitled.status, 422);
    assert_eq!(untitled.json()["errors"][0]["field"], "title");
    let mut garbled = common::http_client()
        .post(format!("{}{issues}", fake.url))
        .header("authorization", token)
        .body("{not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(garbled.status(), 400);
    garbled = common::http_client()
        .get(format!("{}{issues}/abc", fake.url))
        .header("authorization", token)
        .send()
        .await
        .expect("answer");
    assert_eq!(garbled.status(), 404);
}

/// Open by default, newest first, every label required, paged with a Link header.
async fn issues_are_listed_open_newest_first_and_paged(fake: &FakeGitHub, token: &str) {
    let issues = "/repos/acme/widget/issues";
    let listed = get(
        fake,
        &format!("{issues}?labels=security,severity:high"),
        token,
    )
    .await;
    assert_eq!(numbers(&listed), vec![1]);
    let all = get(fake, &format!("{issues}?labels=security"), token).await;
    assert_eq!(numbers(&all), vec![3, 1]);
    let first_page = get(fake, &format!("{issues}?per_page=2"), token).await;
    assert_eq!(numbers(&first_page), vec![3, 2]);
    let link = first_page.header("link").expect("Link header").to_owned();
    let next = format!("<{}{issues}?per_page=2&page=2>; rel=\"next\"", fake.url);
    assert!(link.contains(&next), "{link}");
    let second_page = get(fake, &format!("{issues}?per_page=2&page=2"), token).await;
    assert_eq!(numbers(&second_page), vec![1]);
    assert!(
        second_page
            .header("link")
            .is_some_and(|link| !link.contains("rel=\"next\""))
    );
}

/// Issue 2 is closed: the open list leaves it out, the closed one has it; issue 1 reads
/// back, 99 is not found.
async fn an_issue_is_closed_and_read(fake: &FakeGitHub, token: &str) {
    let issues = "/repos/acme/widget/issues";
    let closed = send(
        fake,
        "PATCH",
        &format!("{issues}/2"),
        token,
        json!({ "state": "closed" }),
    )
    .await;
    assert_eq!(closed.status, 200);
    assert_eq!(closed.json()["state"], "closed");
    let open = get(fake, issues, token).await;
    assert_eq!(numbers(&open), vec![3, 1]);
    let closed = get(fake, &format!("{issues}?state=closed"), token).await;
    assert_eq!(numbers(&closed), vec![2]);
    let got = get(fake, &format!("{issues}/1"), token).await;
    assert_eq!(got.json()["body"], "tracking");
    assert_eq!(get(fake, &format!("{issues}/99"), token).await.status, 404);
}

/// The numbers of the issues or pull requests an answer lists.
fn numbers(answer: &Answer) -> Vec<u64> {
    answer
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|issue| issue["number"].as_u64().expect("number"))
        .collect()
}

/// The names of the labels an answer lists.
fn names(answer: &Answer) -> Vec<String> {
    answer
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|label| label["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Labels are added to issue 1 and removed (a label it does not have: 404).
async fn labels_are_added_and_removed(fake: &FakeGitHub, token: &str) {
    let issues = "/repos/acme/widget/issues";
    let labels = send(
        fake,
        "POST",
        &format!("{issues}/1/labels"),
        token,
        json!({ "labels": ["security", "phase:assessment"] }),
    )
    .await;
    assert_eq!(labels.status, 200);
    assert_eq!(
        names(&labels),
        ["security", "severity:high", "phase:assessment"]
    );
    let removed = call(
        fake,
        "DELETE",
        &format!("{issues}/1/labels/severity%3Ahigh"),
        token,
        None,
        &[],
    )
    .await;
    assert_eq!(removed.status, 200);
    assert_eq!(names(&removed), ["security", "phase:assessment"]);
    let absent = call(
        fake,
        "DELETE",
        &format!("{issues}/1/labels/severity%3Ahigh"),
        token,
        None,
        &[],
    )
    .await;
    assert_eq!(absent.status, 404);
    assert_eq!(
        fake.count("DELETE", "/repos/acme/widget/issues/1/labels/severity:high"),
        2
    );
}

/// herald's comment on issue 1 is posted and edited; a person's comment is listed after
/// it, paged, and the issue counts both. The person's comment's id.
async fn comments_are_posted_edited_and_listed(fake: &FakeGitHub, token: &str) -> u64 {
    let issues = "/repos/acme/widget/issues";
    let comment = send(
        fake,
        "POST",
        &format!("{issues}/1/comments"),
        token,
        json!({ "body": "Incident opened." }),
    )
    .await;
    assert_eq!(comment.status, 201);
    let comment = comment.json();
    assert_eq!(comment["user"]["login"], BOT_LOGIN);
    assert!(
        comment["html_url"]
            .as_str()
            .expect("html_url")
            .contains("#issuecomment-")
    );
    let id = comment["id"].as_u64().expect("id");
    let edited = send(
        fake,
        "PATCH",
        &format!("/repos/acme/widget/issues/comments/{id}"),
        token,
        json!({ "body": "Incident opened (edited)." }),
    )
    .await;
    assert_eq!(
        (edited.status, edited.json()["body"].clone()),
        (200, json!("Incident opened (edited)."))
    );
    let human = fake.add_comment(REPO, 1, "alice", "/herald severity critical");
    let comments = get(
        fake,
        &format!("{issues}/1/comments?per_page=1&page=2"),
        token,
    )
    .await;
    assert_eq!(comments.json()[0]["id"], human);
    assert_eq!(comments.json()[0]["user"]["type"], "User");
    assert_eq!(
        get(fake, &format!("{issues}/1"), token).await.json()["comments"],
        2
    );
    human
}

fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn branches_files_and_pull_requests_keep_git_state() {
    let fake = fake().await;
    fake.put_file(REPO, "CHANGELOG.md", "# Changelog\n");
    let token = token(&fake).await;
    let (repo, branch) = (REPO_API, BRANCH);
    assert_eq!(fake.branches(REPO), ["main"]);
    let main_sha = the_branch_is_made_from_mains_head(&fake, &token).await;
    let blob = files_are_read_by_ref(&fake, &token).await;
    a_new_file_is_committed_on_the_branch(&fake, &token, &main_sha).await;
    an_update_without_the_files_sha_is_refused(&fake, &token, &blob).await;
    let head_sha = an_update_moves_the_branch_alone(&fake, &token, &blob).await;
    let open_pull = a_pull_request_is_opened_once(&fake, &token, &main_sha, &head_sha).await;
    a_pull_request_is_an_issue_too(&fake, &token).await;
    pull_requests_are_listed_by_head_base_and_state(&fake, &token).await;
    a_pull_request_is_edited_and_closed(&fake, &token, open_pull).await;

    // Moving the branch: forward only unless forced.
    let back = send(
        &fake,
        "PATCH",
        &format!("{repo}/git/refs/heads/{branch}"),
        &token,
        json!({ "sha": main_sha, "force": false }),
    )
    .await;
    assert_eq!(
        (back.status, back.json()["message"].clone()),
        (422, json!("Update is not a fast forward"))
    );
    let forced = send(
        &fake,
        "PATCH",
        &format!("{repo}/git/refs/heads/{branch}"),
        &token,
        json!({ "sha": main_sha, "force": true }),
    )
    .await;
    assert_eq!(forced.status, 200, "{}", forced.text);
    assert_eq!(forced.json()["object"]["sha"], main_sha.as_str());
    assert_eq!(
        fake.file(REPO, branch, "CHANGELOG.md").as_deref(),
        Some("# Changelog\n")
    );

    // Every new route needs a token and is recorded.
    let anonymous = get(&fake, &format!("{repo}/pulls"), "").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(fake.count("POST", "/repos/acme/widget/pulls"), 6);
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());
}

/// The repository's API path, and the branch the git-state scenario works on.
const REPO_API: &str = "/repos/acme/widget";
const BRANCH: &str = "herald/security/GHSA-abcd-1234-efgh";
/// The CHANGELOG as the scenario's update writes it on the branch.
const ENTRY: &str = "# Changelog\n\n## Security\n\n- GHSA-abcd-1234-efgh\n";

/// The branch: 404 before, created from main's head, 422 when it exists; read with the
/// slashes in its name as they are or encoded. Main's head.
async fn the_branch_is_made_from_mains_head(fake: &FakeGitHub, token: &str) -> String {
    let (repo, branch) = (REPO_API, BRANCH);
    let main = get(fake, &format!("{repo}/git/ref/heads/main"), token).await;
    assert_eq!(main.status, 200, "{}", main.text);
    let main = main.json();
    assert_eq!(main["ref"], "refs/heads/main");
    assert_eq!(main["object"]["type"], "commit");
    let main_sha = main["object"]["sha"].as_str().expect("sha").to_owned();
    assert_eq!(main_sha.len(), 40);
    let missing = get(fake, &format!("{repo}/git/ref/heads/{branch}"), token).await;
    assert_eq!(
        (missing.status, missing.json()["message"].clone()),
        (404, json!("Not Found"))
    );
    let create_ref = |sha: &str| json!({ "ref": format!("refs/heads/{branch}"), "sha": sha });
    let created = send(
        fake,
        "POST",
        &format!("{repo}/git/refs"),
        token,
        create_ref(&main_sha),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["ref"], format!("refs/heads/{branch}"));
    assert_eq!(created.json()["object"]["sha"], main_sha.as_str());
    let again = send(
        fake,
        "POST",
        &format!("{repo}/git/refs"),
        token,
        create_ref(&main_sha),
    )
    .await;
    assert_eq!(
        (again.status, again.json()["message"].clone()),
        (422, json!("Reference already exists"))
    );
    let unknown_sha = "0".repeat(40);
    let other = json!({ "ref": "refs/heads/other", "sha": unknown_sha });
    let bad_sha = send(fake, "POST", &format!("{repo}/git/refs"), token, other).await;
    assert_eq!(bad_sha.status, 422);
    // Slashes in the branch name, sent as they are or encoded.
    for path in [
        format!("{repo}/git/ref/heads/{branch}"),
        format!("{repo}/git/ref/heads/{}", branch.replace('/', "%2F")),
    ] {
        let got = get(fake, &path, token).await;
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.json()["object"]["sha"], main_sha.as_str());
    }
    assert_eq!(
        fake.branches(REPO),
        ["herald/security/GHSA-abcd-1234-efgh", "main"]
    );
    assert_eq!(
        fake.file(REPO, branch, "CHANGELOG.md").as_deref(),
        Some("# Changelog\n")
    );
    main_sha
}

/// Reading by ref: the branch's file, main's without a ref, 404 for an unknown ref. The
/// CHANGELOG's blob sha on the branch.
async fn files_are_read_by_ref(fake: &FakeGitHub, token: &str) -> String {
    let (repo, branch) = (REPO_API, BRANCH);
    let contents = format!("{repo}/contents/CHANGELOG.md");
    let on_branch = get(fake, &format!("{contents}?ref={branch}"), token).await;
    assert_eq!(on_branch.status, 200, "{}", on_branch.text);
    let blob = on_branch.json()["sha"].as_str().expect("sha").to_owned();
    let no_ref = get(
        fake,
        "/repos/acme/widget/contents/CHANGELOG.md?ref=nope",
        token,
    )
    .await;
    assert_eq!(
        (no_ref.status, no_ref.json()["message"].clone()),
        (404, json!("No commit found for the ref nope"))
    );
    blob
}

/// Writing on the branch: a new file is a commit on top of main's head.
async fn a_new_file_is_committed_on_the_branch(fake: &FakeGitHub, token: &str, main_sha: &str) {
    let (repo, branch) = (REPO_API, BRANCH);
    let new_file = json!({
        "message": "Add advisory notes",
        "content": base64("notes\n"),
        "branch": branch,
    });
    let put = send(
        fake,
        "PUT",
        &format!("{repo}/contents/docs/notes.md"),
        token,
        new_file,
    )
    .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let put = put.json();
    assert_eq!(put["content"]["path"], "docs/notes.md");
    assert_eq!(put["content"]["name"], "notes.md");
    assert_eq!(put["content"]["type"], "file");
    assert_eq!(put["content"]["size"], 6);
    assert_eq!(put["commit"]["message"], "Add advisory notes");
    assert_eq!(put["commit"]["parents"][0]["sha"], main_sha);
}

/// The CHANGELOG update on the branch, naming the blob `sha` it replaces (if any).
fn changelog_update(sha: Option<&str>) -> Value {
    let mut body = json!({
        "message": "CHANGELOG: GHSA-abcd-1234-efgh",
        "content": base64(ENTRY),
        "branch": BRANCH,
    });
    if let Some(sha) = sha {
        body["sha"] = json!(sha);
    }
    body
}

/// An update must name the sha of the file it replaces: a stale one is a conflict, none
/// is invalid, another branch is not found, and a new file takes none.
async fn an_update_without_the_files_sha_is_refused(fake: &FakeGitHub, token: &str, blob: &str) {
    let repo = REPO_API;
    let contents = format!("{repo}/contents/CHANGELOG.md");
    let stale = "1".repeat(40);
    let conflict = send(
        fake,
        "PUT",
        &contents,
        token,
        changelog_update(Some(&stale)),
    )
    .await;
    assert_eq!(
        (conflict.status, conflict.json()["message"].clone()),
        (409, json!(format!("CHANGELOG.md does not match {stale}")))
    );
    let unsupplied = send(fake, "PUT", &contents, token, changelog_update(None)).await;
    assert_eq!(
        (unsupplied.status, unsupplied.json()["message"].clone()),
        (422, json!("Invalid request.\n\n\"sha\" wasn't supplied."))
    );
    let mut elsewhere = changelog_update(Some(blob));
    elsewhere["branch"] = json!("no-such-branch");
    let elsewhere = send(fake, "PUT", &contents, token, elsewhere).await;
    assert_eq!(elsewhere.status, 404);
    let sha_for_new = json!({ "message": "x", "content": base64("x"), "sha": blob });
    let sha_for_new = send(
        fake,
        "PUT",
        &format!("{repo}/contents/new.md"),
        token,
        sha_for_new,
    )
    .await;
    assert_eq!(sha_for_new.status, 422);
}

/// The update with the blob's sha commits on the branch, which moves; main keeps its
/// files. The branch's new head.
async fn an_update_moves_the_branch_alone(fake: &FakeGitHub, token: &str, blob: &str) -> String {
    let (repo, branch) = (REPO_API, BRANCH);
    let contents = format!("{repo}/contents/CHANGELOG.md");
    let updated = send(fake, "PUT", &contents, token, changelog_update(Some(blob))).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let head_sha = updated.json()["commit"]["sha"]
        .as_str()
        .expect("sha")
        .to_owned();
    assert_ne!(updated.json()["content"]["sha"], blob);
    assert_eq!(
        fake.file(REPO, branch, "CHANGELOG.md").as_deref(),
        Some(ENTRY)
    );
    assert_eq!(
        fake.file(REPO, "main", "CHANGELOG.md").as_deref(),
        Some("# Changelog\n")
    );
    assert_eq!(fake.file(REPO, "main", "docs/notes.md"), None);
    let read_back = call(
        fake,
        "GET",
        &format!("{contents}?ref={branch}"),
        token,
        None,
        &[("accept", "application/vnd.github.raw+json")],
    )
    .await;
    assert_eq!(read_back.text, ENTRY);
    let commits = fake.commits(REPO, branch);
    let messages: Vec<&str> = commits
        .iter()
        .map(|commit| commit.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "Initial commit",
            "Create CHANGELOG.md",
            "Add advisory notes",
            "CHANGELOG: GHSA-abcd-1234-efgh"
        ]
    );
    assert_eq!(commits[3].sha, head_sha);
    assert_eq!(commits[3].files_changed, ["CHANGELOG.md"]);
    assert_eq!(fake.commits(REPO, "main").len(), 2);
    let moved = get(fake, &format!("{repo}/git/ref/heads/{branch}"), token).await;
    assert_eq!(moved.json()["object"]["sha"], head_sha.as_str());
    head_sha
}

/// The pull request from the branch opens once (after an issue, so its number shows the
/// sequence it shares with issues); a missing head or base, or a head without commits, is
/// refused. What it was opened with.
async fn a_pull_request_is_opened_once(
    fake: &FakeGitHub,
    token: &str,
    main_sha: &str,
    head_sha: &str,
) -> Value {
    let (repo, branch) = (REPO_API, BRANCH);
    fake.open_issue(REPO, "alice", "Something else", "", &[]);
    let pulls = format!("{repo}/pulls");
    let open_pull = json!({
        "title": "CHANGELOG: GHSA-abcd-1234-efgh",
        "head": format!("acme:{branch}"),
        "base": "main",
        "body": "Adds the advisory to the changelog.",
    });
    let pull = send(fake, "POST", &pulls, token, open_pull.clone()).await;
    assert_eq!(pull.status, 201, "{}", pull.text);
    let pull = pull.json();
    assert_eq!(pull["number"], 2);
    assert_eq!(pull["state"], "open");
    assert_eq!(pull["draft"], false);
    assert_eq!(pull["merged"], false);
    assert_eq!(pull["html_url"], "https://github.com/acme/widget/pull/2");
    assert_eq!(pull["head"]["ref"], branch);
    assert_eq!(pull["head"]["sha"], head_sha);
    assert_eq!(pull["head"]["label"], format!("acme:{branch}"));
    assert_eq!(pull["base"]["ref"], "main");
    assert_eq!(pull["base"]["sha"], main_sha);
    assert_eq!(pull["user"]["login"], BOT_LOGIN);
    assert_eq!(pull["user"]["type"], "Bot");
    assert_eq!(pull["commits"], 2);
    assert_eq!(pull["changed_files"], 2);
    assert_ne!(pull["id"], pull["number"]);

    let duplicate = send(fake, "POST", &pulls, token, open_pull.clone()).await;
    assert_eq!(duplicate.status, 422);
    assert_eq!(duplicate.json()["message"], "Validation Failed");
    assert_eq!(
        duplicate.json()["errors"][0]["message"],
        format!("A pull request already exists for acme:{branch}.")
    );
    let mut no_head = open_pull.clone();
    no_head["head"] = json!("acme:nope");
    let no_head = send(fake, "POST", &pulls, token, no_head).await;
    assert_eq!(
        (no_head.status, no_head.json()["errors"][0]["field"].clone()),
        (422, json!("head"))
    );
    let mut no_base = open_pull.clone();
    no_base["base"] = json!("nope");
    let no_base = send(fake, "POST", &pulls, token, no_base).await;
    assert_eq!(
        (no_base.status, no_base.json()["errors"][0]["field"].clone()),
        (422, json!("base"))
    );
    fake.create_branch(REPO, "empty", "main");
    let mut empty = open_pull.clone();
    empty["head"] = json!("empty");
    let empty = send(fake, "POST", &pulls, token, empty).await;
    assert_eq!(empty.status, 422);
    assert_eq!(
        empty.json()["errors"][0]["message"],
        "No commits between main and empty"
    );
    open_pull
}

/// The pull request through the issues API: labels, and `pull_request` when read or listed.
async fn a_pull_request_is_an_issue_too(fake: &FakeGitHub, token: &str) {
    let repo = REPO_API;
    let pulls = format!("{repo}/pulls");
    let labels = send(
        fake,
        "POST",
        &format!("{repo}/issues/2/labels"),
        token,
        json!({ "labels": ["security"] }),
    )
    .await;
    assert_eq!(labels.status, 200, "{}", labels.text);
    let as_issue = get(fake, &format!("{repo}/issues/2"), token).await;
    assert_eq!(as_issue.status, 200);
    let as_issue = as_issue.json();
    assert_eq!(as_issue["labels"][0]["name"], "security");
    assert_eq!(
        as_issue["pull_request"]["url"],
        format!("{}{repo}/pulls/2", fake.url)
    );
    assert_eq!(
        as_issue["html_url"],
        "https://github.com/acme/widget/pull/2"
    );
    let listed = get(fake, &format!("{repo}/issues?state=all"), token).await;
    let listed = listed.json();
    assert_eq!(listed.as_array().expect("array").len(), 2);
    assert!(listed[0].get("pull_request").is_some());
    assert!(listed[1].get("pull_request").is_none());
    let issue_as_pull = get(fake, &format!("{pulls}/1"), token).await;
    assert_eq!(issue_as_pull.status, 404);
}

/// Listing: by head (`owner:branch`), base and state; a bare branch filters nothing.
async fn pull_requests_are_listed_by_head_base_and_state(fake: &FakeGitHub, token: &str) {
    let (repo, branch) = (REPO_API, BRANCH);
    let pulls = format!("{repo}/pulls");
    let by_head = get(
        fake,
        &format!("{pulls}?state=open&head=acme:{branch}&per_page=100"),
        token,
    )
    .await;
    assert_eq!(by_head.status, 200);
    let listed = by_head.json();
    assert_eq!(listed[0]["labels"][0]["name"], "security");
    assert_eq!(numbers(&by_head), [2]);
    let other_head = get(fake, &format!("{pulls}?head=acme:main"), token).await;
    assert_eq!(numbers(&other_head), Vec::<u64>::new());
    let bare = get(fake, &format!("{pulls}?head=main"), token).await;
    assert_eq!(numbers(&bare), [2]);
    let other_base = get(fake, &format!("{pulls}?base=empty"), token).await;
    assert_eq!(numbers(&other_base), Vec::<u64>::new());
    let closed = get(fake, &format!("{pulls}?state=closed"), token).await;
    assert_eq!(numbers(&closed), Vec::<u64>::new());
}

/// Editing and closing; a closed one no longer blocks a new one (`open_pull` again).
async fn a_pull_request_is_edited_and_closed(fake: &FakeGitHub, token: &str, open_pull: Value) {
    let (repo, branch) = (REPO_API, BRANCH);
    let pulls = format!("{repo}/pulls");
    let edited = send(
        fake,
        "PATCH",
        &format!("{pulls}/2"),
        token,
        json!({ "body": "Updated body." }),
    )
    .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.json()["body"], "Updated body.");
    assert_eq!(edited.json()["title"], "CHANGELOG: GHSA-abcd-1234-efgh");
    let got = get(fake, &format!("{pulls}/2"), token).await;
    assert_eq!(got.json()["body"], "Updated body.");
    let bad_base = send(
        fake,
        "PATCH",
        &format!("{pulls}/2"),
        token,
        json!({ "base": "nope" }),
    )
    .await;
    assert_eq!(bad_base.status, 422);

    let stored = fake.pulls(REPO);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].number, 2);
    assert_eq!(stored[0].title, "CHANGELOG: GHSA-abcd-1234-efgh");
    assert_eq!(stored[0].body, "Updated body.");
    assert_eq!(
        (stored[0].head.as_str(), stored[0].base.as_str()),
        (branch, "main")
    );
    assert_eq!(stored[0].state, "open");
    assert_eq!(stored[0].labels, ["security"]);
    assert_eq!(
        fake.issues(REPO).len(),
        1,
        "issues() leaves pull requests out"
    );

    let closed = send(
        fake,
        "PATCH",
        &format!("{pulls}/2"),
        token,
        json!({ "state": "closed" }),
    )
    .await;
    assert_eq!(closed.json()["state"], "closed");
    let reopened = send(fake, "POST", &pulls, token, open_pull).await;
    assert_eq!(reopened.status, 201, "{}", reopened.text);
    assert_eq!(reopened.json()["number"], 3);
}

#[tokio::test]
async fn collaborator_permission_folds_roles_like_github() {
    let fake = fake().await;
    let token = token(&fake).await;
    for (role, permission) in [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
    ] {
        let login = format!("{role}-user");
        fake.set_permission(REPO, &login, role);
        let path = format!("/repos/acme/widget/collaborators/{login}/permission");
        let answer = get(&fake, &path, &token).await;
        assert_eq!(answer.status, 200);
        let body = answer.json();
        assert_eq!(body["permission"], permission, "{role}");
        assert_eq!(body["role_name"], role);
        assert_eq!(body["user"]["login"], login.as_str());
    }
    let stranger = get(
        &fake,
        "/repos/acme/widget/collaborators/eve/permission",
        &token,
    )
    .await;
    assert_eq!(stranger.json()["permission"], "none");
}

#[tokio::test]
async fn advisories_list_with_etag_and_cve_requests() {
    let fake = fake().await;
    let token = token(&fake).await;
    fake.put_advisory(
        REPO,
        advisory_at("GHSA-aaaa-aaaa-aaaa", "2024-02-01T00:00:00Z", Value::Null),
    );
    fake.put_advisory(
        REPO,
        advisory_at(
            "GHSA-bbbb-bbbb-bbbb",
            "2024-03-01T00:00:00Z",
            json!("CVE-2024-0001"),
        ),
    );
    the_list_is_free_to_poll_while_unchanged(&fake, &token).await;
    a_cve_is_requested_only_for_an_advisory_without_one(&fake, &token).await;
}

/// A repository advisory in triage, `ghsa` last updated at `updated`, with the CVE id `cve`.
fn advisory_at(ghsa: &str, updated: &str, cve: Value) -> Value {
    json!({
        "ghsa_id": ghsa,
        "cve_id": cve,
        "summary": format!("{ghsa} summary"),
        "state": "triage",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": updated,
    })
}

/// The advisory list comes newest first with an ETag; asked again with it, 304 and free
/// until an advisory changes; filtered by state.
async fn the_list_is_free_to_poll_while_unchanged(fake: &FakeGitHub, token: &str) {
    let list = "/repos/acme/widget/security-advisories?sort=updated&direction=desc&per_page=100";

    let first = get(fake, list, token).await;
    assert_eq!(first.status, 200);
    let ghsa_ids: Vec<Value> = first
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["ghsa_id"].clone())
        .collect();
    assert_eq!(
        ghsa_ids,
        [json!("GHSA-bbbb-bbbb-bbbb"), json!("GHSA-aaaa-aaaa-aaaa")]
    );
    let etag = first.header("etag").expect("ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let unchanged = call(fake, "GET", list, token, None, &[("if-none-match", &etag)]).await;
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.text.is_empty());
    assert_eq!(unchanged.remaining(), first.remaining(), "a 304 is free");

    fake.put_advisory(
        REPO,
        advisory_at("GHSA-aaaa-aaaa-aaaa", "2024-04-01T00:00:00Z", Value::Null),
    );
    let changed = call(fake, "GET", list, token, None, &[("if-none-match", &etag)]).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert_eq!(changed.json()[0]["ghsa_id"], "GHSA-aaaa-aaaa-aaaa");
    let published = get(
        fake,
        "/repos/acme/widget/security-advisories?state=published",
        token,
    )
    .await;
    assert_eq!(published.json(), json!([]));
}

/// A CVE id is requested for the advisory without one (202); refused for the one that has
/// one (422) and for an unknown advisory (404).
async fn a_cve_is_requested_only_for_an_advisory_without_one(fake: &FakeGitHub, token: &str) {
    let cve = |ghsa: &str| format!("/repos/acme/widget/security-advisories/{ghsa}/cve");
    let requested = call(fake, "POST", &cve("GHSA-aaaa-aaaa-aaaa"), token, None, &[]).await;
    assert_eq!((requested.status, requested.json()), (202, json!({})));
    let has_cve = call(fake, "POST", &cve("GHSA-bbbb-bbbb-bbbb"), token, None, &[]).await;
    assert_eq!(has_cve.status, 422);
    assert!(has_cve.json()["message"].is_string());
    let unknown = call(fake, "POST", &cve("GHSA-zzzz-zzzz-zzzz"), token, None, &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(fake.cve_requests(), ["GHSA-aaaa-aaaa-aaaa"]);
}

#[tokio::test]
async fn failures_are_injected_once_and_unknown_routes_recorded() {
    let fake = fake().await;
    let token = token(&fake).await;

    fake.fail_next("GET", "/repos/acme/widget", 403, Some(30));
    fake.fail_next("GET", "/repos/acme/widget", 502, None);
    let limited = get(&fake, "/repos/acme/widget", &token).await;
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("retry-after"), Some("30"));
    let message = limited.json()["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(message.contains("secondary rate limit"), "{message}");
    let failed = get(&fake, "/repos/acme/widget", &token).await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.header("retry-after"), None);
    let recovered = get(&fake, "/repos/acme/widget", &token).await;
    assert_eq!(recovered.status, 200);
    assert_eq!(fake.count("GET", "/repos/acme/widget"), 3);

    let releases = get(&fake, "/repos/acme/widget/releases?per_page=1", &token).await;
    assert_eq!(
        (releases.status, releases.json()["message"].clone()),
        (404, json!("Not Found"))
    );
    call(&fake, "DELETE", "/repos/acme/widget", &token, None, &[]).await;
    send(
        &fake,
        "PUT",
        "/repos/acme/widget/issues/1/labels",
        &token,
        json!(["x"]),
    )
    .await;
    assert_eq!(
        fake.unexpected(),
        [
            "GET /repos/acme/widget/releases",
            "DELETE /repos/acme/widget",
            "PUT /repos/acme/widget/issues/1/labels",
        ]
    );

    let requests = fake.requests();
    let last = requests.last().expect("recorded");
    assert_eq!(last.method, "PUT");
    assert_eq!(last.body, Some(json!(["x"])));
    assert_eq!(last.status, 404);
    let releases = &requests[requests.len() - 3];
    assert_eq!(releases.query.as_deref(), Some("per_page=1"));
}

#[tokio::test]
async fn octocrab_understands_the_fake() {
    use octocrab::models::{AppId, InstallationId};

    let fake = fake().await;
    fake.put_file(REPO, ".github/herald.yml", "severity_labels: true\n");
    let app = octocrab_as_the_app(&fake);

    let me = app.current().app().await.expect("GET /app");
    assert_eq!(me.id, AppId(APP_ID));
    let installations = app
        .apps()
        .installations()
        .send()
        .await
        .expect("installations");
    assert_eq!(installations.items[0].id, InstallationId(INSTALLATION));

    let installation = app
        .installation(InstallationId(INSTALLATION))
        .expect("installation client");
    let repo = installation
        .repos("acme", "widget")
        .get()
        .await
        .expect("repository");
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    let mut content = installation
        .repos("acme", "widget")
        .get_content()
        .path(".github/herald.yml")
        .send()
        .await
        .expect("contents");
    let file = content.take_items().remove(0);
    assert_eq!(
        file.decoded_content().as_deref(),
        Some("severity_labels: true\n")
    );
    octocrab_pages_labels_and_comments_on_issues(&fake, &installation).await;

    assert_eq!(
        fake.token_requests(),
        1,
        "octocrab caches the installation token"
    );
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());
}

/// octocrab as the App, signing its JWTs with the App's key, on the fake.
fn octocrab_as_the_app(fake: &FakeGitHub) -> octocrab::Octocrab {
    let key = octocrab::EncodingKey::from_rsa_pem(pem("app-private-key.pem").as_bytes())
        .expect("RSA key");
    octocrab::Octocrab::builder()
        .base_uri(fake.url.as_str())
        .expect("base URI")
        .app(octocrab::models::AppId(APP_ID), key)
        .build()
        .expect("octocrab")
}

/// The `installation` client creates issues and pages through them by the Link header,
/// absolute or relative (octocrab withholds credentials from absolute URLs off
/// api.github.com), removes a label, and comments.
async fn octocrab_pages_labels_and_comments_on_issues(
    fake: &FakeGitHub,
    installation: &octocrab::Octocrab,
) {
    let issues = installation.issues("acme", "widget");
    let issue = issues
        .create("GHSA-abcd-1234-efgh")
        .body("tracking")
        .labels(vec!["security".to_owned(), "severity:high".to_owned()])
        .send()
        .await
        .expect("create issue");
    assert_eq!(issue.number, 1);
    issues.create("second").send().await.expect("create issue");
    let page = issues
        .list()
        .state(octocrab::params::State::All)
        .per_page(1u8)
        .send()
        .await
        .expect("list issues");
    assert_eq!(page.items[0].number, 2);
    let next = page.next.expect("a Link to the second page");
    assert_eq!(
        next.authority().map(|a| a.as_str()),
        fake.url.strip_prefix("http://")
    );

    // octocrab withholds credentials from absolute URLs off api.github.com.
    fake.relative_links(true);
    let page = issues
        .list()
        .state(octocrab::params::State::All)
        .per_page(1u8)
        .send()
        .await
        .expect("list issues");
    let next = installation
        .get_page::<octocrab::models::issues::Issue>(&page.next)
        .await
        .expect("next page")
        .expect("a second page");
    assert_eq!(next.items[0].number, 1);

    let remaining = issues
        .remove_label(1, "severity:high")
        .await
        .expect("remove label");
    assert_eq!(remaining.len(), 1);
    let comment = issues
        .create_comment(1, "Incident opened.")
        .await
        .expect("comment");
    issues
        .update_comment(comment.id, "Incident opened (edited).")
        .await
        .expect("edit comment");
    let comments = issues.list_comments(1).send().await.expect("comments");
    assert_eq!(
        comments.items[0].body.as_deref(),
        Some("Incident opened (edited).")
    );
}

/// octocrab's typed models accept the fake's refs, file commits and pull requests.
#[tokio::test]
async fn octocrab_opens_a_pull_request_on_the_fake() {
    use octocrab::models::InstallationId;

    let fake = fake().await;
    fake.put_file(REPO, "CHANGELOG.md", "# Changelog\n");
    let app = octocrab_as_the_app(&fake);
    let installation = app
        .installation(InstallationId(INSTALLATION))
        .expect("installation client");
    let repos = installation.repos("acme", "widget");
    let branch = "herald/security/GHSA-abcd-1234-efgh";

    let main_sha = octocrab_commits_on_a_new_branch(&repos, branch).await;

    let pulls = installation.pulls("acme", "widget");
    let pull = pulls
        .create(
            "CHANGELOG: GHSA-abcd-1234-efgh",
            format!("acme:{branch}"),
            "main",
        )
        .body("Adds the advisory.")
        .send()
        .await
        .expect("create pull request");
    assert_eq!(pull.number, 1);
    assert_eq!(pull.head.ref_field, branch);
    assert_eq!(pull.base.sha, main_sha);
    let page = pulls
        .list()
        .state(octocrab::params::State::Open)
        .head(format!("acme:{branch}"))
        .send()
        .await
        .expect("list pull requests");
    assert_eq!(page.items.len(), 1);
    let edited = pulls
        .update(1)
        .body("Adds the advisory (edited).")
        .send()
        .await
        .expect("update pull request");
    assert_eq!(edited.body.as_deref(), Some("Adds the advisory (edited)."));
    let issue = installation
        .issues("acme", "widget")
        .get(1)
        .await
        .expect("the pull request as an issue");
    assert!(issue.pull_request.is_some());

    assert_eq!(
        fake.file(REPO, branch, "CHANGELOG.md").as_deref(),
        Some("# Changelog\n\n- GHSA-abcd-1234-efgh\n")
    );
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());
}

/// octocrab makes `branch` from main's head and commits on it: an update of the CHANGELOG
/// (with its blob's sha) and a new file. Main's head.
async fn octocrab_commits_on_a_new_branch(
    repos: &octocrab::repos::RepoHandler<'_>,
    branch: &str,
) -> String {
    use octocrab::params::repos::Reference;
    let main = repos
        .get_ref(&Reference::Branch("main".to_owned()))
        .await
        .expect("main");
    let octocrab::models::repos::Object::Commit { sha: main_sha, .. } = main.object else {
        panic!("main points at a commit: {:?}", main.object);
    };
    let created = repos
        .create_ref(&Reference::Branch(branch.to_owned()), main_sha.clone())
        .await
        .expect("create ref");
    assert_eq!(created.ref_field, format!("refs/heads/{branch}"));
    let file = repos
        .get_content()
        .path("CHANGELOG.md")
        .r#ref(branch)
        .send()
        .await
        .expect("contents")
        .take_items()
        .remove(0);
    let update = repos
        .update_file(
            "CHANGELOG.md",
            "CHANGELOG: GHSA-abcd-1234-efgh",
            "# Changelog\n\n- GHSA-abcd-1234-efgh\n",
            file.sha,
        )
        .branch(branch)
        .send()
        .await
        .expect("update file");
    assert_eq!(update.content.path, "CHANGELOG.md");
    assert!(update.commit.sha.is_some());
    let create = repos
        .create_file("docs/security.md", "docs", "notes\n")
        .branch(branch)
        .send()
        .await
        .expect("create file");
    assert_eq!(create.content.name, "security.md");
    main_sha
}
