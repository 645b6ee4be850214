//! `blog:`: where a critical incident's blog post is offered.

use super::check::{Branch, FilePath, RepoRule, one, opt, typed};
use crate::incident::RepoName;
use serde::Deserialize;

/// The website repository that gets a critical incident's blog post as a pull request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `repository`, `path` and optionally `base_branch`"
)]
pub struct BlogConfig {
    #[serde(deserialize_with = "typed::<RepoRule, _>")]
    pub repository: RepoName,
    /// The folder posts go to, relative to the repository root (e.g. `content/blog`).
    #[serde(deserialize_with = "one::<FilePath, _>")]
    pub path: String,
    /// `None` means the website repository's default branch.
    #[serde(default, deserialize_with = "opt::<Branch, _>")]
    pub base_branch: Option<String>,
}

#[cfg(test)]
mod tests {
    use crate::repo_config::tests::error;

    #[test]
    fn a_blog_needs_a_repository_and_a_relative_path() {
        let e = error("blog:\n  path: content/blog\n");
        assert_eq!(e.key.as_deref(), Some("blog"), "{e}");
        assert!(e.message.contains("missing field `repository`"), "{e}");
        let e = error("blog:\n  repository: acme/website\n  path: /srv/blog\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("blog.path")),
            "{e}"
        );
    }
}
