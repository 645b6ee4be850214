//! The names GitHub gives an advisory and a repository, checked where they enter herald:
//! they name branches, files, hidden markers, URLs and API paths.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a checked name is as text: read through its parser, shown and compared as its
/// text.
macro_rules! checked_name {
    ($name:ident, $invalid:ident) => {
        impl std::str::FromStr for $name {
            type Err = $invalid;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $name::parse(text)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

checked_name!(GhsaId, InvalidGhsaId);
checked_name!(RepoName, InvalidRepoName);
checked_name!(DeliveryId, InvalidDeliveryId);

/// A webhook delivery's id: GitHub's `X-GitHub-Delivery` GUID, or the one herald gives a
/// delivery it makes itself (a polled advisory, a dry run). It keys the store and appears
/// in logs, hidden markers and the terminal: 1 to 200 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DeliveryId(String);

/// Whether `text` may key the store and appear in logs and the terminal as it is: 1 to 200
/// printable ASCII characters (a delivery id, an event's name).
pub fn is_tame(text: &str) -> bool {
    !text.is_empty() && text.len() <= 200 && text.bytes().all(|b| b.is_ascii_graphic())
}

/// Text that is not a delivery id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a delivery id (1 to 200 printable ASCII characters)")]
pub struct InvalidDeliveryId;

impl DeliveryId {
    pub fn parse(text: &str) -> Result<DeliveryId, InvalidDeliveryId> {
        if is_tame(text) {
            Ok(DeliveryId(text.to_owned()))
        } else {
            Err(InvalidDeliveryId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An incident's id in the store (its row), never to be confused with a job's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub i64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message mailed to the security team, as the store numbers it (an intake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntakeId(pub i64);

impl fmt::Display for IntakeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A vulnerability of software the project runs, as the store numbers it (a product
/// incident).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductIncidentId(pub i64);

impl fmt::Display for ProductIncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A GitHub Security Advisory id, `GHSA-xxxx-xxxx-xxxx`: three groups of four lowercase
/// letters or digits. Checked where it enters herald, since it names branches, files,
/// hidden markers and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct GhsaId(String);

/// Text that is not a GHSA id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a GHSA id (GHSA-xxxx-xxxx-xxxx)")]
pub struct InvalidGhsaId(String);

impl GhsaId {
    pub fn parse(text: &str) -> Result<GhsaId, InvalidGhsaId> {
        let invalid = || InvalidGhsaId(text.chars().take(64).collect());
        let rest = text.strip_prefix("GHSA-").ok_or_else(invalid)?;
        let groups: Vec<&str> = rest.split('-').collect();
        let well_formed = groups.len() == 3
            && groups.iter().all(|group| {
                group.len() == 4
                    && group
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if well_formed {
            Ok(GhsaId(text.to_owned()))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The advisory in GitHub's global advisory database.
    pub fn url(&self) -> String {
        format!("https://github.com/advisories/{}", self.0)
    }
}

/// A GitHub repository `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RepoName(String);

/// Text that is not a repository `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a GitHub repository `owner/name`: {why}")]
pub struct InvalidRepoName {
    text: String,
    why: String,
}

impl RepoName {
    /// GitHub's naming rules. An owner may contain `_`: Enterprise Managed Users' logins
    /// (`name_shortcode`) and some GitHub Enterprise Server logins do.
    pub fn parse(text: &str) -> Result<RepoName, InvalidRepoName> {
        let invalid = |why: &str| InvalidRepoName {
            text: text.chars().take(150).collect(),
            why: why.to_owned(),
        };
        let Some((owner, name)) = text.split_once('/').filter(|(_, name)| !name.contains('/'))
        else {
            return Err(invalid("it needs exactly one `/`"));
        };
        if owner.is_empty() || owner.len() > 39 {
            return Err(invalid("the owner must be 1 to 39 characters"));
        }
        if !owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "the owner may only contain letters, digits, `-` and `_`",
            ));
        }
        if owner.starts_with('-') {
            return Err(invalid("the owner must not start with `-`"));
        }
        if name.is_empty() || name.len() > 100 {
            return Err(invalid("the name must be 1 to 100 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(invalid(
                "the name may only contain letters, digits, `.`, `_` and `-`",
            ));
        }
        if name == "." || name == ".." {
            return Err(invalid("the name cannot be `.` or `..`"));
        }
        Ok(RepoName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn owner(&self) -> &str {
        self.split().0
    }

    pub fn name(&self) -> &str {
        self.split().1
    }

    /// For a temporary private fork of an advisory (`<repo>-ghsa-xxxx-xxxx-xxxx`, as GitHub
    /// names them): the repository it forks and the advisory.
    pub fn advisory_fork_of(&self) -> Option<(RepoName, GhsaId)> {
        let name = self.name();
        let split = name.len().checked_sub("-ghsa-xxxx-xxxx-xxxx".len())?;
        let (origin, suffix) = (name.get(..split)?, name.get(split + 1..)?);
        let ghsa = GhsaId::parse(&format!("GHSA-{}", suffix.strip_prefix("ghsa-")?)).ok()?;
        let origin = RepoName::parse(&format!("{}/{origin}", self.owner())).ok()?;
        Some((origin, ghsa))
    }

    /// The owner's `.github` repository, where GitHub keeps an organisation's defaults.
    pub fn owner_defaults(&self) -> RepoName {
        RepoName(format!("{}/.github", self.owner()))
    }

    fn split(&self) -> (&str, &str) {
        self.0.split_once('/').unwrap_or((&self.0, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::{DeliveryId, GhsaId, RepoName};

    #[test]
    fn delivery_ids_are_tame_names() {
        for id in [
            "72b6a4e0-1f0d-11ef-8c1d",
            "poll:acme/widget:GHSA-abcd-1234-efgh:2024",
        ] {
            assert_eq!(DeliveryId::parse(id).expect("tame").as_str(), id);
        }
        let long = "a".repeat(201);
        for id in [
            "",
            "with space",
            "tab\there",
            "bell\u{7}",
            "é",
            long.as_str(),
        ] {
            assert!(DeliveryId::parse(id).is_err(), "{id:?}");
        }
        assert!(DeliveryId::parse(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn ghsa_ids_are_checked_where_they_enter() {
        let id = GhsaId::parse("GHSA-rf4j-j272-fj86").expect("a GHSA id");
        assert_eq!(
            id.url(),
            "https://github.com/advisories/GHSA-rf4j-j272-fj86"
        );
        assert_eq!(id, "GHSA-rf4j-j272-fj86");
        for bad in [
            "",
            "GHSA-rf4j-j272",
            "GHSA-RF4J-j272-fj86",
            "GHSA-../../etc/passwd",
            "GHSA-rf4j-j272-fj86 --> <script>",
            "CVE-2024-0001",
        ] {
            let error = GhsaId::parse(bad).expect_err(bad);
            assert!(error.to_string().contains("is not a GHSA id"), "{error}");
        }
        assert!(serde_json::from_str::<GhsaId>("\"GHSA-x\"").is_err());
    }

    #[test]
    fn repository_names_follow_github_rules() {
        for bad in [
            "acme", "-acme/x", "acme/..", "ac me/x", "acme/x y", "/x", "acme/", "a/b/c",
        ] {
            let error = RepoName::parse(bad).expect_err(bad);
            assert!(
                error.to_string().contains("is not a GitHub repository"),
                "{error}"
            );
        }
        assert!(RepoName::parse(&format!("{}/x", "a".repeat(40))).is_err());
        let ok = RepoName::parse("Acme-1/my_repo.rs").expect("valid");
        assert_eq!((ok.owner(), ok.name()), ("Acme-1", "my_repo.rs"));
        assert_eq!(ok.to_string(), "Acme-1/my_repo.rs");
        let fork = RepoName::parse("acme/app-ghsa-abcd-1234-efgh").expect("fork");
        let (origin, ghsa) = fork.advisory_fork_of().expect("a fork");
        assert_eq!(
            (origin.as_str(), ghsa.as_str()),
            ("acme/app", "GHSA-abcd-1234-efgh")
        );
        assert!(
            RepoName::parse("acme/app")
                .expect("name")
                .advisory_fork_of()
                .is_none()
        );
        // An Enterprise Managed User's login.
        assert!(RepoName::parse("mona_acme/app").is_ok());
        assert!(serde_json::from_str::<RepoName>("\"acme/x/y\"").is_err());
    }
}
