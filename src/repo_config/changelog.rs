//! `changelog:`: the file and branches the security entry goes to on disclosure.

use super::check::{Branch, FilePath, Rule, many, one, opt, single_line};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `path`, `base_branch`, `heading`, `backport_branches`"
)]
pub struct ChangelogConfig {
    /// Relative to the repository root.
    #[serde(deserialize_with = "one::<FilePath, _>")]
    pub path: String,
    /// `None` means the repository's default branch.
    #[serde(deserialize_with = "opt::<Branch, _>")]
    pub base_branch: Option<String>,
    /// The line under which the security entry is inserted.
    #[serde(deserialize_with = "one::<Heading, _>")]
    pub heading: String,
    /// Release branches that each get a backport pull request.
    #[serde(deserialize_with = "many::<Branch, _>")]
    pub backport_branches: Vec<String>,
}

impl Default for ChangelogConfig {
    fn default() -> Self {
        ChangelogConfig {
            path: "CHANGELOG.md".into(),
            base_branch: None,
            heading: "## [Unreleased]".into(),
            backport_branches: Vec::new(),
        }
    }
}

/// Matched against a whole line of the changelog.
struct Heading;
impl Rule for Heading {
    const EXPECTED: &'static str = "a changelog heading line";
    fn check(value: &str) -> Result<(), String> {
        single_line(value, "the heading")
    }
}
