//! `herald setup`: registers herald as a GitHub App through GitHub's manifest flow.
//!
//! A page on loopback holds a form whose button posts the manifest (`app.yml`, with the
//! webhook URL and a way back here) to GitHub. GitHub asks the user to confirm, then sends
//! the browser back with a one-time code, which herald exchanges for the App's id, webhook
//! secret and private key, written to new files (mode 0600). No secret is printed.

use crate::config::GitHubUrls;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// What `herald setup` was asked for.
pub struct SetupRequest {
    /// Where GitHub is to send webhooks: herald's public address and `/webhooks`.
    pub webhook_url: String,
    /// The App's name on GitHub (names are unique on GitHub).
    pub name: String,
    /// The App's homepage (`None`: app.yml's).
    pub homepage: Option<String>,
    /// Register the App for this organisation instead of the user's account.
    pub org: Option<String>,
    /// Where the local page listens.
    pub listen: SocketAddr,
    pub settings_out: PathBuf,
    pub key_out: PathBuf,
    pub github: GitHubUrls,
}

/// The App GitHub registered, as `herald setup` wrote it down.
#[derive(Debug)]
pub struct Registered {
    pub slug: String,
    pub html_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "{0} exists: herald setup never overwrites a file (move it away, or name another \
         with --settings-out or --key-out)"
    )]
    Exists(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "the page was answered with a state that is not this setup's: nothing was \
         registered by herald (run `herald setup` again, and use the page it prints)"
    )]
    StateMismatch,
    #[error("GitHub sent the browser back without a code")]
    NoCode,
    #[error(
        "GitHub refused the code ({status}): {message}. A code is good once, within an \
         hour: run `herald setup` again"
    )]
    Refused { status: u16, message: String },
    #[error("cannot reach GitHub at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("GitHub's answer to the code is not what GitHub documents: {0}")]
    Shape(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// GitHub's answer to `POST /app-manifests/{code}/conversions` (the fields herald keeps).
#[derive(serde::Deserialize)]
struct Conversion {
    id: u64,
    slug: String,
    html_url: String,
    webhook_secret: Option<String>,
    pem: String,
}

/// The page, the state it expects back, and where the result goes.
struct Flow {
    request: SetupRequest,
    state: String,
    page: String,
    /// The `Host` values a browser sends to this page: its loopback address and port.
    hosts: Vec<String>,
    done: Mutex<Option<oneshot::Sender<Result<Registered, SetupError>>>>,
}

/// Serves the page until GitHub sends the browser back, then registers the App's files.
/// `ready` is told the page's address once it listens.
pub async fn run(
    request: SetupRequest,
    ready: impl FnOnce(SocketAddr),
) -> Result<Registered, SetupError> {
    for path in [&request.settings_out, &request.key_out] {
        if path.exists() {
            return Err(SetupError::Exists(path.clone()));
        }
    }
    // Bad arguments are told before anything listens.
    let form = Form::new(&request)?;
    let listener = tokio::net::TcpListener::bind(request.listen)
        .await
        .map_err(|source| SetupError::Listen {
            addr: request.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SetupError::Listen {
        addr: request.listen,
        source,
    })?;
    let state = random_state()?;
    let page = form.page(&request, &state, addr);
    let (done, result) = oneshot::channel();
    let hosts = vec![addr.to_string(), format!("localhost:{}", addr.port())];
    let flow = Arc::new(Flow {
        request,
        state,
        page,
        hosts,
        done: Mutex::new(Some(done)),
    });
    let app = Router::new()
        .route("/", get(show_page))
        .route("/callback", get(callback))
        .layer(axum::middleware::from_fn_with_state(flow.clone(), own_host))
        .with_state(flow);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    ready(addr);
    let result = result
        .await
        .unwrap_or_else(|_| Err(SetupError::Shape("the page stopped".to_owned())));
    // The browser still gets its answer page; a connection it keeps open is not waited for.
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), server).await;
    result
}

/// 16 random bytes, hex: the `state` GitHub hands back, so that only this setup's
/// registration is taken.
fn random_state() -> Result<String, SetupError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|error| SetupError::Invalid(format!("no randomness for the state: {error}")))?;
    Ok(hex::encode(bytes))
}

/// What the page's form sends, checked: herald's manifest (`app.yml` with the name, the
/// homepage and the webhook URL) and the path of GitHub's "new App" page.
struct Form {
    manifest: serde_json::Value,
    new_app: String,
}

impl Form {
    fn new(request: &SetupRequest) -> Result<Form, SetupError> {
        Ok(Form {
            manifest: manifest(request)?,
            new_app: new_app_path(request.org.as_deref())?,
        })
    }

    /// The page: one form, posting the manifest (with the way back to `addr`) to GitHub's
    /// "new App" page.
    fn page(&self, request: &SetupRequest, state: &str, addr: SocketAddr) -> String {
        let mut manifest = self.manifest.clone();
        manifest["redirect_url"] = format!("http://{addr}/callback").into();
        let action = format!("{}/{}?state={state}", request.github.web_url, self.new_app);
        let escape = handlebars::html_escape;
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Register herald on GitHub</title></head><body>\n\
             <h1>Register herald as a GitHub App</h1>\n\
             <p>The button sends herald's manifest (its events and permissions, and the webhook \
             address {webhook}) to GitHub, which asks you to confirm and then sends you back \
             here.</p>\n\
             <form action=\"{action}\" method=\"post\">\
             <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\
             <button type=\"submit\" id=\"register\">Create the GitHub App</button></form>\n\
             </body></html>\n",
            webhook = escape(&request.webhook_url),
            action = escape(&action),
            manifest = escape(&manifest.to_string()),
        )
    }
}

/// herald's manifest: `app.yml`, with the name, the homepage and the webhook URL.
fn manifest(request: &SetupRequest) -> Result<serde_json::Value, SetupError> {
    let mut manifest: serde_json::Value = yaml_serde::from_str(include_str!("../app.yml"))
        .map_err(|error| SetupError::Invalid(format!("app.yml is not a manifest: {error}")))?;
    let url = |text: &str, what: &str| {
        reqwest::Url::parse(text)
            .ok()
            .filter(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some())
            .map(|_| text.to_owned())
            .ok_or_else(|| SetupError::Invalid(format!("{what} {text:?} is not an http(s) URL")))
    };
    manifest["name"] = app_name(&request.name, "--name")?.into();
    manifest["hook_attributes"]["url"] = url(&request.webhook_url, "--webhook-url")?.into();
    if let Some(homepage) = &request.homepage {
        manifest["url"] = url(homepage, "--url")?.into();
    }
    Ok(manifest)
}

/// A name GitHub takes: 1 to 34 printable characters.
fn app_name(text: &str, what: &str) -> Result<String, SetupError> {
    let fine = !text.trim().is_empty()
        && text.chars().count() <= 34
        && !text.chars().any(char::is_control);
    if fine {
        Ok(text.trim().to_owned())
    } else {
        Err(SetupError::Invalid(format!(
            "{what} {text:?} is not a GitHub App name (1 to 34 printable characters)"
        )))
    }
}

/// GitHub's "new App" page: the user's, or the organisation's.
fn new_app_path(org: Option<&str>) -> Result<String, SetupError> {
    let Some(org) = org else {
        return Ok("settings/apps/new".to_owned());
    };
    let valid = !org.is_empty()
        && org.len() <= 39
        && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(SetupError::Invalid(format!(
            "--org {org:?} is not a GitHub organisation name"
        )));
    }
    Ok(format!("organizations/{org}/settings/apps/new"))
}

/// Answers only requests for this page's own address: a page of another site whose name
/// was made to point at 127.0.0.1 (DNS rebinding) sends its own name as `Host`, and is
/// refused before it could read the page and its state.
async fn own_host(
    State(flow): State<Arc<Flow>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok());
    if host.is_some_and(|host| flow.hosts.iter().any(|own| own.eq_ignore_ascii_case(host))) {
        next.run(request).await
    } else {
        (
            http::StatusCode::MISDIRECTED_REQUEST,
            "herald setup answers only on its own loopback address\n",
        )
            .into_response()
    }
}

async fn show_page(State(flow): State<Arc<Flow>>) -> Html<String> {
    Html(flow.page.clone())
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// GitHub sends the browser back here with the code (and the state herald gave).
async fn callback(State(flow): State<Arc<Flow>>, Query(back): Query<Callback>) -> Html<String> {
    // Only a callback carrying this setup's state ends it: anything else is answered and
    // the page keeps waiting for GitHub's.
    if back.state.as_deref() != Some(flow.state.as_str()) {
        return Html(result_page(&Err(SetupError::StateMismatch)));
    }
    let result = match back.code {
        None => Err(SetupError::NoCode),
        Some(code) => register(&flow.request, &code).await,
    };
    let page = result_page(&result);
    let done = flow
        .done
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    if let Some(done) = done {
        let _ = done.send(result);
    }
    Html(page)
}

/// The page the browser sees at the end.
fn result_page(result: &Result<Registered, SetupError>) -> String {
    match result {
        Ok(registered) => format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>herald is registered</title></head><body>\n\
             <h1>herald is registered as {slug}</h1>\n\
             <p>Next: <a href=\"{install}\">install the App</a>, then run \
             <code>herald doctor</code>.</p></body></html>\n",
            slug = handlebars::html_escape(&registered.slug),
            install =
                handlebars::html_escape(&format!("{}/installations/new", registered.html_url)),
        ),
        Err(error) => format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>herald setup failed</title></head><body>\n\
             <h1>herald setup failed</h1>\n<p>{}</p></body></html>\n",
            handlebars::html_escape(&error.to_string())
        ),
    }
}

/// Exchanges the code for the App's credentials and writes them down.
async fn register(request: &SetupRequest, code: &str) -> Result<Registered, SetupError> {
    if code.is_empty()
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(SetupError::NoCode);
    }
    let url = format!(
        "{}/app-manifests/{code}/conversions",
        request.github.api_url
    );
    let unreachable = |source| SetupError::Unreachable {
        url: request.github.api_url.clone(),
        source,
    };
    // reqwest takes its TLS crypto from the process: ring, as the rest of herald uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(unreachable)?;
    let response = client
        .post(&url)
        .header("Accept", "application/vnd.github+json")
        .header("User-Agent", "herald-setup")
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let body = response.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        return Err(SetupError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    let conversion: Conversion =
        serde_json::from_slice(&body).map_err(|error| SetupError::Shape(error.to_string()))?;
    let secret = conversion
        .webhook_secret
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| SetupError::Shape("no webhook secret".to_owned()))?;
    write_new(&request.key_out, conversion.pem.as_bytes())?;
    let key_path = std::path::absolute(&request.key_out).unwrap_or(request.key_out.clone());
    let quoted = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let mut settings = format!(
        "# Written by `herald setup` for the GitHub App {} ({}).\n\
         github_app_id = {}\n\
         github_private_key_file = {}\n\
         webhook_secret = {}\n",
        conversion.slug,
        conversion.html_url,
        conversion.id,
        quoted(&key_path.display().to_string()),
        quoted(&secret),
    );
    if request.github.api_url != crate::config::DEFAULT_GITHUB_API_URL {
        settings.push_str(&format!(
            "github_api_url = {}\ngithub_web_url = {}\n",
            quoted(&request.github.api_url),
            quoted(&request.github.web_url)
        ));
    }
    write_new(&request.settings_out, settings.as_bytes())?;
    Ok(Registered {
        slug: conversion.slug,
        html_url: conversion.html_url,
    })
}

/// Writes a new file readable only by its owner; an existing one is never overwritten.
fn write_new(path: &Path, contents: &[u8]) -> Result<(), SetupError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(path)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()));
    written.map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => SetupError::Exists(path.to_owned()),
        _ => SetupError::Write {
            path: path.to_owned(),
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(org: Option<&str>, name: &str) -> SetupRequest {
        SetupRequest {
            webhook_url: "https://herald.example.org/webhooks".to_owned(),
            name: name.to_owned(),
            homepage: None,
            org: org.map(str::to_owned),
            listen: SocketAddr::from(([127, 0, 0, 1], 3333)),
            settings_out: PathBuf::from("herald.toml"),
            key_out: PathBuf::from("herald-github-app.pem"),
            github: GitHubUrls {
                api_url: "https://ghe.example.org/api/v3".to_owned(),
                web_url: "https://ghe.example.org".to_owned(),
            },
        }
    }

    /// The page for `request`, served on 127.0.0.1:4000 with `state`.
    fn page_for(request: &SetupRequest, state: &str) -> Result<String, SetupError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 4000));
        Form::new(request).map(|form| form.page(request, state, addr))
    }

    #[test]
    fn the_page_posts_the_escaped_manifest_to_the_right_new_app_page() {
        let page = page_for(&request(Some("acme-corp"), "herald \"<b>\""), "s1").expect("page");
        assert!(
            page.contains(
                "action=\"https://ghe.example.org/organizations/acme-corp/settings/apps/new?state&#x3D;s1\""
            ),
            "{page}"
        );
        assert!(
            page.contains("&quot;redirect_url&quot;:&quot;http://127.0.0.1:4000/callback&quot;"),
            "{page}"
        );
        assert!(!page.contains("<b>"), "the name is escaped: {page}");
        let own = page_for(&request(None, "herald"), "s2").expect("page");
        assert!(
            own.contains("https://ghe.example.org/settings/apps/new?state"),
            "{own}"
        );
    }

    #[test]
    fn names_and_organisations_github_would_refuse_are_refused_here() {
        for (org, name) in [
            (Some("acme/../x"), "herald"),
            (Some(""), "herald"),
            (None, ""),
            (None, "a name far longer than thirty-four characters"),
        ] {
            assert!(
                matches!(
                    page_for(&request(org, name), "s"),
                    Err(SetupError::Invalid(_))
                ),
                "{org:?} {name:?}"
            );
        }
    }
}
