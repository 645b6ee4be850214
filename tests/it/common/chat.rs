//! A fake team chat on loopback with the incoming webhooks of Slack (`POST /slack`,
//! `{"text": …}`, answered `ok`), matrix-hookshot (`POST /matrix`, `{"text": …, "html": …}`,
//! answered `{"ok": true}`) and Discord (`POST /discord`, `{"content": …,
//! "allowed_mentions": …}`, answered 204). A payload of the wrong shape is refused with 400,
//! as the services do; the chat can be made to fail with 500 to stand for an outage.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct World {
    /// Accepted payloads, as (format, payload).
    received: Vec<(String, Value)>,
    /// Requests answered 500 (an outage), counted.
    failed: usize,
    down: bool,
}

pub struct FakeChat {
    /// The base URL; a webhook is `{url}/{format}`.
    pub url: String,
    world: Arc<Mutex<World>>,
}

impl FakeChat {
    pub async fn start() -> FakeChat {
        let world = Arc::new(Mutex::new(World::default()));
        let app = Router::new()
            .route("/hooks/{format}", post(receive))
            .with_state(world.clone());
        let url = super::serve_on_loopback(app).await;
        FakeChat {
            url: format!("{url}/hooks"),
            world,
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The payloads accepted so far for `format`.
    pub fn received(&self, format: &str) -> Vec<Value> {
        self.world()
            .received
            .iter()
            .filter(|(of, _)| of == format)
            .map(|(_, payload)| payload.clone())
            .collect()
    }

    /// From now on every request fails with 500 (`true`), or is served again.
    pub fn set_down(&self, down: bool) {
        self.world().down = down;
    }

    pub fn failed(&self) -> usize {
        self.world().failed
    }
}

async fn receive(
    State(world): State<Arc<Mutex<World>>>,
    Path(format): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut world = world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if world.down {
        world.failed += 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    let text = |key: &str| payload.get(key).and_then(Value::as_str);
    let answer = match format.as_str() {
        // Slack: `text` is required (or blocks, which herald does not send).
        "slack" if text("text").is_some_and(|text| !text.is_empty()) => {
            (StatusCode::OK, "ok").into_response()
        }
        "slack" => return (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
        // hookshot: `text` is required, `html` optional.
        "matrix" if text("text").is_some() && payload.get("html").is_none_or(Value::is_string) => {
            (StatusCode::OK, axum::Json(json!({ "ok": true }))).into_response()
        }
        "matrix" => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "ok": false, "error": "Missing text" })),
            )
                .into_response();
        }
        "discord"
            if text("content").is_some_and(|content| content.chars().count() <= 2000)
                && payload["allowed_mentions"]["parse"].is_array() =>
        {
            StatusCode::NO_CONTENT.into_response()
        }
        "discord" => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "message": "Invalid Form Body", "code": 50035 })),
            )
                .into_response();
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    world.received.push((format, payload));
    answer
}
