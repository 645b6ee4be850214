//! A fake Discourse forum on loopback, answering as Discourse's API documents: topics are
//! created with `POST /posts.json` (`title`, `raw`, `category`, `external_id`), replies with
//! `topic_id`, and `GET /t/external_id/{id}.json` redirects to the topic. Requests without
//! the right `Api-Key` and `Api-Username` are refused with 403, as Discourse does.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct FakeTopic {
    pub id: u64,
    pub slug: String,
    pub title: String,
    pub category: u64,
    pub external_id: Option<String>,
    /// The raw text of each post, the first being the topic's.
    pub posts: Vec<String>,
}

#[derive(Default)]
struct World {
    topics: Vec<FakeTopic>,
    requests: Vec<String>,
    /// Answer the next topic creation with 504 after creating it (a lost answer).
    lose_next_create: bool,
    /// Every `Api-Key` a request carried, whoever sent it.
    keys_seen: Vec<String>,
    /// The forum "moved": every request is redirected (307) to the same path there.
    moved_to: Option<String>,
}

#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    api_key: String,
}

pub struct FakeDiscourse {
    pub url: String,
    shared: Shared,
}

pub const API_KEY: &str = "discourse-api-key-never-logged";

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({
            "errors": ["You are not permitted to view the requested resource. The API username or key is invalid."],
            "error_type": "invalid_access"
        })),
    )
        .into_response()
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    header("Api-Key") == Some(shared.api_key.as_str())
        && header("Api-Username").is_some_and(|user| !user.is_empty())
}

fn slug(title: &str) -> String {
    let slug: String = title
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug.split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn topic_json(topic: &FakeTopic) -> Value {
    json!({
        "id": topic.id,
        "slug": topic.slug,
        "title": topic.title,
        "category_id": topic.category,
        "external_id": topic.external_id,
        "posts_count": topic.posts.len(),
        "post_stream": { "posts": topic.posts.iter().enumerate().map(|(index, raw)| json!({
            "post_number": index + 1, "raw": raw })).collect::<Vec<_>>() }
    })
}

async fn create_post(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut world = shared.world.lock().expect("fake Discourse");
    world.requests.push("POST /posts.json".to_owned());
    if !authorised(&shared, &headers) {
        return refused();
    }
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body must be JSON").into_response();
    };
    let invalid = |message: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({ "errors": [message] })),
        )
            .into_response()
    };
    let Some(raw) = body.get("raw").and_then(Value::as_str).map(str::to_owned) else {
        return invalid("Body can't be blank");
    };
    // Discourse's default site settings: max_post_length 32000, max_topic_title_length 255.
    let length = raw.chars().count();
    if length > 32_000 {
        return invalid(&format!(
            "Body is limited to 32000 characters; you entered {length}."
        ));
    }
    if body
        .get("title")
        .and_then(Value::as_str)
        .is_some_and(|title| title.chars().count() > 255)
    {
        return invalid("Title is too long (maximum is 255 characters)");
    }
    if let Some(topic_id) = body.get("topic_id").and_then(Value::as_u64) {
        let Some(topic) = world.topics.iter_mut().find(|topic| topic.id == topic_id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        topic.posts.push(raw);
        let answer = json!({ "id": 1000 + topic.posts.len(), "topic_id": topic.id,
                             "topic_slug": topic.slug, "post_number": topic.posts.len() });
        return axum::Json(answer).into_response();
    }
    let Some(title) = body.get("title").and_then(Value::as_str).map(str::to_owned) else {
        return invalid("Title can't be blank");
    };
    let Some(category) = body.get("category").and_then(Value::as_u64) else {
        return invalid("Category can't be blank");
    };
    let external_id = body
        .get("external_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if external_id.as_ref().is_some_and(|id| {
        id.len() > 50
            || world
                .topics
                .iter()
                .any(|topic| topic.external_id.as_ref() == Some(id))
    }) {
        return invalid("External ID has already been taken");
    }
    let id = world.topics.len() as u64 + 1;
    let topic = FakeTopic {
        id,
        slug: slug(&title),
        title,
        category,
        external_id,
        posts: vec![raw],
    };
    let answer =
        json!({ "id": 1000 + id, "topic_id": id, "topic_slug": topic.slug, "post_number": 1 });
    world.topics.push(topic);
    if std::mem::take(&mut world.lose_next_create) {
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    axum::Json(answer).into_response()
}

async fn by_external_id(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let mut world = shared.world.lock().expect("fake Discourse");
    world.requests.push(format!("GET /t/external_id/{file}"));
    if !authorised(&shared, &headers) {
        return refused();
    }
    let external_id = file.trim_end_matches(".json");
    match world
        .topics
        .iter()
        .find(|topic| topic.external_id.as_deref() == Some(external_id))
    {
        Some(topic) => {
            Redirect::permanent(&format!("/t/{}/{}.json", topic.slug, topic.id)).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn topic(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((slug, file)): Path<(String, String)>,
) -> Response {
    let mut world = shared.world.lock().expect("fake Discourse");
    world.requests.push(format!("GET /t/{slug}/{file}"));
    if !authorised(&shared, &headers) {
        return refused();
    }
    let id: Option<u64> = file.trim_end_matches(".json").parse().ok();
    match world.topics.iter().find(|topic| Some(topic.id) == id) {
        Some(topic) => axum::Json(topic_json(topic)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Notes the request's `Api-Key`, and redirects it when the forum has moved.
async fn keys_and_moves(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let moved_to = {
        let mut world = shared.world.lock().expect("fake Discourse");
        if let Some(key) = request.headers().get("Api-Key") {
            world
                .keys_seen
                .push(String::from_utf8_lossy(key.as_bytes()).into_owned());
        }
        world.moved_to.clone()
    };
    match moved_to {
        Some(base) => Redirect::temporary(&format!("{base}{}", request.uri())).into_response(),
        None => next.run(request).await,
    }
}

impl FakeDiscourse {
    pub async fn start() -> FakeDiscourse {
        let shared = Shared {
            world: Arc::new(Mutex::new(World::default())),
            api_key: API_KEY.to_owned(),
        };
        let app = Router::new()
            .route("/posts.json", post(create_post))
            .route("/t/external_id/{file}", get(by_external_id))
            .route("/t/{slug}/{file}", get(topic))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                keys_and_moves,
            ))
            .with_state(shared.clone());
        let url = super::serve_on_loopback(app).await;
        FakeDiscourse { url, shared }
    }

    pub fn topics(&self) -> Vec<FakeTopic> {
        self.shared
            .world
            .lock()
            .expect("fake Discourse")
            .topics
            .clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared
            .world
            .lock()
            .expect("fake Discourse")
            .requests
            .clone()
    }

    /// Every `Api-Key` header any request carried.
    pub fn keys_seen(&self) -> Vec<String> {
        self.shared
            .world
            .lock()
            .expect("fake Discourse")
            .keys_seen
            .clone()
    }

    /// From now on every request is redirected to the same path under `base`.
    pub fn move_to(&self, base: &str) {
        self.shared.world.lock().expect("fake Discourse").moved_to = Some(base.to_owned());
    }

    pub fn lose_next_create(&self) {
        self.shared
            .world
            .lock()
            .expect("fake Discourse")
            .lose_next_create = true;
    }
}
