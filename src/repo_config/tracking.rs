//! `tracking:`: where tracking issues go and who is assigned to them.

use super::check::{RepoRule, Rule, login_problem, many, typed_opt};
use crate::incident::RepoName;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `repository`, `assignees`"
)]
pub struct TrackingConfig {
    /// The private repository tracking issues go to; `None` means the advisory's own.
    #[serde(default, deserialize_with = "typed_opt::<RepoRule, _>")]
    pub repository: Option<RepoName>,
    /// GitHub logins assigned to every new tracking issue.
    #[serde(deserialize_with = "many::<Login, _>")]
    pub assignees: Vec<String>,
}

struct Login;
impl Rule for Login {
    const EXPECTED: &'static str = "a GitHub login";
    fn check(value: &str) -> Result<(), String> {
        login_problem(value).map_or(Ok(()), |why| {
            Err(format!("{value:?} is not a GitHub login: it {why}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::repo_config::tests::error;

    #[test]
    fn bad_repository_name_names_line_and_key() {
        let e = error("tracking:\n  assignees: []\n  repository: acme/../x\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("tracking.repository"))
        );
        assert!(e.message.contains("exactly one `/`"), "{e}");
    }
}
