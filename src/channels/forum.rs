//! The Discourse forum: on disclosure, one topic per incident in the configured category
//! (`POST /posts.json` with `title`, `raw`, `category` and an `external_id` derived from the
//! GHSA id); a later version of the advisory is posted as a reply to the same topic. A
//! retry first looks the topic up by its external id (`GET /t/external_id/{id}.json`), so
//! a create whose answer was lost (a timeout) never makes a second topic.

use super::ChannelError;
use super::Forum;
use super::post::{
    PostChannel, PostText, Published, answer_body, body_within, refusal_text, text_sha256,
};
use crate::drafts::{FORUM_POST, limits};
use crate::incident::{GhsaId, RepoName};
use crate::store::ChannelPost;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::time::Duration;

/// The incident's topic on a Discourse forum: opened once, replied to when the text
/// changes, within the forum's title and post limits.
pub(super) struct ForumTopic<'a> {
    pub discourse: &'a Discourse,
    /// The operator's forum the repository chose.
    pub forum: &'a Forum,
    pub category_id: u64,
}

impl PostChannel for ForumTopic<'_> {
    const CHANNEL: crate::jobs::PublicChannel = crate::jobs::PublicChannel::ForumPost;
    const WHAT: &'static str = "forum topic";
    const TEMPLATE: &'static str = FORUM_POST;

    async fn publish(
        &self,
        post: &PostText<'_>,
        known: Option<&ChannelPost>,
    ) -> Result<Option<Published>, ChannelError> {
        let incident = post.incident;
        let title = limits::fit_title(&post.title, self.forum.max_title_length);
        let text = body_within(&post.text, self.forum.max_post_length, incident);
        let topic = NewTopic {
            external_id: &external_id(&incident.repository, &incident.ghsa_id),
            title: &title,
            text: &text,
            category_id: self.category_id,
        };
        Ok(self.discourse.publish(self.forum, &topic, known).await?)
    }
}

/// How long one request to the forum may take.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ForumError {
    #[error(
        "Discourse at {url} answered {status} with a redirect: herald sends the API key only to \
         the address in herald.toml, so it does not follow; correct that address"
    )]
    Redirected { url: String, status: u16 },
    #[error("Discourse at {url}: {what}")]
    Request { url: String, what: String },
    #[error("Discourse at {url} refused the post ({status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
}

impl ForumError {
    /// Discourse's words when asking again cannot help (see [`super::ChannelError::refusal`]).
    pub fn refusal(&self) -> Option<String> {
        match self {
            ForumError::Redirected { .. } => Some(self.to_string()),
            ForumError::Refused { message, .. } => Some(message.clone()),
            ForumError::Request { .. } => None,
        }
    }
}

/// Discourse's error text: its `errors` list (`{"errors": ["Title is too long"]}`), else
/// the start of the body.
fn discourse_message(body: &str) -> String {
    let listed = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            let errors = value.get("errors")?.as_array()?;
            let texts: Vec<&str> = errors.iter().filter_map(|error| error.as_str()).collect();
            (!texts.is_empty()).then(|| texts.join("; "))
        });
    listed
        .unwrap_or_else(|| body.chars().take(300).collect())
        .replace(['\r', '\n'], " ")
}

/// A Discourse client: each request carries the key of the forum it goes to.
pub struct Discourse {
    client: reqwest::Client,
}

/// A topic to open.
pub struct NewTopic<'a> {
    pub external_id: &'a str,
    pub title: &'a str,
    pub text: &'a str,
    pub category_id: u64,
}

#[derive(Debug, Deserialize)]
struct Topic {
    id: u64,
    slug: String,
}

#[derive(Debug, Deserialize)]
struct CreatedPost {
    topic_id: u64,
    topic_slug: String,
}

/// Discourse keeps `external_id` short (at most 50 characters): the GHSA id and a digest of
/// the repository, since two repositories may share a GHSA id.
pub fn external_id(repository: &RepoName, ghsa_id: &GhsaId) -> String {
    let digest = text_sha256(repository);
    format!("herald-{}-{}", ghsa_id.to_ascii_lowercase(), &digest[..8])
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(50)
        .collect()
}

impl Discourse {
    pub fn new() -> Result<Discourse, ChannelError> {
        // reqwest takes its TLS crypto from the process: ring, as octocrab and lettre use.
        // Installing twice is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(super::post::same_origin_redirects())
            .build()
            .map_err(|error| ForumError::Request {
                url: String::new(),
                what: error.to_string(),
            })?;
        Ok(Discourse { client })
    }

    fn request(
        &self,
        method: reqwest::Method,
        forum: &Forum,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", forum.url))
            .header("Api-Key", forum.api_key.expose_secret())
            .header("Api-Username", &forum.api_username)
            .header("Accept", "application/json")
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        forum: &Forum,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<T>, ForumError> {
        let fail = |what: String| ForumError::Request {
            url: forum.url.clone(),
            what,
        };
        let response = request.send().await.map_err(|error| {
            // reqwest's message names the URL, never the headers (the key stays out).
            fail(error.without_url().to_string())
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_redirection() {
            return Err(ForumError::Redirected {
                url: forum.url.clone(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let body = refusal_text(response).await;
            let message = discourse_message(&body);
            if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(ForumError::Refused {
                    url: forum.url.clone(),
                    status: status.as_u16(),
                    message,
                });
            }
            return Err(fail(format!("{status}: {message}")));
        }
        let body = answer_body(response).await.map_err(&fail)?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|error| fail(format!("unreadable answer: {error}")))
    }

    fn topic_url(forum: &Forum, slug: &str, id: u64) -> String {
        format!("{}/t/{slug}/{id}", forum.url)
    }

    /// Opens the incident's topic, or replies to it when the text changed since `known`.
    pub async fn publish(
        &self,
        forum: &Forum,
        topic: &NewTopic<'_>,
        known: Option<&ChannelPost>,
    ) -> Result<Option<Published>, ForumError> {
        let NewTopic {
            external_id, text, ..
        } = *topic;
        let sha = text_sha256(text);
        if known.is_some_and(|post| post.text_sha256 == sha) {
            return Ok(None);
        }
        let found = match known {
            Some(post) => Some((post.reference.clone(), post.url.clone())),
            None => self.find_topic(forum, external_id).await?,
        };
        let (reference, url, created) = match (found, known) {
            // Created before, but its answer was lost: the topic is ours, as posted.
            (Some((reference, url)), None) => (reference, url, true),
            (Some((reference, url)), Some(_)) => {
                self.reply(forum, &reference, text).await?;
                (reference, url, false)
            }
            (None, _) => {
                let (reference, url) = self.open_topic(forum, topic).await?;
                (reference, url, true)
            }
        };
        Ok(Some(Published {
            post: ChannelPost {
                reference,
                url,
                text_sha256: sha,
            },
            created,
        }))
    }

    /// The topic opened with `external_id` before, as (its id, its address).
    async fn find_topic(
        &self,
        forum: &Forum,
        external_id: &str,
    ) -> Result<Option<(String, String)>, ForumError> {
        let path = format!("/t/external_id/{external_id}.json");
        let found = self
            .send::<Topic>(forum, self.request(reqwest::Method::GET, forum, &path))
            .await?;
        Ok(found.map(|topic| {
            let url = Discourse::topic_url(forum, &topic.slug, topic.id);
            (topic.id.to_string(), url)
        }))
    }

    /// Replies to topic `reference` with the changed text.
    async fn reply(&self, forum: &Forum, reference: &str, text: &str) -> Result<(), ForumError> {
        let topic_id: u64 = reference.parse().map_err(|_| ForumError::Request {
            url: forum.url.clone(),
            what: format!("the recorded topic id {reference:?} is not a number"),
        })?;
        let body = serde_json::json!({
            "topic_id": topic_id,
            "raw": format!("**Update:** the advisory changed.\n\n{text}"),
        });
        let request = self.request(reqwest::Method::POST, forum, "/posts.json");
        self.send::<serde_json::Value>(forum, request.json(&body))
            .await?;
        Ok(())
    }

    /// Opens the incident's topic: (its id, its address).
    async fn open_topic(
        &self,
        forum: &Forum,
        topic: &NewTopic<'_>,
    ) -> Result<(String, String), ForumError> {
        let body = serde_json::json!({
            "title": topic.title,
            "raw": topic.text,
            "category": topic.category_id,
            "external_id": topic.external_id,
        });
        let request = self.request(reqwest::Method::POST, forum, "/posts.json");
        let created = self
            .send::<CreatedPost>(forum, request.json(&body))
            .await?
            .ok_or_else(|| ForumError::Request {
                url: forum.url.clone(),
                what: "404 on /posts.json: is this a Discourse forum?".to_owned(),
            })?;
        let url = Discourse::topic_url(forum, &created.topic_slug, created.topic_id);
        Ok((created.topic_id.to_string(), url))
    }
}
