//! The fake GitHub in `tests/common/github.rs` behaves like GitHub's REST API: checked with
//! plain HTTP (reqwest) for the wire details and with octocrab, herald's client, for the
//! shapes its typed models expect.

mod common;

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
    let mut request = reqwest::Client::new()
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

    let app = call(&fake, "GET", "/app", &bearer, None, &[]).await;
    assert_eq!(app.status, 200, "{}", app.text);
    assert_eq!(app.json()["id"], APP_ID);
    assert_eq!(app.json()["slug"], "herald-test");
    assert_eq!(app.header("x-ratelimit-limit"), Some("5000"));
    assert!(app.header("x-ratelimit-reset").is_some());
    assert!(app.header("x-github-request-id").is_some());

    let string_iss =
        jwt_with(json!({ "iss": APP_ID.to_string(), "iat": now() - 60, "exp": now() + 540 }));
    let answer = call(
        &fake,
        "GET",
        "/app",
        &format!("Bearer {string_iss}"),
        None,
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "iss may be a string");

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
        let answer = call(&fake, "GET", "/app", authorization, None, &[]).await;
        assert_eq!(answer.status, 401, "{authorization:?} was accepted");
        assert_eq!(
            answer.json(),
            json!({
                "message": "A JSON web token could not be decoded",
                "documentation_url": "https://docs.github.com/rest",
            })
        );
    }

    let installations = call(&fake, "GET", "/app/installations", &bearer, None, &[]).await;
    assert_eq!(installations.status, 200);
    let installations = installations.json();
    assert_eq!(installations[0]["id"], INSTALLATION);
    assert_eq!(installations[0]["account"]["login"], "acme");
    assert_eq!(installations[0]["account"]["type"], "Organization");
    assert_eq!(installations[0]["app_id"], APP_ID);
    assert_eq!(installations[0]["target_type"], "Organization");
    assert_eq!(installations[0]["repository_selection"], "all");

    let path = format!("/app/installations/{INSTALLATION}/access_tokens");
    let first = call(&fake, "POST", &path, &bearer, None, &[]).await;
    let second = call(&fake, "POST", &path, &bearer, None, &[]).await;
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
    let with_token = call(&fake, "GET", "/app", &token, None, &[]).await;
    assert_eq!(
        with_token.status, 401,
        "an installation token is not an app JWT"
    );

    assert_eq!(fake.token_requests(), 2);
    assert!(fake.unexpected().is_empty());
}

#[tokio::test]
async fn other_routes_take_a_live_installation_token() {
    let fake = fake().await;
    fake.add_installation(8, "other");
    fake.add_repository("other/thing", false, 8);
    let token = token(&fake).await;

    let repo = call(&fake, "GET", "/repos/acme/widget", &token, None, &[]).await;
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
    let again = call(&fake, "GET", "/repos/acme/widget", &token, None, &[]).await;
    assert_eq!(again.remaining(), before - 1);
    let legacy = token.replacen("Bearer", "token", 1);
    let legacy = call(&fake, "GET", "/repos/acme/widget", &legacy, None, &[]).await;
    assert_eq!(legacy.status, 200, "the `token` scheme works too");

    let bad_credentials = json!({
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
    });
    for authorization in ["", "Bearer ghs_made_up", &format!("Bearer {}", jwt())] {
        let answer = call(&fake, "GET", "/repos/acme/widget", authorization, None, &[]).await;
        assert_eq!(answer.status, 401, "{authorization:?} was accepted");
        assert_eq!(answer.json(), bad_credentials);
        assert_eq!(answer.remaining(), legacy.remaining());
    }

    let unknown = call(&fake, "GET", "/repos/acme/nope", &token, None, &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["message"], "Not Found");
    let elsewhere = call(&fake, "GET", "/repos/other/thing", &token, None, &[]).await;
    assert_eq!(
        elsewhere.status, 404,
        "another installation's repository is invisible"
    );

    fake.expire_tokens();
    let expired = call(&fake, "GET", "/repos/acme/widget", &token, None, &[]).await;
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
        let answer = call(&fake, "GET", path, &token, None, &[]).await;
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

    let missing = call(
        &fake,
        "GET",
        "/repos/acme/widget/contents/nope.yml",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn issues_labels_and_comments_keep_state() {
    let fake = fake().await;
    let token = token(&fake).await;
    let issues = "/repos/acme/widget/issues";

    let created = call(
        &fake,
        "POST",
        issues,
        &token,
        Some(json!({
            "title": "GHSA-abcd-1234-efgh",
            "body": "tracking",
            "labels": ["security", "severity:high"],
            "assignees": ["alice"],
        })),
        &[],
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

    let untitled = call(
        &fake,
        "POST",
        issues,
        &token,
        Some(json!({ "body": "x" })),
        &[],
    )
    .await;
    assert_eq!(untitled.status, 422);
    assert_eq!(untitled.json()["errors"][0]["field"], "title");
    let mut garbled = reqwest::Client::new()
        .post(format!("{}{issues}", fake.url))
        .header("authorization", &token)
        .body("{not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(garbled.status(), 400);
    garbled = reqwest::Client::new()
        .get(format!("{}{issues}/abc", fake.url))
        .header("authorization", &token)
        .send()
        .await
        .expect("answer");
    assert_eq!(garbled.status(), 404);
    fake.open_issue(REPO, "mallory", "unrelated", "", &["question"]);
    call(
        &fake,
        "POST",
        issues,
        &token,
        Some(json!({ "title": "second", "labels": ["security"] })),
        &[],
    )
    .await;

    // Open by default, newest first, every label required, paged with a Link header.
    let listed = call(
        &fake,
        "GET",
        &format!("{issues}?labels=security,severity:high"),
        &token,
        None,
        &[],
    )
    .await;
    let numbers = |answer: &Answer| -> Vec<u64> {
        answer
            .json()
            .as_array()
            .expect("array")
            .iter()
            .map(|issue| issue["number"].as_u64().expect("number"))
            .collect()
    };
    assert_eq!(numbers(&listed), vec![1]);
    let all = call(
        &fake,
        "GET",
        &format!("{issues}?labels=security"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(numbers(&all), vec![3, 1]);
    let first_page = call(
        &fake,
        "GET",
        &format!("{issues}?per_page=2"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(numbers(&first_page), vec![3, 2]);
    let link = first_page.header("link").expect("Link header").to_owned();
    let next = format!("<{}{issues}?per_page=2&page=2>; rel=\"next\"", fake.url);
    assert!(link.contains(&next), "{link}");
    let second_page = call(
        &fake,
        "GET",
        &format!("{issues}?per_page=2&page=2"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(numbers(&second_page), vec![1]);
    assert!(
        second_page
            .header("link")
            .is_some_and(|link| !link.contains("rel=\"next\""))
    );

    let closed = call(
        &fake,
        "PATCH",
        &format!("{issues}/2"),
        &token,
        Some(json!({ "state": "closed" })),
        &[],
    )
    .await;
    assert_eq!(closed.status, 200);
    assert_eq!(closed.json()["state"], "closed");
    let open = call(&fake, "GET", issues, &token, None, &[]).await;
    assert_eq!(numbers(&open), vec![3, 1]);
    let closed = call(
        &fake,
        "GET",
        &format!("{issues}?state=closed"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(numbers(&closed), vec![2]);
    let got = call(&fake, "GET", &format!("{issues}/1"), &token, None, &[]).await;
    assert_eq!(got.json()["body"], "tracking");
    assert_eq!(
        call(&fake, "GET", &format!("{issues}/99"), &token, None, &[])
            .await
            .status,
        404
    );

    let labels = call(
        &fake,
        "POST",
        &format!("{issues}/1/labels"),
        &token,
        Some(json!({ "labels": ["security", "phase:assessment"] })),
        &[],
    )
    .await;
    assert_eq!(labels.status, 200);
    let names = |answer: &Answer| -> Vec<String> {
        answer
            .json()
            .as_array()
            .expect("array")
            .iter()
            .map(|label| label["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(
        names(&labels),
        ["security", "severity:high", "phase:assessment"]
    );
    let removed = call(
        &fake,
        "DELETE",
        &format!("{issues}/1/labels/severity%3Ahigh"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(removed.status, 200);
    assert_eq!(names(&removed), ["security", "phase:assessment"]);
    let absent = call(
        &fake,
        "DELETE",
        &format!("{issues}/1/labels/severity%3Ahigh"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(absent.status, 404);
    assert_eq!(
        fake.count("DELETE", "/repos/acme/widget/issues/1/labels/severity:high"),
        2
    );

    let comment = call(
        &fake,
        "POST",
        &format!("{issues}/1/comments"),
        &token,
        Some(json!({ "body": "Incident opened." })),
        &[],
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
    let edited = call(
        &fake,
        "PATCH",
        &format!("/repos/acme/widget/issues/comments/{id}"),
        &token,
        Some(json!({ "body": "Incident opened (edited)." })),
        &[],
    )
    .await;
    assert_eq!(
        (edited.status, edited.json()["body"].clone()),
        (200, json!("Incident opened (edited)."))
    );
    let human = fake.add_comment(REPO, 1, "alice", "/herald severity critical");
    let comments = call(
        &fake,
        "GET",
        &format!("{issues}/1/comments?per_page=1&page=2"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(comments.json()[0]["id"], human);
    assert_eq!(comments.json()[0]["user"]["type"], "User");
    assert_eq!(
        call(&fake, "GET", &format!("{issues}/1"), &token, None, &[])
            .await
            .json()["comments"],
        2
    );

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
        let answer = call(&fake, "GET", &path, &token, None, &[]).await;
        assert_eq!(answer.status, 200);
        let body = answer.json();
        assert_eq!(body["permission"], permission, "{role}");
        assert_eq!(body["role_name"], role);
        assert_eq!(body["user"]["login"], login.as_str());
    }
    let stranger = call(
        &fake,
        "GET",
        "/repos/acme/widget/collaborators/eve/permission",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(stranger.json()["permission"], "none");
}

#[tokio::test]
async fn advisories_list_with_etag_and_cve_requests() {
    let fake = fake().await;
    let token = token(&fake).await;
    let advisory = |ghsa: &str, updated: &str, cve: Value| {
        json!({
            "ghsa_id": ghsa,
            "cve_id": cve,
            "summary": format!("{ghsa} summary"),
            "state": "triage",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": updated,
        })
    };
    fake.put_advisory(
        REPO,
        advisory("GHSA-aaaa-aaaa-aaaa", "2024-02-01T00:00:00Z", Value::Null),
    );
    fake.put_advisory(
        REPO,
        advisory(
            "GHSA-bbbb-bbbb-bbbb",
            "2024-03-01T00:00:00Z",
            json!("CVE-2024-0001"),
        ),
    );
    let list = "/repos/acme/widget/security-advisories?sort=updated&direction=desc&per_page=100";

    let first = call(&fake, "GET", list, &token, None, &[]).await;
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

    let unchanged = call(
        &fake,
        "GET",
        list,
        &token,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.text.is_empty());
    assert_eq!(unchanged.remaining(), first.remaining(), "a 304 is free");

    fake.put_advisory(
        REPO,
        advisory("GHSA-aaaa-aaaa-aaaa", "2024-04-01T00:00:00Z", Value::Null),
    );
    let changed = call(
        &fake,
        "GET",
        list,
        &token,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert_eq!(changed.json()[0]["ghsa_id"], "GHSA-aaaa-aaaa-aaaa");
    let published = call(
        &fake,
        "GET",
        "/repos/acme/widget/security-advisories?state=published",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(published.json(), json!([]));

    let cve = |ghsa: &str| format!("/repos/acme/widget/security-advisories/{ghsa}/cve");
    let requested = call(
        &fake,
        "POST",
        &cve("GHSA-aaaa-aaaa-aaaa"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!((requested.status, requested.json()), (202, json!({})));
    let has_cve = call(
        &fake,
        "POST",
        &cve("GHSA-bbbb-bbbb-bbbb"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(has_cve.status, 422);
    assert!(has_cve.json()["message"].is_string());
    let unknown = call(
        &fake,
        "POST",
        &cve("GHSA-zzzz-zzzz-zzzz"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(fake.cve_requests(), ["GHSA-aaaa-aaaa-aaaa"]);
}

#[tokio::test]
async fn failures_are_injected_once_and_unknown_routes_recorded() {
    let fake = fake().await;
    let token = token(&fake).await;

    fake.fail_next("GET", "/repos/acme/widget", 403, Some(30));
    fake.fail_next("GET", "/repos/acme/widget", 502, None);
    let limited = call(&fake, "GET", "/repos/acme/widget", &token, None, &[]).await;
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("retry-after"), Some("30"));
    let message = limited.json()["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(message.contains("secondary rate limit"), "{message}");
    let failed = call(&fake, "GET", "/repos/acme/widget", &token, None, &[]).await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.header("retry-after"), None);
    let recovered = call(&fake, "GET", "/repos/acme/widget", &token, None, &[]).await;
    assert_eq!(recovered.status, 200);
    assert_eq!(fake.count("GET", "/repos/acme/widget"), 3);

    let pulls = call(
        &fake,
        "GET",
        "/repos/acme/widget/pulls?state=open",
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(
        (pulls.status, pulls.json()["message"].clone()),
        (404, json!("Not Found"))
    );
    call(&fake, "DELETE", "/repos/acme/widget", &token, None, &[]).await;
    call(
        &fake,
        "PUT",
        "/repos/acme/widget/issues/1/labels",
        &token,
        Some(json!(["x"])),
        &[],
    )
    .await;
    assert_eq!(
        fake.unexpected(),
        [
            "GET /repos/acme/widget/pulls",
            "DELETE /repos/acme/widget",
            "PUT /repos/acme/widget/issues/1/labels",
        ]
    );

    let requests = fake.requests();
    let last = requests.last().expect("recorded");
    assert_eq!(last.method, "PUT");
    assert_eq!(last.body, Some(json!(["x"])));
    assert_eq!(last.status, 404);
    let pulls = &requests[requests.len() - 3];
    assert_eq!(pulls.query.as_deref(), Some("state=open"));
}

/// herald's client deserialises the fake's answers into its typed models.
#[tokio::test]
async fn octocrab_understands_the_fake() {
    use octocrab::models::{AppId, InstallationId};

    let fake = fake().await;
    fake.put_file(REPO, ".github/herald.yml", "severity_labels: true\n");
    let key = octocrab::EncodingKey::from_rsa_pem(pem("app-private-key.pem").as_bytes())
        .expect("RSA key");
    let app = octocrab::Octocrab::builder()
        .base_uri(fake.url.as_str())
        .expect("base URI")
        .app(AppId(APP_ID), key)
        .build()
        .expect("octocrab");

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

    assert_eq!(
        fake.token_requests(),
        1,
        "octocrab caches the installation token"
    );
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());
}
