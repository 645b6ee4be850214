//! Pull requests: listing by head branch, opening, editing.

use super::*;

pub(super) fn list_pulls(base: &str, repo: &Repo, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let state = query.get("state").map_or("open", String::as_str);
    if !matches!(state, "open" | "closed" | "all") {
        return Err(Reply::invalid("PullRequest", "state", "invalid"));
    }
    // GitHub wants `owner:branch`; a bare branch name filters nothing (a classic surprise),
    // and neither does it here.
    let head = query
        .get("head")
        .and_then(|head| head.split_once(':'))
        .map(|(owner, branch)| (owner.to_owned(), branch.to_owned()));
    let base_branch = query.get("base");
    let mut pulls: Vec<&Issue> = repo
        .issues
        .iter()
        .filter(|issue| {
            let Some(pull) = &issue.pull else {
                return false;
            };
            (state == "all" || issue.state == state)
                && head.as_ref().is_none_or(|(owner, branch)| {
                    owner.eq_ignore_ascii_case(&repo.owner) && pull.head == *branch
                })
                && base_branch.is_none_or(|base| pull.base == *base)
        })
        .collect();
    let sort = query.get("sort").map_or("created", String::as_str);
    match sort {
        "created" | "popularity" => pulls.sort_by_key(|issue| (issue.created_at, issue.number)),
        "updated" => pulls.sort_by_key(|issue| (issue.updated_at, issue.number)),
        "long-running" => pulls.sort_by_key(|issue| (issue.created_at, issue.number)),
        _ => return Err(Reply::invalid("PullRequest", "sort", "invalid")),
    }
    // Newest first when sorting by creation, else oldest first, unless told otherwise.
    let descending = match query.get("direction").map(String::as_str) {
        None => sort == "created",
        Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(Reply::invalid("PullRequest", "direction", "invalid")),
    };
    if descending {
        pulls.reverse();
    }
    let pulls = pulls
        .into_iter()
        .map(|issue| pull_json(base, repo, issue))
        .collect();
    paginate(ctx, &query, pulls)
}

pub(super) fn create_pull(base: &str, repo: &mut Repo, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let title = match body.get("title") {
        None | Some(Value::Null) => {
            return Err(Reply::invalid("PullRequest", "title", "missing_field"));
        }
        Some(Value::String(title)) if !title.is_empty() => title.clone(),
        Some(_) => return Err(Reply::invalid("PullRequest", "title", "invalid")),
    };
    let head = optional_string(&body, "PullRequest", "head")?
        .ok_or_else(|| Reply::invalid("PullRequest", "head", "missing_field"))?;
    let base_branch = optional_string(&body, "PullRequest", "base")?
        .ok_or_else(|| Reply::invalid("PullRequest", "base", "missing_field"))?;
    let text = optional_string(&body, "PullRequest", "body")?;
    within_limits(&title, text.as_deref())?;
    let draft = match body.get("draft") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(draft)) => *draft,
        Some(_) => return Err(Reply::invalid("PullRequest", "draft", "invalid")),
    };
    // `owner:branch` or just `branch`; the fake has no forks, so the owner must be the
    // repository's.
    let head_branch = match head.split_once(':') {
        Some((owner, branch)) if owner.eq_ignore_ascii_case(&repo.owner) => branch.to_owned(),
        Some(_) => return Err(Reply::invalid("PullRequest", "head", "invalid")),
        None => head.clone(),
    };
    if !repo.branches.contains_key(&base_branch) {
        return Err(Reply::invalid("PullRequest", "base", "invalid"));
    }
    if !repo.branches.contains_key(&head_branch) {
        return Err(Reply::invalid("PullRequest", "head", "invalid"));
    }
    if repo.open_pull_for(&head_branch, &base_branch, None) {
        return Err(Reply::custom_invalid(&format!(
            "A pull request already exists for {}:{head_branch}.",
            repo.owner
        )));
    }
    if repo.commits_between(&base_branch, &head_branch) == 0 {
        return Err(Reply::custom_invalid(&format!(
            "No commits between {base_branch} and {head_branch}"
        )));
    }
    let number = repo.open_pull(title, text, head_branch, base_branch, draft);
    let index = repo.pull_index(number).ok_or_else(Reply::not_found)?;
    Ok(Reply::created(pull_json(base, repo, &repo.issues[index])))
}

pub(super) fn update_pull(base: &str, repo: &mut Repo, number: u64, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let index = repo.pull_index(number).ok_or_else(Reply::not_found)?;
    // Validate everything before changing anything, as GitHub does.
    let Edit { title, text, state } = edit(&body, "PullRequest")?;
    let new_base = optional_string(&body, "PullRequest", "base")?;
    if new_base
        .as_ref()
        .is_some_and(|branch| !repo.branches.contains_key(branch))
    {
        return Err(Reply::invalid("PullRequest", "base", "invalid"));
    }
    let (head, old_base) = match &repo.issues[index].pull {
        Some(pull) => (pull.head.clone(), pull.base.clone()),
        None => return Err(Reply::not_found()),
    };
    let base_branch = new_base.clone().unwrap_or(old_base);
    let open_after = state
        .as_deref()
        .map_or(repo.issues[index].state == "open", |state| state == "open");
    if open_after && repo.open_pull_for(&head, &base_branch, Some(number)) {
        return Err(Reply::custom_invalid(&format!(
            "A pull request already exists for {}:{head}.",
            repo.owner
        )));
    }

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
        }
        Some("open") if issue.state != "open" => {
            issue.state = "open".to_owned();
            issue.closed_at = None;
        }
        _ => {}
    }
    if let (Some(pull), Some(new_base)) = (&mut issue.pull, new_base) {
        pull.base = new_base;
    }
    issue.updated_at = now;
    Ok(Reply::ok(pull_json(base, repo, &repo.issues[index])))
}

/// One side of a pull request (`head` or `base`).
pub(super) fn pull_side_json(base: &str, repo: &Repo, branch: &str) -> Value {
    json!({
        "label": format!("{}:{branch}", repo.owner),
        "ref": branch,
        "sha": repo.branches.get(branch).cloned().unwrap_or_default(),
        "user": user_json(base, &repo.owner, "Organization"),
        "repo": repo_json(base, repo),
    })
}

/// GitHub's pull request; `issue.pull` must be set.
pub(super) fn pull_json(base: &str, repo: &Repo, issue: &Issue) -> Value {
    let Some(pull) = &issue.pull else {
        return Value::Null;
    };
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}");
    let url = format!("{api}/pulls/{}", issue.number);
    let html_url = format!("https://github.com/{full_name}/pull/{}", issue.number);
    let issue_url = format!("{api}/issues/{}", issue.number);
    let head_sha = repo.branches.get(&pull.head).cloned().unwrap_or_default();
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
    let commits = repo.commits_between(&pull.base, &pull.head);
    let changed: std::collections::BTreeSet<&String> = repo
        .branches
        .get(&pull.head)
        .map(|head| {
            repo.ancestry(head)
                .take(commits)
                .flat_map(|commit| &commit.files_changed)
                .collect()
        })
        .unwrap_or_default();
    let links = json!({
            "self": { "href": url },
            "html": { "href": html_url },
            "issue": { "href": issue_url },
            "comments": { "href": format!("{issue_url}/comments") },
            "review_comments": { "href": format!("{url}/comments") },
            "review_comment": { "href": format!("{api}/pulls/comments{{/number}}") },
            "commits": { "href": format!("{url}/commits") },
            "statuses": { "href": format!("{api}/statuses/{head_sha}") },
    });
    let mut value = json!({
        "url": url,
        "id": pull.id,
        "node_id": format!("PR_fake{}", pull.id),
        "html_url": html_url,
        "diff_url": format!("{html_url}.diff"),
        "patch_url": format!("{html_url}.patch"),
        "issue_url": issue_url,
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue_url}/comments"),
        "statuses_url": format!("{api}/statuses/{head_sha}"),
        "number": issue.number,
        "state": issue.state,
        "locked": false,
        "title": issue.title,
        "user": person_or_bot(base, &issue.user),
        "body": issue.body,
        "labels": labels_json(base, repo, &issue.labels),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": timestamp(issue.created_at),
        "updated_at": timestamp(issue.updated_at),
        "closed_at": issue.closed_at.map(timestamp),
        "merged_at": null,
        "merge_commit_sha": null,
        "assignee": assignees.first(),
        "assignees": assignees,
        "requested_reviewers": [],
        "requested_teams": [],
    });
    // Two halves: one `json!` this size exceeds the macro recursion limit.
    let more = json!({
        "head": pull_side_json(base, repo, &pull.head),
        "base": pull_side_json(base, repo, &pull.base),
        "_links": links,
        "author_association": "NONE",
        "auto_merge": null,
        "draft": pull.draft,
        "merged": false,
        "mergeable": null,
        "rebaseable": null,
        "mergeable_state": "unknown",
        "merged_by": null,
        "comments": comments,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": commits,
        "additions": 0,
        "deletions": 0,
        "changed_files": changed.len(),
    });
    if let (Value::Object(value), Value::Object(more)) = (&mut value, more) {
        value.extend(more);
    }
    value
}
