//! Issues, labels, assignees and comments (pull requests share the issues' numbers).

use super::*;

pub(super) fn list_issues(base: &str, repo: &Repo, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let state = query.get("state").map_or("open", String::as_str);
    if !matches!(state, "open" | "closed" | "all") {
        return Err(Reply::invalid("Issue", "state", "invalid"));
    }
    let wanted: Vec<&str> = query
        .get("labels")
        .map(|labels| {
            labels
                .split(',')
                .map(str::trim)
                .filter(|label| !label.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut issues: Vec<&Issue> = repo
        .issues
        .iter()
        .filter(|issue| state == "all" || issue.state == state)
        .filter(|issue| {
            wanted.iter().all(|wanted| {
                issue
                    .labels
                    .iter()
                    .any(|label| label.eq_ignore_ascii_case(wanted))
            })
        })
        .collect();
    // GitHub's defaults: newest first by creation.
    match query.get("sort").map_or("created", String::as_str) {
        "created" => issues.sort_by_key(|issue| (issue.created_at, issue.number)),
        "updated" => issues.sort_by_key(|issue| (issue.updated_at, issue.number)),
        "comments" => issues.sort_by_key(|issue| {
            let comments = repo
                .comments
                .iter()
                .filter(|c| c.issue == issue.number)
                .count();
            (comments, issue.number)
        }),
        _ => return Err(Reply::invalid("Issue", "sort", "invalid")),
    }
    if descending(&query)? {
        issues.reverse();
    }
    let issues = issues
        .into_iter()
        .map(|issue| issue_json(base, repo, issue))
        .collect();
    paginate(ctx, &query, issues)
}

pub(super) fn create_issue(base: &str, repo: &mut Repo, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let title = match body.get("title") {
        None | Some(Value::Null) => return Err(Reply::invalid("Issue", "title", "missing_field")),
        Some(Value::String(title)) if !title.is_empty() => title.clone(),
        Some(Value::Number(title)) => title.to_string(),
        Some(_) => return Err(Reply::invalid("Issue", "title", "invalid")),
    };
    let text = optional_string(&body, "Issue", "body")?;
    within_limits(&title, text.as_deref())?;
    let labels = names(&body, "Issue", "labels")?.unwrap_or_default();
    let mut assignees = names(&body, "Issue", "assignees")?.unwrap_or_default();
    if let Some(assignee) = optional_string(&body, "Issue", "assignee")? {
        assignees.insert(0, assignee);
    }
    let number = repo.open_issue(BOT_LOGIN, title, text, labels, dedup(assignees));
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    Ok(Reply::created(issue_json(base, repo, &repo.issues[index])))
}

/// GitHub's limits on issue and pull request titles (256) and bodies (65,536 characters).
pub(super) fn within_limits(title: &str, body: Option<&str>) -> Result<(), Reply> {
    if title.chars().count() > 256 {
        return Err(Reply::custom_invalid(
            "title is too long (maximum is 256 characters)",
        ));
    }
    if body.is_some_and(|body| body.chars().count() > 65_536) {
        return Err(Reply::custom_invalid(
            "body is too long (maximum is 65536 characters)",
        ));
    }
    Ok(())
}

pub(super) fn update_issue(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    // Validate everything before changing anything, as GitHub does.
    let Edit { title, text, state } = edit(&body, "Issue")?;
    let state_reason = optional_string(&body, "Issue", "state_reason")?;
    if state_reason.as_deref().is_some_and(|reason| {
        !matches!(
            reason,
            "completed" | "not_planned" | "reopened" | "duplicate"
        )
    }) {
        return Err(Reply::invalid("Issue", "state_reason", "invalid"));
    }
    let labels = names(&body, "Issue", "labels")?.map(|labels| repo.labels_for(labels));
    let assignees = names(&body, "Issue", "assignees")?;

    let now = Utc::now();
    let issue = &mut repo.issues[index];
    if let Some(title) = title {
        issue.title = title;
    }
    if let Some(text) = text {
        issue.body = text;
    }
    match state.as_deref() {
        Some("closed") if issue.state != "closed" => {
            issue.state = "closed".to_owned();
            issue.closed_at = Some(now);
            issue.state_reason = Some(state_reason.unwrap_or_else(|| "completed".to_owned()));
        }
        Some("open") if issue.state != "open" => {
            issue.state = "open".to_owned();
            issue.closed_at = None;
            issue.state_reason = Some("reopened".to_owned());
        }
        _ => {}
    }
    if let Some(labels) = labels {
        issue.labels = labels;
    }
    if let Some(assignees) = assignees {
        issue.assignees = dedup(assignees);
    }
    issue.updated_at = now;
    Ok(Reply::ok(issue_json(base, repo, &repo.issues[index])))
}

pub(super) fn add_labels(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    // GitHub takes `{"labels": [...]}` or a bare array, of names or `{"name": ..}` objects.
    let wanted = match ctx.value()? {
        Value::Object(body) => names(&body, "Label", "labels")?.unwrap_or_default(),
        Value::Array(labels) => {
            label_names(&labels).ok_or_else(|| Reply::invalid("Label", "labels", "invalid"))?
        }
        _ => return Err(Reply::invalid("Label", "labels", "invalid")),
    };
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let mut labels = repo.issues[index].labels.clone();
    labels.extend(wanted);
    let labels = repo.labels_for(labels);
    let issue = &mut repo.issues[index];
    issue.labels = labels;
    issue.updated_at = Utc::now();
    Ok(Reply::ok(labels_json(
        base,
        repo,
        &repo.issues[index].labels,
    )))
}

/// `POST …/issues/{n}/assignees`: adds people (GitHub answers 201 with the issue).
pub(super) fn add_assignees(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let Value::Object(body) = ctx.value()? else {
        return Err(Reply::invalid("Issue", "assignees", "invalid"));
    };
    let wanted = names(&body, "Issue", "assignees")?.unwrap_or_default();
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let issue = &mut repo.issues[index];
    let mut assignees = issue.assignees.clone();
    assignees.extend(wanted);
    issue.assignees = dedup(assignees);
    issue.updated_at = Utc::now();
    Ok(Reply::created(issue_json(base, repo, &repo.issues[index])))
}

pub(super) fn remove_label(base: &str, repo: &mut Repo, number: u64, label: &str) -> Answer {
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let issue = &mut repo.issues[index];
    let position = issue
        .labels
        .iter()
        .position(|name| name.eq_ignore_ascii_case(label))
        .ok_or_else(|| Reply::message(StatusCode::NOT_FOUND, "Label does not exist"))?;
    issue.labels.remove(position);
    issue.updated_at = Utc::now();
    Ok(Reply::ok(labels_json(
        base,
        repo,
        &repo.issues[index].labels,
    )))
}

pub(super) fn list_comments(base: &str, repo: &Repo, number: u64, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let issue = &repo.issues[index];
    let comments = repo
        .comments
        .iter()
        .filter(|comment| comment.issue == number)
        .map(|comment| comment_json(base, repo, issue, comment))
        .collect();
    paginate(ctx, &query, comments)
}

pub(super) fn create_comment(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let text = optional_string(&body, "IssueComment", "body")?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| Reply::invalid("IssueComment", "body", "missing_field"))?;
    let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
    let id = repo.add_comment(number, BOT_LOGIN, text);
    let comment = repo
        .comments
        .iter()
        .find(|comment| comment.id == id)
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::created(comment_json(
        base,
        repo,
        &repo.issues[index],
        comment,
    )))
}

pub(super) fn update_comment(base: &str, repo: &mut Repo, id: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let text = optional_string(&body, "IssueComment", "body")?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| Reply::invalid("IssueComment", "body", "missing_field"))?;
    let comment = repo
        .comments
        .iter_mut()
        .find(|comment| comment.id == id)
        .ok_or_else(Reply::not_found)?;
    comment.body = text;
    comment.updated_at = Utc::now();
    let comment = repo
        .comments
        .iter()
        .find(|comment| comment.id == id)
        .ok_or_else(Reply::not_found)?;
    let index = repo
        .issue_index(comment.issue)
        .ok_or_else(Reply::not_found)?;
    Ok(Reply::ok(comment_json(
        base,
        repo,
        &repo.issues[index],
        comment,
    )))
}

pub(super) fn labels_json(base: &str, repo: &Repo, names: &[String]) -> Value {
    let full_name = repo.full_name();
    Value::Array(
        names
            .iter()
            .map(|name| {
                let id = repo
                    .labels
                    .iter()
                    .find(|(known, _)| known == name)
                    .map_or(0, |(_, id)| *id);
                let encoded: String = name
                    .bytes()
                    .map(|byte| {
                        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                            char::from(byte).to_string()
                        } else {
                            format!("%{byte:02X}")
                        }
                    })
                    .collect();
                json!({
                    "id": id,
                    "node_id": format!("LA_fake{id}"),
                    "url": format!("{base}/repos/{full_name}/labels/{encoded}"),
                    "name": name,
                    "description": null,
                    "color": "ededed",
                    "default": false,
                })
            })
            .collect(),
    )
}

pub(super) fn issue_json(base: &str, repo: &Repo, issue: &Issue) -> Value {
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}/issues/{}", issue.number);
    let assignees: Vec<Value> = issue
        .assignees
        .iter()
        .map(|login| person_or_bot(base, login))
        .collect();
    let comments = repo
        .comments
        .iter()
        .filter(|comment| comment.issue == issue.number)
        .count();
    // A pull request seen through the issues API says so, and lives at `/pull/N`.
    let kind = if issue.pull.is_some() {
        "pull"
    } else {
        "issues"
    };
    let html_url = format!("https://github.com/{full_name}/{kind}/{}", issue.number);
    let mut value = json!({
        "id": issue.id,
        "node_id": format!("I_fake{}", issue.id),
        "url": api,
        "repository_url": format!("{base}/repos/{full_name}"),
        "labels_url": format!("{api}/labels{{/name}}"),
        "comments_url": format!("{api}/comments"),
        "events_url": format!("{api}/events"),
        "html_url": html_url,
        "number": issue.number,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "title": issue.title,
        "body": issue.body,
        "user": person_or_bot(base, &issue.user),
        "labels": labels_json(base, repo, &issue.labels),
        "assignee": assignees.first(),
        "assignees": assignees,
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": comments,
        "closed_at": issue.closed_at.map(timestamp),
        "closed_by": null,
        "author_association": "NONE",
        "created_at": timestamp(issue.created_at),
        "updated_at": timestamp(issue.updated_at),
    });
    if let Some(pull) = &issue.pull {
        value["draft"] = json!(pull.draft);
        value["pull_request"] = json!({
            "url": format!("{base}/repos/{full_name}/pulls/{}", issue.number),
            "html_url": html_url,
            "diff_url": format!("{html_url}.diff"),
            "patch_url": format!("{html_url}.patch"),
            "merged_at": null,
        });
    }
    value
}

pub(super) fn comment_json(base: &str, repo: &Repo, issue: &Issue, comment: &Comment) -> Value {
    let full_name = repo.full_name();
    json!({
        "id": comment.id,
        "node_id": format!("IC_fake{}", comment.id),
        "url": format!("{base}/repos/{full_name}/issues/comments/{}", comment.id),
        "html_url": format!(
            "https://github.com/{full_name}/issues/{}#issuecomment-{}",
            issue.number, comment.id
        ),
        "issue_url": format!("{base}/repos/{full_name}/issues/{}", issue.number),
        "body": comment.body,
        "user": person_or_bot(base, &comment.user),
        "author_association": "NONE",
        "created_at": timestamp(comment.created_at),
        "updated_at": timestamp(comment.updated_at),
    })
}
