//! Every text herald writes, rendered by handlebars from one incident record. Templates are
//! strict (a missing field is an error, never an empty gap) and escape every value for
//! their target (Markdown, wikitext, plain text) by default, so advisory text is data: it
//! pings nobody, links nothing and is never evaluated as template syntax.

mod bounds;
pub mod changelog;
mod chart;
pub mod escape;
mod helpers;
mod intake;
pub mod limits;
pub mod osv;
mod product;
mod tracking;
mod view;

pub use chart::course_chart;
pub use intake::{AcknowledgementView, IntakeFacts, ReporterNoticeView, fitted, intake_issue};
pub use product::{product_issue, product_sources_comment};
pub use tracking::{TrackingIssue, TrackingRecord, carry_checks, tracking_issue};
pub use view::{Draft, DraftView, EmbargoView, RenderedDrafts, ReviewView, render_all};

use bounds::{BoundedOutput, Shape};
use handlebars::template::Template;
use handlebars::{Context, Handlebars};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// What a template's output is, which decides how values are escaped in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Markdown,
    /// Markdown a static site generator builds (the blog post): Jekyll's Liquid and Hugo's
    /// shortcodes are evaluated in it before it is Markdown.
    SiteMarkdown,
    Wikitext,
    Text,
}

/// Every target, each with its own registry.
const TARGETS: [Target; 4] = [
    Target::Markdown,
    Target::SiteMarkdown,
    Target::Wikitext,
    Target::Text,
];

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
/// herald's answer to a report mailed to the security team: rendered only for an intake
/// (it needs an [`AcknowledgementView`]).
pub const INTAKE_ACKNOWLEDGEMENT: &str = "intake-acknowledgement.txt";
/// What a reporter who mailed the security team is told of their report's incident
/// (it needs a [`ReporterNoticeView`]).
pub const REPORTER_NOTICE: &str = "reporter-notice.txt";
/// The templates that are not drafts of an incident's disclosure: each rendered only where
/// its own data is.
pub const NOT_DRAFTS: [&str; 5] = [
    TRACKING_ISSUE,
    PRENOTIFY,
    PRENOTIFY_UPDATE,
    INTAKE_ACKNOWLEDGEMENT,
    REPORTER_NOTICE,
];

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
    shipped!("blog-post.md", Target::SiteMarkdown),
    shipped!("announcement-subject.txt", Target::Text),
    shipped!("announcement.txt", Target::Text),
    shipped!("review.md", Target::Markdown),
    shipped!("prenotify.txt", Target::Text),
    shipped!("prenotify-update.txt", Target::Text),
    shipped!("intake-acknowledgement.txt", Target::Text),
    shipped!("reporter-notice.txt", Target::Text),
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
    site_markdown: Handlebars<'static>,
    wikitext: Handlebars<'static>,
    text: Handlebars<'static>,
    /// What rendering each shipped template costs, to check an override's includes.
    shipped_shapes: Arc<HashMap<String, Shape>>,
    /// The same of these templates (the shipped ones with any overrides).
    shapes: Arc<HashMap<String, Shape>>,
}

fn registry(escape: fn(&str) -> String, target: Target) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(escape);
    helpers::register(&mut registry, target);
    registry
}

fn shipped(name: &str) -> Option<&'static Shipped> {
    SHIPPED.iter().find(|shipped| shipped.name == name)
}

/// `text` parsed as the template `name`, within [`bounds`], with its shape.
fn parse_bounded(name: &str, text: &str) -> Result<(Template, Shape), DraftError> {
    let refused = |message: String| DraftError::Template {
        name: name.to_owned(),
        message,
    };
    bounds::check_text(text).map_err(refused)?;
    let template = Template::compile_with_name(text, name.to_owned())
        .map_err(|error| refused(error.to_string()))?;
    let shape = bounds::shape(&template).map_err(refused)?;
    Ok((template, shape))
}

impl Drafts {
    /// The shipped templates.
    pub fn new() -> Result<Drafts, DraftError> {
        let mut drafts = Drafts {
            markdown: registry(escape::markdown, Target::Markdown),
            site_markdown: registry(escape::site_markdown, Target::SiteMarkdown),
            wikitext: registry(escape::wikitext, Target::Wikitext),
            text: registry(escape::plain_text, Target::Text),
            shipped_shapes: Arc::default(),
            shapes: Arc::default(),
        };
        let mut shapes = HashMap::new();
        for shipped in SHIPPED {
            let (template, shape) = parse_bounded(shipped.name, shipped.text)?;
            drafts
                .registry_mut(shipped.target)
                .register_template(shipped.name, template);
            shapes.insert(shipped.name.to_owned(), shape);
        }
        drafts.shipped_shapes = Arc::new(shapes);
        drafts.shapes = drafts.shipped_shapes.clone();
        Ok(drafts)
    }

    fn registry(&self, target: Target) -> &Handlebars<'static> {
        match target {
            Target::Markdown => &self.markdown,
            Target::SiteMarkdown => &self.site_markdown,
            Target::Wikitext => &self.wikitext,
            Target::Text => &self.text,
        }
    }

    fn registry_mut(&mut self, target: Target) -> &mut Handlebars<'static> {
        match target {
            Target::Markdown => &mut self.markdown,
            Target::SiteMarkdown => &mut self.site_markdown,
            Target::Wikitext => &mut self.wikitext,
            Target::Text => &mut self.text,
        }
    }

    /// Back to the shipped text of `shipped`, which parsed when herald started.
    fn restore(&mut self, shipped: &Shipped) {
        let _ = self
            .registry_mut(shipped.target)
            .register_template_string(shipped.name, shipped.text);
    }

    /// These templates with a repository's overrides (`name` → template text). An override
    /// that does not parse, breaks a bound of [`bounds`] (its includes among them), or
    /// names no shipped template, is reported and the shipped one stays.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> (Drafts, Vec<DraftError>) {
        let mut drafts = self.clone();
        let mut errors = Vec::new();
        let mut shapes = (*self.shapes).clone();
        for (name, text) in overrides {
            let Some(shipped) = shipped(name) else {
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
            match parse_bounded(name, text) {
                Ok((template, shape)) => {
                    drafts
                        .registry_mut(shipped.target)
                        .register_template(shipped.name, template);
                    shapes.insert(name.clone(), shape);
                }
                Err(error) => errors.push(error),
            }
        }
        errors.extend(drafts.refuse_unbounded_includes(&mut shapes));
        drafts.shapes = Arc::new(shapes);
        (drafts, errors)
    }

    /// Checks the includes among each target's templates, and puts the shipped text back
    /// for each template that breaks a bound, until none does.
    fn refuse_unbounded_includes(
        &mut self,
        shapes: &mut HashMap<String, Shape>,
    ) -> Vec<DraftError> {
        let mut errors = Vec::new();
        for target in TARGETS {
            loop {
                // herald's own templates are no override's to include: they carry the
                // undisclosed report.
                let of_target: HashMap<String, Shape> = shapes
                    .iter()
                    .filter(|(name, _)| !FIXED.contains(&name.as_str()))
                    .filter(|(name, _)| shipped(name).is_some_and(|s| s.target == target))
                    .map(|(name, shape)| (name.clone(), shape.clone()))
                    .collect();
                let broken = bounds::check_includes(&of_target);
                if broken.is_empty() {
                    break;
                }
                for (name, message) in broken {
                    if let Some(shipped) = shipped(&name) {
                        self.restore(shipped);
                        if let Some(shape) = self.shipped_shapes.get(&name) {
                            shapes.insert(name.clone(), shape.clone());
                        }
                    }
                    errors.push(DraftError::Template { name, message });
                }
            }
        }
        errors
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

    /// The acknowledgement to a reporter.
    pub fn render_acknowledgement(&self, view: &AcknowledgementView) -> Result<String, DraftError> {
        self.render(INTAKE_ACKNOWLEDGEMENT, view)
    }

    /// A notice to the reporter of a mailed report.
    pub fn render_reporter_notice(&self, view: &ReporterNoticeView) -> Result<String, DraftError> {
        self.render(REPORTER_NOTICE, view)
    }

    /// Renders template `name` within [`bounds::MAX_RENDER_STEPS`] (checked against the
    /// data before rendering), [`bounds::MAX_OUTPUT_BYTES`] and [`bounds::MAX_RENDER_TIME`].
    fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, DraftError> {
        let shipped = shipped(name).ok_or_else(|| DraftError::Unknown {
            name: name.to_owned(),
            known: String::new(),
        })?;
        let refused = |message: String| DraftError::Render {
            name: name.to_owned(),
            message,
        };
        // The data is made JSON once: measured for the bound, then rendered.
        let context = Context::wraps(data).map_err(|error| refused(error.to_string()))?;
        bounds::check_steps(
            &bounds::steps(&self.shapes, name),
            bounds::longest_list(context.data()),
        )
        .map_err(refused)?;
        let mut output = BoundedOutput::new();
        self.registry(shipped.target)
            .render_with_context_to_write(name, &context, &mut output)
            .map_err(|error| refused(error.to_string()))?;
        Ok(output.into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{AffectedPackage, GhsaId, Incident, RepoName};

    /// An incident whose advisory names `count` packages.
    pub(super) fn with_packages(count: usize) -> Incident {
        let mut incident = Incident::new(
            RepoName::parse("acme/widget").expect("name"),
            GhsaId::parse("GHSA-abcd-efgh-ijkm").expect("id"),
            chrono::Utc::now(),
        );
        incident.packages = (0..count)
            .map(|index| AffectedPackage {
                ecosystem: Some("npm".into()),
                name: Some(format!("package-{index}")),
                vulnerable_version_range: Some("< 1.2.3".into()),
                patched_versions: Some("1.2.3".into()),
                vulnerable_functions: vec![],
            })
            .collect();
        incident
    }

    #[test]
    fn an_override_cannot_include_heralds_own_templates() {
        let drafts = Drafts::new().expect("shipped");
        for own in [TRACKING_ISSUE, REVIEW] {
            let (_, errors) =
                drafts.with_overrides(&[(ADVISORY_ISSUE.to_owned(), format!("{{{{> {own}}}}}"))]);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].template(), ADVISORY_ISSUE);
            assert!(
                errors[0]
                    .to_string()
                    .contains(&format!("it includes {own}, which is not")),
                "{}",
                errors[0]
            );
        }
        let (_, errors) =
            drafts.with_overrides(&[(ADVISORY_ISSUE.to_owned(), "{{> forum-post.md}}".to_owned())]);
        assert_eq!(errors, []);
    }

    #[test]
    fn a_loop_that_writes_nothing_is_refused_before_it_runs_away() {
        let incident = with_packages(1000);
        let silent = "{{#each packages}}{{#each ../packages}}{{#if name}}{{/if}}{{#if name}}{{/if}}\
                      {{#if name}}{{/if}}{{/each}}{{/each}}";
        let (drafts, errors) = Drafts::new()
            .expect("shipped")
            .with_overrides(&[(WIKI_PAGE_WIKITEXT.to_owned(), silent.to_owned())]);
        assert_eq!(errors, []);
        let view = DraftView::new(&incident, &[], None);
        let refused = drafts
            .render_draft(WIKI_PAGE_WIKITEXT, &view)
            .expect_err("refused before it runs");
        assert!(
            refused.to_string().contains("lists of up to 1000 items"),
            "{refused}"
        );
        // The shipped templates render the same incident.
        let rendered = render_all(&drafts, &view);
        assert_eq!(rendered.errors.len(), 1, "{:?}", rendered.errors);
    }

    #[test]
    fn a_silent_loop_of_costly_calls_stops_at_the_render_time() {
        let mut incident = with_packages(999);
        incident.description = "x".repeat(60_000);
        let view = DraftView::new(&incident, &[], None);
        // Within the element count, but each call copies the whole description.
        let costly = "{{#each packages}}{{#each ../packages}}{{#if (capitalize @root.description)}}\
                      {{/if}}{{/each}}{{/each}}";
        // Comparing whole lists is no helper of herald's templates.
        let comparing = "{{#if (eq @root.packages @root.packages)}}x{{/if}}";
        for (template, refusal) in [
            (costly, "rendering takes longer than 2 s"),
            (comparing, "Helper not found eq"),
        ] {
            let (drafts, errors) = Drafts::new()
                .expect("shipped")
                .with_overrides(&[(WIKI_PAGE_WIKITEXT.to_owned(), template.to_owned())]);
            assert_eq!(errors, []);
            let refused = drafts
                .render_draft(WIKI_PAGE_WIKITEXT, &view)
                .expect_err("refused");
            assert!(refused.to_string().contains(refusal), "{refused}");
        }
    }

    #[test]
    fn a_refused_override_is_withheld_from_the_review_not_shown_as_the_shipped_text() {
        let incident = with_packages(1);
        let (drafts, refused) = Drafts::new().expect("shipped").with_overrides(&[
            (ADVISORY_ISSUE.to_owned(), "x{{> forum-post.md}}".to_owned()),
            (FORUM_POST.to_owned(), "x{{> advisory-issue.md}}".to_owned()),
        ]);
        assert_eq!(refused.len(), 2, "{refused:?}");
        let mut review = render_all(&drafts, &DraftView::new(&incident, &[], None));
        assert!(
            review.get(ADVISORY_ISSUE).is_some(),
            "the shipped text renders"
        );
        review.withhold_refused(&refused);
        assert_eq!(review.get(ADVISORY_ISSUE), None);
        assert_eq!(review.get(FORUM_POST), None);
        assert!(review.get(ANNOUNCEMENT).is_some(), "the others stay");
        assert_eq!(review.errors, refused);
    }

    #[test]
    fn heralds_own_template_overridden_stays_in_the_review_as_shipped() {
        let incident = with_packages(1);
        let (drafts, refused) = Drafts::new().expect("shipped").with_overrides(&[(
            REVIEW.to_owned(),
            "![x](https://attacker.example/)".to_owned(),
        )]);
        assert!(
            matches!(refused[..], [DraftError::Fixed { .. }]),
            "{refused:?}"
        );
        let mut review = render_all(&drafts, &DraftView::new(&incident, &[], None));
        let shipped = review.get(REVIEW).map(str::to_owned);
        assert!(shipped.is_some(), "the shipped review renders");
        review.withhold_refused(&refused);
        assert_eq!(review.get(REVIEW).map(str::to_owned), shipped);
        assert_eq!(review.errors, []);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::incident::{Credit, Incident};
    use crate::properties::config;
    use proptest::prelude::*;

    /// Pieces of Handlebars that loop, include, nest and misuse.
    const PIECES: &[&str] = &[
        "{{summary}}",
        "{{{description}}}",
        "{{#each packages}}",
        "{{#each ../packages}}",
        "{{/each}}",
        "{{#if critical}}",
        "{{else}}",
        "{{/if}}",
        "{{#with this}}",
        "{{/with}}",
        "{{> forum-post.md}}",
        "{{> advisory-issue.md}}",
        "{{> wiki-page.md}}",
        "{{> announcement.txt}}",
        "{{> (lookup this \"summary\")}}",
        "{{> @partial-block}}",
        "{{#> forum-post.md}}",
        "{{/forum-post.md}}",
        "{{#*inline \"a\"}}",
        "{{/inline}}",
        "{{> a}}",
        "{{code summary}}",
        "{{range vulnerable}}",
        "{{list credit_names}}",
        "{{lookup this \"summary\"}}",
        "{{x (y (z w))}}",
        "{{!-- note --}}",
        "{{",
        "}}",
        "(",
        ")",
        "{{#each credit_names}}{{this}}",
        "{{no_such_field}}",
        "text ",
        "\n",
    ];

    static SHIPPED_DRAFTS: std::sync::LazyLock<Drafts> =
        std::sync::LazyLock::new(|| Drafts::new().expect("shipped"));

    fn template() -> impl Strategy<Value = String> {
        crate::properties::text_of(PIECES, 24)
    }

    fn incident() -> Incident {
        let mut incident = super::tests::with_packages(20);
        incident.summary = "Path traversal {{summary}}".into();
        incident.credits = (0..20)
            .map(|index| Credit {
                login: format!("person-{index}"),
                kind: "finder".into(),
                state: Some("accepted".into()),
            })
            .collect();
        incident
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_overrides_render_or_are_refused_by_name(
            overrides in prop::collection::vec(
                (
                    prop::sample::select(vec![
                        ADVISORY_ISSUE, FORUM_POST, WIKI_PAGE, ANNOUNCEMENT, BLOG_POST,
                        CHANGELOG_ENTRY,
                    ]),
                    template(),
                ),
                0..4,
            )
        ) {
            let overrides: Vec<(String, String)> = overrides
                .into_iter()
                .map(|(name, text)| (name.to_owned(), text))
                .collect();
            let (drafts, errors) = SHIPPED_DRAFTS.with_overrides(&overrides);
            for error in &errors {
                prop_assert!(overrides.iter().any(|(name, _)| name == error.template()), "{}", error);
            }
            let rendered = render_all(&drafts, &DraftView::new(&incident(), &[], None));
            for draft in &rendered.drafts {
                prop_assert!(draft.text.len() <= bounds::MAX_OUTPUT_BYTES);
            }
        }
    }
}
