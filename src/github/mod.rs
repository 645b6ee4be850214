//! herald as a GitHub App: the App's JWT (RS256, issued 60 s in the past and valid 9
//! minutes, octocrab's margins for clock skew), installation access tokens (cached per
//! installation by octocrab until 30 s before they expire, then minted again), and the few
//! REST calls herald makes. Rate limits are octocrab's `HandleRateLimits`: a 403 or 429 with
//! `Retry-After`, or with `X-RateLimit-Remaining: 0`, waits as GitHub asks and retries.

pub mod api;
pub mod sbom;

pub use api::{AppInfo, CommentInfo, InstallationInfo, IssueInfo, RepositoryInfo};

use crate::config::GitHubSettings;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use octocrab::service::middleware::retry::{RateLimitMetrics, RetryConfig};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "the GitHub App private key is not a PEM-encoded RSA private key ({0}); generate one \
         on the App's settings page and point HERALD_GITHUB_PRIVATE_KEY_FILE at it"
    )]
    Key(String),
    #[error("cannot sign the App's JSON web token: {0}")]
    Jwt(String),
    #[error("cannot set up the GitHub client for {url}: {error}")]
    Client { url: String, error: String },
    #[error("{method} {path}: GitHub answered {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    #[error("{method} {path}: {error}")]
    Transport {
        method: Method,
        path: String,
        error: String,
    },
    #[error("{method} {path}: unexpected answer: {error}")]
    Decode {
        method: Method,
        path: String,
        error: String,
    },
}

impl GitHubError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Logs GitHub's rate limiting as octocrab meets it (paths only: no tokens, no bodies).
struct RateLimitLog;

impl RateLimitMetrics for RateLimitLog {
    fn retry_after_error(
        &self,
        request: &http::Request<octocrab::OctoBody>,
        status: StatusCode,
        retries_remaining: usize,
    ) {
        tracing::warn!(method = %request.method(), path = request.uri().path(), status = status.as_u16(), retries_remaining, "GitHub request failed; retrying");
    }

    fn rate_limited(
        &self,
        request: &http::Request<octocrab::OctoBody>,
        status: StatusCode,
        retries_remaining: usize,
        waiting_seconds: u64,
    ) {
        tracing::warn!(method = %request.method(), path = request.uri().path(), status = status.as_u16(), retries_remaining, waiting_seconds, "GitHub rate limit: waiting as asked");
    }
}

/// How long herald waits, at most, for one rate limit before the job is retried later by
/// the outbox instead (which keeps its own backoff).
const MAX_RATE_LIMIT_RETRIES: usize = 3;

/// The App and a client per installation.
pub struct GitHub {
    app: Api,
    app_id: u64,
    key: octocrab::EncodingKey,
    api_url: String,
    installations: Mutex<HashMap<u64, Api>>,
}

impl GitHub {
    /// Checks the key and sets up the App client; makes no request.
    pub fn new(settings: &GitHubSettings) -> Result<GitHub, GitHubError> {
        let key = octocrab::EncodingKey::from_rsa_pem(
            settings.private_key.expose_secret().trim().as_bytes(),
        )
        // jsonwebtoken's message names the problem, never the key material.
        .map_err(|error| GitHubError::Key(error.to_string()))?;
        let client_error = |error: octocrab::Error| GitHubError::Client {
            url: settings.api_url.clone(),
            error: error.to_string(),
        };
        let app = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(client_error)?
            .app(AppId(settings.app_id), key.clone())
            .add_retry_config(RetryConfig::HandleRateLimits {
                metrics: Arc::new(RateLimitLog),
                max_retries: MAX_RATE_LIMIT_RETRIES,
                min_wait_seconds: 5,
                retry_on_forbidden: false,
            })
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(client_error)?;
        let github = GitHub {
            app: Api {
                crab: Arc::new(app),
            },
            app_id: settings.app_id,
            key,
            api_url: settings.api_url.clone(),
            installations: Mutex::new(HashMap::new()),
        };
        github.jwt()?;
        Ok(github)
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Signs a fresh App JWT (proves the key works; the token itself is not kept).
    pub fn jwt(&self) -> Result<(), GitHubError> {
        octocrab::auth::create_jwt(AppId(self.app_id), &self.key)
            .map(drop)
            .map_err(|error| GitHubError::Jwt(error.to_string()))
    }

    /// `GET /app`: the App the key belongs to.
    pub async fn app_info(&self) -> Result<AppInfo, GitHubError> {
        self.app.get("/app").await
    }

    /// `GET /app/installations`.
    pub async fn installations(&self) -> Result<Vec<InstallationInfo>, GitHubError> {
        self.app.get("/app/installations?per_page=100").await
    }

    /// The client acting as one installation (its access token is minted on first use).
    pub fn installation(&self, id: u64) -> Result<Api, GitHubError> {
        let mut installations = self
            .installations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(api) = installations.get(&id) {
            return Ok(api.clone());
        }
        let crab = self
            .app
            .crab
            .installation(InstallationId(id))
            .map_err(|error| GitHubError::Client {
                url: self.api_url.clone(),
                error: error.to_string(),
            })?;
        let api = Api {
            crab: Arc::new(crab),
        };
        installations.insert(id, api.clone());
        Ok(api)
    }
}

/// GitHub's API as the App itself or as one of its installations.
#[derive(Clone)]
pub struct Api {
    crab: Arc<Octocrab>,
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
            error: error.to_string(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl Api {
    /// Any request through octocrab's stack (auth, base URL, retries, timeouts); a non-2xx
    /// answer other than 304 is an error.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, GitHubError> {
        let transport = |error: String| GitHubError::Transport {
            method: method.clone(),
            path: path.to_owned(),
            error,
        };
        let mut builder = http::Request::builder().method(method.clone()).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = self
            .crab
            .build_request(builder, body)
            .map_err(|error| transport(error.to_string()))?;
        let response = self
            .crab
            .execute(request)
            .await
            .map_err(|error| transport(error.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| transport(error.to_string()))?
            .to_bytes()
            .to_vec();
        let answer = Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        if answer.status.is_success() || answer.status == StatusCode::NOT_MODIFIED {
            return Ok(answer);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|value| value.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "no message".to_owned());
        Err(GitHubError::Status {
            method,
            path: path.to_owned(),
            status: answer.status,
            message,
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

/// One path segment, percent-encoded (labels and logins come from outside).
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
