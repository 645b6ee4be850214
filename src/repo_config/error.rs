//! A problem with the file, placed for maintainers: the line, and the dotted key.

use super::REPO_CONFIG_PATH;
use std::fmt;

/// A problem with the file, as maintainers will read it on the tracking issue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RepoConfigError {
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// Dotted path such as `labels.severity_prefix` or `mailing_lists[0].address`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for RepoConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(REPO_CONFIG_PATH)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl RepoConfigError {
    pub(super) fn from_yaml(text: &str, key: Option<String>, error: &yaml_serde::Error) -> Self {
        let location = error.location().map(|l| (l.line(), l.column()));
        let at_tab = location.is_some_and(|(line, column)| {
            let line = text.lines().nth(line.saturating_sub(1));
            line.and_then(|l| l.chars().nth(column.saturating_sub(1))) == Some('\t')
        });
        let message = if at_tab {
            "a tab character: YAML must be indented with spaces, not tabs".to_owned()
        } else {
            // yaml_serde writes "<its path>: <message> at line L column C"; the line and key
            // are reported on their own.
            let mut message = error.to_string();
            if let Some((line, column)) = location {
                message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
            }
            strip_path_prefix(&message, key.as_deref().unwrap_or("")).to_owned()
        };
        RepoConfigError {
            line: location.map(|(line, _)| line),
            column: location.map(|(_, column)| column),
            key,
            message,
        }
    }
}

/// yaml_serde prefixes its message with the path it knew, which is `path` or a parent of it
/// (for an unknown key, the mapping holding it).
fn strip_path_prefix<'m>(message: &'m str, path: &str) -> &'m str {
    let ends = path
        .char_indices()
        .filter(|&(_, c)| c == '.' || c == '[')
        .map(|(i, _)| i);
    ends.chain([path.len()])
        .rev()
        .find_map(|end| message.strip_prefix(&path[..end])?.strip_prefix(": "))
        .unwrap_or(message)
}

/// The line of the `---` that starts a second document, if there is one to point at.
pub(super) fn second_document_line(text: &str) -> Option<usize> {
    let mut seen_content = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("---") && seen_content {
            return Some(index + 1);
        }
        let trimmed = line.trim_start_matches('-').trim();
        seen_content |= !trimmed.is_empty() && !trimmed.starts_with('#') && !line.starts_with('%');
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::repo_config::tests::error;

    #[test]
    fn unknown_nested_key_names_line_and_key() {
        let e = error("# config\ntracking:\n  repositry: acme/private\n");
        assert_eq!(
            e.to_string(),
            ".github/herald.yml line 3: `tracking.repositry`: \
             unknown field `repositry`, expected `repository` or `assignees`"
        );
        assert_eq!(e.column, Some(3));
        let e = error("mailing_lists:\n  - address: a@b.org\n    bcc: c@d.org\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("mailing_lists[0].bcc"))
        );
    }

    #[test]
    fn syntax_problems_are_clear() {
        let e = error("tracking:\n\trepository: acme/x\n");
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("tab"), "{e}");
        let e = error("labels:\n  security: a\n---\nlabels:\n  security: b\n");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("more than one YAML document"), "{e}");
        let e = error("labels: [\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), None), "{e}");
        let e = error("labels:\n  security: a: b\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), None), "{e}");
        assert!(e.message.starts_with("invalid YAML: mapping values"), "{e}");
        let e = error("labels:\n  security: a\n  security: b\n");
        assert!(e.message.contains("duplicate"), "{e}");
    }
}
