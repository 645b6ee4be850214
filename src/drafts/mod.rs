//! Every text herald writes, rendered by handlebars from one incident record. Templates are
//! strict (a missing field is an error, never an empty gap) and escape every value for
//! their target (Markdown, wikitext, plain text) by default, so advisory text is data: it
//! pings nobody, links nothing and is never evaluated as template syntax.

pub mod changelog;
mod chart;
pub mod escape;
mod helpers;
pub mod limits;
pub mod osv;
mod tracking;
mod view;

pub use chart::course_chart;
pub use tracking::{TrackingIssue, TrackingRecord, carry_checks, tracking_issue};
pub use view::{Draft, DraftView, EmbargoView, RenderedDrafts, ReviewView, render_all};

use handlebars::Handlebars;
use serde::Serialize;

/// What a template's output is, which decides how values are escaped in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Markdown,
    Wikitext,
    Text,
}

/// A shipped template: its name (also the override's file name, plus `.hbs`) and text.
pub struct Shipped {
    pub name: &'static str,
    pub target: Target,
    pub text: &'static str,
}

pub const TRACKING_ISSUE: &str = "tracking-issue.md";
pub const CHANGELOG_ENTRY: &str = "changelog-entry.md";
pub const ADVISORY_ISSUE: &str = "advisory-issue.md";
pub const ANNOUNCEMENT_SUBJECT: &str = "announcement-subject.txt";
pub const ANNOUNCEMENT: &str = "announcement.txt";
pub const REVIEW: &str = "review.md";
pub const FORUM_POST: &str = "forum-post.md";
pub const WIKI_PAGE: &str = "wiki-page.md";
pub const WIKI_PAGE_WIKITEXT: &str = "wiki-page.wiki";
/// Drafted for critical incidents only, as the response plans ask.
pub const BLOG_POST: &str = "blog-post.md";
/// The embargoed notice to a downstream, and its update when the date moves: private
/// mail, rendered only for a pre-notification (they need its [`EmbargoView`]).
pub const PRENOTIFY: &str = "prenotify.txt";
pub const PRENOTIFY_UPDATE: &str = "prenotify-update.txt";

macro_rules! shipped {
    ($name:expr, $target:expr) => {
        Shipped {
            name: $name,
            target: $target,
            text: include_str!(concat!("../../templates/", $name, ".hbs")),
        }
    };
}

/// Every shipped template, embedded in the binary.
pub const SHIPPED: &[Shipped] = &[
    shipped!("tracking-issue.md", Target::Markdown),
    shipped!("changelog-entry.md", Target::Markdown),
    shipped!("advisory-issue.md", Target::Markdown),
    shipped!("wiki-page.md", Target::Markdown),
    shipped!("wiki-page.wiki", Target::Wikitext),
    shipped!("forum-post.md", Target::Markdown),
    shipped!("blog-post.md", Target::Markdown),
    shipped!("announcement-subject.txt", Target::Text),
    shipped!("announcement.txt", Target::Text),
    shipped!("review.md", Target::Markdown),
    shipped!("prenotify.txt", Target::Text),
    shipped!("prenotify-update.txt", Target::Text),
];

/// Where a repository overrides a template: `<dir>/<name>.hbs`.
pub const OVERRIDE_DIR: &str = ".github/herald/templates";

/// The templates a repository may not override: they carry the undisclosed report to its
/// readers (the tracking issue and the post-incident review posted there, whose images
/// GitHub fetches from wherever they point, and the notices to downstreams), so a
/// repository's pusher could add a reader of their own.
pub const FIXED: [&str; 4] = [TRACKING_ISSUE, REVIEW, PRENOTIFY, PRENOTIFY_UPDATE];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("rendering {name}: {message}")]
    Render { name: String, message: String },
    #[error("{name} is not a template herald knows (it knows {known})")]
    Unknown { name: String, known: String },
    #[error(
        "{name} is herald's own: it carries the undisclosed report, so a repository's override \
         (which could point it at another reader) is not used"
    )]
    Fixed { name: String },
}

impl DraftError {
    /// The template the error is about.
    pub fn template(&self) -> &str {
        match self {
            DraftError::Template { name, .. }
            | DraftError::Render { name, .. }
            | DraftError::Unknown { name, .. }
            | DraftError::Fixed { name } => name,
        }
    }
}

/// The templates, ready to render; one registry per target, each with its escaping.
#[derive(Clone)]
pub struct Drafts {
    markdown: Handlebars<'static>,
    wikitext: Handlebars<'static>,
    text: Handlebars<'static>,
}

fn registry(escape: fn(&str) -> String, target: Target) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(escape);
    helpers::register(&mut registry, target);
    registry
}

impl Drafts {
    /// The shipped templates.
    pub fn new() -> Result<Drafts, DraftError> {
        let mut drafts = Drafts {
            markdown: registry(escape::markdown, Target::Markdown),
            wikitext: registry(escape::wikitext, Target::Wikitext),
            text: registry(escape::plain_text, Target::Text),
        };
        for shipped in SHIPPED {
            drafts.register(shipped, shipped.text)?;
        }
        Ok(drafts)
    }

    fn registry_mut(&mut self, target: Target) -> &mut Handlebars<'static> {
        match target {
            Target::Markdown => &mut self.markdown,
            Target::Wikitext => &mut self.wikitext,
            Target::Text => &mut self.text,
        }
    }

    fn register(&mut self, shipped: &Shipped, text: &str) -> Result<(), DraftError> {
        self.registry_mut(shipped.target)
            .register_template_string(shipped.name, text)
            .map_err(|error| DraftError::Template {
                name: shipped.name.to_owned(),
                message: error.to_string(),
            })
    }

    /// These templates with a repository's overrides (`name` → template text). An override
    /// that does not parse, or names no shipped template, is reported and the shipped one
    /// stays.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> (Drafts, Vec<DraftError>) {
        let mut drafts = self.clone();
        let mut errors = Vec::new();
        for (name, text) in overrides {
            let Some(shipped) = SHIPPED.iter().find(|shipped| shipped.name == name) else {
                errors.push(DraftError::Unknown {
                    name: name.clone(),
                    known: SHIPPED
                        .iter()
                        .map(|shipped| format!("{}.hbs", shipped.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
                continue;
            };
            if FIXED.contains(&shipped.name) {
                errors.push(DraftError::Fixed { name: name.clone() });
                continue;
            }
            if let Err(error) = drafts.register(shipped, text) {
                errors.push(error);
                // Back to the shipped text, which always parses.
                let _ = drafts.register(shipped, shipped.text);
            }
        }
        (drafts, errors)
    }

    /// One disclosure draft of an incident (the subject line made one plain line).
    pub fn render_draft(&self, name: &str, view: &DraftView) -> Result<String, DraftError> {
        let text = self.render(name, view)?;
        Ok(if name == ANNOUNCEMENT_SUBJECT {
            escape::plain_line(text.trim())
        } else {
            text
        })
    }

    fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, DraftError> {
        let shipped = SHIPPED
            .iter()
            .find(|shipped| shipped.name == name)
            .ok_or_else(|| DraftError::Unknown {
                name: name.to_owned(),
                known: String::new(),
            })?;
        let registry = match shipped.target {
            Target::Markdown => &self.markdown,
            Target::Wikitext => &self.wikitext,
            Target::Text => &self.text,
        };
        registry
            .render(name, data)
            .map_err(|error| DraftError::Render {
                name: name.to_owned(),
                message: error.to_string(),
            })
    }
}
