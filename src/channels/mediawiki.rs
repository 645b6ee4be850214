//! A MediaWiki wiki (for projects whose wiki is a MediaWiki): herald logs in with a bot
//! password (`action=login` with a login token; the session cookie is kept), fetches a CSRF
//! token and saves the advisory's page with `action=edit` (`assert=bot`, `bot=1`, a
//! summary, `createonly` for a new page and `nocreate` for an update). A `badtoken` answer
//! fetches a new token once; refusals (`assertuserfailed`, `protectedpage`, rate limits)
//! are reported in the wiki's own words.

use super::Wiki;
use super::post::{PostChannel, PostText, Published, answer_body, text_sha256};
use crate::drafts::{WIKI_PAGE_WIKITEXT, escape};
use crate::store::ChannelPost;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The incident's page on a MediaWiki (`<page_prefix><GHSA id>`, the wikitext template),
/// edited as the operator's bot.
pub(super) struct Page<'a> {
    /// The operator's wiki the repository chose.
    pub wiki: &'a Wiki,
    pub page_prefix: &'a str,
}

impl PostChannel for Page<'_> {
    const CHANNEL: crate::jobs::PublicChannel = crate::jobs::PublicChannel::MediaWikiPage;
    const WHAT: &'static str = "MediaWiki page";
    const TEMPLATE: &'static str = WIKI_PAGE_WIKITEXT;

    async fn publish(
        &self,
        post: &PostText<'_>,
        known: Option<&ChannelPost>,
    ) -> Result<Option<Published>, super::ChannelError> {
        let ghsa_id = &post.incident.ghsa_id;
        let title = format!("{}{}", self.page_prefix, escape::file_name(ghsa_id));
        Ok(publish(self.wiki, &title, &post.text, known).await?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaWikiError {
    #[error(
        "MediaWiki at {url} answered {status} with a redirect: herald sends the bot password \
         only to the address in herald.toml, so it does not follow; correct that address"
    )]
    Redirected { url: String, status: u16 },
    #[error("MediaWiki at {url} refused the login of {user}: {reason}")]
    Login {
        url: String,
        user: String,
        reason: String,
    },
    #[error("MediaWiki at {url} refused the edit of {title:?}: {code}: {info}")]
    Refused {
        url: String,
        title: String,
        code: String,
        info: String,
    },
    #[error("MediaWiki at {url}: {what}")]
    Request { url: String, what: String },
}

/// MediaWiki error codes that pass: the wiki is busy, read-only for a while, or limiting.
const TRANSIENT_CODES: [&str; 4] = [
    "maxlag",
    "readonly",
    "ratelimited",
    "internal_api_error_DBQueryError",
];

impl MediaWikiError {
    /// The wiki's words when asking again cannot help (see [`super::ChannelError::refusal`]).
    pub fn refusal(&self) -> Option<String> {
        match self {
            MediaWikiError::Redirected { .. } | MediaWikiError::Login { .. } => {
                Some(self.to_string())
            }
            MediaWikiError::Refused { code, info, .. }
                if !TRANSIENT_CODES.contains(&code.as_str()) =>
            {
                Some(format!("{code}: {info}"))
            }
            MediaWikiError::Refused { .. } | MediaWikiError::Request { .. } => None,
        }
    }
}

struct Session<'a> {
    client: reqwest::Client,
    wiki: &'a Wiki,
}

impl Session<'_> {
    fn fail(&self, what: String) -> MediaWikiError {
        MediaWikiError::Request {
            url: self.wiki.api_url.clone(),
            what,
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, MediaWikiError> {
        let response = request
            .send()
            .await
            .map_err(|error| self.fail(error.without_url().to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(MediaWikiError::Redirected {
                url: self.wiki.api_url.clone(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(self.fail(format!("HTTP {status}")));
        }
        let body = answer_body(response)
            .await
            .map_err(|error| self.fail(error))?;
        serde_json::from_slice(&body)
            .map_err(|error| self.fail(format!("unreadable answer: {error}")))
    }

    async fn token(&self, kind: &str) -> Result<String, MediaWikiError> {
        let answer = self
            .call(self.client.get(&self.wiki.api_url).query(&[
                ("action", "query"),
                ("meta", "tokens"),
                ("type", kind),
                ("format", "json"),
            ]))
            .await?;
        answer["query"]["tokens"][format!("{kind}token")]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.fail(format!("no {kind} token in the answer")))
    }

    async fn login(&self) -> Result<(), MediaWikiError> {
        let token = self.token("login").await?;
        let answer = self
            .call(self.client.post(&self.wiki.api_url).form(&[
                ("action", "login"),
                ("lgname", self.wiki.username.as_str()),
                ("lgpassword", self.wiki.password.expose_secret()),
                ("lgtoken", token.as_str()),
                ("format", "json"),
            ]))
            .await?;
        match answer["login"]["result"].as_str() {
            Some("Success") => Ok(()),
            result => Err(MediaWikiError::Login {
                url: self.wiki.api_url.clone(),
                user: self.wiki.username.clone(),
                reason: answer["login"]["reason"]
                    .as_str()
                    .or(result)
                    .unwrap_or("no reason given")
                    .to_owned(),
            }),
        }
    }

    /// One `action=edit`; `Err` carries the API's error code and text.
    async fn edit(
        &self,
        title: &str,
        text: &str,
        create: bool,
        token: &str,
    ) -> Result<Result<(), (String, String)>, MediaWikiError> {
        let mode = if create { "createonly" } else { "nocreate" };
        let answer = self
            .call(self.client.post(&self.wiki.api_url).form(&[
                ("action", "edit"),
                ("title", title),
                ("text", text),
                ("summary", "Security advisory, published by herald"),
                ("bot", "1"),
                ("assert", "bot"),
                (mode, "1"),
                ("token", token),
                ("format", "json"),
            ]))
            .await?;
        if answer["edit"]["result"].as_str() == Some("Success") {
            return Ok(Ok(()));
        }
        let code = answer["error"]["code"].as_str().unwrap_or("unknown");
        let info = answer["error"]["info"].as_str().unwrap_or("");
        Ok(Err((code.to_owned(), info.to_owned())))
    }
}

/// The page's address for readers: `index.php?title=…` beside `api.php`.
fn page_url(api_url: &str, title: &str) -> String {
    let base = api_url.strip_suffix("api.php").unwrap_or(api_url);
    let title: String = url_title(title);
    format!("{base}index.php?title={title}")
}

fn url_title(title: &str) -> String {
    percent_encoding::utf8_percent_encode(
        &title.replace(' ', "_"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

/// Saves `text` as the page `title`: created when `known` is `None`, else updated when
/// the text changed. `None`: nothing to do.
async fn publish(
    wiki: &Wiki,
    title: &str,
    text: &str,
    known: Option<&ChannelPost>,
) -> Result<Option<Published>, MediaWikiError> {
    let sha = text_sha256(text);
    if known.is_some_and(|post| post.text_sha256 == sha) {
        return Ok(None);
    }
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(TIMEOUT)
        .redirect(super::post::same_origin_redirects())
        .build()
        .map_err(|error| MediaWikiError::Request {
            url: wiki.api_url.clone(),
            what: error.to_string(),
        })?;
    let session = Session { client, wiki };
    session.login().await?;
    let mut token = session.token("csrf").await?;
    let mut create = known.is_none();
    let mut renewed = false;
    loop {
        match session.edit(title, text, create, &token).await? {
            Ok(()) => break,
            // The session's token went stale: one new token, then it is a real refusal.
            Err((code, _)) if code == "badtoken" && !renewed => {
                renewed = true;
                token = session.token("csrf").await?;
            }
            // Created before, but that answer was lost: update it instead.
            Err((code, _)) if code == "articleexists" && create => create = false,
            Err((code, info)) => {
                return Err(MediaWikiError::Refused {
                    url: wiki.api_url.clone(),
                    title: title.to_owned(),
                    code,
                    info,
                });
            }
        }
    }
    Ok(Some(Published {
        post: ChannelPost {
            reference: title.to_owned(),
            url: page_url(&wiki.api_url, title),
            text_sha256: sha,
        },
        created: known.is_none(),
    }))
}
