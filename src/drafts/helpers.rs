//! Template helpers: dates, version ranges, capitalised words (severities), lists, YAML
//! strings. Their
//! output is escaped for the target like any value (except `yaml`, used in `{{{ }}}`,
//! which quotes its text itself).

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson, handlebars_helper,
};
use serde_json::Value;

handlebars_helper!(date: |value: Value| match value.as_str() {
    Some(text) => chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| text.to_owned()),
    None => "not yet".to_owned(),
});

// `>= 1.0, < 1.2.3` → `>= 1.0 and < 1.2.3`: GitHub's comma-separated range, in words.
handlebars_helper!(range: |value: Value| match value.as_str() {
    Some(text) if !text.trim().is_empty() => text.split(',').map(str::trim).collect::<Vec<_>>().join(" and "),
    _ => "all versions".to_owned(),
});

handlebars_helper!(capitalize: |value: str| {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => String::new(),
    }
});

// `[a, b, c]` → `a, b and c`.
handlebars_helper!(list: |value: Value| {
    let items: Vec<String> = value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
});

// A double-quoted YAML (JSON) string, for front matter; site generators put it into
// HTML, so markup is entities and mentions are broken here too.
handlebars_helper!(yaml: |value: str| {
    // YAML allows no C1 control (JSON's escaping leaves them raw), so no control stays.
    let text = value
        .replace(['\r', '\n'], " ")
        .replace(char::is_control, "")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "@\u{200B}");
    Value::String(super::escape::braces_as_references(&text)).to_string()
});

// A Markdown code span, for version ranges and versions (`>= 1.0.0, < 1.0.1` reads as
// written, in the rendered page and in the raw file): everything in a code span is shown,
// never obeyed, so it escapes itself and goes in `{{{ }}}`. The fence is longer than any
// backtick run inside; `|` is escaped so a table cell stays one cell.
/// A value as text for the `code` helpers: nothing for a missing value.
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

handlebars_helper!(code_span: |value: Value| code_span_text(&value_text(&value)));

fn code_span_text(text: &str) -> String {
    let text = text.replace(['\r', '\n'], " ").replace('|', "\\|");
    if text.trim().is_empty() {
        String::new()
    } else {
        let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest + 1);
        let pad = if text.starts_with(['`', ' ']) || text.ends_with(['`', ' ']) {
            " "
        } else {
            ""
        };
        format!("{fence}{pad}{text}{pad}{fence}")
    }
}

// The same helper for a static site generator, which evaluates `{{`/`{%` even inside code
// spans: a value with braces is escaped text instead, its braces character references.
handlebars_helper!(code_site: |value: Value| {
    let text = value_text(&value);
    if text.contains(['{', '}']) {
        super::escape::site_markdown(&text.replace(['\r', '\n'], " "))
    } else {
        code_span_text(&text)
    }
});

// The same helper where code spans mean nothing: the value as it is (escaped by the target's
// own escaping, as the template uses `{{ }}` there).
handlebars_helper!(code_plain: |value: Value| value_text(&value));

/// Handlebars' helpers whose cost grows with their arguments (`eq` compares whole lists),
/// or that write to the log: no template needs them, and an override could make a silent
/// loop of them.
const UNBOUNDED_BUILTINS: [&str; 11] = [
    "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len", "log",
];

/// A helper that first checks the rendering's time ([`super::bounds`]): a loop that writes
/// nothing but calls a helper is stopped there.
struct Timed<H>(H);

impl<H: HelperDef> HelperDef for Timed<H> {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        context: &'rc Context,
        render: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        super::bounds::within_render_time().map_err(RenderErrorReason::Other)?;
        self.0.call_inner(helper, registry, context, render)
    }
}

fn timed(helper: impl HelperDef + Send + Sync + 'static) -> Box<dyn HelperDef + Send + Sync> {
    Box::new(Timed(helper))
}

pub fn register(registry: &mut Handlebars<'static>, target: super::Target) {
    for builtin in UNBOUNDED_BUILTINS {
        registry.unregister_helper(builtin);
    }
    match target {
        super::Target::Markdown => registry.register_helper("code", timed(code_span)),
        super::Target::SiteMarkdown => registry.register_helper("code", timed(code_site)),
        super::Target::Wikitext | super::Target::Text => {
            registry.register_helper("code", timed(code_plain))
        }
    }
    registry.register_helper("date", timed(date));
    registry.register_helper("range", timed(range));
    registry.register_helper("capitalize", timed(capitalize));
    registry.register_helper("list", timed(list));
    registry.register_helper("yaml", timed(yaml));
}
