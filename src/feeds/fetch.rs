//! HTTP to the upstreams: conditional requests (ETag, Last-Modified), one request at a
//! time to each host with a pause between them, a timeout, and a bound on every answer.
//! Redirects are followed only within the same origin, so a header meant for a source
//! (NVD's API key) never goes elsewhere.

use crate::store::SourceState;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The longest herald waits for one answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The most herald reads of one answer: a feed is tens of kilobytes, an OSV record or a
/// page of NVD CVEs a few megabytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// A failed read. Each names its source by scheme, host and path alone: a query may hold
/// a token, which errors and logs never repeat.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{}: {what}", shown(.url))]
    Request { url: String, what: String },
    #[error("{} answered {status}: {words}", shown(.url))]
    Status {
        url: String,
        status: u16,
        words: String,
    },
    #[error(
        "{} redirects to {to}, another origin: herald follows redirects within a source's \
         origin only; put the new address in herald.toml",
        shown(.url)
    )]
    Redirected { url: String, to: String },
    #[error("{}: an answer over {} MiB, not read", shown(.url), MAX_ANSWER_BYTES >> 20)]
    TooLarge { url: String },
}

/// `url` as errors show it: [`crate::redact::address`].
fn shown(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "(an address that is not a URL)".to_owned(),
        |url| crate::redact::address(&url),
    )
}

/// What a source answered.
#[derive(Debug)]
pub enum Fetched {
    /// Nothing new since the validators herald sent (304).
    Unchanged,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// One client for every upstream, pacing each host.
pub struct Fetcher {
    client: reqwest::Client,
    /// When each host may be asked again.
    next: Mutex<HashMap<String, Instant>>,
}

impl Fetcher {
    pub fn new() -> Result<Fetcher, FetchError> {
        // reqwest takes its TLS crypto from the process: ring, as octocrab and lettre use.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_origin = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.origin() == attempt.url().origin());
                if same_origin && attempt.previous().len() < 5 {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| FetchError::Request {
                url: String::new(),
                what: error.to_string(),
            })?;
        Ok(Fetcher {
            client,
            next: Mutex::new(HashMap::new()),
        })
    }

    /// Waits until `url`'s host may be asked, and books the next turn `pause` later.
    async fn turn(&self, url: &reqwest::Url, pause: Duration) {
        let host = url.host_str().unwrap_or_default().to_owned();
        let wait = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = next.get(&host).copied().unwrap_or(now).max(now);
            next.insert(host, at + pause);
            at
        };
        tokio::time::sleep_until(wait).await;
    }

    /// A conditional GET of `url`, with `headers` besides.
    pub async fn get(
        &self,
        url: &str,
        state: Option<&SourceState>,
        headers: &[(&str, &str)],
        pause: Duration,
    ) -> Result<Fetched, FetchError> {
        let parsed = parse(url)?;
        self.turn(&parsed, pause).await;
        let mut request = self.client.get(parsed);
        if let Some(state) = state {
            if let Some(etag) = &state.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(last_modified) = &state.last_modified {
                request = request.header("If-Modified-Since", last_modified);
            }
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|error| failed(url, error))?;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::Unchanged);
        }
        let validator = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .filter(|value| value.len() <= 256)
                .map(str::to_owned)
        };
        let (etag, last_modified) = (validator("etag"), validator("last-modified"));
        let bytes = body(url, response).await?;
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }

    /// A POST of `json` to `url`; the answer's bytes.
    pub async fn post_json(
        &self,
        url: &str,
        json: &serde_json::Value,
        pause: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        let parsed = parse(url)?;
        self.turn(&parsed, pause).await;
        let response = self
            .client
            .post(parsed)
            .json(json)
            .send()
            .await
            .map_err(|error| failed(url, error))?;
        body(url, response).await
    }
}

fn parse(url: &str) -> Result<reqwest::Url, FetchError> {
    reqwest::Url::parse(url).map_err(|error| FetchError::Request {
        url: url.to_owned(),
        what: error.to_string(),
    })
}

/// A failed request, in words that never repeat the URL's query (which may hold a key).
fn failed(url: &str, error: reqwest::Error) -> FetchError {
    let error = error.without_url();
    let mut what = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        what.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    FetchError::Request {
        url: url.to_owned(),
        what,
    }
}

/// The answer's body, read up to [`MAX_ANSWER_BYTES`]; a refusal in its own words.
async fn body(url: &str, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    let status = response.status();
    if status.is_redirection() {
        let to = response
            .headers()
            .get("location")
            .and_then(|location| location.to_str().ok())
            .and_then(|location| response.url().join(location).ok())
            .map_or_else(|| "nowhere it says".to_owned(), |to| shown(to.as_str()));
        return Err(FetchError::Redirected {
            url: url.to_owned(),
            to: crate::printable::safe_line(&to),
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| failed(url, error))? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let words: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            words: crate::printable::safe_line(&words),
        });
    }
    Ok(bytes)
}
