//! `disclosure:`: what publishing an advisory asks beyond GitHub's roles.

use serde::Deserialize;

/// The `disclosure:` section: an organisation may ask more than GitHub does, never less.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with the key `second_person`"
)]
pub struct DisclosureConfig {
    /// The admin or security manager who approved disclosure may not also publish it.
    pub second_person: bool,
}
