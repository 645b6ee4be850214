//! A git server on loopback: the real `git http-backend` (smart HTTP) behind a small CGI
//! bridge, serving bare repositories under a temporary root, as GitHub serves wikis at
//! `https://github.com/<owner>/<repo>.wiki.git`. Every request must carry HTTP basic
//! authentication `x-access-token:<installation token>`, as GitHub requires.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen {
    /// The tokens presented, in order.
    tokens: Vec<String>,
    requests: Vec<String>,
    /// Before the next push, commit this file to the repository (someone else's edit).
    race: Option<(String, String, String)>,
}

#[derive(Clone)]
struct Shared {
    root: Arc<PathBuf>,
    seen: Arc<Mutex<Seen>>,
}

pub struct GitServer {
    pub url: String,
    root: tempfile::TempDir,
    shared: Shared,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "someone")
        .env("GIT_AUTHOR_EMAIL", "someone@example.org")
        .env("GIT_COMMITTER_NAME", "someone")
        .env("GIT_COMMITTER_EMAIL", "someone@example.org")
        .output()
        .unwrap_or_else(|error| panic!("cannot run git ({error}): install git"));
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Commits `path` with `text` to the bare repository `bare`, as a push from elsewhere.
fn commit_file(bare: &Path, path: &str, text: &str) {
    let work = tempfile::tempdir().expect("temp dir");
    let bare = bare.to_string_lossy().into_owned();
    git(work.path(), &["clone", "--quiet", &bare, "w"]);
    let w = work.path().join("w");
    if let Some(parent) = Path::new(path).parent() {
        std::fs::create_dir_all(w.join(parent)).expect("folder");
    }
    std::fs::write(w.join(path), text).expect("file");
    git(&w, &["add", "--all"]);
    git(&w, &["commit", "--quiet", "-m", &format!("Edit {path}")]);
    git(&w, &["push", "--quiet", "origin", "HEAD"]);
}

fn authorised(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let token = text.strip_prefix("x-access-token:")?;
    token.starts_with("ghs_").then(|| token.to_owned())
}

async fn cgi(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri.query().unwrap_or("").to_owned();
    {
        let mut seen = shared.seen.lock().expect("git server");
        seen.requests
            .push(format!("{method} {}?{query}", uri.path()));
        let Some(token) = authorised(&headers) else {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("WWW-Authenticate", "Basic realm=\"GitHub\"")
                .body(Body::empty())
                .expect("response");
        };
        seen.tokens.push(token);
        if query == "service=git-receive-pack"
            && let Some((repo, path, text)) = seen.race.take()
        {
            commit_file(&shared.root.join(format!("{repo}.wiki.git")), &path, &text);
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", shared.root.as_os_str())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", &query)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git http-backend starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&body)
        .expect("request body to git");
    let output = child.wait_with_output().expect("git http-backend ends");
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| {
            raw.windows(2)
                .position(|window| window == b"\n\n")
                .map(|at| (at, 2))
        })
        .expect("CGI headers");
    let head = String::from_utf8_lossy(&raw[..split.0]).into_owned();
    let mut response = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value.trim()[..3].parse().expect("CGI status");
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value.trim());
        }
    }
    response
        .body(Body::from(raw[split.0 + split.1..].to_vec()))
        .expect("response")
}

impl GitServer {
    pub async fn start() -> GitServer {
        let root = tempfile::tempdir().expect("temp dir");
        let shared = Shared {
            root: Arc::new(root.path().to_owned()),
            seen: Arc::new(Mutex::new(Seen::default())),
        };
        let app = Router::new().fallback(cgi).with_state(shared.clone());
        let url = super::serve_on_loopback(app).await;
        GitServer { url, root, shared }
    }

    /// The bare repository of `repo`'s wiki, with its first page (GitHub creates the
    /// repository with it).
    pub fn create_wiki(&self, repo: &str) {
        let bare = self.wiki_path(repo);
        std::fs::create_dir_all(&bare).expect("folder");
        git(
            &bare,
            &["init", "--quiet", "--bare", "--initial-branch=master"],
        );
        commit_file(&bare, "Home.md", "Welcome to the wiki.\n");
    }

    /// Someone who can push to the wiki commits `path` as a symbolic link to `target`.
    pub fn commit_symlink(&self, repo: &str, path: &str, target: &Path) {
        let work = tempfile::tempdir().expect("temp dir");
        let bare = self.wiki_path(repo).to_string_lossy().into_owned();
        git(work.path(), &["clone", "--quiet", &bare, "w"]);
        let w = work.path().join("w");
        std::os::unix::fs::symlink(target, w.join(path)).expect("symlink");
        git(&w, &["add", "--all"]);
        git(&w, &["commit", "--quiet", "-m", &format!("Link {path}")]);
        git(&w, &["push", "--quiet", "origin", "HEAD"]);
    }

    pub fn wiki_path(&self, repo: &str) -> PathBuf {
        self.root.path().join(format!("{repo}.wiki.git"))
    }

    /// A file on the wiki's master branch, or `None`.
    pub fn file(&self, repo: &str, path: &str) -> Option<String> {
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(self.wiki_path(repo))
            .args(["show", &format!("master:{path}")])
            .output()
            .expect("git show");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Before herald's next push, someone else commits `path` to the wiki.
    pub fn race_next_push(&self, repo: &str, path: &str, text: &str) {
        self.shared.seen.lock().expect("git server").race =
            Some((repo.to_owned(), path.to_owned(), text.to_owned()));
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared
            .seen
            .lock()
            .expect("git server")
            .requests
            .clone()
    }

    pub fn tokens(&self) -> Vec<String> {
        self.shared.seen.lock().expect("git server").tokens.clone()
    }
}
