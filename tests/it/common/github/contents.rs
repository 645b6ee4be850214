//! Repository contents and git references: files on branches, new branches, moved branches.

use super::*;

pub(super) fn get_content(base: &str, repo: &Repo, path: &str, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let reference = query
        .get("ref")
        .filter(|reference| !reference.is_empty())
        .map_or(repo.default_branch.as_str(), String::as_str);
    let commit = repo.resolve(reference).ok_or_else(|| {
        Reply::message(
            StatusCode::NOT_FOUND,
            &format!("No commit found for the ref {reference}"),
        )
    })?;
    let Some(content) = commit.tree.get(path) else {
        // A folder answers with its entries, as GitHub does; nothing there is a 404.
        let prefix = format!("{path}/");
        let entries: Vec<Value> = commit
            .tree
            .keys()
            .filter_map(|file| file.strip_prefix(&prefix).map(|rest| (file, rest)))
            .filter(|(_, rest)| !rest.contains('/'))
            .map(|(file, rest)| {
                json!({ "type": "file", "name": rest, "path": file, "sha": blob_sha(&commit.tree[file]) })
            })
            .collect();
        if entries.is_empty() {
            return Err(Reply::not_found());
        }
        return Ok(Reply::ok(Value::Array(entries)));
    };
    // The raw media type asks for the bytes themselves (octocrab's `get_content().raw()`).
    let raw = ctx
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|accept| accept.to_str().ok())
        .any(|accept| accept.contains("vnd.github.raw") || accept.contains("vnd.github.v3.raw"));
    if raw {
        return Ok(Reply {
            body: ReplyBody::Raw(content.clone().into_bytes()),
            ..Reply::ok(Value::Null)
        });
    }
    Ok(Reply::ok(content_json(
        base, repo, reference, path, content,
    )))
}

/// `PUT .../contents/{path}`: creates or updates one file with a commit on `branch`.
pub(super) fn put_content(base: &str, repo: &mut Repo, path: &str, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let message = required_string(&body, "message")?;
    let encoded = required_string(&body, "content")?;
    let sha = optional_string(&body, "Content", "sha")?;
    let branch =
        optional_string(&body, "Content", "branch")?.unwrap_or_else(|| repo.default_branch.clone());
    let packed: String = encoded.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .map_err(|_| {
            Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "content is not valid Base64",
            )
        })?;
    let content = String::from_utf8(bytes).map_err(|_| {
        Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "fake GitHub: content must be UTF-8 text",
        )
    })?;
    // GitHub checks the branch before the sha.
    let tree = repo.tree(&branch).ok_or_else(|| {
        Reply::message(StatusCode::NOT_FOUND, &format!("Branch {branch} not found"))
    })?;
    let created = match (tree.get(path), sha) {
        (Some(_), None) => {
            return Err(Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid request.\n\n\"sha\" wasn't supplied.",
            ));
        }
        (Some(current), Some(sha)) if blob_sha(current) != sha => {
            return Err(Reply::message(
                StatusCode::CONFLICT,
                &format!("{path} does not match {sha}"),
            ));
        }
        (Some(_), Some(_)) => false,
        // Stricter than GitHub, which is reported to ignore a `sha` here: a caller sending
        // one believes the file exists, and the test should hear about it.
        (None, Some(sha)) => {
            return Err(Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!(
                    "fake GitHub: {path} does not exist on {branch}, so no sha ({sha}) can match it"
                ),
            ));
        }
        (None, None) => true,
    };
    let commit = repo
        .commit_file(
            &branch,
            path,
            content.clone(),
            (message, &format!("{APP_SLUG}[bot]")),
        )
        .ok_or_else(Reply::not_found)?;
    let mut content_value = content_json(base, repo, &branch, path, &content);
    if let Value::Object(object) = &mut content_value {
        object.remove("content");
        object.remove("encoding");
    }
    let commit = repo.commits.get(&commit).ok_or_else(Reply::not_found)?;
    let answer = json!({
        "content": content_value,
        "commit": commit_json(base, repo, commit),
    });
    Ok(if created {
        Reply::created(answer)
    } else {
        Reply::ok(answer)
    })
}

/// `POST .../git/refs`: a new branch at a commit of the repository.
pub(super) fn create_ref(base: &str, repo: &mut Repo, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let reference = required_string(&body, "ref")?;
    let sha = required_string(&body, "sha")?;
    let branch = reference
        .strip_prefix("refs/heads/")
        .filter(|branch| valid_branch_name(branch))
        .ok_or_else(|| {
            // GitHub takes tags too; herald only makes branches, and so does the fake.
            Reply::message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Reference name is invalid",
            )
        })?;
    if repo.branches.contains_key(branch) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Reference already exists",
        ));
    }
    if !repo.commits.contains_key(&sha) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Object does not exist",
        ));
    }
    repo.branches.insert(branch.to_owned(), sha.clone());
    Ok(Reply::created(ref_json(base, repo, branch, &sha)))
}

/// `PATCH .../git/refs/heads/{branch}`: moves a branch; only forward unless `force`.
pub(super) fn update_ref(base: &str, repo: &mut Repo, branch: &str, ctx: &Ctx) -> Answer {
    let body = ctx.object()?;
    let sha = required_string(&body, "sha")?;
    let force = match body.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(force)) => *force,
        Some(_) => return Err(Reply::invalid("Reference", "force", "invalid")),
    };
    let head = repo.branches.get(branch).ok_or_else(|| {
        Reply::message(StatusCode::UNPROCESSABLE_ENTITY, "Reference does not exist")
    })?;
    if !repo.commits.contains_key(&sha) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Object does not exist",
        ));
    }
    if !force && !repo.is_ancestor(head, &sha) {
        return Err(Reply::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Update is not a fast forward",
        ));
    }
    repo.branches.insert(branch.to_owned(), sha.clone());
    Ok(Reply::ok(ref_json(base, repo, branch, &sha)))
}

/// GitHub's base64 breaks a line every 60 characters, each line ending in `\n`.
pub(super) fn github_base64(content: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let mut wrapped = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for line in encoded.as_bytes().chunks(60) {
        wrapped.push_str(&String::from_utf8_lossy(line));
        wrapped.push('\n');
    }
    wrapped
}

/// A 40-hex blob id for `content`. GitHub's is SHA-1 over `blob <len>\0<content>`; this one
/// hashes the same input with SHA-256 (the crate's hash) and keeps 40 digits.
pub(super) fn blob_sha(content: &str) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("blob {}\0", content.len()));
    hasher.update(content);
    hex::encode(hasher.finalize())[..40].to_owned()
}

/// A 40-hex commit id, unique for the process (each commit gets its own).
pub(super) fn commit_sha(repo_id: u64, parent: Option<&str>, message: &str) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!(
        "commit {repo_id} {} {}\0{message}",
        parent.unwrap_or("-"),
        next_id()
    ));
    hex::encode(hasher.finalize())[..40].to_owned()
}

pub(super) fn content_json(
    base: &str,
    repo: &Repo,
    reference: &str,
    path: &str,
    content: &str,
) -> Value {
    let full_name = repo.full_name();
    let sha = blob_sha(content);
    let url = format!("{base}/repos/{full_name}/contents/{path}?ref={reference}");
    let git_url = format!("{base}/repos/{full_name}/git/blobs/{sha}");
    let html_url = format!("https://github.com/{full_name}/blob/{reference}/{path}");
    json!({
        "type": "file",
        "encoding": "base64",
        "size": content.len(),
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "content": github_base64(content),
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": format!("https://raw.githubusercontent.com/{full_name}/{reference}/{path}"),
        "_links": { "self": url, "git": git_url, "html": html_url },
    })
}

/// GitHub's git reference (`GET .../git/ref/heads/{branch}` and friends).
pub(super) fn ref_json(base: &str, repo: &Repo, branch: &str, sha: &str) -> Value {
    let full_name = repo.full_name();
    let mut hasher = DefaultHasher::new();
    (repo.id, branch).hash(&mut hasher);
    json!({
        "ref": format!("refs/heads/{branch}"),
        "node_id": format!("REF_fake{:016x}", hasher.finish()),
        "url": format!("{base}/repos/{full_name}/git/refs/heads/{branch}"),
        "object": {
            "type": "commit",
            "sha": sha,
            "url": format!("{base}/repos/{full_name}/git/commits/{sha}"),
        },
    })
}

/// The git commit in a contents answer (`"commit"` of GitHub's file-commit).
pub(super) fn commit_json(base: &str, repo: &Repo, commit: &Commit) -> Value {
    let full_name = repo.full_name();
    let api = format!("{base}/repos/{full_name}/git/commits");
    let person = json!({
        "name": BOT_LOGIN,
        "email": format!("{}+{BOT_LOGIN}@users.noreply.github.com", user_id(BOT_LOGIN)),
        "date": timestamp(commit.created_at),
    });
    let parents: Vec<Value> = commit
        .parent
        .iter()
        .map(|parent| {
            json!({
                "sha": parent,
                "url": format!("{api}/{parent}"),
                "html_url": format!("https://github.com/{full_name}/commit/{parent}"),
            })
        })
        .collect();
    let tree = blob_sha(&format!("{:?}", commit.tree));
    json!({
        "sha": commit.sha,
        "node_id": format!("C_fake{}", &commit.sha[..16]),
        "url": format!("{api}/{}", commit.sha),
        "html_url": format!("https://github.com/{full_name}/commit/{}", commit.sha),
        "author": person,
        "committer": person,
        "message": commit.message,
        "tree": { "sha": tree, "url": format!("{base}/repos/{full_name}/git/trees/{tree}") },
        "parents": parents,
        "verification": {
            "verified": false,
            "reason": "unsigned",
            "signature": null,
            "payload": null,
            "verified_at": null,
        },
    })
}

/// `GET /repos/{owner}/{repo}/commits`: the history of `sha` (default: the default branch),
/// newest first, only the commits that changed `path` when it is given, one page at a time.
pub(super) fn list_commits(base: &str, repo: &Repo, ctx: &Ctx) -> Answer {
    let query = ctx.query()?;
    let branch = query
        .get("sha")
        .cloned()
        .unwrap_or_else(|| repo.default_branch.clone());
    let head = repo.branches.get(&branch).ok_or_else(Reply::not_found)?;
    let path = query.get("path");
    let commits: Vec<Value> = repo
        .ancestry(head)
        .filter(|commit| path.is_none_or(|path| commit.files_changed.contains(path)))
        .map(|commit| {
            let url = format!("{base}/repos/{}/commits/{}", repo.full_name(), commit.sha);
            json!({
                "sha": commit.sha,
                "node_id": format!("C_fake{}", &commit.sha[..8]),
                "url": url,
                "html_url": format!("https://github.com/{}/commit/{}", repo.full_name(), commit.sha),
                "commit": {
                    "author": { "name": commit.author, "email": format!("{}@users.noreply.github.com", commit.author), "date": timestamp(commit.created_at) },
                    "committer": { "name": "GitHub", "email": "noreply@github.com", "date": timestamp(commit.created_at) },
                    "message": commit.message,
                },
                "author": person_or_bot(base, &commit.author),
                "committer": person_or_bot(base, "web-flow"),
                "parents": commit.parent.iter().map(|parent| json!({ "sha": parent })).collect::<Vec<_>>(),
            })
        })
        .collect();
    paginate(ctx, &query, commits)
}
