//! Repository security advisories: the paginated list and updates (publication).

use super::*;

/// `PATCH .../security-advisories/{ghsa_id}`: the fields given replace the stored ones;
/// publishing stamps `published_at`, as GitHub does.
pub(super) fn update_advisory(repo: &mut Repo, ghsa_id: &str, ctx: &Ctx) -> Answer {
    let changes = ctx.object()?;
    if let Some(state) = changes.get("state").and_then(Value::as_str)
        && !["published", "closed", "draft", "triage"].contains(&state)
    {
        return Err(Reply::invalid("RepositoryAdvisory", "state", "invalid"));
    }
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let advisory = repo
        .advisories
        .iter_mut()
        .find(|advisory| advisory["ghsa_id"] == *ghsa_id)
        .ok_or_else(Reply::not_found)?;
    for (key, value) in changes {
        advisory[key.as_str()] = value.clone();
    }
    if advisory["state"] == "published" && advisory["published_at"].is_null() {
        advisory["published_at"] = now.clone().into();
    }
    advisory["updated_at"] = now.into();
    let answer = advisory.clone();
    repo.advisories_version += 1;
    Ok(Reply::ok(answer))
}

/// GitHub's ecosystems for an advisory's affected package.
const ECOSYSTEMS: [&str; 12] = [
    "rubygems", "npm", "pip", "maven", "nuget", "composer", "go", "rust", "erlang", "actions",
    "pub", "other",
];

/// `POST /repos/{owner}/{repo}/security-advisories`: a draft advisory, with the required
/// summary (at most 1024 characters), description and affected products, each with an
/// ecosystem GitHub knows. Answers 201 with the advisory, `author` the App's bot.
pub(super) fn create_advisory(repo: &mut Repo, ctx: &Ctx, bot: &str) -> Answer {
    let body = ctx.object()?;
    let text = |field: &str| {
        body.get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Reply::invalid("RepositoryAdvisory", field, "missing_field"))
    };
    let (summary, description) = (text("summary")?, text("description")?);
    if summary.chars().count() > 1024 {
        return Err(Reply::invalid("RepositoryAdvisory", "summary", "invalid"));
    }
    let vulnerabilities = body
        .get("vulnerabilities")
        .and_then(Value::as_array)
        .ok_or_else(|| Reply::invalid("RepositoryAdvisory", "vulnerabilities", "missing_field"))?;
    let known = |vulnerability: &Value| {
        vulnerability["package"]["ecosystem"]
            .as_str()
            .is_some_and(|ecosystem| ECOSYSTEMS.contains(&ecosystem))
    };
    if !vulnerabilities.iter().all(known) {
        return Err(Reply::invalid(
            "RepositoryAdvisory",
            "vulnerabilities",
            "invalid",
        ));
    }
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let ghsa_id = format!("GHSA-m{:03}-xxxx-xxxx", repo.advisories.len() + 1);
    let full_name = repo.full_name();
    let advisory = serde_json::json!({
        "ghsa_id": ghsa_id,
        "cve_id": null,
        "url": format!("https://api.github.com/repos/{full_name}/security-advisories/{ghsa_id}"),
        "html_url": format!("https://github.com/{full_name}/security/advisories/{ghsa_id}"),
        "summary": summary,
        "description": description,
        "severity": null,
        "author": { "login": bot, "type": "Bot" },
        "publisher": null,
        "identifiers": [{ "type": "GHSA", "value": ghsa_id }],
        "state": "draft",
        "created_at": now,
        "updated_at": now,
        "published_at": null,
        "closed_at": null,
        "withdrawn_at": null,
        "submission": null,
        "vulnerabilities": vulnerabilities,
        "cvss": null,
        "cvss_severities": null,
        "cwes": [],
        "cwe_ids": [],
        "credits": [],
        "credits_detailed": [],
        "collaborating_users": null,
        "collaborating_teams": null,
        "private_fork": null,
    });
    repo.advisories.push(advisory.clone());
    repo.advisories_version += 1;
    Ok(Reply::created(advisory))
}

/// `GET /repos/{owner}/{repo}/security-advisories`.
pub(super) fn list_repo_advisories(base: &str, repo: &Repo, ctx: &Ctx) -> Answer {
    let path = format!("/repos/{}/security-advisories", repo.full_name());
    let advisories = repo.advisories.iter().collect();
    list_advisories(base, &path, advisories, repo.advisories_version, ctx)
}

/// `GET /orgs/{org}/security-advisories`: every advisory of the organisation's repositories
/// the installation can see, in one list. GitHub's advisories name their repository only
/// in their `url`, which the fake gives each as its repository's.
pub(super) fn list_org_advisories(
    world: &World,
    installation: u64,
    org: &str,
    ctx: &Ctx,
) -> Answer {
    let repos: Vec<&Repo> = world
        .repos
        .values()
        .filter(|repo| repo.owner.eq_ignore_ascii_case(org) && repo.installation_id == installation)
        .collect();
    if repos.is_empty() {
        return Err(Reply::not_found());
    }
    let base = &world.base;
    let advisories: Vec<Value> = repos
        .iter()
        .flat_map(|repo| {
            repo.advisories.iter().map(|advisory| {
                let mut advisory = advisory.clone();
                let ghsa_id = advisory["ghsa_id"].as_str().unwrap_or_default().to_owned();
                advisory["url"] = format!(
                    "{base}/repos/{}/security-advisories/{ghsa_id}",
                    repo.full_name()
                )
                .into();
                advisory
            })
        })
        .collect();
    let version = repos.iter().map(|repo| repo.advisories_version).sum();
    let path = format!("/orgs/{org}/security-advisories");
    list_advisories(base, &path, advisories.iter().collect(), version, ctx)
}

/// GitHub pages these lists with cursors: `after` names where the next page starts, and a
/// `Link: <…>; rel="next"` header leads there while more remain.
fn list_advisories(
    base: &str,
    path: &str,
    advisories: Vec<&Value>,
    version: u64,
    ctx: &Ctx,
) -> Answer {
    let query = ctx.query()?;
    let state = query.get("state").map(String::as_str);
    if state.is_some_and(|state| !matches!(state, "triage" | "draft" | "published" | "closed")) {
        return Err(Reply::invalid("RepositoryAdvisory", "state", "invalid"));
    }
    // GitHub sorts by `created` unless told otherwise; RFC 3339 in UTC orders as text.
    let field = match query.get("sort").map_or("created", String::as_str) {
        "created" => "created_at",
        "updated" => "updated_at",
        "published" => "published_at",
        _ => return Err(Reply::invalid("RepositoryAdvisory", "sort", "invalid")),
    };
    let mut advisories: Vec<&Value> = advisories
        .into_iter()
        .filter(|advisory| state.is_none_or(|state| advisory["state"] == state))
        .collect();
    advisories.sort_by_key(|advisory| advisory[field].as_str().and_then(parse_time));
    if descending(&query)? {
        advisories.reverse();
    }
    let per_page = number_param(&query, "per_page", 30)?.clamp(1, 100);
    let start = match query.get("after") {
        Some(cursor) => {
            advisories
                .iter()
                .position(|advisory| advisory["ghsa_id"] == cursor.as_str())
                .ok_or_else(|| Reply::invalid("RepositoryAdvisory", "after", "invalid"))?
                + 1
        }
        None => 0,
    };
    let more = advisories.len() > start + per_page;
    let page: Vec<Value> = advisories
        .into_iter()
        .skip(start)
        .take(per_page)
        .cloned()
        .collect();
    let next = more
        .then(|| page.last().and_then(|last| last["ghsa_id"].as_str()))
        .flatten()
        .map(|cursor| {
            let mut params: Vec<String> = query
                .iter()
                .filter(|(name, _)| name.as_str() != "after")
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            params.sort();
            params.push(format!("after={cursor}"));
            format!("<{base}{path}?{}>; rel=\"next\"", params.join("&"))
        });
    let reply = conditional(Reply::ok(Value::Array(page)), ctx.headers, version);
    Ok(match next {
        Some(link) => reply.header(header::LINK, link),
        None => reply,
    })
}

impl World {
    /// `POST …/security-advisories/{ghsa_id}/forks`: GitHub answers 202 with the temporary
    /// private fork (`<repo>-<ghsa id>`, private) and creates it asynchronously: the first
    /// `fork_delay` reads of the new repository answer 404.
    pub(super) fn create_private_fork(
        &mut self,
        base: &str,
        installation: u64,
        (owner, name): (&str, &str),
        ghsa_id: &str,
    ) -> Answer {
        let repo = self.repo(installation, owner, name)?;
        let advisory = repo.advisory(ghsa_id)?;
        if !matches!(advisory["state"].as_str(), Some("draft" | "triage")) {
            return Err(Reply::custom_invalid(
                "A temporary private fork can only be created for a draft or triage advisory.",
            ));
        }
        let (owner, fork_name) = (
            repo.owner.clone(),
            format!("{}-{}", repo.name, ghsa_id.to_ascii_lowercase()),
        );
        let full_name = format!("{owner}/{fork_name}");
        let key = full_name.to_ascii_lowercase();
        if !self.repos.contains_key(&key) {
            self.repos.insert(
                key.clone(),
                Repo::new(&owner, &fork_name, true, installation),
            );
            self.forks_in_creation.insert(key.clone(), self.fork_delay);
        }
        Ok(Reply::json(
            StatusCode::ACCEPTED,
            repo_json(base, &self.repos[&key]),
        ))
    }
}
