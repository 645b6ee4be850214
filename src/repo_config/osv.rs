//! `osv:`: the OSV record committed with the CHANGELOG entry on disclosure.

use super::check::{FilePath, one};
use serde::Deserialize;

/// The `osv:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the keys `enabled`, `path`"
)]
pub struct OsvConfig {
    pub enabled: bool,
    /// The folder the record goes to, as `<path>/<GHSA id>.json`.
    #[serde(deserialize_with = "one::<FilePath, _>")]
    pub path: String,
}

impl Default for OsvConfig {
    fn default() -> Self {
        OsvConfig {
            enabled: true,
            path: "advisories".into(),
        }
    }
}

impl OsvConfig {
    /// Where the record of `ghsa_id` goes in the repository.
    pub fn file(&self, ghsa_id: &str) -> String {
        format!("{}/{}.json", self.path, crate::markers::file_name(ghsa_id))
    }
}
