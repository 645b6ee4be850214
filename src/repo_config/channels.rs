//! `channels:`: the public channels besides GitHub and mail, and the team's chat. A
//! repository chooses a forum or wiki of the operator's by name and never gives its
//! address, which would send the operator's secret wherever it points.

use super::check::{DisplayName, RepoRule, Rule, one, opt, typed_opt};
use super::is_instance_name;
use crate::incident::RepoName;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny};

/// The `channels:` section: each public channel is off unless configured here.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the keys `discourse`, `discussions`, `github_wiki`, `mediawiki`, \
                 `chat`"
)]
pub struct ChannelsConfig {
    /// Private notices to the team's chat (the webhook URL is herald's
    /// `HERALD_CHAT_WEBHOOK_URL`).
    pub chat: Option<ChatConfig>,
    pub discourse: Option<DiscourseConfig>,
    pub discussions: Option<DiscussionsConfig>,
    /// Publish to the advisory repository's GitHub wiki.
    pub github_wiki: bool,
    pub mediawiki: Option<MediaWikiConfig>,
}

/// The team's chat: which webhook format its URL takes, and whether notices may carry the
/// advisory's summary (by default they carry only the GHSA id, severity, phase and the
/// private tracking issue's link).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `format` and optionally `include_summary`"
)]
pub struct ChatConfig {
    pub format: ChatFormat,
    #[serde(default)]
    pub include_summary: bool,
}

/// The incoming-webhook payloads herald can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatFormat {
    /// Slack's incoming webhooks: `{"text": …}` in Slack's mrkdwn.
    Slack,
    /// A Matrix room through matrix-hookshot's inbound webhooks: `{"text": …, "html": …}`.
    Matrix,
    /// Discord's webhooks: `{"content": …, "allowed_mentions": {"parse": []}}`.
    Discord,
}

/// A MediaWiki: which of the operator's (`[mediawiki.<name>]` in herald.toml, with its
/// address, bot user and password; optional when there is one), and the prefix of advisory
/// page titles.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with optionally `server` and `page_prefix`"
)]
pub struct MediaWikiConfig {
    #[serde(default, deserialize_with = "opt::<InstanceName, _>")]
    pub server: Option<String>,
    #[serde(default, rename = "api_url", deserialize_with = "operators_setting")]
    _api_url: (),
    #[serde(default, rename = "username", deserialize_with = "operators_setting")]
    _username: (),
    #[serde(
        default = "default_page_prefix",
        deserialize_with = "one::<DisplayName, _>"
    )]
    pub page_prefix: String,
}

fn default_page_prefix() -> String {
    "Security advisories/".to_owned()
}

/// GitHub Discussions: a discussion in the category named `category` of `repository`
/// (default: the advisory's repository).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `category` and optionally `repository`"
)]
pub struct DiscussionsConfig {
    #[serde(default, deserialize_with = "typed_opt::<RepoRule, _>")]
    pub repository: Option<RepoName>,
    #[serde(deserialize_with = "one::<DisplayName, _>")]
    pub category: String,
}

/// A Discourse forum: which of the operator's (`[discourse.<name>]` in herald.toml, with
/// its address, user and API key; optional when there is one), and the category the topic
/// goes to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `category_id` and optionally `server`"
)]
pub struct DiscourseConfig {
    #[serde(default, deserialize_with = "opt::<InstanceName, _>")]
    pub server: Option<String>,
    pub category_id: u64,
    #[serde(default, rename = "url", deserialize_with = "operators_setting")]
    _url: (),
    #[serde(
        default,
        rename = "api_username",
        deserialize_with = "operators_setting"
    )]
    _api_username: (),
}

/// A key that herald's operator sets, beside the secret that goes with it: a repository's
/// file naming an address would send the server's secret to whoever can push to it.
fn operators_setting<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    IgnoredAny::deserialize(d)?;
    Err(de::Error::custom(
        "set by herald's operator in herald.toml, with the secret that goes there; choose \
         one of the operator's by name with `server:`",
    ))
}

/// The name of an instance herald's operator configured (`[discourse.<name>]`).
struct InstanceName;
impl Rule for InstanceName {
    const EXPECTED: &'static str = "the name of a forum or wiki herald's operator configured";
    fn check(value: &str) -> Result<(), String> {
        if is_instance_name(value) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not a name herald's operator could have given: 1 to 32 of a-z, 0-9, \
                 `-` and `_`",
                value.chars().take(40).collect::<String>()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::repo_config::{RepoConfig, tests::error};

    #[test]
    fn a_repository_chooses_a_counterpart_by_name_and_never_gives_its_address() {
        let config = RepoConfig::parse(
            "channels:\n  discourse:\n    server: community\n    category_id: 7\n  mediawiki:\n    page_prefix: 'Advisories/'\n",
        )
        .expect("parses");
        let discourse = config.channels.discourse.expect("discourse");
        assert_eq!(
            (discourse.server.as_deref(), discourse.category_id),
            (Some("community"), 7)
        );
        let mediawiki = config.channels.mediawiki.expect("mediawiki");
        assert_eq!(
            (mediawiki.server, mediawiki.page_prefix.as_str()),
            (None, "Advisories/")
        );
        for (text, key) in [
            (
                "channels:\n  discourse:\n    url: http://localhost.attacker.example\n    category_id: 7\n",
                "channels.discourse.url",
            ),
            (
                "channels:\n  discourse:\n    category_id: 7\n    api_username: system\n",
                "channels.discourse.api_username",
            ),
            (
                "channels:\n  mediawiki:\n    api_url: https://wiki.attacker.example/api.php\n",
                "channels.mediawiki.api_url",
            ),
            (
                "channels:\n  mediawiki:\n    username: Admin@herald\n",
                "channels.mediawiki.username",
            ),
        ] {
            let e = error(text);
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert!(
                e.message
                    .contains("set by herald's operator in herald.toml"),
                "{text}: {e}"
            );
        }
        let e = error("channels:\n  discourse:\n    server: ../Evil\n    category_id: 7\n");
        assert_eq!(e.key.as_deref(), Some("channels.discourse.server"), "{e}");
    }
}
