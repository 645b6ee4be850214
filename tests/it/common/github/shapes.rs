//! GitHub's JSON shapes shared by several resources: users, bots, the App, installations,
//! repositories, permissions, timestamps.

use super::*;

pub(super) fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A stable fake id for a login, so the same user always looks the same.
pub(super) fn user_id(login: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    login.to_ascii_lowercase().hash(&mut hasher);
    hasher.finish() % 100_000_000 + 1
}

/// GitHub's "simple user", with every field octocrab's `Author` requires.
pub(super) fn user_json(base: &str, login: &str, kind: &str) -> Value {
    let id = user_id(login);
    let api = format!(
        "{base}/users/{}",
        login.replace('[', "%5B").replace(']', "%5D")
    );
    let html_login = login
        .strip_suffix("[bot]")
        .map_or(login.to_owned(), |app| format!("apps/{app}"));
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("https://github.com/{html_login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// Bots are the `[bot]` logins; everyone else here is a person.
pub(super) fn person_or_bot(base: &str, login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    user_json(base, login, kind)
}

pub(super) fn token_permissions() -> Value {
    json!({
        "issues": "write",
        "contents": "write",
        "repository_advisories": "write",
        "metadata": "read",
    })
}

pub(super) fn app_json(base: &str, app_id: u64) -> Value {
    json!({
        "id": app_id,
        "slug": APP_SLUG,
        "node_id": format!("MDM6QXBw{app_id}"),
        "client_id": format!("Iv1.fake{app_id}"),
        "owner": user_json(base, APP_OWNER, "Organization"),
        "name": APP_NAME,
        "description": "herald in integration tests",
        "external_url": "https://github.com/herald-dev/herald",
        "html_url": format!("https://github.com/apps/{APP_SLUG}"),
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "permissions": token_permissions(),
        "events": ["issue_comment", "issues", "repository_advisory"],
        "installations_count": 1,
    })
}

pub(super) fn installation_json(base: &str, app_id: u64, id: u64, account: &str) -> Value {
    let account_json = user_json(base, account, "Organization");
    json!({
        "id": id,
        "account": account_json,
        "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("https://github.com/organizations/{account}/settings/installations/{id}"),
        "app_id": app_id,
        "app_slug": APP_SLUG,
        "target_id": account_json["id"],
        "target_type": "Organization",
        "permissions": token_permissions(),
        "events": ["issue_comment", "issues", "repository_advisory"],
        "repository_selection": "all",
        "single_file_name": null,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "suspended_at": null,
    })
}

pub(super) fn repo_json(base: &str, repo: &Repo) -> Value {
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}");
    json!({
        "id": repo.id,
        "node_id": format!("R_fake{}", repo.id),
        "name": repo.name,
        "full_name": full_name,
        "private": repo.private,
        "visibility": match (repo.internal, repo.private) {
            (true, _) => "internal",
            (false, true) => "private",
            (false, false) => "public",
        },
        "owner": user_json(base, &repo.owner, "Organization"),
        "html_url": format!("https://github.com/{full_name}"),
        "description": null,
        "fork": false,
        "url": api,
        "issues_url": format!("{api}/issues{{/number}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "default_branch": repo.default_branch,
        "archived": false,
        "disabled": false,
        "has_issues": true,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.created_at),
        "pushed_at": timestamp(repo.created_at),
    })
}

/// GitHub's legacy `permission` folds maintain into write and triage into read; `role_name`
/// keeps the finer role.
pub(super) fn permission_json(base: &str, repo: &Repo, login: &str) -> Value {
    let role = repo
        .roles
        .get(&login.to_ascii_lowercase())
        .map_or("none", String::as_str);
    let permission = match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    let rank = ROLES
        .iter()
        .position(|known| *known == role)
        .unwrap_or(ROLES.len());
    // ROLES runs from most to least: admin, maintain, write, triage, read, none.
    let mut user = person_or_bot(base, login);
    user["permissions"] = json!({
        "admin": rank == 0,
        "maintain": rank <= 1,
        "push": rank <= 2,
        "triage": rank <= 3,
        "pull": rank <= 4,
    });
    user["role_name"] = json!(role);
    json!({ "permission": permission, "role_name": role, "user": user })
}
