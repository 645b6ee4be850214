//! Every text herald writes, rendered by handlebars from one incident record. Templates are
//! strict (a missing field is an error, never an empty gap) and escape every value for
//! their target by default, so advisory text is data: it pings nobody, links nothing and
//! is never evaluated as template syntax.

pub mod escape;
mod tracking;

pub use tracking::{TrackingIssue, carry_checks, incident_marker, tracking_issue};

use handlebars::Handlebars;
use serde::Serialize;

/// The shipped templates, embedded in the binary.
const TEMPLATES: &[(&str, &str)] = &[(
    TRACKING_ISSUE,
    include_str!("../../templates/tracking-issue.md.hbs"),
)];

pub const TRACKING_ISSUE: &str = "tracking-issue.md";

#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("rendering {name}: {message}")]
    Render { name: String, message: String },
}

/// The Markdown templates, ready to render.
pub struct Drafts {
    markdown: Handlebars<'static>,
}

impl Drafts {
    pub fn new() -> Result<Drafts, DraftError> {
        let mut markdown = Handlebars::new();
        markdown.set_strict_mode(true);
        markdown.register_escape_fn(escape::markdown);
        for (name, text) in TEMPLATES {
            markdown
                .register_template_string(name, text)
                .map_err(|error| DraftError::Template {
                    name: (*name).to_owned(),
                    message: error.to_string(),
                })?;
        }
        Ok(Drafts { markdown })
    }

    fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, DraftError> {
        self.markdown
            .render(name, data)
            .map_err(|error| DraftError::Render {
                name: name.to_owned(),
                message: error.to_string(),
            })
    }
}
