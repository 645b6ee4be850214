//! Secrets kept out of logs and errors, and off the network in the clear.

/// A database URL fit for logs and errors: any password replaced.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user_info = &rest[..at];
            let user = user_info.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// `url` as logs and errors show it: scheme, host, port and path; never its user,
/// password, query or fragment, any of which may hold a credential.
pub fn address(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default(),
        url.path()
    )
}

/// Whether `host` is this machine (an IP loopback address, bracketed or not, or
/// `localhost` itself, not a name that starts with it): the one place a secret may travel
/// unencrypted.
pub fn is_this_machine(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_names_no_user_password_query_or_fragment() {
        let url =
            reqwest::Url::parse("https://u:pw@feeds.example:8443/a.rss?token=t#f").expect("a URL");
        assert_eq!(address(&url), "https://feeds.example:8443/a.rss");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://herald:hunter2@db:5432/herald"),
            "postgres://herald:***@db:5432/herald"
        );
        assert_eq!(redact_url("sqlite://herald.db"), "sqlite://herald.db");
    }
}
