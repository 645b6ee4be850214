//! The counterparts outside GitHub that herald sends a server secret to: each Discourse
//! forum and MediaWiki the operator configured in herald.toml (read by `config`), by name,
//! with its address and the secret that goes there and nowhere else. A repository's
//! `.github/herald.yml` chooses among them by name (`channels.discourse.server`); it never
//! gives an address, since anyone who can push to it would then receive the secret.

use secrecy::SecretString;
use std::collections::BTreeMap;

/// The channels outside GitHub, each bound to the secret it receives.
#[derive(Debug, Clone, Default)]
pub struct ChannelSecrets {
    /// The forums and wikis, by the names repositories choose them by.
    pub counterparts: Counterparts,
    /// The incoming-webhook URL of the team's chat (Slack, a Matrix hookshot, Discord),
    /// where `channels.chat` posts private notices. Secret: the URL is the credential.
    pub chat_webhook_url: Option<SecretString>,
}

/// A Discourse forum: where it is, who herald posts as, and the key that proves it.
#[derive(Debug, Clone)]
pub struct Forum {
    pub url: String,
    pub api_username: String,
    pub api_key: SecretString,
    /// The forum's `max_topic_title_length` (Discourse's default: 255).
    pub max_title_length: usize,
    /// The forum's `max_post_length` (Discourse's default: 32,000).
    pub max_post_length: usize,
}

/// A MediaWiki: its `api.php`, the bot-password user (`User@app`) and the password.
#[derive(Debug, Clone)]
pub struct Wiki {
    pub api_url: String,
    pub username: String,
    pub password: SecretString,
}

/// The forums and wikis of herald.toml, by name.
#[derive(Debug, Clone, Default)]
pub struct Counterparts {
    pub forums: BTreeMap<String, Forum>,
    pub wikis: BTreeMap<String, Wiki>,
}

impl Counterparts {
    /// The forum a repository chose (`channels.discourse.server`), or the only one.
    pub fn forum(&self, chosen: Option<&str>) -> Result<&Forum, String> {
        choose("Discourse forum", "discourse", &self.forums, chosen)
    }

    /// The wiki a repository chose (`channels.mediawiki.server`), or the only one.
    pub fn wiki(&self, chosen: Option<&str>) -> Result<&Wiki, String> {
        choose("MediaWiki", "mediawiki", &self.wikis, chosen)
    }
}

/// The instance `chosen` names, or the only one there is; otherwise what is wrong, in words
/// for the tracking issue.
fn choose<'a, T>(
    what: &str,
    section: &str,
    instances: &'a BTreeMap<String, T>,
    chosen: Option<&str>,
) -> Result<&'a T, String> {
    let known = || {
        instances
            .keys()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match chosen {
        Some(name) => instances.get(name).ok_or_else(|| {
            if instances.is_empty() {
                format!(
                    "`channels.{section}.server: {name}`: herald's operator configured no \
                     {what} ([{section}.<name>] in herald.toml)"
                )
            } else {
                format!(
                    "`channels.{section}.server: {name}`: herald's operator configured no \
                     {what} of that name; there are {}",
                    known()
                )
            }
        }),
        None => match instances.len() {
            1 => Ok(instances.values().next().expect("one instance")),
            0 => Err(format!(
                "`channels.{section}`: herald's operator configured no {what} \
                 ([{section}.<name>] in herald.toml)"
            )),
            _ => Err(format!(
                "`channels.{section}`: herald's operator configured several of them ({}); \
                 name one with `server:`",
                known()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_chooses_among_the_operators_instances_by_name() {
        let mut instances = BTreeMap::new();
        assert!(
            choose("Discourse forum", "discourse", &instances, None)
                .is_err_and(|error: String| error.contains("configured no Discourse forum"))
        );
        instances.insert("community".to_owned(), 1);
        assert_eq!(
            choose("Discourse forum", "discourse", &instances, None),
            Ok(&1)
        );
        instances.insert("staff".to_owned(), 2);
        assert_eq!(
            choose("Discourse forum", "discourse", &instances, Some("staff")),
            Ok(&2)
        );
        let several = choose("Discourse forum", "discourse", &instances, None).unwrap_err();
        assert!(several.contains("`community`, `staff`"), "{several}");
        let unknown =
            choose("Discourse forum", "discourse", &instances, Some("attacker")).unwrap_err();
        assert!(
            unknown.contains("no Discourse forum of that name; there are `community`, `staff`"),
            "{unknown}"
        );
    }
}
