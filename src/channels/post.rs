//! What the channels that post outside GitHub's issues share (the forum, Discussions and
//! both wikis): each finds its earlier post, creates or updates it, and herald records
//! where it went, with a digest of the text so an unchanged text is not posted again.

use super::ChannelError;
use crate::drafts::{escape, limits};
use crate::incident::Incident;
use crate::store::ChannelPost;
use sha2::{Digest, Sha256};

/// How the clients that carry a server secret (a forum's key, a wiki's password, the chat
/// URL) follow redirects: within the configured origin only (Discourse redirects its
/// topic lookups there), so an answer can never move the secret to another host. A
/// redirect elsewhere comes back as the 3xx answer itself, which the channel refuses.
pub(super) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() < 10 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The body of `response`, read up to [`crate::github::MAX_ANSWER_BYTES`]: a longer answer
/// is an error, read no further.
pub(super) async fn answer_body(response: reqwest::Response) -> Result<Vec<u8>, String> {
    crate::github::bounded_body(http::Response::from(response).into_body())
        .await
        .map(Vec::from)
        .map_err(|error| error.to_string())
}

/// The text of a refusal, for the words it gives (lossy, bounded; empty when unreadable).
pub(super) async fn refusal_text(response: reqwest::Response) -> String {
    answer_body(response)
        .await
        .map(|body| String::from_utf8_lossy(&body).into_owned())
        .unwrap_or_default()
}

/// One of those channels: a type per channel, in the channel's own file. Adding a channel
/// is that file, its configuration section and its template.
pub(super) trait PostChannel {
    /// The public channel it is (its post's name in the store comes from it).
    const CHANNEL: crate::jobs::PublicChannel;
    /// What the timeline calls its post.
    const WHAT: &'static str;
    /// The template its text is rendered from.
    const TEMPLATE: &'static str;

    /// Creates the incident's post, or updates it when its text changed since `known` (the
    /// post recorded last); `None` when it already shows this text.
    async fn publish(
        &self,
        text: &PostText<'_>,
        known: Option<&ChannelPost>,
    ) -> Result<Option<Published>, ChannelError>;
}

/// The incident's text for a channel.
pub(super) struct PostText<'a> {
    pub incident: &'a Incident,
    /// One plain line within GitHub's title limit.
    pub title: String,
    /// The channel's template, rendered.
    pub text: String,
    /// One line for an index.
    pub summary: String,
}

/// Room kept for what herald adds around a rendered body (its hidden marker, a reply's
/// "Update" line).
const FRAME_CHARS: usize = 200;

/// A title GitHub accepts: one plain line, at most its length limit.
pub(super) fn title(text: &str) -> String {
    limits::fit_title(&escape::plain_line(text), limits::GITHUB_TITLE_CHARS)
}

/// A rendered Markdown body within `max` characters, with room for herald's frame; a
/// shortened one links the full advisory.
pub(super) fn body_within(text: &str, max: usize, incident: &Incident) -> String {
    let full = incident
        .advisory_url
        .clone()
        .unwrap_or_else(|| incident.ghsa_id.url());
    limits::fit_markdown(text, max.saturating_sub(FRAME_CHARS), &full)
}

/// What a channel now shows, to be recorded.
#[derive(Debug, Clone)]
pub struct Published {
    pub post: ChannelPost,
    /// A new post (`false`: the existing one was updated or replied to).
    pub created: bool,
}

/// The digest recorded with a post.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::answer_body;
    use crate::github::MAX_ANSWER_BYTES;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers one request with `length` bytes of `x`; its URL.
    async fn answering(length: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("a connection");
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n");
            socket.write_all(head.as_bytes()).await.expect("head");
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = length;
            while left > 0 {
                let now = left.min(chunk.len());
                if socket.write_all(&chunk[..now]).await.is_err() {
                    return; // the client stopped reading
                }
                left -= now;
            }
        });
        format!("http://{address}/")
    }

    #[tokio::test]
    async fn an_answer_is_read_up_to_the_bound_and_no_further() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = answering(1000).await;
        let response = reqwest::get(&url).await.expect("answered");
        assert_eq!(answer_body(response).await.expect("read").len(), 1000);

        let url = answering(MAX_ANSWER_BYTES + 1).await;
        let response = reqwest::get(&url).await.expect("answered");
        let error = answer_body(response).await.expect_err("too long");
        assert_eq!(error, "an answer over 32 MiB, not read");
    }
}
