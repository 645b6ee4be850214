//! `channels.chat`: private notices to the team's chat ("also notify the #security
//! channel"), through an incoming webhook whose URL is herald's `HERALD_CHAT_WEBHOOK_URL`:
//! a new incident, a severity change, a reminder or escalation, the disclosure. A notice
//! carries the GHSA id, the severity, the phase and the private tracking issue's link,
//! never advisory text unless the repository sets `include_summary: true`. Each notice is
//! its own outbox job, so a chat outage holds back nothing else.

use super::record::Record;
use super::{ChannelError, Channels};
use crate::drafts::escape;
use crate::incident::Incident;
use crate::jobs::{ChatNotice, Stage};
use crate::repo_config::ChatFormat;
use crate::store::IncidentRow;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

/// Discord refuses `content` longer than this.
const DISCORD_CONTENT_CHARS: usize = 2000;

/// The team's chat webhook.
pub struct ChatWebhook {
    url: SecretString,
    client: reqwest::Client,
}

/// A chat webhook's answer other than success. The URL is a credential, so no error names
/// it.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the chat webhook refused the notice ({status}): {words}")]
    Refused { status: u16, words: String },
    #[error("the chat webhook answered {status}; herald tries again")]
    Unavailable { status: u16 },
    #[error("the chat webhook cannot be reached: {0}")]
    Transport(#[source] reqwest::Error),
}

impl ChatError {
    /// The chat's own words when it refused the notice for good (a retry cannot help).
    pub fn refusal(&self) -> Option<String> {
        match self {
            ChatError::Refused { status, words } => Some(format!("{status}: {words}")),
            ChatError::Unavailable { .. } | ChatError::Transport(_) => None,
        }
    }
}

impl ChatWebhook {
    pub fn new(url: SecretString) -> Result<ChatWebhook, ChatError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(super::post::same_origin_redirects())
            .build()
            .map_err(|error| ChatError::Transport(error.without_url()))?;
        Ok(ChatWebhook { url, client })
    }

    async fn post(&self, payload: &Value) -> Result<(), ChatError> {
        let response = self
            .client
            .post(self.url.expose_secret())
            .json(payload)
            .send()
            .await
            .map_err(|error| ChatError::Transport(error.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // 429 asks for patience (Slack allows about one message a second per webhook).
        // A redirect to another host is not followed: asking again cannot change that.
        let refused = (status.is_client_error()
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS)
            || status.is_redirection();
        if refused {
            let words = super::post::refusal_text(response).await;
            return Err(ChatError::Refused {
                status: status.as_u16(),
                words: escape::plain_line(&words).chars().take(300).collect(),
            });
        }
        Err(ChatError::Unavailable {
            status: status.as_u16(),
        })
    }
}

/// Posts one notice, if the server has a chat webhook and the repository enabled
/// `channels.chat`.
pub(super) async fn notify(
    channels: &Channels,
    notice: &ChatNotice,
    row: &IncidentRow,
) -> Result<Record, ChannelError> {
    let Some(webhook) = &channels.chat else {
        return Ok(Record::note("no chat webhook configured"));
    };
    let incident = &row.incident;
    let api = channels.installation(&incident.repository).await?;
    let loaded = channels.repo_config(&api, &incident.repository).await?;
    let Some(chat) = &loaded.config.channels.chat else {
        return Ok(Record::note(
            "chat notices are not enabled for this repository",
        ));
    };
    let tracking = channels.store.tracking_link(row.id).await?;
    // The summary only once the tracking issue has shown that chat notices quote it.
    let quoted = chat.include_summary
        && tracking
            .as_ref()
            .and_then(|link| link.audience.as_ref())
            .is_some_and(|audience| audience.chat_summary);
    let tracking_url = tracking.and_then(|link| link.url);
    let message = Message {
        incident,
        what: what(notice),
        summary: quoted.then_some(incident.summary.as_str()),
        tracking_url: tracking_url.as_deref(),
    };
    webhook.post(&message.payload(chat.format)).await?;
    Ok(Record::note(format!(
        "chat notice posted: {}",
        message.what
    )))
}

/// What happened, in herald's words.
fn what(notice: &ChatNotice) -> String {
    match notice {
        ChatNotice::Opened => "new incident".to_owned(),
        ChatNotice::SeverityChanged(change) => change.clone(),
        ChatNotice::Escalated(Stage::Warning) => "reaction due soon".to_owned(),
        ChatNotice::Escalated(Stage::Breach) => "reaction deadline passed".to_owned(),
        ChatNotice::Escalated(Stage::ActiveThreat) => "active threat".to_owned(),
        ChatNotice::Disclosed => "advisory published, disclosure under way".to_owned(),
    }
}

/// One notice, before it is shaped for a chat.
struct Message<'a> {
    incident: &'a Incident,
    what: String,
    /// The advisory's summary, only when the repository allows it.
    summary: Option<&'a str>,
    tracking_url: Option<&'a str>,
}

impl Message<'_> {
    /// The facts line: identifiers and herald's words (escaped all the same).
    fn facts(&self) -> String {
        let incident = self.incident;
        format!(
            "herald: {}: {} ({} severity, {}) in {}",
            self.what, incident.ghsa_id, incident.severity, incident.phase, incident.repository
        )
    }

    /// The payload `format`'s documentation asks for.
    fn payload(&self, format: ChatFormat) -> Value {
        let facts = self.facts();
        let link = self
            .tracking_url
            .filter(|url| crate::drafts::escape::web_link(url));
        match format {
            ChatFormat::Slack => {
                let mut text = escape::slack_line(&facts);
                if let Some(summary) = self.summary {
                    text.push_str(&format!("\n> {}", escape::slack_line(summary)));
                }
                if let Some(url) = link {
                    text.push_str(&format!(
                        "\n<{}|Private tracking issue>",
                        escape::slack_line(url)
                    ));
                }
                json!({ "text": text })
            }
            ChatFormat::Matrix => {
                let mut text = escape::plain_line(&facts);
                let mut html = escape::html_line(&facts);
                if let Some(summary) = self.summary {
                    text.push_str(&format!("\n{}", escape::plain_line(summary)));
                    html.push_str(&format!(
                        "<br><blockquote>{}</blockquote>",
                        escape::html_line(summary)
                    ));
                }
                if let Some(url) = link {
                    text.push_str(&format!("\nPrivate tracking issue: {url}"));
                    html.push_str(&format!(
                        "<br><a href=\"{}\">Private tracking issue</a>",
                        escape::html_line(url)
                    ));
                }
                json!({ "text": text, "html": html })
            }
            ChatFormat::Discord => {
                let mut content = escape::markdown_line(&facts);
                if let Some(summary) = self.summary {
                    content.push_str(&format!("\n> {}", escape::markdown_line(summary)));
                }
                if let Some(url) = link {
                    content.push_str(&format!("\n<{url}>"));
                }
                let content: String = content.chars().take(DISCORD_CONTENT_CHARS).collect();
                // Discord would still ping @everyone or a role named in the text; no
                // mention of any kind is allowed.
                json!({ "content": content, "allowed_mentions": { "parse": [] } })
            }
        }
    }
}
