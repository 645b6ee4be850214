//! The counterparts outside GitHub that herald sends a server secret to: each Discourse
//! forum and MediaWiki the operator configured in herald.toml, by name, with its address
//! and the secret that goes there and nowhere else. A repository's `.github/herald.yml`
//! chooses among them by name (`channels.discourse.server`); it never gives an address,
//! since anyone who can push to it would then receive the secret.

use super::ConfigError;
use crate::channels::{Counterparts, Forum, Wiki};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[discourse.<name>]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForumFile {
    url: String,
    api_username: String,
    api_key: Option<String>,
    api_key_file: Option<PathBuf>,
    max_title_length: Option<usize>,
    max_post_length: Option<usize>,
}

/// `[mediawiki.<name>]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WikiFile {
    api_url: String,
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

/// The single-instance settings of earlier versions, which sent the secret wherever a
/// repository's file pointed: refused with what to do instead.
const RETIRED: [(&str, &str); 2] = [
    (
        "HERALD_DISCOURSE_API_KEY",
        "[discourse.<name>] with `url`, `api_username` and `api_key_file`",
    ),
    (
        "HERALD_MEDIAWIKI_PASSWORD",
        "[mediawiki.<name>] with `api_url`, `username` and `password_file`",
    ),
];

/// The forums and wikis of herald.toml, each bound to its secret.
pub(super) fn counterparts(
    forums: BTreeMap<String, ForumFile>,
    wikis: BTreeMap<String, WikiFile>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Counterparts, ConfigError> {
    for (variable, instead) in RETIRED {
        if env(variable).is_some() {
            return Err(ConfigError::Invalid {
                name: variable.to_owned(),
                message: format!(
                    "no longer read: a secret is bound to its counterpart's address in \
                         herald.toml, as {instead}; repositories choose it by name"
                ),
            });
        }
    }
    let forums = forums
        .into_iter()
        .map(|(name, file)| {
            let binding = Binding {
                section: "discourse",
                url: ("url", &file.url),
                secret: ("api_key", file.api_key),
                secret_file: ("api_key_file", file.api_key_file),
            };
            let (url, api_key) = binding.load(&name, env)?;
            let forum = Forum {
                url,
                api_username: file.api_username,
                api_key,
                max_title_length: file.max_title_length.unwrap_or(255),
                max_post_length: file.max_post_length.unwrap_or(32_000),
            };
            Ok((name, forum))
        })
        .collect::<Result<_, ConfigError>>()?;
    let wikis = wikis
        .into_iter()
        .map(|(name, file)| {
            let binding = Binding {
                section: "mediawiki",
                url: ("api_url", &file.api_url),
                secret: ("password", file.password),
                secret_file: ("password_file", file.password_file),
            };
            let (api_url, password) = binding.load(&name, env)?;
            let wiki = Wiki {
                api_url,
                username: file.username,
                password,
            };
            Ok((name, wiki))
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(Counterparts { forums, wikis })
}

fn check_name(table: &str, name: &str) -> Result<(), ConfigError> {
    if crate::repo_config::is_instance_name(name) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name: table.to_owned(),
            message: "a name is 1 to 32 of a-z, 0-9, `-` and `_`".to_owned(),
        })
    }
}

/// An instance's address and its secret as written in its `[<section>.<name>]` table,
/// each as (key, value).
struct Binding<'a> {
    section: &'a str,
    url: (&'a str, &'a str),
    secret: (&'a str, Option<String>),
    secret_file: (&'a str, Option<PathBuf>),
}

impl Binding<'_> {
    /// The checked address, and the secret: from its environment variable
    /// (`HERALD_<SECTION>_<NAME>_<KEY>`), else the table's value, else the file it names.
    /// Required: an instance without its secret could not be used.
    fn load(
        self,
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, SecretString), ConfigError> {
        let table = format!("[{}.{name}]", self.section);
        check_name(&table, name)?;
        let (url_key, url) = self.url;
        let url = counterpart_url(url).map_err(|message| ConfigError::Invalid {
            name: format!("{table} {url_key}"),
            message,
        })?;
        let (key, value) = self.secret;
        let (file_key, file) = self.secret_file;
        let variable = format!("HERALD_{}_{}_{}", self.section, name, key)
            .to_ascii_uppercase()
            .replace('-', "_");
        if let Some(value) = env(&variable).or(value).filter(|value| !value.is_empty()) {
            return Ok((url, SecretString::from(value)));
        }
        match file {
            Some(path) => Ok((url, super::read_secret_file(Path::new(&path))?)),
            None => Err(ConfigError::Invalid {
                name: table,
                message: format!("no secret: set `{file_key}` (or `{key}`, or {variable})"),
            }),
        }
    }
}

/// A counterpart's address, which receives a secret: `https://`, or `http://` only to
/// this machine (an IP loopback address or `localhost` itself, not a name that starts
/// with it); no credentials, query or fragment.
pub fn counterpart_url(text: &str) -> Result<String, String> {
    // The text may hold a credential (`user:password@`, `?key=`): errors name only the
    // address.
    let url = reqwest::Url::parse(text.trim()).map_err(|error| format!("not a URL: {error}"))?;
    let shown = crate::redact::address(&url);
    // The URL parser has normalised the host: IPv4 in dotted decimal, IPv6 in brackets.
    let loopback = url.host_str().is_some_and(crate::redact::is_this_machine);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "{shown:?}: a secret travels only over https:// (http:// only to this machine)"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "{shown:?}: a counterpart's URL has a host and no credentials, query or fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_this_machine_receives_a_secret() {
        for good in [
            "https://discuss.example.org",
            "https://wiki.example.org/w/api.php",
            "http://127.0.0.1:8080",
            "http://[::1]:9000/w/api.php",
            "http://localhost:3000/",
        ] {
            assert!(counterpart_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://localhost.attacker.example",
            "http://127.0.0.1.attacker.example",
            "http://localhost@attacker.example",
            "http://discuss.example.org",
            "https://user:pass@discuss.example.org",
            "https://discuss.example.org/?next=https://x",
            "https://discuss.example.org/#x",
            "ftp://discuss.example.org",
            "discuss.example.org",
        ] {
            assert!(counterpart_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            counterpart_url("https://discuss.example.org/").as_deref(),
            Ok("https://discuss.example.org")
        );
    }

    #[test]
    fn a_refused_url_never_repeats_its_credential() {
        for (bad, secret) in [
            ("https://herald:S3CRETPW@discuss.example.org", "S3CRETPW"),
            ("http://wiki.example.org/api.php?key=S3CRETQ", "S3CRETQ"),
            ("https://wiki.example.org/api.php?key=S3CRETQ", "S3CRETQ"),
        ] {
            let error = counterpart_url(bad).expect_err("refused");
            assert!(!error.contains(secret), "{error}");
        }
    }
}
