//! Fake upstreams on loopback, answering as each documents: feeds (any path) with an ETag
//! and 304 to a matching `If-None-Match`; OSV's `POST /v1/querybatch` (one result per
//! query, `{}` when nothing affects it) and `GET /v1/vulns/{id}`; NVD's
//! `GET /rest/json/cves/2.0?cpeName=…` (its CVE API 2.0 answer, or an empty page). Every
//! request is kept, with its headers, for the tests to read.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct World {
    /// Feeds and OSV records by path: content type and body.
    documents: HashMap<String, (String, Vec<u8>)>,
    /// Paths that answer with this status and text instead.
    broken: HashMap<String, (u16, Vec<u8>)>,
    /// Paths that moved: 301 to this address.
    moved: HashMap<String, String>,
    /// OSV: the ids affecting (ecosystem, package, version).
    osv: HashMap<(String, String, String), Vec<String>>,
    /// NVD: the answer for a CPE name.
    nvd: HashMap<String, Vec<u8>>,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FakeUpstreams {
    pub url: String,
    world: Arc<Mutex<World>>,
}

impl FakeUpstreams {
    pub async fn start() -> FakeUpstreams {
        let world = Arc::new(Mutex::new(World::default()));
        let app = Router::new().fallback(answer).with_state(world.clone());
        let url = super::serve_on_loopback(app).await;
        FakeUpstreams { url, world }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("fake upstreams")
    }

    /// Serves `body` at `path` from now on.
    pub fn publish(&self, path: &str, content_type: &str, body: &[u8]) {
        let mut world = self.world();
        world.broken.remove(path);
        world.moved.remove(path);
        world
            .documents
            .insert(path.to_owned(), (content_type.to_owned(), body.to_vec()));
    }

    /// Answers `path` with `status` and `body` from now on.
    pub fn break_path(&self, path: &str, status: u16, body: &[u8]) {
        self.world()
            .broken
            .insert(path.to_owned(), (status, body.to_vec()));
    }

    /// Answers `path` with a 301 to `to` from now on.
    pub fn move_path(&self, path: &str, to: &str) {
        self.world().moved.insert(path.to_owned(), to.to_owned());
    }

    /// OSV says `ids` affect `version` of the package.
    pub fn osv_affects(&self, (ecosystem, package, version): (&str, &str, &str), ids: &[&str]) {
        self.world().osv.insert(
            (ecosystem.to_owned(), package.to_owned(), version.to_owned()),
            ids.iter().map(|id| (*id).to_owned()).collect(),
        );
    }

    /// NVD answers `body` for `cpe_name`.
    pub fn nvd_answers(&self, cpe_name: &str, body: &[u8]) {
        self.world().nvd.insert(cpe_name.to_owned(), body.to_vec());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.world().seen.clone()
    }
}

async fn answer(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut world = world.lock().expect("fake upstreams");
    world.seen.push(Seen {
        method: method.to_string(),
        target: uri.to_string(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    });
    let path = uri.path();
    if let Some(to) = world.moved.get(path) {
        return (StatusCode::MOVED_PERMANENTLY, [("location", to.clone())]).into_response();
    }
    if let Some((status, body)) = world.broken.get(path) {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, body.clone()).into_response();
    }
    match (method, path) {
        (Method::POST, "/v1/querybatch") => querybatch(&world, &body),
        (Method::GET, "/rest/json/cves/2.0") => nvd(&world, &query),
        (Method::GET, _) => document(&world, path, &headers),
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// OSV's batch answer: one result per query, in order; `{}` for no vulnerability.
fn querybatch(world: &World, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": 3, "message": "Invalid JSON"})),
        )
            .into_response();
    };
    let results: Vec<Value> = request["queries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|query| {
            let key = (
                query["package"]["ecosystem"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                query["package"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                query["version"].as_str().unwrap_or_default().to_owned(),
            );
            match world.osv.get(&key) {
                Some(ids) => json!({
                    "vulns": ids
                        .iter()
                        .map(|id| json!({"id": id, "modified": "2026-11-20T18:22:41Z"}))
                        .collect::<Vec<_>>()
                }),
                None => json!({}),
            }
        })
        .collect();
    axum::Json(json!({ "results": results })).into_response()
}

/// NVD's answer for `cpeName`, or an empty page.
fn nvd(world: &World, query: &HashMap<String, String>) -> Response {
    let cpe = query.get("cpeName").cloned().unwrap_or_default();
    match world.nvd.get(&cpe) {
        Some(body) => ([("content-type", "application/json")], body.clone()).into_response(),
        None => axum::Json(json!({
            "resultsPerPage": 0, "startIndex": 0, "totalResults": 0, "format": "NVD_CVE",
            "version": "2.0", "timestamp": "2026-12-06T21:40:12.503", "vulnerabilities": []
        }))
        .into_response(),
    }
}

/// A document, with its ETag; 304 when the request names it.
fn document(world: &World, path: &str, headers: &HeaderMap) -> Response {
    let Some((content_type, body)) = world.documents.get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{:016x}\"", fxhash(body));
    let asked = headers
        .get("if-none-match")
        .and_then(|value| value.to_str().ok());
    if asked == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    (
        [("content-type", content_type.clone()), ("etag", etag)],
        body.clone(),
    )
        .into_response()
}

/// A stable digest of `bytes` for ETags.
fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3)
    })
}
