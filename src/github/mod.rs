//! herald as a GitHub App: the App's JWT (RS256, issued 60 s in the past and valid 9
//! minutes, octocrab's margins for clock skew), installation access tokens (cached per
//! installation by octocrab until 30 s before they expire, then minted again), and the few
//! REST calls herald makes. Retries are herald's own, not octocrab's: a 403 or 429 with
//! `Retry-After`, or with `X-RateLimit-Remaining: 0`, did not run, so herald waits as GitHub
//! asks and sends it again; a server error is retried at once for requests that can be
//! repeated, but never for a POST, which creates something and whose outcome is unknown:
//! the outbox job's retry finds what an earlier attempt created before creating again.

pub mod api;
mod cache;
pub mod pace;
pub mod sbom;

pub use api::{AppInfo, HookDelivery, InstallationInfo};
pub use pace::Pacing;

use cache::{Lookup, ReadCache};
use pace::{NoTurn, Pacer};

use crate::metrics::{GitHubOutcome, Metrics};
use crate::store::{InstallationId, Store};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::AppId;
use octocrab::service::middleware::retry::RetryConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which GitHub App herald is, and where GitHub's API is (GitHub Enterprise Server too).
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    pub api_url: String,
    pub app_id: u64,
    /// The App's PEM private key; never logged (SecretString redacts itself in Debug).
    pub private_key: SecretString,
    pub poll_interval: Duration,
    /// GitHub's web (and git) address: wikis are pushed there. A server setting, never a
    /// repository's: the installation token goes wherever this points.
    pub web_url: String,
    /// How long a repository's configuration and template overrides are used without
    /// asking GitHub again (after that, a conditional request: a 304 costs no rate limit).
    pub read_cache_for: Duration,
    /// How each installation's content-creating requests are paced.
    pub pacing: Pacing,
    /// How often GitHub's failed webhook deliveries are looked for and asked for again.
    pub redelivery_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "the GitHub App private key is not a PEM-encoded RSA private key ({0}); generate one \
         on the App's settings page and point HERALD_GITHUB_PRIVATE_KEY_FILE at it"
    )]
    Key(#[source] Source),
    #[error("cannot sign the App's JSON web token: {0}")]
    Jwt(#[source] Source),
    #[error("cannot set up the GitHub client for {url}: {source}")]
    Client {
        url: String,
        #[source]
        source: Source,
    },
    #[error("{method} {path}: GitHub answered {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
        /// A primary or secondary rate limit that outlasted herald's waiting.
        rate_limited: bool,
    },
    #[error("{method} {path}: {source}")]
    Transport {
        method: Method,
        path: String,
        #[source]
        source: Source,
    },
    #[error(
        "{method} {path}: this installation's GitHub write budget is spent; its next write \
         is due in {} s",
        wait.as_secs()
    )]
    Paced {
        method: Method,
        path: String,
        /// Until the write's turn.
        wait: Duration,
    },
    #[error("cannot take a GitHub write slot: {0}")]
    WriteSlots(#[source] crate::store::StoreError),
    #[error("{method} {path}: unexpected answer: {source}")]
    Decode {
        method: Method,
        path: String,
        #[source]
        source: Source,
    },
}

/// The error underneath, kept for its chain.
pub type Source = Box<dyn std::error::Error + Send + Sync>;

impl GitHubError {
    /// How long until the write this error refused may go (see [`pace`]).
    pub fn paced_for(&self) -> Option<Duration> {
        match self {
            GitHubError::Paced { wait, .. } => Some(*wait),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// GitHub turned the request away for a rate limit, primary or secondary: sending it
    /// later may succeed.
    pub fn rate_limited(&self) -> bool {
        match self {
            GitHubError::Status {
                status,
                message,
                rate_limited,
                ..
            } => {
                // A secondary rate limit can come without its headers: GitHub's words tell.
                *rate_limited
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || message.to_ascii_lowercase().contains("rate limit")
            }
            _ => false,
        }
    }

    /// GitHub's own words when it refused a request that sending again cannot fix
    /// (validation, not found, forbidden without a rate limit, gone); `None` for rate
    /// limits, server errors and transport failures, which are worth retrying.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            GitHubError::Status {
                status, message, ..
            } if refused(*status) && !self.rate_limited() => Some(message),
            _ => None,
        }
    }
}

/// How often herald sends one request again (rate limits, server errors) before the job is
/// retried later by the outbox instead (which keeps its own backoff).
const MAX_RETRIES: usize = 3;

/// The most herald reads of one counterpart's answer: far above any page or file it asks
/// for (a page of 100 advisories is about 1 MB), so that no answer can exhaust its memory.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The body of a counterpart's answer, read up to [`MAX_ANSWER_BYTES`]: a longer one is an
/// error that says so, read no further.
pub async fn bounded_body<B>(body: B) -> Result<hyper::body::Bytes, Source>
where
    B: hyper::body::Body,
    B::Error: Into<Source>,
{
    http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                format!("an answer over {} MiB, not read", MAX_ANSWER_BYTES >> 20).into()
            } else {
                error
            }
        })
}

/// The most deliveries GitHub lists on one page (`per_page`'s maximum, which herald asks
/// for).
const DELIVERIES_PER_PAGE: usize = 100;

/// The App and a client per installation.
pub struct GitHub {
    app: Api,
    app_id: u64,
    key: octocrab::EncodingKey,
    api_url: String,
    web_url: String,
    installations: Mutex<HashMap<u64, Api>>,
    read_cache_for: Duration,
    pacing: Pacing,
    /// Where the installations' write slots are kept (shared by replicas).
    write_slots: Option<Store>,
    metrics: Option<Arc<Metrics>>,
}

impl GitHub {
    /// Checks the key and sets up the App client; makes no request.
    pub fn new(settings: &GitHubSettings) -> Result<GitHub, GitHubError> {
        let key = octocrab::EncodingKey::from_rsa_pem(
            settings.private_key.expose_secret().trim().as_bytes(),
        )
        // jsonwebtoken's message names the problem, never the key material.
        .map_err(|error| GitHubError::Key(error.into()))?;
        let client_error = |error: octocrab::Error| GitHubError::Client {
            url: settings.api_url.clone(),
            source: error.into(),
        };
        let app = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(client_error)?
            .app(AppId(settings.app_id), key.clone())
            // herald retries itself (see `Api::send`): octocrab would repeat a POST too.
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(client_error)?;
        let github = GitHub {
            app: Api::new(
                app,
                settings.read_cache_for,
                Pacer::new(settings.pacing.clone(), None),
                None,
            ),
            app_id: settings.app_id,
            key,
            api_url: settings.api_url.clone(),
            web_url: settings.web_url.clone(),
            installations: Mutex::new(HashMap::new()),
            read_cache_for: settings.read_cache_for,
            pacing: settings.pacing.clone(),
            write_slots: None,
            metrics: None,
        };
        github.jwt()?;
        Ok(github)
    }

    /// Keeps the installations' write slots in `store`, so every replica sharing it keeps
    /// within one budget per installation.
    pub fn sharing_write_slots(mut self, store: Store) -> GitHub {
        self.write_slots = Some(store);
        self
    }

    /// Counts every request and answer in `metrics`.
    pub fn counting_in(mut self, metrics: Arc<Metrics>) -> GitHub {
        self.app.metrics = Some(metrics.clone());
        self.metrics = Some(metrics);
        self
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// GitHub's web and git address (wikis are pushed there).
    pub fn web_url(&self) -> &str {
        &self.web_url
    }

    /// Signs a fresh App JWT (proves the key works; the token itself is not kept).
    pub fn jwt(&self) -> Result<(), GitHubError> {
        octocrab::auth::create_jwt(AppId(self.app_id), &self.key)
            .map(drop)
            .map_err(|error| GitHubError::Jwt(error.into()))
    }

    /// `GET /app`: the App the key belongs to.
    pub async fn app_info(&self) -> Result<AppInfo, GitHubError> {
        self.app.get("/app").await
    }

    /// `GET /app/hook/deliveries`, one page of up to 100 attempts, newest first: the first
    /// page for `None`, else the page `next` names (from the previous page's `Link`).
    /// Returns the attempts and the next page's path, if any.
    pub async fn hook_deliveries(&self, next: Option<&str>) -> Result<DeliveriesPage, GitHubError> {
        let first = format!("/app/hook/deliveries?per_page={DELIVERIES_PER_PAGE}");
        let path = next.unwrap_or(&first);
        let answer = self.app.send::<()>(Method::GET, path, None, &[]).await?;
        let attempts: Vec<HookDelivery> = answer.json(&Method::GET, path)?;
        // GitHub's pages hold 100 at most: a longer one is not GitHub's, and a scan keeps
        // what it reads of every page.
        if attempts.len() > DELIVERIES_PER_PAGE {
            return Err(GitHubError::Decode {
                method: Method::GET,
                path: path.to_owned(),
                source: format!(
                    "a page of {} deliveries, more than the {DELIVERIES_PER_PAGE} GitHub gives",
                    attempts.len()
                )
                .into(),
            });
        }
        let next = match answer.header("link").and_then(next_link) {
            None => NextPage::None,
            Some(url) => {
                next_deliveries_page(&self.api_url, url).map_or(NextPage::Elsewhere, NextPage::Path)
            }
        };
        Ok(DeliveriesPage { attempts, next })
    }

    /// `POST /app/hook/deliveries/{id}/attempts`: asks GitHub to deliver attempt `id`'s
    /// delivery again (paced as a write).
    pub async fn redeliver(&self, attempt_id: u64) -> Result<(), GitHubError> {
        self.app
            .send::<()>(
                Method::POST,
                &format!("/app/hook/deliveries/{attempt_id}/attempts"),
                None,
                &[],
            )
            .await
            .map(drop)
    }

    /// `GET /app/installations/{id}`.
    pub async fn installation_info(
        &self,
        id: InstallationId,
    ) -> Result<InstallationInfo, GitHubError> {
        self.app.get(&format!("/app/installations/{}", id.0)).await
    }

    /// `GET /app/installations`.
    pub async fn installations(&self) -> Result<Vec<InstallationInfo>, GitHubError> {
        self.app.get("/app/installations?per_page=100").await
    }

    /// The client acting as one installation (its access token is minted on first use).
    pub fn installation(&self, id: InstallationId) -> Result<Api, GitHubError> {
        let mut installations = self
            .installations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(api) = installations.get(&id.0) {
            return Ok(api.clone());
        }
        let crab = self
            .app
            .crab
            .installation(octocrab::models::InstallationId(id.0))
            .map_err(|error| GitHubError::Client {
                url: self.api_url.clone(),
                source: error.into(),
            })?;
        let slots = self.write_slots.clone().map(|store| (store, id));
        let api = Api::new(
            crab,
            self.read_cache_for,
            Pacer::new(self.pacing.clone(), slots),
            self.metrics.clone(),
        );
        installations.insert(id.0, api.clone());
        Ok(api)
    }
}

/// GitHub's API as the App itself or as one of its installations, with the installation's
/// cached reads and its paced writes.
#[derive(Clone)]
pub struct Api {
    crab: Arc<Octocrab>,
    cache: Arc<ReadCache>,
    pacer: Arc<Pacer>,
    metrics: Option<Arc<Metrics>>,
}

tokio::task_local! {
    /// When the job being run became due: cached reads older than that are asked again.
    static READ_SINCE: chrono::DateTime<chrono::Utc>;
}

/// Runs `work` (one job) so that what it reads through the read cache is no older than
/// `since`: a job never acts on a configuration older than the event that caused it.
pub async fn reading_since<F: std::future::Future>(
    since: chrono::DateTime<chrono::Utc>,
    work: F,
) -> F::Output {
    READ_SINCE.scope(since, work).await
}

/// The longest a job waits for its installation's next write; a later turn ends the attempt
/// and the job runs again then.
const MAX_PACE_WAIT: Duration = Duration::from_secs(10);

/// Whether GitHub counts a request as content-creating (GraphQL is decided by the caller).
fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// How long herald waits out one rate limit before the outbox retries later.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The wait GitHub asks for, when `answer` is a primary or secondary rate limit.
/// How the metrics count `answer`.
fn github_outcome(answer: &Answer) -> GitHubOutcome {
    match answer.status {
        status if status.is_success() => GitHubOutcome::ok,
        StatusCode::NOT_MODIFIED => GitHubOutcome::not_modified,
        _ if rate_limit_wait(answer).is_some() => GitHubOutcome::rate_limited,
        status if status.is_server_error() => GitHubOutcome::server_error,
        _ => GitHubOutcome::refused,
    }
}

fn rate_limit_wait(answer: &Answer) -> Option<Duration> {
    let limited = answer.status == StatusCode::TOO_MANY_REQUESTS
        || (answer.status == StatusCode::FORBIDDEN
            && (answer.header("retry-after").is_some()
                || answer.header("x-ratelimit-remaining") == Some("0")));
    if !limited {
        return None;
    }
    let seconds = answer
        .header("retry-after")
        .and_then(|value| value.trim().parse::<u64>().ok())
        .or_else(|| {
            let reset: i64 = answer.header("x-ratelimit-reset")?.trim().parse().ok()?;
            u64::try_from(reset - chrono::Utc::now().timestamp()).ok()
        })
        .unwrap_or(5);
    Some(Duration::from_secs(seconds.max(1)).min(MAX_RATE_LIMIT_WAIT))
}

/// A GitHub answer: status, headers and body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self, method: &Method, path: &str) -> Result<T, GitHubError> {
        serde_json::from_slice(&self.body).map_err(|error| GitHubError::Decode {
            method: method.clone(),
            path: path.to_owned(),
            source: error.into(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl Api {
    fn new(
        crab: Octocrab,
        read_cache_for: Duration,
        pacer: Pacer,
        metrics: Option<Arc<Metrics>>,
    ) -> Api {
        Api {
            crab: Arc::new(crab),
            cache: Arc::new(ReadCache::new(read_cache_for)),
            pacer: Arc::new(pacer),
            metrics,
        }
    }

    /// The installation's access token (cached until shortly before it expires), for git
    /// over HTTPS. Kept secret: it goes into a child process's environment, nowhere else.
    pub async fn token(&self) -> Result<SecretString, GitHubError> {
        self.crab
            .installation_token()
            .await
            .map_err(|error| GitHubError::Client {
                url: "installation token".to_owned(),
                source: error.into(),
            })
    }

    /// Any request through octocrab's stack (auth, base URL, timeouts) with herald's
    /// retries; a non-2xx answer other than 304 is an error.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, GitHubError> {
        let write = is_write(&method);
        self.send_as(write, method, path, body, headers).await
    }

    /// [`Api::send`], paced as a write when `write`.
    async fn send_as<B: Serialize + ?Sized>(
        &self,
        write: bool,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, GitHubError> {
        // Paths only in logs: queries may hold cursors, never tokens, but stay out anyway.
        let logged = path.split('?').next().unwrap_or(path);
        let mut answer = self.paced(write, &method, path, body, headers).await?;
        for _ in 0..MAX_RETRIES {
            if let Some(wait) = rate_limit_wait(&answer) {
                // A rate-limited request did not run: waiting and sending it again is safe.
                tracing::warn!(method = %method, path = logged, status = answer.status.as_u16(), waiting_seconds = wait.as_secs(), "GitHub rate limit: waiting as asked");
                tokio::time::sleep(wait).await;
            } else if answer.status.is_server_error() && method != Method::POST {
                tracing::warn!(method = %method, path = logged, status = answer.status.as_u16(), "GitHub request failed; retrying");
            } else {
                break;
            }
            answer = self.paced(write, &method, path, body, headers).await?;
        }
        self.checked(method, path, answer)
    }

    /// One exchange, in its turn when it is a write.
    async fn paced<B: Serialize + ?Sized>(
        &self,
        write: bool,
        method: &Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, GitHubError> {
        if !write {
            return self.exchange(method, path, body, headers).await;
        }
        let turn = self
            .pacer
            .turn(MAX_PACE_WAIT)
            .await
            .map_err(|refused| match refused {
                NoTurn::Later(wait) => GitHubError::Paced {
                    method: method.clone(),
                    path: path.split('?').next().unwrap_or(path).to_owned(),
                    wait,
                },
                NoTurn::Store(error) => GitHubError::WriteSlots(error),
            })?;
        let answer = self.exchange(method, path, body, headers).await;
        drop(turn);
        answer
    }

    /// The body GitHub answers for `path` (`None`: 404), from the installation's read cache
    /// while it is fresh, else asked again with its ETag (a 304 keeps it).
    pub async fn cached_get(&self, path: &str) -> Result<Option<Arc<[u8]>>, GitHubError> {
        let since = READ_SINCE.try_with(|since| *since).ok();
        let known = match self.cache.lookup(path, since) {
            Lookup::Fresh(body) => return Ok(body),
            Lookup::Stale(cached) => Some(cached),
            Lookup::Unknown => None,
        };
        let headers: Vec<(&'static str, String)> = known
            .as_ref()
            .and_then(|cached| cached.etag.clone())
            .map(|etag| ("if-none-match", etag))
            .into_iter()
            .collect();
        let answer = match self.send::<()>(Method::GET, path, None, &headers).await {
            Ok(answer) => answer,
            Err(error) if error.status() == Some(StatusCode::NOT_FOUND) => {
                self.cache.store(path, None, None);
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let etag = answer.header("etag").map(str::to_owned);
        let body = match known {
            Some(cached) if answer.status == StatusCode::NOT_MODIFIED => cached.body,
            _ => Some(Arc::from(answer.body)),
        };
        self.cache.store(path, body.clone(), etag);
        Ok(body)
    }

    /// One request and GitHub's answer, counted in the metrics.
    async fn exchange<B: Serialize + ?Sized>(
        &self,
        method: &Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, GitHubError> {
        let answer = self.exchange_once(method, path, body, headers).await;
        if let Some(metrics) = &self.metrics {
            let (outcome, remaining) = match &answer {
                Err(_) => (GitHubOutcome::unreachable, None),
                Ok(answer) => (
                    github_outcome(answer),
                    answer
                        .header("x-ratelimit-remaining")
                        .and_then(|remaining| remaining.trim().parse().ok()),
                ),
            };
            metrics.github_answer(outcome, remaining);
        }
        answer
    }

    async fn exchange_once<B: Serialize + ?Sized>(
        &self,
        method: &Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, GitHubError> {
        let transport = |source: Source| GitHubError::Transport {
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let mut builder = http::Request::builder().method(method.clone()).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = self
            .crab
            .build_request(builder, body)
            .map_err(|error| transport(error.into()))?;
        let response = self
            .crab
            .execute(request)
            .await
            .map_err(|error| transport(error.into()))?;
        let (parts, body) = response.into_parts();
        let body = bounded_body(body).await.map_err(transport)?.to_vec();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn checked(&self, method: Method, path: &str, answer: Answer) -> Result<Answer, GitHubError> {
        if answer.status.is_success() || answer.status == StatusCode::NOT_MODIFIED {
            return Ok(answer);
        }
        Err(GitHubError::Status {
            method,
            path: path.to_owned(),
            status: answer.status,
            message: error_message(&answer.body),
            rate_limited: rate_limit_wait(&answer).is_some(),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GitHubError> {
        self.send::<()>(Method::GET, path, None, &[])
            .await?
            .json(&Method::GET, path)
    }

    /// Sends JSON and reads JSON back.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, GitHubError> {
        self.send(method.clone(), path, Some(body), &[])
            .await?
            .json(&method, path)
    }
}

/// Whether a 4xx is final: the request as sent will never be accepted.
pub fn refused(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::GONE
            | StatusCode::UNPROCESSABLE_ENTITY
    )
}

/// GitHub's error message with the details of a validation failure (`errors[]`), in its
/// own words, on one line.
fn error_message(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return "no message".to_owned();
    };
    let message = value
        .get("message")
        .and_then(|message| message.as_str())
        .unwrap_or("no message");
    let details: Vec<String> = value
        .get("errors")
        .and_then(|errors| errors.as_array())
        .into_iter()
        .flatten()
        .filter_map(|error| match error {
            serde_json::Value::String(text) => Some(text.clone()),
            error => error
                .get("message")
                .and_then(|text| text.as_str())
                .map(str::to_owned)
                .or_else(|| {
                    let field = error.get("field")?.as_str()?;
                    let code = error.get("code")?.as_str()?;
                    Some(format!("{field} {code}"))
                }),
        })
        .collect();
    let text = if details.is_empty() {
        message.to_owned()
    } else {
        format!("{message} ({})", details.join("; "))
    };
    // GitHub's words reach logs, terminals, the store and tracking issues: one line, its
    // controls shown escaped, and no longer than any message GitHub writes.
    let mut line = crate::printable::safe_line(&text.replace(['\r', '\n'], " "));
    if let Some((cut, _)) = line.char_indices().nth(MAX_MESSAGE_CHARS) {
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// The most of a counterpart's message herald keeps.
const MAX_MESSAGE_CHARS: usize = 1000;

/// What stays as it is in a path segment: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (url, params) = link.split_once(';')?;
        params
            .split(';')
            .any(|param| param.trim() == "rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// One page of the App's delivery attempts, and where the next is.
pub struct DeliveriesPage {
    pub attempts: Vec<HookDelivery>,
    pub next: NextPage,
}

pub enum NextPage {
    None,
    /// The next page's path on the configured API.
    Path(String),
    /// GitHub named a next page elsewhere: not followed (the App's JWT would go there).
    Elsewhere,
}

/// The path of the next page of the App's deliveries that a `rel="next"` URL names, only
/// when it is on this API (absolute, or relative to it) and that list: the App's JWT goes
/// nowhere else.
fn next_deliveries_page(api_url: &str, url: &str) -> Option<String> {
    // GitHub Enterprise Server's API lives under a path (`https://HOST/api/v3`): a link
    // relative to the host carries it.
    let api_path = api_url
        .parse::<http::Uri>()
        .map(|api| api.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    url.strip_prefix(api_url)
        .or_else(|| Some(url).filter(|url| url.starts_with('/') && !url.starts_with("//")))
        .map(|path| {
            path.strip_prefix(api_path.as_str())
                .filter(|rest| !api_path.is_empty() && rest.starts_with('/'))
                .unwrap_or(path)
        })
        .filter(|path| path.starts_with("/app/hook/deliveries?"))
        .map(str::to_owned)
}

/// One path segment, percent-encoded where RFC 3986 asks (labels and logins come from
/// outside). `.` and `..` alone would move up the path, so their dots are encoded.
pub fn segment(text: &str) -> String {
    if text == "." || text == ".." {
        return text.replace('.', "%2E");
    }
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::{MAX_MESSAGE_CHARS, error_message, next_deliveries_page, next_link, segment};

    #[test]
    fn on_github_enterprise_server_a_link_relative_to_the_host_is_followed() {
        let api = "https://ghe.example.org/api/v3";
        let next = |url: &str| next_deliveries_page(api, url);
        for link in [
            "https://ghe.example.org/api/v3/app/hook/deliveries?cursor=2",
            "/api/v3/app/hook/deliveries?cursor=2",
            "/app/hook/deliveries?cursor=2",
        ] {
            assert_eq!(
                next(link),
                Some("/app/hook/deliveries?cursor=2".to_owned()),
                "{link}"
            );
        }
        assert_eq!(next("/api/v4/app/hook/deliveries?cursor=2"), None);
        assert_eq!(
            next("https://ghe.example.org/app/hook/deliveries?c=2"),
            None
        );
    }

    #[test]
    fn githubs_words_are_one_bounded_line_with_controls_shown() {
        let said = error_message(br#"{"message":"bad \u001b[2J\u0007 \u202e\nnext"}"#);
        assert!(
            !said.chars().any(crate::printable::is_unprintable),
            "{said:?}"
        );
        assert!(said.starts_with("bad \\u{1b}[2J"), "{said:?}");
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(100_000));
        let said = error_message(long.as_bytes());
        assert_eq!(
            said.chars().count(),
            MAX_MESSAGE_CHARS + 1,
            "cut, with an ellipsis"
        );
    }

    #[test]
    fn the_apps_jwt_follows_a_next_page_only_on_its_own_api_and_list() {
        let api = "https://api.github.com";
        let next = |url: &str| next_deliveries_page(api, url);
        assert_eq!(
            next("https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_7"),
            Some("/app/hook/deliveries?per_page=100&cursor=v1_7".to_owned())
        );
        assert_eq!(
            next("https://evil.example/app/hook/deliveries?cursor=1"),
            None
        );
        assert_eq!(
            next("https://api.github.com.evil.example/app/hook/deliveries?c=1"),
            None
        );
        assert_eq!(
            next("https://api.github.com/app/installations?page=2"),
            None
        );
        assert_eq!(
            next("https://api.github.com/app/hook/deliveries/1/attempts?x"),
            None
        );
        assert_eq!(
            next("/app/hook/deliveries?cursor=2"),
            Some("/app/hook/deliveries?cursor=2".to_owned()),
            "relative to the API"
        );
        assert_eq!(next("//evil.example/app/hook/deliveries?cursor=2"), None);
    }

    #[test]
    fn the_next_link_is_found_among_others() {
        let header = "<https://api.github.com/repos/o/r/security-advisories?after=X&per_page=100>; rel=\"next\", <https://api.github.com/repos/o/r/security-advisories?before=Y>; rel=\"prev\"";
        assert_eq!(
            next_link(header),
            Some("https://api.github.com/repos/o/r/security-advisories?after=X&per_page=100")
        );
        assert_eq!(next_link("<https://x>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn only_what_asking_again_cannot_change_is_a_refusal() {
        use super::GitHubError;
        use http::{Method, StatusCode};
        let answer = |status: u16, message: &str, rate_limited: bool| GitHubError::Status {
            method: Method::PATCH,
            path: "/x".to_owned(),
            status: StatusCode::from_u16(status).expect("status"),
            message: message.to_owned(),
            rate_limited,
        };
        let refused = answer(422, "A patched version is required", false);
        assert_eq!(refused.refusal(), Some("A patched version is required"));
        assert!(answer(404, "Not Found", false).refusal().is_some());
        assert!(
            answer(403, "Resource not accessible by integration", false)
                .refusal()
                .is_some()
        );
        assert!(answer(403, "x", true).refusal().is_none(), "rate limited");
        assert!(
            answer(403, "You have exceeded a secondary rate limit", false)
                .refusal()
                .is_none()
        );
        assert!(answer(429, "slow down", false).refusal().is_none());
        assert!(answer(502, "Bad Gateway", false).refusal().is_none());
        assert!(answer(401, "Bad credentials", false).refusal().is_none());
        // What is worth asking again later for a rate limit, and only that.
        assert!(answer(403, "x", true).rate_limited());
        assert!(answer(403, "You have exceeded a secondary rate limit", false).rate_limited());
        assert!(answer(429, "slow down", false).rate_limited());
        assert!(!answer(502, "Bad Gateway", false).rate_limited());
        assert!(!refused.rate_limited());
    }

    #[test]
    fn path_segments_are_encoded_only_where_needed() {
        assert_eq!(segment("GHSA-abcd-1234-efgh"), "GHSA-abcd-1234-efgh");
        assert_eq!(segment(".github"), ".github");
        assert_eq!(segment("a_b~c"), "a_b~c");
        assert_eq!(
            segment("severity: high/x?y#z"),
            "severity%3A%20high%2Fx%3Fy%23z"
        );
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("."), "%2E");
        assert_eq!(segment("ü"), "%C3%BC");
    }
}
