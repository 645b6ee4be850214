//! Requests and answers: dispatch, authentication (app JWT, installation tokens), rate-limit headers, injected failures, and the routing table.

use super::*;

pub(super) type Shared = Arc<Mutex<World>>;

pub(super) async fn dispatch(State(world): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok();
    let delay = {
        let mut world = world.lock().unwrap_or_else(PoisonError::into_inner);
        let method = parts.method.as_str();
        let path = parts.uri.path();
        world
            .delays
            .iter()
            .position(|(m, p, _)| m == method && p == path)
            .map(|index| world.delays.remove(index).2)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    // Everything below is synchronous, so the lock is never held across an await.
    let response = world.lock().unwrap_or_else(PoisonError::into_inner).handle(
        &parts.method,
        &parts.uri,
        &parts.headers,
        body,
    );
    // Redeliveries asked for go once their request is answered, as on GitHub.
    redeliver_accepted(&world);
    response
}

/// One request as the route handlers see it.
pub(super) struct Ctx<'r> {
    pub(super) method: &'r Method,
    pub(super) uri: &'r Uri,
    pub(super) headers: &'r HeaderMap,
    pub(super) body: &'r [u8],
    /// Set once the credentials were accepted: such answers count against the rate limit.
    pub(super) authenticated: bool,
    /// What `Link` URLs start with: the fake's URL, or nothing for relative links.
    pub(super) link_base: &'r str,
}

/// An answer; `Err` is just an answer that ends the handler early (via `?`).
pub(super) type Answer = Result<Reply, Reply>;

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: ReplyBody,
    pub(super) headers: Vec<(HeaderName, String)>,
    /// No route knew the request.
    pub(super) unexpected: bool,
}

pub(super) enum ReplyBody {
    Empty,
    Json(Value),
    Raw(Vec<u8>),
}

impl Reply {
    /// This answer with `bytes` of whitespace after its JSON.
    fn inflated(mut self, bytes: usize) -> Reply {
        let mut raw = match self.body {
            ReplyBody::Empty => Vec::new(),
            ReplyBody::Json(value) => serde_json::to_vec(&value).expect("JSON"),
            ReplyBody::Raw(raw) => raw,
        };
        raw.resize(raw.len() + bytes, b' ');
        self.body = ReplyBody::Raw(raw);
        self
    }

    pub(super) fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
            unexpected: false,
        }
    }

    pub(super) fn ok(body: Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    pub(super) fn created(body: Value) -> Reply {
        Reply::json(StatusCode::CREATED, body)
    }

    /// GitHub's error shape.
    pub(super) fn message(status: StatusCode, message: &str) -> Reply {
        Reply::json(
            status,
            json!({ "message": message, "documentation_url": DOCS }),
        )
    }

    pub(super) fn not_found() -> Reply {
        Reply::message(StatusCode::NOT_FOUND, "Not Found")
    }

    pub(super) fn unexpected() -> Reply {
        Reply {
            unexpected: true,
            ..Reply::not_found()
        }
    }

    pub(super) fn bad_request(message: &str) -> Reply {
        Reply::message(StatusCode::BAD_REQUEST, message)
    }

    /// GitHub's 422 "Validation Failed" with one error.
    pub(super) fn invalid(resource: &str, field: &str, code: &str) -> Reply {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "message": "Validation Failed",
                "errors": [{ "resource": resource, "field": field, "code": code }],
                "documentation_url": DOCS,
                "status": "422",
            }),
        )
    }

    /// GitHub's 422 "Validation Failed" with one custom message (pull requests use these).
    pub(super) fn custom_invalid(message: &str) -> Reply {
        Reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "PullRequest", "code": "custom", "message": message }],
                "documentation_url": DOCS,
                "status": "422",
            }),
        )
    }

    pub(super) fn header(mut self, name: HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// `reply` (a 200 with a JSON body) with GitHub's ETag, or a bodiless 304 when the request's
/// `If-None-Match` names it. `salt` changes the ETag where the body alone would not.
pub(super) fn conditional(reply: Reply, request: &HeaderMap, salt: u64) -> Reply {
    let ReplyBody::Json(body) = &reply.body else {
        return reply;
    };
    let mut hasher = DefaultHasher::new();
    salt.hash(&mut hasher);
    body.to_string().hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
        });
    let reply = if unchanged {
        Reply {
            body: ReplyBody::Empty,
            headers: reply.headers,
            ..Reply::json(StatusCode::NOT_MODIFIED, Value::Null)
        }
    } else {
        reply
    };
    reply.header(header::ETAG, etag)
}

impl<'r> Ctx<'r> {
    pub(super) fn query(&self) -> Result<HashMap<String, String>, Reply> {
        Query::<HashMap<String, String>>::try_from_uri(self.uri)
            .map(|Query(query)| query)
            .map_err(|_| Reply::bad_request("Invalid query string"))
    }

    /// The body as a JSON object; no body reads as `{}`, so missing fields answer 422.
    pub(super) fn object(&self) -> Result<Map<String, Value>, Reply> {
        match self.value()? {
            Value::Object(object) => Ok(object),
            _ => Err(Reply::bad_request("Problems parsing JSON")),
        }
    }

    pub(super) fn value(&self) -> Result<Value, Reply> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(self.body).map_err(|_| Reply::bad_request("Problems parsing JSON"))
    }

    pub(super) fn credentials(&self, schemes: &[&str]) -> Option<&'r str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, credentials) = value.trim().split_once(' ')?;
        schemes
            .iter()
            .any(|wanted| scheme.eq_ignore_ascii_case(wanted))
            .then(|| credentials.trim())
    }
}

impl World {
    pub(super) fn handle(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Response {
        self.requests_seen += 1;
        let request_id = format!(
            "FA4E:{:04X}:{:06X}",
            self.app_id & 0xFFFF,
            self.requests_seen
        );
        let path = uri.path().to_owned();
        let body_bytes = body.clone().unwrap_or_default();
        let link_base = if self.relative_links {
            Arc::from("")
        } else {
            Arc::clone(&self.base)
        };
        let mut ctx = Ctx {
            method,
            uri,
            headers,
            body: &body_bytes,
            authenticated: false,
            link_base: &link_base,
        };

        let reply = match body {
            None => Reply::message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            Some(_) => match self.take_failure(method, &path, &request_id) {
                Some(reply) => reply,
                None => self.route(&mut ctx).unwrap_or_else(|reply| reply),
            },
        };
        let lost = self
            .lost_answers
            .iter()
            .position(|(lost_method, lost_path)| {
                lost_method == method.as_str() && same_path(&path, lost_path)
            });
        let reply = match lost {
            Some(index) => {
                self.lost_answers.remove(index);
                Reply::message(StatusCode::BAD_GATEWAY, "Server Error")
            }
            None => reply,
        };
        let inflated =
            self.inflated_answers
                .iter()
                .position(|(inflated_method, inflated_path, _)| {
                    inflated_method == method.as_str() && same_path(&path, inflated_path)
                });
        let reply = match inflated {
            Some(index) => {
                let (_, _, bytes) = self.inflated_answers.remove(index);
                reply.inflated(bytes)
            }
            None => reply,
        };
        // GitHub answers reads with an ETag and honours `If-None-Match`.
        let reply = if method == Method::GET
            && reply.status == StatusCode::OK
            && !reply.headers.iter().any(|(name, _)| name == header::ETAG)
        {
            conditional(reply, headers, 0)
        } else {
            reply
        };

        // GitHub does not charge conditional requests answered 304.
        if ctx.authenticated && reply.status != StatusCode::NOT_MODIFIED {
            self.rate_remaining = self.rate_remaining.saturating_sub(1);
        }
        if reply.unexpected {
            self.unexpected.push(format!("{method} {path}"));
        }
        self.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            query: uri.query().map(str::to_owned),
            body: recorded_body(&body_bytes),
            status: reply.status.as_u16(),
            at: std::time::Instant::now(),
        });
        self.render(reply, &request_id)
    }

    pub(super) fn take_failure(
        &mut self,
        method: &Method,
        path: &str,
        request_id: &str,
    ) -> Option<Reply> {
        let index = self.failures.iter().position(|failure| {
            failure.method == method.as_str() && same_path(path, &failure.path)
        })?;
        let failure = self.failures.remove(index);
        let reply = match failure.status {
            _ if failure.message.is_some() => Reply::message(
                failure.status,
                failure.message.as_deref().unwrap_or_default(),
            ),
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => Reply::json(
                failure.status,
                json!({
                    "message": format!("{SECONDARY_RATE_LIMIT} {request_id}."),
                    "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                }),
            ),
            status => Reply::message(status, status.canonical_reason().unwrap_or("Error")),
        };
        Some(match failure.retry_after_secs {
            Some(secs) => reply.header(header::RETRY_AFTER, secs.to_string()),
            None => reply,
        })
    }

    pub(super) fn render(&self, reply: Reply, request_id: &str) -> Response {
        let (body, content_type) = match reply.body {
            ReplyBody::Empty => (Vec::new(), None),
            ReplyBody::Json(value) => (
                serde_json::to_vec(&value).unwrap_or_default(),
                Some("application/json; charset=utf-8"),
            ),
            ReplyBody::Raw(bytes) => (bytes, Some("application/vnd.github.raw; charset=utf-8")),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = reply.status;
        let used = RATE_LIMIT - self.rate_remaining;
        let mut headers: Vec<(HeaderName, String)> = vec![
            (
                HeaderName::from_static("x-ratelimit-limit"),
                RATE_LIMIT.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-remaining"),
                self.rate_remaining.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-used"),
                used.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-reset"),
                self.rate_reset.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-resource"),
                "core".to_owned(),
            ),
            (
                HeaderName::from_static("x-github-request-id"),
                request_id.to_owned(),
            ),
            (
                HeaderName::from_static("x-github-api-version-selected"),
                "2022-11-28".to_owned(),
            ),
        ];
        if let Some(content_type) = content_type {
            headers.push((header::CONTENT_TYPE, content_type.to_owned()));
        }
        headers.extend(reply.headers);
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }

    // ---- authentication ---------------------------------------------------------------

    /// `Authorization: Bearer <JWT>` signed RS256 by the App's key, as `/app/...` requires.
    pub(super) fn app_auth(&self, ctx: &mut Ctx) -> Result<(), Reply> {
        let rejected = || {
            Reply::message(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            )
        };
        let token = ctx.credentials(&["bearer"]).ok_or_else(rejected)?;
        // Claims are checked by hand below: GitHub accepts `iss` as number or string.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(token, &self.key, &validation)
            .map_err(|_| rejected())?
            .claims;
        let iss_matches = match &claims["iss"] {
            Value::Number(iss) => iss.as_u64() == Some(self.app_id),
            Value::String(iss) => iss.parse::<u64>().ok() == Some(self.app_id),
            _ => false,
        };
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err(rejected());
        };
        let now = Utc::now().timestamp();
        let fresh = iat <= now + 60 && exp > now && exp - iat <= MAX_JWT_LIFETIME_SECS;
        if !(iss_matches && fresh) {
            return Err(rejected());
        }
        ctx.authenticated = true;
        Ok(())
    }

    /// `Authorization: Bearer|token ghs_...` issued by this fake and not expired; returns
    /// the installation it acts for.
    pub(super) fn token_auth(&self, ctx: &mut Ctx) -> Result<u64, Reply> {
        let rejected = || Reply::message(StatusCode::UNAUTHORIZED, "Bad credentials");
        let token = ctx.credentials(&["bearer", "token"]).ok_or_else(rejected)?;
        let token = self
            .tokens
            .get(token)
            .filter(|token| token.expires_at > Utc::now())
            .ok_or_else(rejected)?;
        ctx.authenticated = true;
        // The primary rate limit: nothing more until the reset.
        if self.rate_remaining == 0 {
            return Err(Reply::message(
                StatusCode::FORBIDDEN,
                &format!(
                    "API rate limit exceeded for installation ID {}.",
                    token.installation_id
                ),
            ));
        }
        Ok(token.installation_id)
    }

    /// The repository, if the installation can see it; GitHub answers 404 otherwise.
    pub(super) fn repo(
        &mut self,
        installation_id: u64,
        owner: &str,
        name: &str,
    ) -> Result<&mut Repo, Reply> {
        self.repos
            .get_mut(&format!("{owner}/{name}").to_ascii_lowercase())
            .filter(|repo| repo.installation_id == installation_id)
            .ok_or_else(Reply::not_found)
    }

    // ---- routes -------------------------------------------------------------------------

    pub(super) fn route(&mut self, ctx: &mut Ctx) -> Answer {
        let segments = decode_segments(ctx.uri.path()).ok_or_else(Reply::unexpected)?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let base = Arc::clone(&self.base);
        let base = &*base;
        match (ctx.method.as_str(), segments.as_slice()) {
            ("POST", ["settings", "apps", "new"])
            | ("POST", ["organizations", _, "settings", "apps", "new"]) => {
                super::manifests::new_app_page(self, ctx)
            }
            ("POST", ["app-manifests", code, "conversions"]) => {
                super::manifests::convert(self, base, self.app_id, code)
            }
            ("GET", ["app"]) => {
                self.app_auth(ctx)?;
                Ok(Reply::ok(app_json(base, self.app_id)))
            }
            ("GET", ["app", "hook", "deliveries"]) => self.list_hook_deliveries(ctx),
            ("POST", ["app", "hook", "deliveries", id, "attempts"]) => self.redeliver_hook(ctx, id),
            ("GET", ["app", "installations"]) => {
                self.app_auth(ctx)?;
                let installations = self
                    .installations
                    .iter()
                    .map(|(id, account)| installation_json(base, self.app_id, *id, account))
                    .collect();
                Ok(Reply::ok(Value::Array(installations)))
            }
            ("GET", ["app", "installations", id]) => {
                let id = parse_id(id)?;
                self.app_auth(ctx)?;
                let account = self.installations.get(&id).ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(installation_json(base, self.app_id, id, account)))
            }
            ("POST", ["app", "installations", id, "access_tokens"]) => {
                let id = parse_id(id)?;
                self.app_auth(ctx)?;
                self.create_token(id)
            }
            ("GET", ["repos", owner, name, "installation"]) => {
                self.app_auth(ctx)?;
                let repo = self
                    .repos
                    .get(&format!("{owner}/{name}").to_ascii_lowercase())
                    .ok_or_else(Reply::not_found)?;
                let account = self
                    .installations
                    .get(&repo.installation_id)
                    .ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(installation_json(
                    base,
                    self.app_id,
                    repo.installation_id,
                    account,
                )))
            }
            ("GET", ["installation", "repositories"]) => {
                let installation = self.token_auth(ctx)?;
                let repositories: Vec<Value> = self
                    .repos
                    .values()
                    .filter(|repo| repo.installation_id == installation)
                    .map(|repo| repo_json(base, repo))
                    .collect();
                Ok(Reply::ok(json!({
                    "total_count": repositories.len(),
                    "repository_selection": "all",
                    "repositories": repositories,
                })))
            }
            ("GET", ["repos", owner, name]) => {
                let installation = self.token_auth(ctx)?;
                let key = format!("{owner}/{name}").to_ascii_lowercase();
                if let Some(reads_left) = self.forks_in_creation.get_mut(&key)
                    && *reads_left > 0
                {
                    *reads_left -= 1;
                    return Err(Reply::not_found());
                }
                let repo = self.repo(installation, owner, name)?;
                Ok(Reply::ok(repo_json(base, repo)))
            }
            ("POST", ["graphql"]) => {
                let installation = self.token_auth(ctx)?;
                self.graphql(installation, ctx)
            }
            ("GET", ["repos", owner, name, "dependency-graph", "sbom"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                sbom_json(repo)
            }
            ("GET", ["repos", owner, name, "commits"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_commits(base, repo, ctx)
            }
            ("GET", ["repos", owner, name, "contents", path @ ..]) if !path.is_empty() => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                get_content(base, repo, &path.join("/"), ctx)
            }
            ("PUT", ["repos", owner, name, "contents", path @ ..]) if !path.is_empty() => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                put_content(base, repo, &path.join("/"), ctx)
            }
            ("GET", ["repos", owner, name, "git", "ref", "heads", branch @ ..])
                if !branch.is_empty() =>
            {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let branch = branch.join("/");
                let sha = repo.branches.get(&branch).ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(ref_json(base, repo, &branch, sha)))
            }
            ("POST", ["repos", owner, name, "git", "refs"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_ref(base, repo, ctx)
            }
            ("PATCH" | "POST", ["repos", owner, name, "git", "refs", "heads", branch @ ..])
                if !branch.is_empty() =>
            {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_ref(base, repo, &branch.join("/"), ctx)
            }
            ("GET", ["repos", owner, name, "pulls"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_pulls(base, repo, ctx)
            }
            ("POST", ["repos", owner, name, "pulls"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_pull(base, repo, ctx)
            }
            ("GET", ["repos", owner, name, "pulls", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let index = repo.pull_index(number).ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(pull_json(base, repo, &repo.issues[index])))
            }
            ("PATCH" | "POST", ["repos", owner, name, "pulls", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_pull(base, repo, number, ctx)
            }
            ("GET", ["repos", owner, name, "collaborators", login, "permission"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                Ok(Reply::ok(permission_json(base, repo, login)))
            }
            ("GET", ["repos", owner, name, "issues"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_issues(base, repo, ctx)
            }
            ("POST", ["repos", owner, name, "issues"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_issue(base, repo, ctx)
            }
            ("GET", ["repos", owner, name, "issues", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let index = repo.issue_index(number).ok_or_else(Reply::not_found)?;
                Ok(Reply::ok(issue_json(base, repo, &repo.issues[index])))
            }
            // GitHub takes POST for its PATCH endpoints, and octocrab's `update_comment` uses it.
            ("PATCH" | "POST", ["repos", owner, name, "issues", number]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_issue(base, repo, number, ctx)
            }
            ("POST", ["repos", owner, name, "issues", number, "labels"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                add_labels(base, repo, number, ctx)
            }
            ("POST", ["repos", owner, name, "issues", number, "assignees"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                add_assignees(base, repo, number, ctx)
            }
            ("DELETE", ["repos", owner, name, "issues", number, "labels", label]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                remove_label(base, repo, number, label)
            }
            ("GET", ["repos", owner, name, "issues", number, "comments"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_comments(base, repo, number, ctx)
            }
            ("POST", ["repos", owner, name, "issues", number, "comments"]) => {
                let number = parse_id(number)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_comment(base, repo, number, ctx)
            }
            ("PATCH" | "POST", ["repos", owner, name, "issues", "comments", id]) => {
                let id = parse_id(id)?;
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_comment(base, repo, id, ctx)
            }
            ("GET", ["repos", owner, name, "security-advisories"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                list_repo_advisories(base, repo, ctx)
            }
            ("POST", ["repos", owner, name, "security-advisories"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                create_advisory(repo, ctx, BOT_LOGIN)
            }
            ("GET", ["orgs", org, "organization-roles"]) => {
                let installation = self.token_auth(ctx)?;
                list_roles(self, installation, org)
            }
            ("GET", ["orgs", org, "organization-roles", role_id, "users"]) => {
                let installation = self.token_auth(ctx)?;
                role_users(self, installation, org, role_id, ctx)
            }
            ("GET", ["orgs", org, "security-advisories"]) => {
                let installation = self.token_auth(ctx)?;
                list_org_advisories(self, installation, org, ctx)
            }
            ("GET", ["repos", owner, name, "security-advisories", ghsa_id]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                Ok(Reply::ok(repo.advisory(ghsa_id)?.clone()))
            }
            ("PATCH", ["repos", owner, name, "security-advisories", ghsa_id]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                update_advisory(repo, ghsa_id, ctx)
            }
            (
                "POST",
                [
                    "repos",
                    owner,
                    name,
                    "security-advisories",
                    ghsa_id,
                    "forks",
                ],
            ) => {
                let installation = self.token_auth(ctx)?;
                self.create_private_fork(base, installation, (owner, name), ghsa_id)
            }
            ("POST", ["repos", owner, name, "security-advisories", ghsa_id, "cve"]) => {
                let installation = self.token_auth(ctx)?;
                let repo = self.repo(installation, owner, name)?;
                let advisory = repo.advisory(ghsa_id)?;
                if advisory["cve_id"]
                    .as_str()
                    .is_some_and(|cve| !cve.is_empty())
                {
                    return Err(Reply::message(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "This advisory already has a CVE ID.",
                    ));
                }
                self.cve_requests.push((*ghsa_id).to_owned());
                Ok(Reply::json(StatusCode::ACCEPTED, json!({})))
            }
            _ => Err(Reply::unexpected()),
        }
    }

    pub(super) fn create_token(&mut self, installation_id: u64) -> Answer {
        if !self.installations.contains_key(&installation_id) {
            return Err(Reply::not_found());
        }
        self.tokens_issued += 1;
        let token = format!("ghs_fake{}", self.tokens_issued);
        let expires_at = Utc::now() + chrono::Duration::hours(1);
        self.tokens.insert(
            token.clone(),
            Token {
                installation_id,
                expires_at,
            },
        );
        Ok(Reply::created(json!({
            "token": token,
            "expires_at": timestamp(expires_at),
            "permissions": token_permissions(),
            "repository_selection": "all",
        })))
    }
}
