//! The App's webhook as GitHub runs it: the fake sends deliveries to herald (signed with the
//! webhook secret) and records every attempt, answered or not, as GitHub's delivery log
//! does; `GET /app/hook/deliveries` lists the attempts newest first in cursor pages, and
//! `POST /app/hook/deliveries/{id}/attempts` sends an attempt's delivery again (after the
//! answer, as GitHub does), or refuses as configured.

use super::*;

/// GitHub's wait for an answer before it records a delivery as failed.
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One attempt at delivering a webhook.
#[derive(Debug, Clone)]
pub struct HookAttempt {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<u64>,
    pub body: Vec<u8>,
    pub delivered_at: DateTime<Utc>,
    /// What herald answered; 0 for no answer (refused connection, timeout).
    pub status_code: u16,
    pub redelivery: bool,
}

#[derive(Default)]
pub(super) struct Hooks {
    /// Where deliveries go, and the secret they are signed with.
    pub(super) target: Option<(String, String)>,
    pub(super) attempts: Vec<HookAttempt>,
    /// Attempt ids whose redelivery GitHub accepted and has yet to make.
    pub(super) to_redeliver: Vec<u64>,
    /// Deliveries (GUIDs) GitHub refuses to deliver again, with its words.
    pub(super) refusals: HashMap<String, String>,
    pub(super) redelivery_requests: Vec<u64>,
    /// Pages of this many attempts, whatever `per_page` asked: a server that is not GitHub.
    pub(super) forced_page: Option<usize>,
}

impl World {
    /// `GET /app/hook/deliveries`: attempts newest first, `per_page` (at most 100) a page,
    /// the next page after `cursor` (the last id of the page before).
    pub(super) fn list_hook_deliveries(&mut self, ctx: &mut Ctx) -> Answer {
        self.app_auth(ctx)?;
        let query = ctx.query()?;
        let per_page = query
            .get("per_page")
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let per_page = self.hooks.forced_page.unwrap_or(per_page);
        let cursor = match query.get("cursor") {
            Some(cursor) => Some(
                cursor
                    .parse::<u64>()
                    .map_err(|_| Reply::invalid("Delivery", "cursor", "invalid"))?,
            ),
            None => None,
        };
        let mut attempts: Vec<&HookAttempt> = self
            .hooks
            .attempts
            .iter()
            .filter(|attempt| cursor.is_none_or(|cursor| attempt.id < cursor))
            .collect();
        attempts.sort_by_key(|attempt| std::cmp::Reverse((attempt.delivered_at, attempt.id)));
        let page: Vec<Value> = attempts
            .iter()
            .take(per_page)
            .map(|attempt| attempt_json(attempt))
            .collect();
        let mut reply = Reply::ok(Value::Array(page));
        if attempts.len() > per_page {
            let last = attempts[per_page - 1].id;
            reply = reply.header(
                header::LINK,
                format!(
                    "<{}/app/hook/deliveries?per_page={per_page}&cursor={last}>; rel=\"next\"",
                    ctx.link_base
                ),
            );
        }
        Ok(reply)
    }

    /// `POST /app/hook/deliveries/{id}/attempts`: 202, and the delivery goes again soon.
    pub(super) fn redeliver_hook(&mut self, ctx: &mut Ctx, id: &str) -> Answer {
        self.app_auth(ctx)?;
        let id = parse_id(id)?;
        let attempt = self
            .hooks
            .attempts
            .iter()
            .find(|attempt| attempt.id == id)
            .ok_or_else(Reply::not_found)?;
        self.hooks.redelivery_requests.push(id);
        if let Some(words) = self.hooks.refusals.get(&attempt.guid) {
            return Err(Reply::message(StatusCode::UNPROCESSABLE_ENTITY, words));
        }
        self.hooks.to_redeliver.push(id);
        Ok(Reply::json(StatusCode::ACCEPTED, json!({})))
    }
}

fn attempt_json(attempt: &HookAttempt) -> Value {
    json!({
        "id": attempt.id,
        "guid": attempt.guid,
        "delivered_at": attempt.delivered_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "redelivery": attempt.redelivery,
        "duration": 0.05,
        "status": match attempt.status_code {
            0 => "Failed to connect to host".to_owned(),
            200..=299 => "OK".to_owned(),
            code => format!("Invalid HTTP Response: {code}"),
        },
        "status_code": attempt.status_code,
        "event": attempt.event,
        "action": attempt.action,
        "installation_id": attempt.installation_id,
        "repository_id": null,
        "throttled_at": null,
    })
}

/// Sends one delivery to herald as GitHub does and records the attempt; returns what
/// herald answered (0: no answer).
pub(super) async fn send(world: &Shared, attempt: HookAttempt) -> u16 {
    let target = world
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .hooks
        .target
        .clone();
    let (url, secret) = target.expect("fake GitHub: no webhook target; call deliver_to first");
    let signature =
        herald::ingest::signature::sign(&secrecy::SecretString::from(secret), &attempt.body);
    // herald's reqwest takes its TLS crypto from the process; the fake installs it too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answer = reqwest::Client::new()
        .post(&url)
        .timeout(DELIVERY_TIMEOUT)
        .header("X-GitHub-Event", &attempt.event)
        .header("X-GitHub-Delivery", &attempt.guid)
        .header("X-GitHub-Hook-Installation-Target-Type", "integration")
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .header("User-Agent", "GitHub-Hookshot/fake")
        .body(attempt.body.clone())
        .send()
        .await;
    let status_code = answer.map_or(0, |answer| answer.status().as_u16());
    let mut world = world.lock().unwrap_or_else(PoisonError::into_inner);
    world.hooks.attempts.push(HookAttempt {
        status_code,
        ..attempt
    });
    status_code
}

/// Makes the redeliveries GitHub accepted (after their answers were sent).
pub(super) fn redeliver_accepted(world: &Shared) {
    let due: Vec<HookAttempt> = {
        let mut world = world.lock().unwrap_or_else(PoisonError::into_inner);
        let ids = std::mem::take(&mut world.hooks.to_redeliver);
        ids.iter()
            .filter_map(|id| {
                world
                    .hooks
                    .attempts
                    .iter()
                    .find(|attempt| attempt.id == *id)
                    .cloned()
            })
            .collect()
    };
    for attempt in due {
        let world = Arc::clone(world);
        tokio::spawn(async move {
            let again = HookAttempt {
                id: next_id(),
                delivered_at: Utc::now(),
                redelivery: true,
                ..attempt
            };
            send(&world, again).await;
        });
    }
}

impl FakeGitHub {
    /// Where the App's webhook deliveries go, signed with `secret`.
    pub fn deliver_to(&self, url: &str, secret: &str) {
        self.world().hooks.target = Some((url.to_owned(), secret.to_owned()));
    }

    /// Sends a webhook delivery to herald as GitHub would (a fresh GUID each), records
    /// the attempt, and returns what herald answered (0: no answer).
    pub async fn send_webhook(&self, event: &str, body: &[u8]) -> (String, u16) {
        let payload: Value = serde_json::from_slice(body).expect("a JSON webhook body");
        let guid = format!("{:08x}-fake-{}", next_id(), event);
        let attempt = HookAttempt {
            id: next_id(),
            guid: guid.clone(),
            event: event.to_owned(),
            action: payload["action"].as_str().map(str::to_owned),
            installation_id: payload["installation"]["id"].as_u64(),
            body: body.to_vec(),
            delivered_at: Utc::now(),
            status_code: 0,
            redelivery: false,
        };
        let status = send(&self.world, attempt).await;
        (guid, status)
    }

    /// Records an attempt GitHub's log shows without sending anything (a log entry as
    /// GitHub keeps it, say one dated by a clock set wrong); returns its id.
    pub fn log_attempt(
        &self,
        event: &str,
        guid: &str,
        delivered_at: DateTime<Utc>,
        status_code: u16,
    ) -> u64 {
        let id = next_id();
        self.world().hooks.attempts.push(HookAttempt {
            id,
            guid: guid.to_owned(),
            event: event.to_owned(),
            action: None,
            installation_id: None,
            body: b"{}".to_vec(),
            delivered_at,
            status_code,
            redelivery: false,
        });
        id
    }

    /// Every delivery attempt, in the order made.
    pub fn hook_attempts(&self) -> Vec<HookAttempt> {
        self.world().hooks.attempts.clone()
    }

    /// The attempt ids herald asked GitHub to deliver again, in order.
    pub fn redelivery_requests(&self) -> Vec<u64> {
        self.world().hooks.redelivery_requests.clone()
    }

    /// GitHub refuses to deliver `guid` again, saying `message` (as for a delivery older
    /// than it keeps).
    pub fn refuse_redelivery(&self, guid: &str, message: &str) {
        self.world()
            .hooks
            .refusals
            .insert(guid.to_owned(), message.to_owned());
    }

    /// Lists deliveries `per_page` a page, however many were asked for (more than GitHub's
    /// 100, as no GitHub does).
    pub fn force_deliveries_page(&self, per_page: usize) {
        self.world().hooks.forced_page = Some(per_page);
    }
}
